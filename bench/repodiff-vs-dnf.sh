#!/usr/bin/env bash
# refit-repodiff against `dnf check-update` on the same data, in one run:
# a Fedora-sized rpm-md repository (PACKAGES packages, default 70,000) and an image root
# with INSTALLED packages (default 1,000) in a sqlite rpmdb, with its metadata compressed
# as each of COMPRESSIONS (default "gzip xz zstd": gzip as EL repositories ship it; the
# system's gzip/xz/zstd recompress it, once). Both start cold: refit with an empty metadata
# cache, dnf with an empty cachedir (it must build its solv cache). refit runs as a user
# runs it, through `packer build` of a template with the data source (the plugin installed
# in a private PACKER_PLUGIN_PATH), and alone (bench/cmd/repodiff, the same code without
# Packer). Prints wall time, CPU time (user + system, with child processes) and peak memory
# of each, and the ratios side by side: on a machine shared with other work, wall times
# stretch with the load (dnf's most, as it needs the most CPU) and the CPU ratio is the steadier one.
# Needs rpm, rpmbuild, dnf and the pinned Packer (make tools).
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=${PACKAGES:-70000} INSTALLED=${INSTALLED:-1000} RUNS=${RUNS:-3}
COMPRESSIONS=${COMPRESSIONS:-gzip xz zstd}
CACHE=${REFIT_CACHE:-$HOME/.cache/packer-plugin-refit}
data=$CACHE/bench/bigrepo-$PACKAGES-$INSTALLED-$(cat internal/fixture/bigrepo.go | sha256sum | cut -c1-12)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ ! -d $data ]]; then
  echo "==> generating $PACKAGES packages / $INSTALLED installed (once)"
  go run ./bench/cmd/bigrepo -packages "$PACKAGES" -installed "$INSTALLED" "$data.tmp"
  mv "$data.tmp" "$data"
fi
for c in $COMPRESSIONS; do
  [[ $c == zstd || -d $data/repos/big-$c ]] && continue # the generator writes zstd
  echo "==> recompressing the metadata as $c (once)"
  go run ./bench/cmd/recompress "$data/repos/big" "$data/repos/big-$c.tmp" "$c"
  mv "$data/repos/big-$c.tmp" "$data/repos/big-$c"
done
go build -o "$work/repodiff" ./bench/cmd/repodiff
./scripts/tools.sh >/dev/null
packer=$PWD/.tools/bin/packer
go build -o "$work/packer-plugin-refit" .
export PACKER_PLUGIN_PATH=$work/plugins PACKER_CONFIG_DIR=$work/packer-config CHECKPOINT_DISABLE=1
"$packer" plugins install --path "$work/packer-plugin-refit" github.com/refit-images/refit >/dev/null

measure() { # label cmd... -> "seconds maxrss_kib cpu_seconds" on stdout, command output in $work/out
  local label=$1; shift
  /usr/bin/time -f '%e %M %U %S' -o "$work/time" "$@" > "$work/out" 2>&1 || { rc=$?; [[ $rc == 100 ]] || { cat "$work/out" >&2; echo "$label failed ($rc)" >&2; exit 1; }; }
  # time prepends "Command exited with non-zero status" for dnf's 100; CPU time counts children (Packer's plugins)
  tail -1 "$work/time" | { read -r e m u s; echo "$e $m $(echo "$u + $s" | bc)"; }
}
best() { sort -n | head -1; }
mib() { echo "$1/1024" | bc -l; }

echo "data: $PACKAGES packages in the repository, $INSTALLED installed; best of $RUNS cold runs; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for c in $COMPRESSIONS; do
  repo=$data/repos/big-$c
  [[ $c == zstd ]] && repo=$data/repos/big
  mkdir -p "$work/tpl-$c"
  cat > "$work/tpl-$c/t.pkr.hcl" <<HCL
data "refit-repodiff" "big" {
  rootfs    = "$data/root"
  cache_dir = "$work/tpl-$c/cache"
  repository {
    name = "big"
    url  = "file://$repo"
  }
}
source "file" "out" {
  content = "\${data.refit-repodiff.big.count} updates of \${data.refit-repodiff.big.installed_count} installed packages\n"
  target  = "$work/tpl-$c/out.txt"
}
build { sources = ["source.file.out"] }
HCL
  packer_t=() refit_t=() dnf_t=() packer_m=0 refit_m=0 dnf_m=0 packer_c=() refit_c=() dnf_c=()
  for _ in $(seq "$RUNS"); do
    rm -rf "$work/tpl-$c/cache"
    read -r t m cpu < <(cd "$work/tpl-$c" && measure packer "$packer" build .)
    packer_t+=("$t"); packer_c+=("$cpu"); (( m > packer_m )) && packer_m=$m
    packer_out=$(cat "$work/tpl-$c/out.txt")
    read -r t m cpu < <(measure refit "$work/repodiff" -rootfs "$data/root" -repo "big=file://$repo")
    refit_t+=("$t"); refit_c+=("$cpu"); (( m > refit_m )) && refit_m=$m
    refit_out=$(tail -1 "$work/out")
    rm -rf "$work/dnfroot" "$work/dnfcache"; cp -a "$data/root" "$work/dnfroot"; mkdir "$work/dnfcache"
    read -r t m cpu < <(HOME=$data/home measure dnf dnf -q --installroot="$work/dnfroot" --releasever=9 \
        --setopt=reposdir=/dev/null --setopt=cachedir="$work/dnfcache" --setopt=keepcache=0 \
        --repofrompath="big,file://$repo" --nogpgcheck check-update)
    dnf_t+=("$t"); dnf_c+=("$cpu"); (( m > dnf_m )) && dnf_m=$m
    dnf_n=$(grep -c ' big *$' "$work/out" || true)
  done
  pt=$(printf '%s\n' "${packer_t[@]}" | best) rt=$(printf '%s\n' "${refit_t[@]}" | best) dt=$(printf '%s\n' "${dnf_t[@]}" | best)
  pc=$(printf '%s\n' "${packer_c[@]}" | best) rc=$(printf '%s\n' "${refit_c[@]}" | best) dc=$(printf '%s\n' "${dnf_c[@]}" | best)
  echo "== $c metadata (load average $(cut -d' ' -f1 /proc/loadavg))"
  printf '  %-30s %7s s wall %7s s CPU %8.1f MiB   %s\n' "packer build (refit-repodiff)" "$pt" "$pc" "$(mib "$packer_m")" "$packer_out"
  printf '  %-30s %7s s wall %7s s CPU %8.1f MiB   %s\n' "refit-repodiff alone" "$rt" "$rc" "$(mib "$refit_m")" "$refit_out"
  printf '  %-30s %7s s wall %7s s CPU %8.1f MiB   %s updates\n' "dnf check-update" "$dt" "$dc" "$(mib "$dnf_m")" "$dnf_n"
  printf '  ratio (%s): dnf / packer build = %.1fx wall, %.1fx CPU; dnf / refit alone = %.1fx wall, %.1fx CPU; memory dnf / refit alone = %.1fx\n' \
    "$c" "$(echo "$dt/$pt" | bc -l)" "$(echo "$dc/$pc" | bc -l)" "$(echo "$dt/$rt" | bc -l)" "$(echo "$dc/$rc" | bc -l)" "$(echo "$dnf_m/$refit_m" | bc -l)"
done
