#!/usr/bin/env bash
# Builds the small disk images internal/diskimage's integration tests (and others)
# attach, into OUTDIR. No image is committed: tests run this into a temporary directory.
#
#   make-images.sh OUTDIR [NAME...]     (default: all images)
#
# Every image is a fake Debian system of a few files (etc/os-release, etc/fstab and
# marker files naming the filesystem they are on), sparse, 64-400 MiB apparent size:
#
#   mbr-ext4.raw      MBR: 1 ext4 root, 2 swap; fstab by UUID= plus tmpfs/nfs/bind/noauto/swap lines
#   mbr-ext4.qcow2    the same, as qcow2
#   gpt-efi.raw       GPT: 1 EFI system partition (vfat), 2 /boot ext4 (LABEL=),
#                     3 root ext4 (PARTUUID=, etc/os-release a symlink), 4 /var ext4 (/dev/vda4)
#   lvm.raw           MBR: 1 /boot ext4, 2 LVM PV of VG "refit-vg": root (linear),
#                     var (written as two contiguous segments, which LVM merges), swap,
#                     scattered (two segments with a gap: not mappable without device-mapper)
#   xfs.raw           MBR: 1 XFS root
#   whole-disk.raw    no partition table: ext4 over the whole disk
#   two-roots.raw     MBR: two ext4 filesystems that both hold etc/os-release
#   lvm-metadata.txt  vgcfgbackup of lvm.raw's volume group (LVM's own text rendering)
#
# Needs: sfdisk (fdisk), mkfs.ext4 (e2fsprogs), mkswap; gpt-efi: mkfs.vfat (dosfstools),
# mcopy (mtools); xfs: mkfs.xfs (xfsprogs); qcow2: qemu-img (qemu-utils); lvm: root, a
# loop device and pvcreate/vgcreate/vgcfgbackup/vgcfgrestore (lvm2). LVM is set up
# without device-mapper: vgcreate on a loop device over the partition, then the
# logical volumes are added to a vgcfgbackup file and written back with vgcfgrestore.
set -euo pipefail

