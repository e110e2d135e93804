#!/bin/bash
# Builds a Debian 12 root filesystem tarball for refit-harden's integration tests and its bench.
#
# Usage: mkroot.sh OUT.tar VARIANT PACKAGES   build (as root)
#        mkroot.sh --sources                   print the apt sources the build would use
#
# VARIANT is an mmdebstrap variant (minbase, debootstrap, ...); PACKAGES a comma-separated --include
# list. The apt sources for bookworm, bookworm-updates and bookworm-security are read from this
# machine's apt configuration at run time (apt-get indextargets): the project never names a mirror.
# Device nodes are left out of the tarball (--skip=output/dev); package lists are removed as usual.
set -euo pipefail
SUITES="bookworm bookworm-updates bookworm-security"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

sources() {
    local signed_by=
    [ ! -r "$KEYRING" ] || signed_by="[signed-by=$KEYRING] "
    apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE) $(IDENTIFIER)' |
        awk -v suites=" $SUITES " -v sb="$signed_by" '
            $3 == "Packages" && index(suites, " " $2 " ") && !seen[$2]++ { printf "deb %s%s %s main\n", sb, $1, $2 }'
}

if [ "${1:-}" = --sources ]; then
    sources
    exit 0
fi
OUT=${1:?usage: mkroot.sh OUT.tar VARIANT PACKAGES}
VARIANT=${2:?usage: mkroot.sh OUT.tar VARIANT PACKAGES}
PACKAGES=${3:?usage: mkroot.sh OUT.tar VARIANT PACKAGES}
[ "$(id -u)" = 0 ] || { echo "mkroot.sh: run as root" >&2; exit 2; }
SRC=$(sources)
grep -q ' bookworm main$' <<<"$SRC" || {
    echo "mkroot.sh: this machine's apt configuration has no source for bookworm" >&2
    exit 2
}
args=()
while IFS= read -r line; do args+=("$line"); done <<<"$SRC"
export SOURCE_DATE_EPOCH=1704067200
mmdebstrap --mode=root --variant="$VARIANT" --format=tar --skip=output/dev \
    --include="$PACKAGES" \
    --aptopt='Acquire::Languages "none"' \
    --aptopt='Acquire::Retries "3"' \
    bookworm "$OUT" "${args[@]}"
