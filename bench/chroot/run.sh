#!/usr/bin/env bash
# refit-chroot against the tool image teams use today, on the same ~1.5 GB Debian 12 image given
# as raw and as qcow2, in one run: open the image, run a no-op command inside it, write the result.
#
#   refit-chroot:  packer build (plugin installed in a private folder), source_image = the image,
#                  output in the input's format, one `shell` provisioner running `true`
#                  (package manifest and checksum written, as by default)
#   libguestfs:    cp --sparse=always the image, then virt-customize -a COPY --run-command true
#
# Prints the best of RUNS (default 3) wall times of each and the ratios. Needs root, the Debian
# test image (built once by `go test -run TestDebianImageFixture ./builder/chroot`, which this
# script runs; about 4 minutes the first time), Packer (make tools), and libguestfs:
#   apt-get install libguestfs-tools linux-image-amd64   (supermin needs a host kernel)
# libguestfs runs its appliance with LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg:
# this machine's /dev/kvm cannot boot stock kernels.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
PACKER=${PACKER:-$PWD/.tools/bin/packer}
[[ $(id -u) == 0 ]] || { echo "bench/chroot: run as root (loop devices, mounts)" >&2; exit 1; }
command -v virt-customize >/dev/null || { echo "bench/chroot: virt-customize missing: apt-get install libguestfs-tools linux-image-amd64" >&2; exit 1; }
[[ -x $PACKER ]] || { echo "bench/chroot: no Packer at $PACKER: run make tools (or set PACKER)" >&2; exit 1; }

echo "==> the Debian test image (cached after the first build)"
images=$(go test -count=1 -v -run '^TestDebianImageFixture$' ./builder/chroot | sed -n 's/.*image folder: //p' | head -1)
[[ -n $images && -f $images/debian12.raw ]] || { echo "bench/chroot: TestDebianImageFixture did not build the image (needs root, mmdebstrap and a Debian mirror in the apt sources)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/packer-plugin-refit" .
export PACKER_PLUGIN_PATH=$work/plugins PACKER_CONFIG_DIR=$work/config CHECKPOINT_DISABLE=1 PACKER_NO_COLOR=1
"$PACKER" plugins install --path "$work/packer-plugin-refit" github.com/refit-images/refit >/dev/null
cat >"$work/bench.pkr.hcl" <<'HCL'
variable "image" {
  type = string
}
source "refit-chroot" "bench" {
  source_image = var.image
  force        = true
}
build {
  sources = ["source.refit-chroot.bench"]
  provisioner "shell" {
    inline = ["true"]
  }
}
HCL

seconds() { # command... -> wall seconds on stdout; the command's output goes to $work/log
  local start end
  start=$(date +%s.%N)
  "$@" >"$work/log" 2>&1 || { cat "$work/log" >&2; echo "bench/chroot: $* failed" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
refit_run() { (cd "$work" && "$PACKER" build -var "image=$1" bench.pkr.hcl); }
guestfs_run() {
  cp --sparse=always "$1" "$work/copy.$2"
  LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg virt-customize -q --format "$2" -a "$work/copy.$2" --run-command true
}
best() { sort -n | head -1; }

echo "==> image: $images/debian12.{raw,qcow2}"
du -h --apparent-size "$images/debian12.raw" "$images/debian12.qcow2" | sed 's/^/    apparent /'
du -h "$images/debian12.raw" "$images/debian12.qcow2" | sed 's/^/    on disk  /'
declare -A result
for format in raw qcow2; do
  src=$images/debian12.$format
  r=() g=()
  for i in $(seq "$RUNS"); do
    r+=("$(seconds refit_run "$src")")
    out=$(ls "$work/output-bench/bench.$format")
    rm -rf "$work/output-bench"
    g+=("$(seconds guestfs_run "$src" "$format")")
    rm -f "$work/copy.$format"
    echo "    $format run $i: refit-chroot ${r[-1]} s, cp + virt-customize ${g[-1]} s"
  done
  rt=$(printf '%s\n' "${r[@]}" | best) gt=$(printf '%s\n' "${g[@]}" | best)
  result[$format]="$rt $gt"
done
echo "best of $RUNS runs (open + no-op command + write the output image):"
for format in raw qcow2; do
  read -r rt gt <<<"${result[$format]}"
  printf '  %-6s refit-chroot %7.2f s   cp + virt-customize %7.2f s   ratio %.1fx\n' "$format" "$rt" "$gt" "$(echo "$gt/$rt" | bc -l)"
done
