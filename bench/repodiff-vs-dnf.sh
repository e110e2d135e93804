#!/usr/bin/env bash
# refit-repodiff against `dnf check-update` on the same data, in one run:
# a Fedora-sized rpm-md repository (PACKAGES packages, default 70,000) and an image root
# with INSTALLED packages (default 1,000) in a sqlite rpmdb. Both start cold: refit with
# an empty metadata cache, dnf with an empty cachedir (it must build its solv cache).
# Prints wall time and peak memory of each and the ratios. Needs rpm, rpmbuild, dnf.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=${PACKAGES:-70000} INSTALLED=${INSTALLED:-1000} RUNS=${RUNS:-3}
CACHE=${REFIT_CACHE:-$HOME/.cache/packer-plugin-refit}
data=$CACHE/bench/bigrepo-$PACKAGES-$INSTALLED-$(cat internal/fixture/bigrepo.go | sha256sum | cut -c1-12)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ ! -d $data ]]; then
  echo "==> generating $PACKAGES packages / $INSTALLED installed (once)"
  go run ./bench/cmd/bigrepo -packages "$PACKAGES" -installed "$INSTALLED" "$data.tmp"
  mv "$data.tmp" "$data"
fi
go build -o "$work/repodiff" ./bench/cmd/repodiff

measure() { # label cmd... -> "seconds maxrss_kib" on stdout, command output in $work/out
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" > "$work/out" 2>&1 || { rc=$?; [[ $rc == 100 ]] || { cat "$work/out" >&2; echo "$label failed ($rc)" >&2; exit 1; }; }
  tail -1 "$work/time"  # time prepends "Command exited with non-zero status" for dnf's 100
}

best() { sort -n | head -1; }
refit_t=() dnf_t=() refit_m=0 dnf_m=0
for i in $(seq "$RUNS"); do
  read -r t m < <(measure refit "$work/repodiff" -rootfs "$data/root" -repo "big=file://$data/repos/big")
  refit_t+=("$t"); (( m > refit_m )) && refit_m=$m
  refit_out=$(tail -1 "$work/out")
  rm -rf "$work/dnfroot" "$work/dnfcache"; cp -a "$data/root" "$work/dnfroot"; mkdir "$work/dnfcache"
  read -r t m < <(HOME=$data/home measure dnf dnf -q --installroot="$work/dnfroot" --releasever=9 \
      --setopt=reposdir=/dev/null --setopt=cachedir="$work/dnfcache" --setopt=keepcache=0 \
      --repofrompath="big,file://$data/repos/big" --nogpgcheck check-update)
  dnf_t+=("$t"); (( m > dnf_m )) && dnf_m=$m
  dnf_n=$(grep -c ' big *$' "$work/out" || true)
done
rt=$(printf '%s\n' "${refit_t[@]}" | best) dt=$(printf '%s\n' "${dnf_t[@]}" | best)
echo "data: $PACKAGES packages in the repository, $INSTALLED installed; best of $RUNS cold runs"
printf '%-22s %8s s %8.1f MiB   %s\n' "refit-repodiff" "$rt" "$(echo "$refit_m/1024" | bc -l)" "$refit_out"
printf '%-22s %8s s %8.1f MiB   %s updates\n' "dnf check-update" "$dt" "$(echo "$dnf_m/1024" | bc -l)" "$dnf_n"
printf 'ratio: refit is %.1fx faster and uses %.1fx less memory\n' "$(echo "$dt/$rt" | bc -l)" "$(echo "$dnf_m/$refit_m" | bc -l)"