out=${1:?usage: make-images.sh OUTDIR [NAME...]}
shift
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(mbr-ext4 mbr-ext4.qcow2 gpt-efi lvm xfs whole-disk two-roots)
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
loopdev=
cleanup() {
  if [[ -n $loopdev ]]; then losetup -d "$loopdev" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

MiB=2048 # sectors

# tree DIR NAME FSTAB: a fake root filesystem in DIR with the given fstab.
tree() {
  local dir=$1 name=$2 fstab=$3
  mkdir -p "$dir/etc" "$dir/usr/lib" "$dir/boot" "$dir/var" "$dir/tmp" "$dir/srv"
  cat >"$dir/usr/lib/os-release" <<OS
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
ID=debian
OS
  cp "$dir/usr/lib/os-release" "$dir/etc/os-release"
  printf '%s\n' "$fstab" >"$dir/etc/fstab"
  echo "$name" >"$dir/etc/refit-image"
  echo root >"$dir/etc/refit-fs"
}

# mkext4 FILE SIZE UUID LABEL DIR
mkext4() { mkfs.ext4 -q -F -d "$5" -U "$3" -L "$4" "$1" "$2" >/dev/null; }

# place FS DISK START_SECTOR: copy a filesystem image into the disk image, sparse.
place() { dd if="$1" of="$2" bs=512 seek="$3" conv=notrunc,sparse status=none; }

build_mbr_ext4() {
  local d=$work/mbr-ext4 disk=$out/mbr-ext4.raw
  mkdir -p "$d"
  tree "$d/root" mbr-ext4 "# mbr-ext4
UUID=5f0c1c5e-0000-4000-8000-000000000001 / ext4 errors=remount-ro 0 1
UUID=5f0c1c5e-0000-4000-8000-000000000002 none swap sw 0 0
tmpfs /tmp tmpfs defaults 0 0
server:/export /mnt/nfs nfs defaults 0 0
/srv /mnt/bind none bind 0 0
LABEL=absent /mnt/data ext4 noauto 0 0"
  mkext4 "$d/root.img" 48M 5f0c1c5e-0000-4000-8000-000000000001 mbrroot "$d/root"
  truncate -s 8M "$d/swap.img"
  mkswap -q -U 5f0c1c5e-0000-4000-8000-000000000002 "$d/swap.img"
  rm -f "$disk"; truncate -s 64M "$disk"
  sfdisk -q "$disk" <<SF
label: dos
label-id: 0x5f0c1c5e
start=$((1 * MiB)), size=$((48 * MiB)), type=83
start=$((49 * MiB)), size=$((8 * MiB)), type=82
SF
  place "$d/root.img" "$disk" $((1 * MiB))
  place "$d/swap.img" "$disk" $((49 * MiB))
}

build_gpt_efi() {
  local d=$work/gpt-efi disk=$out/gpt-efi.raw
  mkdir -p "$d"
  tree "$d/root" gpt-efi "# gpt-efi
PARTUUID=9e2c0003-0000-4000-8000-000000000003 / ext4 defaults 0 1
LABEL=boot /boot ext4 defaults 0 2
UUID=9E2C-0001 /boot/efi vfat umask=0077 0 1
/dev/vda4 /var ext4 defaults 0 2"
  # os-release as most distributions ship it: a relative symlink into /usr.
  ln -sf ../usr/lib/os-release "$d/root/etc/os-release"
  mkdir -p "$d/boot/efi" "$d/var/lib"
  echo boot >"$d/boot/refit-fs"
  echo var >"$d/var/refit-fs"
  mkext4 "$d/boot.img" 16M 9e2c0002-0000-4000-8000-000000000002 boot "$d/boot"
  mkext4 "$d/root.img" 40M 9e2c0003-0000-4000-8000-0000000000aa gptroot "$d/root"
  mkext4 "$d/var.img" 16M 9e2c0004-0000-4000-8000-000000000004 var "$d/var"
  mkfs.vfat -C -i 9E2C0001 -n EFI "$d/efi.img" $((16 * 1024)) >/dev/null
  mmd -i "$d/efi.img" ::/EFI ::/EFI/BOOT
  echo efi | mcopy -i "$d/efi.img" - ::/EFI/BOOT/refit-fs
  echo efi | mcopy -i "$d/efi.img" - ::/refit-fs
  rm -f "$disk"; truncate -s 96M "$disk"
  sfdisk -q "$disk" <<SF
label: gpt
label-id: 9E2C0000-0000-4000-8000-000000000000
start=$((1 * MiB)), size=$((16 * MiB)), type=uefi, uuid=9E2C0001-0000-4000-8000-000000000001, name=efi
start=$((17 * MiB)), size=$((16 * MiB)), type=linux, uuid=9E2C0002-0000-4000-8000-000000000002, name=boot
start=$((33 * MiB)), size=$((40 * MiB)), type=linux, uuid=9E2C0003-0000-4000-8000-000000000003, name=root
start=$((73 * MiB)), size=$((16 * MiB)), type=linux, uuid=9E2C0004-0000-4000-8000-000000000004, name=var
SF
  place "$d/efi.img" "$disk" $((1 * MiB))
  place "$d/boot.img" "$disk" $((17 * MiB))
  place "$d/root.img" "$disk" $((33 * MiB))
  place "$d/var.img" "$disk" $((73 * MiB))
}

# lvm_run CMD...: an LVM command, quiet unless it fails (without device-mapper
# it warns about the kernel driver on every call).
lvm_run() {
  local log
  log=$("$@" 2>&1) || { printf '%s\n' "$log" >&2; return 1; }
}

build_lvm() {
  local d=$work/lvm disk=$out/lvm.raw
  mkdir -p "$d"
  tree "$d/root" lvm "# lvm
/dev/mapper/refit--vg-root / ext4 defaults 0 1
UUID=1f000001-0000-4000-8000-000000000001 /boot ext4 defaults 0 2
/dev/refit-vg/var /var ext4 defaults 0 2
/dev/mapper/refit--vg-swap none swap sw 0 0"
  mkdir -p "$d/boot" "$d/var"
  echo boot >"$d/boot/refit-fs"
  echo var >"$d/var/refit-fs"
  mkext4 "$d/boot.img" 16M 1f000001-0000-4000-8000-000000000001 boot "$d/boot"
  mkext4 "$d/root.img" 32M 1f000002-0000-4000-8000-000000000002 lvroot "$d/root"
  mkext4 "$d/var.img" 16M 1f000003-0000-4000-8000-000000000003 lvvar "$d/var"
  truncate -s 4M "$d/swap.img"
  mkswap -q "$d/swap.img"
  rm -f "$disk"; truncate -s 112M "$disk"
  sfdisk -q "$disk" <<SF
label: dos
label-id: 0x1f000000
start=$((1 * MiB)), size=$((16 * MiB)), type=83
start=$((17 * MiB)), size=$((90 * MiB)), type=8e
SF
  local pvstart=$((17 * MiB))
  loopdev=$(losetup --find --show --offset $((pvstart * 512)) --sizelimit $((90 * 1024 * 1024)) "$disk")
  # LVM only on this one device: no udev, no backup/archive files, no devices file.
  local conf="devices { filter=[\"a|^$loopdev\$|\", \"r|.*|\"] global_filter=[\"a|^$loopdev\$|\", \"r|.*|\"]
  use_devicesfile=0 obtain_device_list_from_udev=0 }
activation { udev_sync=0 udev_rules=0 monitoring=0 }
backup { backup=0 archive=0 }"
  export LVM_SUPPRESS_FD_WARNINGS=1
  lvm_run pvcreate -y --config "$conf" --dataalignment 1m "$loopdev"
  lvm_run vgcreate --config "$conf" -s 4m refit-vg "$loopdev"
  lvm_run vgcfgbackup --config "$conf" -f "$d/vg.txt" refit-vg
  # Extents are 4 MiB: root 0-7, var 8-9 + 10-11 (two contiguous segments), swap 12,
  # scattered 13 + 15 (a gap at 14, so it needs device-mapper).
  {
    head -n -1 "$d/vg.txt"
    cat <<LV
	logical_volumes {
		root {
			id = "root00-0000-0000-0000-0000-0000-000000"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			segment_count = 1
			segment1 {
				start_extent = 0
				extent_count = 8
				type = "striped"
				stripe_count = 1
				stripes = [
					"pv0", 0
				]
			}
		}
		var {
			id = "var000-0000-0000-0000-0000-0000-000000"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			segment_count = 2
			segment1 {
				start_extent = 0
				extent_count = 2
				type = "striped"
				stripe_count = 1
				stripes = [
					"pv0", 8
				]
			}
			segment2 {
				start_extent = 2
				extent_count = 2
				type = "striped"
				stripe_count = 1
				stripes = [
					"pv0", 10
				]
			}
		}
		swap {
			id = "swap00-0000-0000-0000-0000-0000-000000"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			segment_count = 1
			segment1 {
				start_extent = 0
				extent_count = 1
				type = "striped"
				stripe_count = 1
				stripes = [
					"pv0", 12
				]
			}
		}
		scattered {
			id = "scat00-0000-0000-0000-0000-0000-000000"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			segment_count = 2
			segment1 {
				start_extent = 0
				extent_count = 1
				type = "striped"
				stripe_count = 1
				stripes = [
					"pv0", 13
				]
			}
			segment2 {
				start_extent = 1
				extent_count = 1
				type = "striped"
				stripe_count = 1
				stripes = [
					"pv0", 15
				]
			}
		}
	}
}
LV
  } >"$d/vg-lvs.txt"
  lvm_run vgcfgrestore --config "$conf" -f "$d/vg-lvs.txt" refit-vg
  # LVM's own rendering of the result, for parser tests (internal/diskimage/lvm/testdata).
  lvm_run vgcfgbackup --config "$conf" -f "$out/lvm-metadata.txt" refit-vg
  local pe_start
  pe_start=$(sed -n 's/^[[:space:]]*pe_start = \([0-9]*\).*/\1/p' "$d/vg.txt")
  losetup -d "$loopdev"
  loopdev=
  local ext=$((4 * MiB)) base=$((pvstart + pe_start))
  place "$d/root.img" "$disk" $((base + 0 * ext))
  place "$d/var.img" "$disk" $((base + 8 * ext))
  place "$d/swap.img" "$disk" $((base + 12 * ext))
  place "$d/boot.img" "$disk" $((1 * MiB))
}

