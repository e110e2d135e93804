#!/usr/bin/env bash
# One-time set-up of a fresh Debian 12 machine (run as root): the Debian packages refit's
# tests and demo use, then the pinned tools (Packer, packer-sdc) built into the cache.
# Idempotent and quick when everything is there already.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(
  rpm createrepo-c dnf libdpkg-perl dpkg-dev apt-utils mmdebstrap arch-test gnupg
  qemu-utils qemu-system-x86 ovmf openssh-client lvm2 xfsprogs dosfstools mtools fdisk e2fsprogs util-linux
  xz-utils zstd bzip2 gzip libxml2-utils time bc ca-certificates
  busybox gawk mawk dash jq systemd debian-archive-keyring gcc db-util python3 strace debconf initramfs-tools-core
  chromium fonts-liberation
  podman runc
  qemu-user-static binfmt-support qemu-system-arm qemu-efi-aarch64 nftables
  openscap-scanner openscap-utils
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]}; run as root (sudo $0) or apt-get install them" >&2
    exit 1
  fi
  echo "==> installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  for attempt in 1 2 3; do
    apt-get -o DPkg::Lock::Timeout=300 update -q &&
      apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}" && break
    echo "setup: apt-get failed (attempt $attempt); retrying" >&2
    sleep 10
    [[ $attempt == 3 ]] && exit 1
  done
fi
./scripts/tools.sh
