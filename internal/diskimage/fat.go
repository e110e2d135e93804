package diskimage

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// ErrFATWriteBack is returned when the files staged for a FAT filesystem cannot be
// written back into it: a name or file type FAT cannot hold, a full partition, or
// a result that fsck.fat or the read-back comparison rejects.
var ErrFATWriteBack = errors.New("diskimage: cannot write the staged files back into the FAT filesystem")

// fatTools are the userspace FAT tools staging needs (mtools reads and writes,
// dosfstools checks).
var fatTools = []hostTool{
	{"mcopy", "copying files to and from FAT filesystems the kernel cannot mount", "mtools", "mtools"},
	{"mdir", "listing FAT filesystems the kernel cannot mount", "mtools", "mtools"},
	{"mmd", "creating folders on FAT filesystems the kernel cannot mount", "mtools", "mtools"},
	{"mdel", "deleting files on FAT filesystems the kernel cannot mount", "mtools", "mtools"},
	{"mdeltree", "deleting folders on FAT filesystems the kernel cannot mount", "mtools", "mtools"},
	{"mattrib", "keeping the attributes of files rewritten on FAT filesystems the kernel cannot mount", "mtools", "mtools"},
	{"fsck.fat", "checking FAT filesystems after writing them", "dosfstools", "dosfstools"},
}

// fatStage is a FAT filesystem the kernel cannot mount, staged on a tmpfs at its
// mount point: its files were copied out with mtools when it was mounted, and the
// differences are copied back when it is unmounted.
type fatStage struct {
	device   string
	manifest map[string]fatNode // the tree as extracted, by slash path relative to the root
	attrs    map[string]string  // the FAT attributes S, H, R of the files that have any
}

// fatNode is one file or directory of a staged tree.
type fatNode struct {
	dir  bool
	size int64
	sum  [sha256.Size]byte
}

// fatStagingAvailable returns nil when the tools for staging FAT filesystems are
// installed, or an error naming the first missing one and its package.
func fatStagingAvailable() error {
	for _, t := range fatTools {
		if err := lookTool(t); err != nil {
			return err
		}
	}
	return nil
}

// mtools runs an mtools command on device inside the namespace, in a UTF-8 locale
// (long names are UTF-16 on disk) and without mtools' geometry checks, which reject
// partitions whose size is not a whole number of (fictional) cylinders.
func (m *Mounts) mtools(ctx context.Context, tool string, args ...string) (string, error) {
	out, err := m.img.ns.run(ctx, "env", append([]string{"LC_ALL=C.UTF-8", "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null", tool}, args...)...)
	var ce *CommandError
	if errors.As(err, &ce) {
		// Noise on every partition device: mtools asks for a floppy's geometry.
		ce.Stderr = strings.TrimSpace(strings.ReplaceAll(ce.Stderr, "Could not get geometry of device (Inappropriate ioctl for device)", ""))
	}
	return out, err
}