build_xfs() {
  local d=$work/xfs disk=$out/xfs.raw
  mkdir -p "$d"
  tree "$d/root" xfs "UUID=0f5f0001-0000-4000-8000-000000000001 / xfs defaults 0 1"
  # mkfs.xfs -p populates from a protofile (no loop device or mount needed).
  local r=$d/root
  cat >"$d/proto" <<PROTO
/dev/null
0 0
d--755 0 0
etc d--755 0 0
os-release l--777 0 0 ../usr/lib/os-release
fstab ---644 0 0 $r/etc/fstab
refit-image ---644 0 0 $r/etc/refit-image
refit-fs ---644 0 0 $r/etc/refit-fs
\$
usr d--755 0 0
lib d--755 0 0
os-release ---644 0 0 $r/usr/lib/os-release
\$
\$
boot d--755 0 0
\$
var d--755 0 0
\$
\$
PROTO
  truncate -s 320M "$d/root.img" # mkfs.xfs refuses less than 300 MB
  mkfs.xfs -q -f -m uuid=0f5f0001-0000-4000-8000-000000000001 -L xfsroot -p "$d/proto" "$d/root.img"
  rm -f "$disk"; truncate -s 330M "$disk"
  sfdisk -q "$disk" <<SF
label: dos
label-id: 0x0f5f0000
start=$((1 * MiB)), size=$((320 * MiB)), type=83
SF
  place "$d/root.img" "$disk" $((1 * MiB))
}

