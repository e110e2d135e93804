#!/usr/bin/env bash
# refit-fleet at scale: IMAGES image records (default 1,000; bench/fleet/gen) against the
# Fedora-sized rpm-md repository of bench/repodiff-vs-dnf.sh (PACKAGES packages, default
# 70,000: fixture.BuildBigRPMRepoAt through bench/cmd/bigrepo), cold (empty metadata cache),
# through the data source's own code path (bench/cmd/fleet = datasource/fleet.Run). Prints,
# for 10, 100 and IMAGES images, wall time, CPU time and peak memory, best of RUNS, then
# the same with the HTML and JSON reports written.
set -euo pipefail
cd "$(dirname "$0")/../.."
PACKAGES=${PACKAGES:-70000} INSTALLED=${INSTALLED:-1000} IMAGES=${IMAGES:-1000} RUNS=${RUNS:-3}
CACHE=${REFIT_CACHE:-$HOME/.cache/packer-plugin-refit}
data=$CACHE/bench/bigrepo-$PACKAGES-$INSTALLED-$(cat internal/fixture/bigrepo.go | sha256sum | cut -c1-12)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ ! -d $data ]]; then
  echo "==> generating $PACKAGES packages / $INSTALLED installed (once)"
  go run ./bench/cmd/bigrepo -packages "$PACKAGES" -installed "$INSTALLED" "$data.tmp"
  mv "$data.tmp" "$data"
fi
go build -o "$work/fleet" ./bench/cmd/fleet
go run ./bench/fleet/gen -images "$IMAGES" -installed "$INSTALLED" -packages "$PACKAGES" "$work/records"
records=$(du -sh "$work/records" | cut -f1)

measure() { # n [extra flags] -> "wall cpu maxrss_kib"; the program's line in $work/out
  local n=$1; shift
  local files=("$work"/records/image-*.json)
  /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$work/fleet" "$@" -repo "big=file://$data/repos/big" "${files[@]:0:$n}" > "$work/out"
  read -r wall user sys rss < "$work/time"
  echo "$wall $(echo "$user + $sys" | bc) $rss"
}

echo "data: $PACKAGES packages in the repository; $IMAGES image records of 1,000 packages ($records of JSON); $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); best of $RUNS cold runs"
printf '%-28s %9s %9s %10s   %s\n' "images" "wall s" "cpu s" "peak MiB" "answer"
for n in 10 100 "$IMAGES"; do
  for label in "" "+ html/json reports"; do
    flags=()
    [[ -n $label ]] && flags=(-html "$work/fleet.html" -json "$work/fleet.json")
    [[ -n $label && $n != "$IMAGES" ]] && continue
    best_w= best_c= best_m=0
    for _ in $(seq "$RUNS"); do
      read -r w c m < <(measure "$n" "${flags[@]}")
      if [[ -z $best_w ]] || (( $(echo "$w < $best_w" | bc) )); then best_w=$w best_c=$c; fi
      (( m > best_m )) && best_m=$m
    done
    printf '%-28s %9s %9s %10.1f   %s\n' "$n $label" "$best_w" "$best_c" "$(echo "$best_m/1024" | bc -l)" "$(cat "$work/out")"
  done
done