// stageFAT mounts a tmpfs the size of the partition at e's mount point, with the
// partition's device as its source (grub-install and other tools that look up the
// device of /boot/efi in the mount table then probe the real FAT filesystem), and
// copies the partition's files into it with mcopy. For a read-only image the tmpfs
// is then made read-only too.
func (m *Mounts) stageFAT(ctx context.Context, e FstabEntry, fsys Filesystem) error {
	img := m.img
	target, err := m.prepareMountpoint(e.Mountpoint)
	if err != nil {
		return err
	}
	if target == "" {
		m.guarded = append(m.guarded, GuardedMountpoint{Mountpoint: e.Mountpoint, Spec: e.Spec, Filesystem: fsys,
			Reason: "the mount point does not exist in the read-only image"})
		return nil
	}
	size, err := deviceBytes(fsys.Device)
	if err != nil {
		return err
	}
	opts := []string{"size=" + strconv.FormatInt(size, 10), "mode=" + fatDirMode(e)}
	if _, err := img.ns.run(ctx, "mount", "-t", "tmpfs", "-o", strings.Join(opts, ","), fsys.Device, target); err != nil {
		return fmt.Errorf("staging %s (%s): %w", e.Mountpoint, fsys, err)
	}
	r := &mountRecord{
		mounted:  MountedFilesystem{Mountpoint: e.Mountpoint, Target: target, Filesystem: fsys, Options: opts, Staged: true},
		readOnly: img.opts.ReadOnly,
		fat:      &fatStage{device: fsys.Device},
	}
	m.records = append(m.records, r)
	if err := m.extractFAT(ctx, fsys.Device, target); err != nil {
		return fmt.Errorf("staging %s (%s): %w", e.Mountpoint, fsys, err)
	}
	tree, err := scanFATTree(img.ns.hostPath(target))
	if err != nil {
		return fmt.Errorf("staging %s (%s): %w", e.Mountpoint, fsys, err)
	}
	r.fat.manifest = tree
	if !img.opts.ReadOnly {
		if r.fat.attrs, err = m.fatAttributes(ctx, fsys.Device); err != nil {
			return fmt.Errorf("staging %s (%s): %w", e.Mountpoint, fsys, err)
		}
	}
	if img.opts.ReadOnly {
		if _, err := img.ns.run(ctx, "mount", "-o", "remount,ro", "--", target); err != nil {
			return fmt.Errorf("staging %s (%s): making it read-only: %w", e.Mountpoint, fsys, err)
		}
		r.mounted.Options = append([]string{"ro"}, opts...)
	}
	img.logf("staged %s (%s, %d files and folders) on a tmpfs with mtools: the kernel has no vfat driver", e.Mountpoint, fsys, len(tree))
	return nil
}

// fatAttributes returns the files and folders of the FAT filesystem on device that have the
// system, hidden or read-only attribute, with those letters ("SH", "R"), by slash path.
func (m *Mounts) fatAttributes(ctx context.Context, device string) (map[string]string, error) {
	out, err := m.mtools(ctx, "mattrib", "-/", "-i", device, "::/")
	if err != nil {
		return nil, fmt.Errorf("reading the FAT attributes: %w", err)
	}
	attrs := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		flags, name, ok := strings.Cut(line, "::/")
		if !ok || name == "" {
			continue
		}
		var a string
		for _, c := range "SHR" {
			if strings.ContainsRune(flags, c) {
				a += string(c)
			}
		}
		if a != "" {
			attrs[name] = a
		}
	}
	return attrs, nil
}

// fatDirMode is the tmpfs root's mode: what the fstab's umask would give on a vfat mount.
func fatDirMode(e FstabEntry) string {
	mode := uint64(0o755)
	for _, o := range e.Options {
		for _, key := range []string{"umask=", "dmask="} {
			if v, ok := strings.CutPrefix(o, key); ok {
				if mask, err := strconv.ParseUint(v, 8, 32); err == nil {
					mode = 0o777 &^ mask
				}
			}
		}
	}
	return fmt.Sprintf("%04o", mode)
}

// deviceBytes returns the size of a block device from sysfs.
func deviceBytes(device string) (int64, error) {
	data, err := os.ReadFile(filepath.Join("/sys/class/block", filepath.Base(device), "size"))
	if err != nil {
		return 0, fmt.Errorf("reading the size of %s: %w", device, err)
	}
	sectors, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reading the size of %s: %w", device, err)
	}
	return sectors * sectorSize, nil
}

// extractFAT copies every file and folder of the FAT filesystem on device into dir
// (a namespace path), keeping names, case and modification times.
func (m *Mounts) extractFAT(ctx context.Context, device, dir string) error {
	out, err := m.mtools(ctx, "mdir", "-b", "-a", "-i", device, "::/")
	if err != nil {
		return fmt.Errorf("listing the FAT filesystem: %w", err)
	}
	if strings.TrimSpace(out) == "" {
		return nil // empty: mcopy would fail to match ::/*
	}
	if _, err := m.mtools(ctx, "mcopy", "-s", "-p", "-m", "-n", "-Q", "-i", device, "::/*", dir+"/"); err != nil {
		return fmt.Errorf("copying the FAT filesystem's files out: %w", err)
	}
	return nil
}