build_whole_disk() {
  local d=$work/whole-disk
  mkdir -p "$d"
  tree "$d/root" whole-disk "UUID=3d000001-0000-4000-8000-000000000001 / ext4 defaults 0 1"
  rm -f "$out/whole-disk.raw"
  mkext4 "$out/whole-disk.raw" 32M 3d000001-0000-4000-8000-000000000001 whole "$d/root"
}

build_two_roots() {
  local d=$work/two-roots disk=$out/two-roots.raw
  mkdir -p "$d"
  tree "$d/a" two-roots-a "LABEL=roota / ext4 defaults 0 1"
  tree "$d/b" two-roots-b "LABEL=rootb / ext4 defaults 0 1"
  mkext4 "$d/a.img" 16M 2a000001-0000-4000-8000-000000000001 roota "$d/a"
  mkext4 "$d/b.img" 16M 2a000002-0000-4000-8000-000000000002 rootb "$d/b"
  rm -f "$disk"; truncate -s 40M "$disk"
  sfdisk -q "$disk" <<SF
label: dos
start=$((1 * MiB)), size=$((16 * MiB)), type=83
start=$((17 * MiB)), size=$((16 * MiB)), type=83
SF
  place "$d/a.img" "$disk" $((1 * MiB))
  place "$d/b.img" "$disk" $((17 * MiB))
}

for n in "${names[@]}"; do
  case $n in
    mbr-ext4) build_mbr_ext4 ;;
    mbr-ext4.qcow2)
      [[ -f $out/mbr-ext4.raw ]] || build_mbr_ext4
      rm -f "$out/mbr-ext4.qcow2"
      qemu-img convert -f raw -O qcow2 "$out/mbr-ext4.raw" "$out/mbr-ext4.qcow2" ;;
    gpt-efi) build_gpt_efi ;;
    lvm) build_lvm ;;
    xfs) build_xfs ;;
    whole-disk) build_whole_disk ;;
    two-roots) build_two_roots ;;
    *) echo "make-images.sh: unknown image $n" >&2; exit 2 ;;
  esac
done
