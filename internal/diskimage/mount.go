package diskimage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/imageroot"
)

var (
	// ErrNoRoot is returned by MountRoot when no filesystem holds etc/os-release.
	ErrNoRoot = errors.New("diskimage: no root filesystem found")
	// ErrAmbiguousRoot is returned by MountRoot when several filesystems hold
	// etc/os-release and MountPartition does not say which one is the root.
	ErrAmbiguousRoot = errors.New("diskimage: several root filesystems found")
	// ErrFilesystemBusy is returned when a filesystem cannot be unmounted or stays
	// alive after its unmount.
	ErrFilesystemBusy = errors.New("diskimage: filesystem still in use")
	// ErrFsck is returned when the read-only check after unmount finds errors.
	ErrFsck = errors.New("diskimage: filesystem check failed")
)

// MountedFilesystem is a filesystem of the image mounted under the root.
type MountedFilesystem struct {
	// Mountpoint is the path inside the image: "/", "/boot", "/var".
	Mountpoint string
	// Target is where it is mounted, as seen inside the image's mount namespace.
	Target string
	// Filesystem is the device that is mounted.
	Filesystem Filesystem
	// Options are the mount options used.
	Options []string
	// Staged is set for a FAT filesystem the kernel cannot mount: a tmpfs holds a copy
	// of its files, written back into it with mtools when it is unmounted.
	Staged bool
}

// GuardedMountpoint is an fstab entry refit could not mount. Unless the image is
// read-only, its mount point is covered with an empty read-only tmpfs, so that
// writes meant for that filesystem fail loudly instead of landing in the root
// filesystem's directory underneath.
type GuardedMountpoint struct {
	// Mountpoint is the path inside the image ("/boot/efi").
	Mountpoint string
	// Spec is the fstab device field ("UUID=1234-ABCD").
	Spec string
	// Filesystem is the device the spec names; zero when it is not in the image.
	Filesystem Filesystem
	// Reason says why it is not mounted ("the kernel has no vfat driver").
	Reason string
	// Guarded is set when the read-only guard is mounted over Mountpoint.
	Guarded bool
}

// mountRecord is one mount refit made, in mount order.
type mountRecord struct {
	mounted   MountedFilesystem
	guard     bool      // a read-only tmpfs over an unmountable mount point
	readOnly  bool      // mounted read-only: nothing to flush or check
	fat       *fatStage // a FAT filesystem staged on a tmpfs (mounted.Staged)
	sysfsDir  string    // /sys/fs/<type>/<id>, present while the superblock lives
	devNumber string    // "259:3"
	// unmounted is set once umount succeeded; the record stays for the wait and fsck.
	unmounted bool
}

// Mounts are the filesystems of one image mounted under a root directory inside the
// image's private mount namespace. Unmount (or Close) undoes them.
type Mounts struct {
	img     *Image
	root    string // in the namespace (also a directory on the host, empty there)
	records []*mountRecord
	guarded []GuardedMountpoint
	pending []*mountRecord // unmounted, still to be waited for and checked
	done    bool
}

// Root returns the root mount point, as seen inside the mount namespace (and
// by commands run with the image's CommandPrefix, such as a chroot).
func (m *Mounts) Root() string { return m.root }

// HostRoot returns the path through which this process reaches the mounted root
// (/proc/<holder>/root/<root>). Absolute symlinks inside the image resolve against
// the host from there: resolve paths with ResolvePath, not filepath.Join.
func (m *Mounts) HostRoot() string {
	m.img.mu.Lock()
	defer m.img.mu.Unlock()
	if m.img.ns == nil {
		return ""
	}
	return m.img.ns.hostPath(m.root)
}

// ResolvePath returns the host path of name, a path inside the image, with every
// symlink resolved inside the image's root (never escaping it).
func (m *Mounts) ResolvePath(name string) (string, error) {
	root := m.HostRoot()
	if root == "" {
		return "", fmt.Errorf("resolving %s: %w", name, ErrNamespaceGone)
	}
	return imageroot.Resolve(root, name)
}

