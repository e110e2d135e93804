#!/usr/bin/env bash
# Builds a bootable Debian 12 disk image from a minimal Debian root tarball (the one
# internal/fixture's DebianRootTarball makes with mmdebstrap): an ext4 root partition
# (label rootfs, mounted by UUID), linux-image-ARCH, grub, systemd with
# systemd-networkd (DHCP), openssh-server (root may log in with a key; no key and no
# password are set: whoever boots it adds a key first, as refit-chroot's tests do).
# Serial console (ttyS0; ttyAMA0 on arm64). No image is committed: the tests run this
# once and cache the result (about 3-4 minutes; an image of another architecture than the
# host's, built under qemu-user, gets an initramfs of listed modules and takes about 20).
#
#   make-image.sh ROOT.tar SOURCES.list OUTDIR [SIZE [ARCH [FIRMWARE]]]
#
# ARCH is the Debian architecture of ROOT.tar (default amd64; foreign programs in the
# root run through a qemu-user binfmt_misc handler the caller registered). FIRMWARE is
# bios (the default for amd64: MBR, one root partition, grub-pc in the MBR) or uefi (the
# default otherwise: GPT, partition 1 an EFI system partition, FAT32, made with mkfs.vfat
# and filled with mtools, so no kernel vfat driver is needed, mounted at /boot/efi by
# UUID; partition 2 the root; grub-efi-ARCH at the removable path EFI/BOOT/BOOT<ARCH>.EFI,
# so firmware needs no NVRAM entry). SOURCES.list (one-line sources.list style) becomes
# the image's /etc/apt/sources.list and is used to install the packages; the caller reads
# it from this machine's apt configuration (never write a mirror host name into the
# project). SIZE defaults to 1500M. Writes OUTDIR/debian12.raw (sparse) and
# OUTDIR/debian12.qcow2 (zstd-compressed).
#
# Needs root, losetup/partx/sfdisk (util-linux, fdisk), mkfs.ext4/e2fsck (e2fsprogs),
# fstrim, fsfreeze, qemu-img (qemu-utils), unshare; for uefi also mkfs.vfat/fsck.fat
# (dosfstools) and mcopy (mtools). Traps handled here: `losetup -P` makes no partition
# nodes on these kernels (partx -a); update-grub in a chroot writes root=/dev/loopNpM
# (rewritten to the UUID); a mount can outlive its umount when another process unshares
# meanwhile, so everything runs in a private mount namespace and the script waits for the
# kernel to release the filesystem before converting. grub-install --target=*-efi insists
# that its EFI directory is a FAT filesystem: it reads the source device of the mount
# from /proc/self/mountinfo and probes it, so the ESP is staged on a tmpfs whose source
# is the ESP's partition device (grub finds FAT there), then copied in with mcopy (the
# same stand-in refit-chroot uses; see internal/diskimage).
set -euo pipefail
[[ -n ${REFIT_IN_PRIVATE_NS:-} ]] || exec env REFIT_IN_PRIVATE_NS=1 unshare --mount --propagation private "$0" "$@"

usage='usage: make-image.sh ROOT.tar SOURCES.list OUTDIR [SIZE [ARCH [bios|uefi]]]'
tarball=${1:?$usage}
sources=${2:?$usage}
out=${3:?$usage}
size=${4:-1500M}
arch=${5:-amd64}
firmware=${6:-}
[[ -n $firmware ]] || { firmware=uefi; [[ $arch != amd64 ]] || firmware=bios; }
# What boots each architecture: serial console, grub package, EFI target and loader name.
case $firmware/$arch in
  bios/amd64) console=ttyS0 grub=grub-pc ;;
  uefi/amd64) console=ttyS0 grub=grub-efi-amd64 grub_target=x86_64-efi loader=BOOTX64.EFI ;;
  uefi/arm64) console=ttyAMA0 grub=grub-efi-arm64 grub_target=arm64-efi loader=BOOTAA64.EFI ;;
  *) echo "make-image.sh: no $firmware boot set-up for architecture $arch; $usage" >&2; exit 2 ;;
esac
mkdir -p "$out"
out=$(cd "$out" && pwd)
raw=$out/debian12.raw
work=$(mktemp -d)
mnt=$work/mnt
mkdir -p "$mnt"
loop= part=