// scanFATTree walks root and returns every file and folder below it, checking that
// FAT can hold each: regular files and folders only, valid long names, no two names
// in a folder that differ only in case, files under 4 GiB.
func scanFATTree(root string) (map[string]fatNode, error) {
	tree := map[string]fatNode{}
	folded := map[string]string{} // parent + lower-case name → the name seen
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if err := checkFATName(d.Name()); err != nil {
			return fmt.Errorf("%w: %s: %w; rename it (FAT long names are up to 255 characters, not ending in a dot or blank, without control characters or any of \" * / : < > ? \\ |)", ErrFATWriteBack, rel, err)
		}
		key := path.Dir(rel) + "/" + strings.ToLower(d.Name())
		if other, ok := folded[key]; ok {
			return fmt.Errorf("%w: %s and %s differ only in case, and FAT compares names without case; keep one of them", ErrFATWriteBack, other, rel)
		}
		folded[key] = rel
		switch {
		case d.IsDir():
			tree[rel] = fatNode{dir: true}
		case d.Type().IsRegular():
			node, err := hashFile(p)
			if err != nil {
				return err
			}
			if node.size >= 1<<32 {
				return fmt.Errorf("%w: %s is %d bytes; FAT files must be smaller than 4 GiB", ErrFATWriteBack, rel, node.size)
			}
			tree[rel] = node
		default:
			return fmt.Errorf("%w: %s is a %s; FAT holds only regular files and folders: replace it with a copy of what it points to, or remove it", ErrFATWriteBack, rel, fileKind(d.Type()))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tree, nil
}

func fileKind(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeSymlink != 0:
		return "symbolic link"
	case mode&fs.ModeNamedPipe != 0:
		return "named pipe"
	case mode&fs.ModeSocket != 0:
		return "socket"
	case mode&fs.ModeDevice != 0:
		return "device node"
	}
	return "special file"
}

func hashFile(p string) (fatNode, error) {
	f, err := os.Open(p)
	if err != nil {
		return fatNode{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fatNode{}, err
	}
	node := fatNode{size: n}
	copy(node.sum[:], h.Sum(nil))
	return node, nil
}

// checkFATName says why name cannot be a FAT long name, or returns nil.
func checkFATName(name string) error {
	if n := len(utf16.Encode([]rune(name))); n > 255 {
		return fmt.Errorf("the name is %d UTF-16 units long", n)
	}
	if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		return errors.New("the name ends in a dot or a blank")
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(`"*/:<>?\|`, c) {
			return fmt.Errorf("the name contains %q", c)
		}
	}
	return nil
}