// Filesystems returns what is mounted, root first, in mount order.
func (m *Mounts) Filesystems() []MountedFilesystem {
	m.img.mu.Lock()
	defer m.img.mu.Unlock()
	var out []MountedFilesystem
	for _, r := range m.records {
		if !r.guard {
			out = append(out, r.mounted)
		}
	}
	return out
}

// Guarded returns the fstab entries that could not be mounted (an EFI system
// partition on a kernel without vfat, a device not in the image, ...).
func (m *Mounts) Guarded() []GuardedMountpoint {
	m.img.mu.Lock()
	defer m.img.mu.Unlock()
	return slices.Clone(m.guarded)
}

// CommandPrefix returns the argv prefix that runs a command where the filesystems
// are mounted; see Image.CommandPrefix.
func (m *Mounts) CommandPrefix() []string { return m.img.CommandPrefix() }

// MountRoot mounts the root filesystem at mountpoint (created if missing) and,
// with Options.MountFstab, the filesystems the image's /etc/fstab lists. The root
// is Options.MountPartition or, by default, the one filesystem holding
// etc/os-release (on a partition, a logical volume or a btrfs subvolume). fstab
// entries that cannot be mounted are guarded and reported (Mounts.Guarded). On
// error everything mounted is unmounted again.
func (img *Image) MountRoot(ctx context.Context, mountpoint string) (*Mounts, error) {
	img.mu.Lock()
	defer img.mu.Unlock()
	if img.ns == nil || img.disk == nil {
		return nil, fmt.Errorf("mounting %s: the image is detached", img.path)
	}
	if img.mounts != nil && !img.mounts.done {
		return nil, fmt.Errorf("mounting %s: already mounted at %s", img.path, img.mounts.root)
	}
	if !filepath.IsAbs(mountpoint) {
		return nil, fmt.Errorf("mounting %s: mount point %q is not an absolute path", img.path, mountpoint)
	}
	if err := os.MkdirAll(mountpoint, 0o755); err != nil {
		return nil, fmt.Errorf("creating mount point: %w", err)
	}
	// The kernel's mount table shows resolved paths: use them too.
	mountpoint, err := filepath.EvalSymlinks(mountpoint)
	if err != nil {
		return nil, fmt.Errorf("resolving mount point: %w", err)
	}
	m := &Mounts{img: img, root: mountpoint}
	img.mounts = m
	start := time.Now()
	if err := m.mountAll(ctx); err != nil {
		if uerr := m.unmountLocked(context.WithoutCancel(ctx), false); uerr != nil {
			err = errors.Join(err, fmt.Errorf("undoing the partial mount: %w", uerr))
		}
		return nil, err
	}
	img.logf("mounted %s at %s in %v", img.path, mountpoint, time.Since(start).Round(time.Millisecond))
	return m, nil
}

