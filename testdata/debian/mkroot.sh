#!/bin/bash
# Builds a minimal Debian root filesystem as a tarball, from the BASE suite only, so that the packages in it
# are genuinely older than those in SUITE-updates and SUITE-security and the diff has real work to do.
# Usage: mkroot.sh OUT.tar MIRROR-URI [SUITE [ARCH]]
#   ARCH is a Debian architecture (default: the host's); a foreign one needs a qemu-user binfmt_misc
#   handler (internal/fixture registers it) and runs every maintainer script under emulation.
#   MIRROR-URI comes from the caller (internal/fixture reads it from this machine's apt configuration);
#   never write a mirror host name into the project.
# Root runs mmdebstrap --mode=root; other users get --mode=unshare (needs unprivileged user namespaces).
# Device nodes are left out of the tarball (--skip=output/dev) so that non-root users can extract it.
set -euo pipefail
OUT=${1:?usage: mkroot.sh OUT.tar MIRROR-URI [SUITE]}
MIRROR=${2:?usage: mkroot.sh OUT.tar MIRROR-URI [SUITE]}
SUITE=${3:-bookworm}
ARCH=${4:-$(dpkg --print-architecture)}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
mode=unshare
[ "$(id -u)" != 0 ] || mode=root
signed_by=
[ ! -r "$KEYRING" ] || signed_by="[signed-by=$KEYRING] "
# The fixed SOURCE_DATE_EPOCH keeps file times stable where mmdebstrap honours it; the package set is what
# the mirror serves for SUITE at build time.
export SOURCE_DATE_EPOCH=1704067200
mmdebstrap --mode="$mode" --variant=minbase --arch="$ARCH" --format=tar --skip=output/dev \
  --aptopt='Acquire::Check-Valid-Until "false"' \
  --aptopt='Acquire::Languages "none"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  "$SUITE" "$OUT" "deb ${signed_by}${MIRROR} ${SUITE} main"