// writeBackFAT makes the FAT filesystem hold exactly the staged tree: it deletes
// what the build deleted (or replaced by another type), creates the new folders,
// copies the new and changed files, and leaves everything else (untouched files,
// the volume serial and label) as it was. It then checks the filesystem with
// fsck.fat -n and copies it out again to compare with the staged tree.
func (m *Mounts) writeBackFAT(ctx context.Context, r *mountRecord) error {
	st, dev, mp := r.fat, r.fat.device, r.mounted.Mountpoint
	staged := m.img.ns.hostPath(r.mounted.Target)
	now, err := scanFATTree(staged)
	if err != nil {
		return fmt.Errorf("writing %s back into %s: %w", mp, dev, err)
	}
	var dels, dirs, files []string
	for p, old := range st.manifest {
		if cur, ok := now[p]; !ok || cur.dir != old.dir {
			if parent, ok := st.manifest[path.Dir(p)]; ok && parent.dir && !present(now, path.Dir(p), true) {
				continue // its folder goes as a whole
			}
			dels = append(dels, p)
		}
	}
	for p, cur := range now {
		old, ok := st.manifest[p]
		switch {
		case cur.dir && (!ok || !old.dir):
			dirs = append(dirs, p)
		case !cur.dir && (!ok || old.dir || old.size != cur.size || old.sum != cur.sum):
			files = append(files, p)
		}
	}
	if len(dels)+len(dirs)+len(files) == 0 {
		m.img.logf("%s: the build changed nothing on the FAT filesystem", mp)
		return nil
	}
	sort.Strings(dels)
	for _, p := range dels {
		tool := "mdel"
		if st.manifest[p].dir {
			tool = "mdeltree"
		}
		if _, err := m.mtools(ctx, tool, "-i", dev, "::/"+p); err != nil {
			return fmt.Errorf("%w: deleting %s/%s: %w", ErrFATWriteBack, mp, p, err)
		}
	}
	sort.Slice(dirs, func(i, j int) bool {
		return strings.Count(dirs[i], "/") < strings.Count(dirs[j], "/") || dirs[i] < dirs[j]
	})
	if len(dirs) > 0 {
		args := []string{"-i", dev}
		for _, p := range dirs {
			args = append(args, "::/"+p)
		}
		if _, err := m.mtools(ctx, "mmd", args...); err != nil {
			return fmt.Errorf("%w: creating folders in %s: %w", ErrFATWriteBack, mp, fatFull(err))
		}
	}
	byDir := map[string][]string{}
	for _, p := range files {
		byDir[path.Dir(p)] = append(byDir[path.Dir(p)], p)
	}
	for _, parent := range slices.Sorted(maps.Keys(byDir)) {
		args := []string{"-D", "o", "-m", "-i", dev}
		for _, p := range byDir[parent] {
			args = append(args, path.Join(r.mounted.Target, p))
		}
		dst := "::/"
		if parent != "." {
			dst += parent + "/"
		}
		if _, err := m.mtools(ctx, "mcopy", append(args, dst)...); err != nil {
			return fmt.Errorf("%w: copying %s into %s/%s: %w", ErrFATWriteBack, strings.Join(byDir[parent], ", "), mp, strings.TrimPrefix(parent, "."), fatFull(err))
		}
	}
	// mcopy writes a file anew: give a rewritten file back its system, hidden and read-only flags.
	for _, p := range files {
		a := st.attrs[p]
		if a == "" || st.manifest[p].dir {
			continue
		}
		args := []string{"-i", dev}
		for _, c := range a {
			args = append(args, "+"+strings.ToLower(string(c)))
		}
		if _, err := m.mtools(ctx, "mattrib", append(args, "::/"+p)...); err != nil {
			return fmt.Errorf("%w: restoring the attributes %s of %s/%s: %w", ErrFATWriteBack, a, mp, p, err)
		}
	}
	if err := syncDevice(dev); err != nil {
		return err
	}
	if _, err := runCommand(ctx, "fsck.fat", "-n", dev); err != nil {
		return fmt.Errorf("%w: %s (%s) after writing the staged files back: %w", ErrFsck, mp, dev, err)
	}
	if err := m.compareFAT(ctx, dev, now); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrFATWriteBack, mp, err)
	}
	m.img.logf("wrote %s back into %s with mtools: %d deleted, %d folders and %d files written; fsck.fat and a read-back agree",
		mp, dev, len(dels), len(dirs), len(files))
	return nil
}

func present(tree map[string]fatNode, p string, dir bool) bool {
	n, ok := tree[p]
	return ok && n.dir == dir
}

// fatFull turns mtools' "Disk full" into a message that says what to do.
func fatFull(err error) error {
	var ce *CommandError
	if errors.As(err, &ce) && strings.Contains(strings.ToLower(ce.Stderr), "disk full") {
		return fmt.Errorf("the partition is full: remove files from it during the build, or enlarge the partition in the source image (%w)", err)
	}
	return err
}

// syncDevice flushes what mtools wrote through the device's page cache.
func syncDevice(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("flushing %s: %w", dev, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("flushing %s: %w", dev, err)
	}
	return nil
}

// compareFAT copies the FAT filesystem out into a fresh folder and checks that it
// holds exactly want: the same names (with case), folders, sizes and contents.
func (m *Mounts) compareFAT(ctx context.Context, dev string, want map[string]fatNode) error {
	dir, err := os.MkdirTemp(m.img.opts.WorkDir, "refit-fat-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := m.extractFAT(ctx, dev, dir); err != nil {
		return fmt.Errorf("reading it back: %w", err)
	}
	got, err := scanFATTree(dir)
	if err != nil {
		return fmt.Errorf("reading it back: %w", err)
	}
	var diffs []string
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			diffs = append(diffs, p+" is missing")
		case g != w:
			diffs = append(diffs, p+" differs")
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, p+" should not be there")
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		return fmt.Errorf("the filesystem read back does not match the staged files: %s", strings.Join(diffs, "; "))
	}
	return nil
}