func (m *Mounts) mountAll(ctx context.Context) error {
	img := m.img
	root, subvol, err := img.findRoot(ctx)
	if err != nil {
		return err
	}
	extra := slices.Clone(img.opts.MountOptions)
	if subvol != "" {
		extra = append(extra, "subvol="+subvol)
	}
	if err := m.mount(ctx, *root, "/", m.root, extra); err != nil {
		return err
	}
	if !img.opts.MountFstab {
		return nil
	}
	fstabPath, err := m.resolveLocked("/etc/fstab")
	if err != nil {
		return err
	}
	f, err := os.Open(fstabPath)
	if errors.Is(err, fs.ErrNotExist) {
		img.logf("the image has no /etc/fstab: mounting only its root filesystem")
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the image's /etc/fstab: %w", err)
	}
	entries, err := ParseFstab(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading the image's /etc/fstab (fix it, or turn mounting fstab filesystems off): %w", err)
	}
	// Parents before children, whatever the fstab order.
	sort.SliceStable(entries, func(i, j int) bool {
		return strings.Count(entries[i].Mountpoint, "/") < strings.Count(entries[j].Mountpoint, "/")
	})
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("mounting %s: %w", img.path, err)
		}
		if why := e.skipReason(); why != "" {
			if e.Mountpoint != "/" {
				img.logf("fstab line %d (%s on %s): skipped, %s", e.Line, e.Spec, e.Mountpoint, why)
			}
			continue
		}
		if err := m.mountFstabEntry(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// mountFstabEntry mounts one fstab entry, or guards its mount point.
func (m *Mounts) mountFstabEntry(ctx context.Context, e FstabEntry) error {
	img := m.img
	fsys := findFilesystem(img.filesystems, e.Spec)
	switch {
	case fsys == nil:
		return m.guard(ctx, e, Filesystem{}, "its device is not in the image")
	case fsys.Unusable != nil:
		return fmt.Errorf("mounting %s from fstab line %d: %s: %w", e.Mountpoint, e.Line, fsys, fsys.Unusable)
	case fsys.Type == "":
		return m.guard(ctx, e, *fsys, "blkid finds no filesystem on it")
	case !img.kernelFS[fsys.Type] && fsys.Type == "vfat":
		if err := fatStagingAvailable(); err != nil {
			return m.guard(ctx, e, *fsys, "the kernel has no vfat driver and the userspace FAT tools are not there: "+err.Error())
		}
		if m.staged(fsys.Device) {
			img.logf("fstab line %d: %s is already staged, skipping %s", e.Line, fsys.Device, e.Mountpoint)
			return nil
		}
		return m.stageFAT(ctx, e, *fsys)
	case !img.kernelFS[fsys.Type]:
		return m.guard(ctx, e, *fsys, "the kernel has no "+fsys.Type+" driver")
	}
	for _, r := range m.records {
		if r.mounted.Filesystem.Device == fsys.Device && fsys.Type != "btrfs" {
			img.logf("fstab line %d: %s is already mounted at %s, skipping %s", e.Line, fsys.Device, r.mounted.Mountpoint, e.Mountpoint)
			return nil
		}
	}
	target, err := m.prepareMountpoint(e.Mountpoint)
	if err != nil {
		return err
	}
	if target == "" {
		m.guarded = append(m.guarded, GuardedMountpoint{Mountpoint: e.Mountpoint, Spec: e.Spec, Filesystem: *fsys,
			Reason: "the mount point does not exist in the read-only image"})
		return nil
	}
	return m.mount(ctx, *fsys, e.Mountpoint, target, e.fstabMountOptions())
}

// staged reports whether device is already staged (listed twice in the fstab).
func (m *Mounts) staged(device string) bool {
	for _, r := range m.records {
		if r.fat != nil && r.fat.device == device {
			return true
		}
	}
	return false
}

// prepareMountpoint resolves mountpoint (a path inside the image) to a directory in
// the namespace, creating it unless the image is read-only ("" then when missing).
func (m *Mounts) prepareMountpoint(mountpoint string) (string, error) {
	host, err := m.resolveLocked(mountpoint)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(host)
	switch {
	case errors.Is(err, fs.ErrNotExist) && m.img.opts.ReadOnly:
		return "", nil
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(host, 0o755); err != nil {
			return "", fmt.Errorf("creating mount point %s in the image: %w", mountpoint, err)
		}
	case err != nil:
		return "", fmt.Errorf("mount point %s in the image: %w", mountpoint, err)
	case !fi.IsDir():
		return "", fmt.Errorf("mount point %s in the image is not a directory", mountpoint)
	}
	hostRoot := m.img.ns.hostPath("/")
	rel, err := filepath.Rel(hostRoot, host)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("mount point %s resolves outside the namespace", mountpoint)
	}
	return "/" + rel, nil
}

// resolveLocked is ResolvePath for callers holding the image lock.
func (m *Mounts) resolveLocked(name string) (string, error) {
	if m.img.ns == nil {
		return "", ErrNamespaceGone
	}
	return imageroot.Resolve(m.img.ns.hostPath(m.root), name)
}