cleanup() {
  set +e
  if [[ -n $loop ]]; then
    for d in boot/efi dev/pts dev proc sys; do mountpoint -q "$mnt/$d" && umount "$mnt/$d"; done
    if mountpoint -q "$mnt"; then
      fsfreeze -f "$mnt" && fsfreeze -u "$mnt" # flush: the journal is clean before umount
      umount "$mnt"
    fi
    # umount can return while the superblock lives on: wait until the kernel lets go.
    local dev i
    dev=$(basename "${part:-none}")
    for i in $(seq 1 300); do [[ -e /sys/fs/ext4/$dev ]] || break; sleep 0.2; done
    partx -d "$loop" 2>/dev/null
    losetup -d "$loop"
    loop=
  fi
  rm -rf "$work"
}
trap cleanup EXIT

rm -f "$raw" "$out/debian12.qcow2"
truncate -s "$size" "$raw"
if [[ $firmware == bios ]]; then
  printf 'label: dos\nlabel-id: 0x5eb1a000\nstart=2048, type=83, bootable\n' | sfdisk -q "$raw"
else
  printf 'label: gpt\nlabel-id: 5EB1A000-0000-4000-8000-000000000001\nstart=2048, size=64MiB, type=U, name=esp\ntype=L, name=root\n' | sfdisk -q "$raw"
fi
loop=$(losetup --show -f "$raw")
partx -a "$loop"
partno=1 esp=
[[ $firmware == bios ]] || { partno=2 esp=${loop}p1; }
part=${loop}p$partno
for i in $(seq 1 50); do [[ -b $part ]] && break; sleep 0.1; done
mkfs.ext4 -q -L rootfs "$part"
uuid=$(blkid -s UUID -o value "$part")
if [[ -n $esp ]]; then
  mkfs.vfat -F 32 -n ESP -i 5EB1A0E5 "$esp" >/dev/null
  esp_uuid=5EB1-A0E5
fi
mount "$part" "$mnt"
tar -C "$mnt" --numeric-owner -xpf "$tarball"
mkdir -p "$mnt/dev" "$mnt/proc" "$mnt/sys"

cp "$sources" "$mnt/etc/apt/sources.list"
echo debian12 >"$mnt/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 debian12\n' >"$mnt/etc/hosts"
echo "UUID=$uuid / ext4 errors=remount-ro 0 1" >"$mnt/etc/fstab"
[[ -z $esp ]] || echo "UUID=$esp_uuid /boot/efi vfat umask=0077 0 1" >>"$mnt/etc/fstab"
mkdir -p "$mnt/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n' >"$mnt/etc/systemd/network/20-wired.network"

mount --bind /dev "$mnt/dev"
mount -t devpts devpts "$mnt/dev/pts"
mount -t proc proc "$mnt/proc"
mount -t sysfs sysfs "$mnt/sys"
cp /etc/resolv.conf "$mnt/etc/resolv.conf.build"
mv "$mnt/etc/resolv.conf" "$mnt/etc/resolv.conf.orig"
cp "$mnt/etc/resolv.conf.build" "$mnt/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$mnt/usr/sbin/policy-rc.d"
chmod 755 "$mnt/usr/sbin/policy-rc.d"

