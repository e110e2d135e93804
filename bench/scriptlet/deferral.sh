#!/usr/bin/env bash
# The deferral rate of refit's script analysis over the real maintainer scripts of a standard Debian
# server install (issue 15): every package's scripts in /var/lib/dpkg/info of a root built with
# mmdebstrap --variant=standard from the base suite of this machine's apt sources, judged alone and as
# refit-patch judges the next upgrade of each package (dpkg's arguments, the root's debconf answers).
# Prints the scripts and packages that would wait for the first boot, with the reasons, most frequent
# first. The RPM side is logged by `go test -v -run 'TestRPMDBScriptlets$' ./internal/scriptlet`.
#
#   bench/scriptlet/deferral.sh [SUITE]     (as root; SUITE defaults to bookworm)
#
# The root is built once (about 7 minutes here) and kept in $REFIT_CACHE/bench-standard-root-SUITE
# (default ~/.cache/packer-plugin-refit); delete it to rebuild against a newer archive.
set -euo pipefail
cd "$(dirname "$0")/../.."
SUITE=${1:-bookworm}
[[ $(id -u) == 0 ]] || { echo "bench/scriptlet: run as root (mmdebstrap --mode=root)" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { echo "bench/scriptlet: apt-get install mmdebstrap" >&2; exit 1; }
cache=${REFIT_CACHE:-$HOME/.cache/packer-plugin-refit}/bench-standard-root-$SUITE
if [[ ! -f $cache/var/lib/dpkg/status ]]; then
  # The mirror comes from this machine's apt configuration; the project names none.
  mirror=$(apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE) $(IDENTIFIER)' |
    awk -v s="$SUITE" '$2 == s && $3 == "Packages" { print $1; exit }')
  [[ -n $mirror ]] || { echo "bench/scriptlet: no apt source for $SUITE on this machine" >&2; exit 1; }
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  signed_by=
  [[ ! -r $keyring ]] || signed_by="[signed-by=$keyring] "
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "==> building a standard $SUITE root with mmdebstrap (once)"
  SOURCE_DATE_EPOCH=1704067200 mmdebstrap --mode=root --variant=standard --format=tar --skip=output/dev \
    --aptopt='Acquire::Languages "none"' "$SUITE" "$work/root.tar" "deb ${signed_by}${mirror} $SUITE main"
  mkdir -p "$work/root"
  tar -C "$work/root" -xf "$work/root.tar" ./var/lib/dpkg/info ./var/lib/dpkg/status ./var/cache/debconf
  mkdir -p "$(dirname "$cache")"
  rm -rf "$cache"
  mv "$work/root" "$cache"
fi
REFIT_DPKG_INFO=$cache/var/lib/dpkg/info go test -count=1 -v -run '^TestDebianRootMaintainerScripts$' ./internal/scriptlet |
  sed -n 's/^ *corpus_test.go:[0-9]*: //p'