// guard records an unmountable fstab entry and, for a writable image, mounts an
// empty read-only tmpfs over its mount point.
func (m *Mounts) guard(ctx context.Context, e FstabEntry, fsys Filesystem, reason string) error {
	g := GuardedMountpoint{Mountpoint: e.Mountpoint, Spec: e.Spec, Filesystem: fsys, Reason: reason}
	if m.img.opts.ReadOnly {
		m.img.logf("not mounting %s (%s): %s", e.Mountpoint, e.Spec, reason)
		m.guarded = append(m.guarded, g)
		return nil
	}
	target, err := m.prepareMountpoint(e.Mountpoint)
	if err != nil {
		return err
	}
	opts := []string{"ro", "mode=0555", "size=4k", "nr_inodes=16"}
	if _, err := m.img.ns.run(ctx, "mount", "-t", "tmpfs", "-o", strings.Join(opts, ","), "refit-guard", target); err != nil {
		return fmt.Errorf("guarding %s: %w", e.Mountpoint, err)
	}
	m.records = append(m.records, &mountRecord{guard: true, readOnly: true,
		mounted: MountedFilesystem{Mountpoint: e.Mountpoint, Target: target, Options: opts}})
	g.Guarded = true
	m.guarded = append(m.guarded, g)
	m.img.logf("guarded %s (%s) with an empty read-only tmpfs: %s; writes there fail", e.Mountpoint, e.Spec, reason)
	return nil
}

// mountOptions returns the options refit always uses for a filesystem type.
func mountOptions(fstype string, readOnly bool) []string {
	var opts []string
	if readOnly {
		opts = append(opts, "ro")
	}
	switch fstype {
	case "ext3", "ext4":
		if readOnly {
			opts = append(opts, "noload") // no journal replay: nothing written
		}
	case "xfs":
		if readOnly {
			opts = append(opts, "norecovery")
		}
		opts = append(opts, "nouuid") // copies of one base image share their UUID
	case "btrfs":
		if readOnly {
			opts = append(opts, "rescue=nologreplay")
		}
	}
	return opts
}

// sysfsDirOf returns the sysfs directory that lives as long as the filesystem's
// superblock, or "" when the type has none.
func sysfsDirOf(f Filesystem) string {
	name := filepath.Base(f.Device)
	switch f.Type {
	case "ext2", "ext3", "ext4":
		return "/sys/fs/ext4/" + name
	case "xfs":
		return "/sys/fs/xfs/" + name
	case "btrfs":
		if f.UUID != "" {
			return "/sys/fs/btrfs/" + f.UUID
		}
	}
	return ""
}

// mount mounts f at target (a namespace path) for the image path mountpoint.
func (m *Mounts) mount(ctx context.Context, f Filesystem, mountpoint, target string, extra []string) error {
	readOnly := m.img.opts.ReadOnly
	opts := append(mountOptions(f.Type, readOnly), extra...)
	args := []string{"-t", f.Type}
	if len(opts) > 0 {
		args = append(args, "-o", strings.Join(opts, ","))
	}
	args = append(args, "--", f.Device, target)
	if _, err := m.img.ns.run(ctx, "mount", args...); err != nil {
		return fmt.Errorf("mounting %s on %s: %w", f, mountpoint, err)
	}
	devNumber, _ := os.ReadFile(filepath.Join("/sys/class/block", filepath.Base(f.Device), "dev"))
	m.records = append(m.records, &mountRecord{
		mounted:   MountedFilesystem{Mountpoint: mountpoint, Target: target, Filesystem: f, Options: opts},
		readOnly:  readOnly,
		sysfsDir:  sysfsDirOf(f),
		devNumber: strings.TrimSpace(string(devNumber)),
	})
	m.img.logf("mounted %s on %s", f, mountpoint)
	return nil
}
