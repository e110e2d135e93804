// Package diskimage attaches qcow2 and raw disk images offline, finds and mounts
// their filesystems, and tears all of it down again. It is the engine of the
// refit-chroot builder and of refit-repodiff's image input. It owns: detecting the
// image format by content, checksums, the raw working copy and the final
// conversion (qemu-img), loop devices and their partitions (losetup, partx),
// filesystem identification (blkid), mapping LVM logical volumes without
// device-mapper (the on-disk format is read by its subpackage lvm), fstab, the
// private mount namespace, and a teardown that proves the image is consistent
// before it is handed on.
//
// # Flow
//
//	CheckHost()                          root, loop support, tools (names the package to install)
//	VerifyChecksum(src, "sha256:…")
//	MakeWorkingCopy(ctx, src, work.raw)  qcow2 → sparse raw (qemu-img convert); raw → cp --sparse=always
//	img := Attach(ctx, work.raw, opts)   loop device, partx -a, blkid -p, LVs through loop devices
//	m := img.MountRoot(ctx, dir)         root (the filesystem with etc/os-release) + the image's fstab
//	… run commands with img.CommandPrefix() (nsenter into the namespace) …
//	m.Unmount(ctx)                       fstrim, fsfreeze, umount (reverse), wait for the superblock, fsck -n
//	img.Detach(ctx)                      partx -d, losetup -d (each verified ours), losetup -j is empty
//	Convert(ctx, work.raw, out, FormatQcow2, compress)
//
// OpenReadOnly does the read-only variant in one call (losetup --read-only, ext4
// "ro,noload", XFS "ro,norecovery,nouuid"): the input file is never written.
//
// # Why a private mount namespace, held by a helper process
//
// A mount can outlive its umount: any process that calls unshare --mount while an
// image is mounted in its namespace keeps a copy, and the filesystem stays alive
// (half-written on disk) after umount returns. Mounting in the host namespace under
// a private directory would expose every build's mounts to every such process on
// the host (container runtimes, systemd services with PrivateTmp, other builds).
// So each attached image gets its own mount namespace, held open by a small shell
// blocked reading a pipe only this process writes (it ends when the pipe closes,
// including when this process dies; it is in its own process group, so a Ctrl-C
// to Packer does not end it before teardown). Mount, umount, fsfreeze and the
// build's own commands enter it with nsenter (Image.CommandPrefix); Go code reads
// and writes the image's files through /proc/<holder>/root (Mounts.HostRoot,
// Mounts.ResolvePath). When the namespace is created, the copies of other images'
// mounts it inherits are lazily detached in it at once, so it never keeps anyone
// else's filesystem alive either. The Go process itself cannot unshare for the
// whole program (its threads share one namespace), which rules out the simpler
// design.
//
// The copy can still happen inside the namespace (a provisioner calling unshare),
// so teardown does not trust umount: it freezes and thaws each writable filesystem
// (flushing it), unmounts in reverse order retrying while busy, waits (bounded)
// until /sys/fs/ext4/<dev>, /sys/fs/xfs/<dev> or /sys/fs/btrfs/<uuid> is gone,
// naming the processes that still have it mounted when it is not, and runs the
// read-only checker (e2fsck -fn, xfs_repair -n) before detaching.
//
// # LVM without device-mapper
//
// These kernels have no device-mapper, so volume groups cannot be activated.
// Attach reads each physical volume itself, through package lvm: the "LABELONE"
// label in one of the first four sectors, the PV header's metadata areas, the
// newest committed metadata text (checksums verified), which it parses (a small
// parser for LVM's text config format). Every linear logical volume (one "striped" segment with one
// stripe, or segments that follow each other on one PV) gets its own loop device
// with losetup --offset/--sizelimit over the image file. Other volumes (scattered
// segments, thin, RAID, snapshots) are listed as unusable, with an error naming
// the volume when they are needed. When the kernel does have device-mapper this
// is detected and logged, and the loop path is used anyway: activating the VG
// (vgimportclone, vgchange -ay with a private --devices filter) is not
// implemented, as the loop path needs no host LVM state and cannot collide with
// the host's or another build's volume group of the same name.
//
// # Filesystems that cannot be mounted
//
// An fstab entry that cannot be mounted (no driver, device not in the image, no
// filesystem) is never silently left as a plain directory of the root filesystem:
// for a writable image an empty read-only tmpfs is mounted over its mount point, so
// a write there fails with EROFS, and Mounts.Guarded reports it.
//
// # EFI system partitions without a vfat driver
//
// These kernels have no vfat either, yet grub, shim and kernel packages write the
// EFI system partition. With a kernel vfat driver the partition is mounted like any
// other. Without one, a FAT filesystem (blkid type vfat: FAT12, FAT16 or FAT32) is
// staged: a tmpfs the size of the partition is mounted at its mount point, with the
// partition's device as the mount's source, and mcopy copies the partition's files
// into it (long names, case, modification times). The build reads and writes there
// as on a mounted ESP; a tmpfs the size of the partition makes most "partition full"
// cases fail at the write, as they would on FAT. grub-install --target=*-efi looks up
// the device of its EFI directory in the mount table and checks that it holds FAT:
// the mount's source is the partition, so it finds FAT there. Mounts.Filesystems
// lists the entry with Staged set.
//
// When the image is kept (Unmount or Detach with a context that is not done), the
// differences are written back before anything is unmounted: each name is checked
// first (valid FAT long name, no two names in a folder that differ only in case,
// regular files and folders only, files under 4 GiB), then mdel/mdeltree remove what
// the build deleted (or replaced by another type; a rename that changes only case is
// a delete and a create), mmd creates the new folders, and mcopy copies the new and
// changed files. Untouched files, the volume serial and label, and the boot sector
// stay as they were. Then fsck.fat -n checks the filesystem and the partition is
// copied out again and compared with the staged tree (names with case, sizes,
// SHA-256): any difference is an error. A discarded image (failed or cancelled
// build) skips the write-back. A read-only session stages the files and makes the
// tmpfs read-only.
//
// Why mtools: it is Debian's mature userspace FAT implementation (FAT12, FAT16 and
// FAT32, VFAT long names in UTF-16, the case flags of short names), it needs no
// kernel feature, and it writes the partition only once, at the end of a successful
// build, in a few commands whose result dosfstools then checks. A FUSE driver
// (Debian's fusefat is marked experimental) would write the partition throughout the
// build, with every tool's access pattern, and needs /dev/fuse; diskfs/go-diskfs's
// FAT package handles FAT32 only, while real ESPs are also FAT16 and FAT12.
//
// Limits, each an error naming the file and the fix: names FAT cannot hold
// (control characters, " * / : < > ? \ |, a trailing dot or blank, more than 255
// UTF-16 units), two names differing only in case, symbolic links, device nodes,
// FIFOs and sockets, files of 4 GiB or more, and a partition that is full (the
// write-back fails; the build fails and its image is thrown away, the input image
// is never touched). Permissions and owners are not kept: FAT has none (a vfat
// mount shows what its options say); the tmpfs's root takes the mode of the fstab's
// umask. A file the build rewrites keeps its FAT attributes (system, hidden,
// read-only: mattrib sets them again after mcopy); a new file has none. Staging copies the partition's files into memory (tmpfs): ESPs are small.
// Hosts need mtools and dosfstools; without them the mount point is guarded as above.
//
// # When the process is killed
//
// Loop devices are marked auto-clear while this process holds them open, so even a
// killed build leaves none attached: the holder sees its pipe close and ends, the
// namespace and its mounts go, and the kernel detaches the devices. Only the
// partition nodes partx added stay behind (the kernel keeps them); Attach removes
// such stale nodes when it gets that device number again.
//
// # Limits
//
// Sectors are 512 bytes. Images with 4 KiB logical sectors, LUKS, and volume
// groups spanning several disks are not supported. qemu-nbd would avoid the raw
// working copy but needs the nbd module, which these kernels lack; the copy is
// sparse, and converting a qcow2 costs about as much as reading it once.
package diskimage
