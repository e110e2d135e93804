#!/bin/sh
# refit-patch against virt-customize --update on the same Debian 12 image (the fixture's
# base-suite root, with this machine's Debian apt sources written into it), one after the
# other, and the ratio. Booting the image and running apt-get upgrade over SSH (the third
# baseline of issue 5) is not measured here yet.
#   sudo bench/patch/compare.sh
# Needs root, Go, mkfs.ext4, qemu-img, libguestfs-tools (virt-customize, virt-cat) and a
# host kernel for supermin; the fixture root is built by the Go tests (go test ./internal/patch).
set -eu
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=$(ls "${REFIT_CACHE:-$HOME/.cache/packer-plugin-refit}"/fixtures/debian-root-*/root.tar 2>/dev/null | head -n1)
[ -n "$tarball" ] || { echo "no cached Debian root: run go test -run TestDebianMatchesAptGetUpgrade ./internal/patch first" >&2; exit 1; }
mkdir "$work/root"
tar -xf "$tarball" -C "$work/root"
# the same suites for both: this machine's Debian entries
rm -f "$work/root/etc/apt/sources.list"
mkdir -p "$work/root/etc/apt/sources.list.d"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] && grep -q -i debian "$f" && cp "$f" "$work/root/etc/apt/sources.list.d/" || true
done
mkfs.ext4 -q -F -d "$work/root" "$work/base.raw" 1G
qemu-img convert -O qcow2 "$work/base.raw" "$work/base.qcow2"
cp "$work/base.qcow2" "$work/virt.qcow2"
go build -o "$work/refit-patch" ./bench/patch

echo "== refit-patch (offline, the image's own apt in a chroot)"
t0=$(date +%s.%N)
"$work/refit-patch" -image "$work/base.qcow2" -output "$work/refit.qcow2" 2>/dev/null
t1=$(date +%s.%N)

echo "== virt-customize --update (libguestfs appliance, TCG)"
t2=$(date +%s.%N)
LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg virt-customize -q -a "$work/virt.qcow2" --network --update
t3=$(date +%s.%N)

refit=$(echo "$t1 - $t0" | bc)
virt=$(echo "$t3 - $t2" | bc)
printf 'refit-patch %.1f s, virt-customize --update %.1f s: %.1fx\n' "$refit" "$virt" "$(echo "$virt / $refit" | bc -l)"
# same result? compare the installed versions (a ratio means nothing unless both did the work)
awk '/^Package:/{p=$2} /^Version:/{print p, $2}' "$work/root/var/lib/dpkg/status" | sort > "$work/base.versions"
LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg virt-cat -a "$work/virt.qcow2" /var/lib/dpkg/status |
	awk '/^Package:/{p=$2} /^Version:/{print p, $2}' | sort > "$work/virt.versions"
jq -r '.packages[] | .name + " " + (if .epoch > 0 then (.epoch|tostring) + ":" else "" end) + .version + (if .release != "" then "-" + .release else "" end)' \
	"$work/refit.qcow2.manifest.json" | sort > "$work/refit.versions"
if cmp -s "$work/virt.versions" "$work/base.versions"; then
	echo "virt-customize --update changed nothing (no working network in its appliance?): the ratio is not meaningful" >&2
	exit 1
fi
if diff -u "$work/virt.versions" "$work/refit.versions"; then
	echo "both produce the same installed versions"
fi
