#!/usr/bin/env bash
# The container benchmark of issue 13: bring the same Debian 12 container image up to date
# two ways against this machine's Debian mirror (the -updates and -security suites), check
# that both end with the same installed versions, and print times and bytes added as ratios.
#
#   (a) refit-patch: offline, no container engine (go run ./bench/patch patch-container)
#   (b) podman build of FROM <image> + RUN apt-get update && apt-get -y upgrade, timed alone
#       and with the podman load of the input and the podman save of the result (refit-patch's
#       time runs from the oci-archive to the patched oci-archive)
#
# The image is internal/fixture's DebianContainerImages (the base suite's root plus an
# entrypoint layer; built once with podman, then cached), as an oci-archive. Bytes added are
# what podman reports for each result minus the input (uncompressed layer sizes, as stored).
# (a) starts with an empty download cache, (b) with no apt lists: both fetch what they need.
#
#   sudo bench/container/compare.sh
#
# Needs root, Go, podman and runc. podman runs with a private configuration and storage
# under a work directory that is removed on exit (Ctrl-C included).
set -euo pipefail

die() { echo "compare.sh: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "needs root (overlayfs, mounts): run it with sudo"
for tool in go podman runc; do
	command -v "$tool" >/dev/null || die "needs $tool on PATH (apt-get install golang podman runc)"
done
cd "$(dirname "$0")/../.."
W=$(mktemp -d /var/tmp/refit-bench-container.XXXXXX)
cleanup() { podman system reset --force >/dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT
mkdir -p "$W/ctx"
go build -o "$W/bench-patch" ./bench/patch
eval "$("$W/bench-patch" podman-config "$W")"
layout=$("$W/bench-patch" container-image)
input=$(dirname "$layout")/image.oci.tar
"$W/bench-patch" update-sources >"$W/ctx/sources.list"
start=$(date +%s.%N)
name=$(podman load -q -i "$input" | sed -n 's/^Loaded image: //p' | tail -1)
load_seconds=$(echo "$(date +%s.%N) - $start" | bc)
[[ -n $name ]] || die "podman load of $input named no image"
# by ID: the patched image, loaded next, carries the same name
base=$(podman image inspect --format '{{.Id}}' "$name")
base_size=$(podman image inspect --format '{{.Size}}' "$base")

echo "== (a) refit-patch"
eval "$("$W/bench-patch" patch-container -image "$input" -output "$W/patched.oci.tar")"
podman tag "$(podman load -q -i "$W/patched.oci.tar" | sed -n 's/^Loaded image: //p' | tail -1)" localhost/bench:refit
refit_size=$(podman image inspect --format '{{.Size}}' localhost/bench:refit)

echo "== (b) podman build: FROM $name (the input) + RUN apt-get update && apt-get -y upgrade"
printf 'FROM %s\nRUN apt-get update && apt-get -y upgrade\n' "$base" >"$W/ctx/Containerfile"
start=$(date +%s.%N)
podman build -q -v "$W/ctx/sources.list:/etc/apt/sources.list:ro" -t localhost/bench:podman "$W/ctx" >/dev/null
podman_seconds=$(echo "$(date +%s.%N) - $start" | bc)
podman_size=$(podman image inspect --format '{{.Size}}' localhost/bench:podman)
start=$(date +%s.%N)
podman save -q --format oci-archive -o "$W/podman.oci.tar" localhost/bench:podman
save_seconds=$(echo "$(date +%s.%N) - $start" | bc)
# like refit-patch: from the oci-archive to an oci-archive
podman_file_seconds=$(echo "$load_seconds + $podman_seconds + $save_seconds" | bc)

versions() { podman run --rm --entrypoint dpkg-query "$1" -W -f '${Package} ${Version}\n' | sort; }
if ! diff <(versions localhost/bench:refit) <(versions localhost/bench:podman) >"$W/versions.diff"; then
	cat "$W/versions.diff" >&2
	die "the two images differ in installed versions (above: < refit, > podman)"
fi
echo "same end state: $(versions localhost/bench:refit | wc -l) packages at the same versions"
refit_added=$((refit_size - base_size))
podman_added=$((podman_size - base_size))
printf '%-30s %10s %16s\n' "" "seconds" "bytes added"
printf '%-30s %10.1f %16d\n' "refit-patch (archive to archive)" "$refit_seconds" "$refit_added" "podman build" "$podman_seconds" "$podman_added"
printf '%-30s %10.1f\n' "podman load + build + save" "$podman_file_seconds"
printf 'ratios (podman / refit-patch): time %.2f (build alone), %.2f (load + build + save); bytes added %.2f\n' \
	"$(echo "$podman_seconds / $refit_seconds" | bc -l)" "$(echo "$podman_file_seconds / $refit_seconds" | bc -l)" \
	"$(echo "$podman_added / $refit_added" | bc -l)"
printf 'refit-patch new layer: %d bytes gzip, %d bytes tar, %d bytes of files\n' "$refit_layer_bytes" "$refit_layer_tar_bytes" "$refit_files_bytes"