in_chroot() { chroot "$mnt" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
apt_get() {
  local attempt
  for attempt in 1 2 3; do
    in_chroot apt-get -q -o Acquire::Retries=3 -o Acquire::Check-Valid-Until=false "$@" && return 0
    echo "make-image.sh: apt-get $* failed (attempt $attempt); retrying" >&2
    sleep 5
  done
  return 1
}
apt_get update
[[ $(in_chroot dpkg --print-architecture) == "$arch" ]] || { echo "make-image.sh: ROOT.tar is not $arch" >&2; exit 2; }
if [[ $arch != "$(dpkg --print-architecture)" ]]; then
  # Under qemu-user, mkinitramfs copying every module (MODULES=most) takes over half an hour
  # here: list what qemu's virt machine needs instead, as a cloud image's MODULES=dep would.
  mkdir -p "$mnt/etc/initramfs-tools/conf.d" "$mnt/usr/share/initramfs-tools/modules.d"
  echo MODULES=list >"$mnt/etc/initramfs-tools/conf.d/refit-test-image"
  printf '%s\n' virtio_pci virtio_mmio virtio_blk virtio_scsi sd_mod ext4 crc32c_generic \
    >"$mnt/usr/share/initramfs-tools/modules.d/refit-test-image"
fi
apt_get install -y --no-install-recommends \
  "linux-image-$arch" "$grub" systemd-sysv udev dbus libpam-systemd openssh-server \
  iproute2 kmod initramfs-tools procps netbase ca-certificates
apt_get clean
in_chroot systemctl enable systemd-networkd
printf 'PermitRootLogin prohibit-password\nUseDNS no\n' >"$mnt/etc/ssh/sshd_config.d/10-refit-test.conf"

sed -i -e 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=0/' \
  -e 's/^GRUB_CMDLINE_LINUX_DEFAULT=.*/GRUB_CMDLINE_LINUX_DEFAULT=""/' \
  -e "s/^GRUB_CMDLINE_LINUX=.*/GRUB_CMDLINE_LINUX=\"console=tty0 console=$console,115200n8 net.ifnames=0\"/" \
  "$mnt/etc/default/grub"
printf 'GRUB_TERMINAL="console serial"\nGRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"\n' >>"$mnt/etc/default/grub"
if [[ -z $esp ]]; then
  in_chroot grub-install --target=i386-pc --modules="part_msdos ext2" "$loop"
else
  # The tmpfs stands in for the ESP (see the top); its files go in with mcopy.
  mkdir -p "$mnt/boot/efi"
  mount -t tmpfs -o size=64m,mode=0700 "$esp" "$mnt/boot/efi"
  in_chroot grub-install --target="$grub_target" --removable --no-nvram --efi-directory=/boot/efi
  [[ -f $mnt/boot/efi/EFI/BOOT/$loader ]] || { echo "make-image.sh: grub-install wrote no EFI/BOOT/$loader" >&2; exit 1; }
  MTOOLS_SKIP_CHECK=1 mcopy -s -p -m -i "$esp" "$mnt/boot/efi/EFI" ::/
  umount "$mnt/boot/efi"
  fsck.fat -n "$esp" >/dev/null
fi
in_chroot update-grub
# No udev on the host: grub's 10_linux falls back to root=/dev/loopNpM.
sed -i -E "s#root=/dev/loop[0-9]+p[0-9]+#root=UUID=$uuid#g" "$mnt/boot/grub/grub.cfg"
grep -q "root=UUID=$uuid" "$mnt/boot/grub/grub.cfg"
if grep -q "/dev/loop" "$mnt/boot/grub/grub.cfg"; then echo "make-image.sh: grub.cfg still names a loop device" >&2; exit 1; fi

rm -f "$mnt/usr/sbin/policy-rc.d" "$mnt/etc/resolv.conf.build"
mv "$mnt/etc/resolv.conf.orig" "$mnt/etc/resolv.conf"
# Nothing may run inside the root now (policy-rc.d kept services from starting).
for p in /proc/[0-9]*; do
  if [[ $(readlink "$p/root" 2>/dev/null) == "$mnt"* ]]; then
    echo "make-image.sh: killing ${p#/proc/} ($(cat "$p/comm" 2>/dev/null)) left inside the image" >&2
    kill -9 "${p#/proc/}" 2>/dev/null || true
  fi
done
for d in dev/pts dev proc sys; do umount "$mnt/$d"; done
fstrim "$mnt" # the deleted .debs' blocks become holes
cleanup
trap - EXIT
[[ -z $(losetup -j "$raw") ]] || { echo "make-image.sh: $raw is still attached to a loop device" >&2; exit 1; }
# A fresh loop device for the read-only check: the first is gone.
loop=$(losetup --show -f --read-only "$raw")
partx -a "$loop"
part=${loop}p$partno
for i in $(seq 1 50); do [[ -b $part ]] && break; sleep 0.1; done
e2fsck -fn "$part" >/dev/null
partx -d "$loop"
losetup -d "$loop"
qemu-img convert -f raw -O qcow2 -c -o compression_type=zstd -m 4 -W "$raw" "$out/debian12.qcow2"
qemu-img compare -q -f raw -F qcow2 "$raw" "$out/debian12.qcow2"
