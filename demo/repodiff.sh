#!/usr/bin/env bash
# The repodiff demo: build a small RPM world from testdata/rpmlab (real rpmbuild, createrepo_c and rpm:
# three repositories with updateinfo and modules, and an image root with older packages), then
# ask Packer — with refit installed — which packages of that root are outdated and which
# advisories and CVEs the updates fix. Run it through `make demo-repodiff` (it installs the plugin
# first).
set -euo pipefail
source "$(dirname "$0")/env.sh"
CACHE=${REFIT_CACHE:-$HOME/.cache/packer-plugin-refit}
key=$(find testdata/rpmlab -type f | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)
lab=$CACHE/demo/rpmlab-$key
if [[ ! -d $lab ]]; then
  echo "==> building the RPM lab from testdata/rpmlab (once, about 20 s)"
  mkdir -p "$CACHE/demo"
  rm -rf "$lab.tmp"
  testdata/rpmlab/build.sh "$lab.tmp" > "$CACHE/demo/rpmlab-build.log" 2>&1 ||
    { tail -20 "$CACHE/demo/rpmlab-build.log"; exit 1; }
  mv "$lab.tmp" "$lab"
fi
mkdir -p demo/work
echo "==> image root $lab/root: $(HOME=$lab/home rpm --root "$lab/root" --dbpath /var/lib/rpm -qa | wc -l) packages installed"
echo "==> packer build example/repodiff"
packer build -color=false \
  -var "rootfs=$lab/root" \
  -var "base_url=file://$lab/repos/base" \
  -var "updates_url=file://$lab/repos/updates" \
  -var "report=$PWD/demo/work/outdated.json" \
  example/repodiff
echo "==> the full report (updates, advisories, CVEs): demo/work/outdated.json"
