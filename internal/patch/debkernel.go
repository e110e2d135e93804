package patch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Debian kernel packages run every program in /etc/kernel/<phase>.d (run-parts) from their
// maintainer scripts. Those hooks are part of the image, not of the package, so refit judges
// them itself before it lets a kernel install offline (kernel = "offline").

// kernelHookDirs are the hook directories of Debian's kernel image packages.
var kernelHookDirs = []string{"preinst.d", "postinst.d", "prerm.d", "postrm.d"}

// kernelHook is a hook refit knows, by its name in a hook directory.
type kernelHook struct {
	// pkg is the package whose unmodified conffile the hook must be.
	pkg string
	// unsafe, when set, says why the hook cannot run offline.
	unsafe string
}

// knownKernelHooks are the hooks refit knows: update-initramfs and update-grub run inside the
// root with the environment kernelEnv prepares; dkms builds modules with the image's
// compiler against headers that may be missing, which only a booted system sorts out.
var knownKernelHooks = map[string]kernelHook{
	"initramfs-tools": {pkg: "initramfs-tools"},
	"zz-update-grub":  {pkg: "grub2-common"},
	"dkms": {pkg: "dkms", unsafe: "builds out-of-tree modules for the new kernel, which needs the image's " +
		"compiler and headers and is left to a booted system"},
}

// runPartsName is what Debian's run-parts runs (other names, such as foo.dpkg-old, are skipped).
var runPartsName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// judgeKernelHooks returns why the root's kernel hooks cannot run offline ("" when every hook
// is a known one that can): an unknown hook, a known one changed from its package's conffile,
// or one known to be unsafe. The reason names each hook.
func judgeKernelHooks(root string) (string, error) {
	conffiles, err := readConffiles(root)
	if err != nil {
		return "", err
	}
	var why []string
	for _, d := range kernelHookDirs {
		dir := filepath.Join(root, "etc/kernel", d)
		entries, err := os.ReadDir(dir)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("reading the image's kernel hooks: %w", err)
		}
		for _, e := range entries {
			name := "/etc/kernel/" + d + "/" + e.Name()
			if !runPartsName.MatchString(e.Name()) || e.IsDir() {
				continue
			}
			st, err := os.Lstat(filepath.Join(dir, e.Name()))
			if err != nil {
				return "", err
			}
			if st.Mode().IsRegular() && st.Mode()&0o111 == 0 {
				continue // run-parts skips what is not executable
			}
			if r := judgeKernelHook(root, name, st, conffiles); r != "" {
				why = append(why, "kernel hook "+name+" "+r)
			}
		}
	}
	return strings.Join(why, "; "), nil
}

// judgeKernelHook says why one hook cannot run offline, "" when it can.
func judgeKernelHook(root, name string, st os.FileInfo, conffiles map[string]conffile) string {
	known, ok := knownKernelHooks[filepath.Base(name)]
	if !ok {
		return "is not one refit knows (initramfs-tools, zz-update-grub), so it is not analysed"
	}
	if !st.Mode().IsRegular() {
		return "is not a regular file, so it is not analysed"
	}
	cf, ok := conffiles[name]
	if !ok || cf.pkg != known.pkg {
		return "does not belong to " + known.pkg + ", so it is not analysed"
	}
	data, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		return "cannot be read: " + err.Error()
	}
	if sum := md5.Sum(data); hex.EncodeToString(sum[:]) != cf.md5 {
		return "was changed from " + known.pkg + "'s version, so it is not analysed"
	}
	return known.unsafe
}

// conffile is one entry of a package's Conffiles field in the dpkg status.
type conffile struct {
	pkg, md5 string
}

// readConffiles reads path → owner and md5 sum from the Conffiles fields of the dpkg status.
func readConffiles(root string) (map[string]conffile, error) {
	data, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
	if err != nil {
		return nil, fmt.Errorf("reading the dpkg status: %w", err)
	}
	out := map[string]conffile{}
	pkg, inConffiles := "", false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			pkg, inConffiles = "", false
		case strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t"):
			if f := strings.Fields(line); inConffiles && len(f) >= 2 {
				out[f[0]] = conffile{pkg: pkg, md5: f[1]}
			}
		default:
			k, v, _ := strings.Cut(line, ":")
			inConffiles = k == "Conffiles"
			if k == "Package" {
				pkg = strings.TrimSpace(v)
			}
		}
	}
	return out, sc.Err()
}

// kernelVersion returns the kernel version a kernel image package installs
// ("linux-image-6.1.0-9-amd64" → "6.1.0-9-amd64"); "" for metapackages (linux-image-amd64).
func kernelVersion(pkg string) string {
	v, ok := strings.CutPrefix(pkg, "linux-image-")
	if !ok || v == "" || v[0] < '0' || v[0] > '9' {
		return ""
	}
	return v
}

// blockNode is a block device the kernel hooks need to see in the root's /dev.
type blockNode struct {
	name         string // loop5p1
	major, minor uint32
	uuid         string // the filesystem's UUID, for /dev/disk/by-uuid; "" for a whole disk
}

var (
	nodeName = regexp.MustCompile(`^[a-z0-9]+$`)
	uuidText = regexp.MustCompile(`^[0-9A-Fa-f-]+$`)
)

// kernelEnv is the environment Debian's kernel hooks need inside the root: /proc, /sys
// read-only (grub-probe finds the root partition's disk there), and a /dev
// holding the device nodes of the root's filesystems with their /dev/disk/by-uuid links (so
// that grub-mkconfig finds the root device and writes root=UUID=…, not a loop device), and a
// tmpfs on /tmp (TMPDIR) where mkinitramfs builds the initramfs without filling the image. It is
// set up in a mount and PID namespace of its own, nested in the image's: the image's /dev
// keeps its contents, nothing is mounted on the host, and every process of the run ends with it.
type kernelEnv struct {
	nodes []blockNode
}

// newKernelEnv finds the block devices of the filesystems mounted at and under the root (as
// the commands run with t.Prefix see them).
func newKernelEnv(ctx context.Context, t Target) (*kernelEnv, error) {
	for _, d := range []string{"proc", "dev"} {
		if st, err := os.Lstat(filepath.Join(t.HostRoot, d)); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("the image has no /%s directory, which installing a kernel offline needs (or use kernel = \"firstboot\")", d)
		}
	}
	argv := append(append([]string{}, t.Prefix...), "cat", "/proc/self/mountinfo")
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
	if err != nil {
		return nil, fmt.Errorf("reading the image's mount table: %w", err)
	}
	chroot := filepath.Clean(t.ChrootDir)
	env := &kernelEnv{}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(f) {
			continue
		}
		mp, source := f[4], f[sep+2]
		if mp != chroot && !strings.HasPrefix(mp, chroot+"/") || !strings.HasPrefix(source, "/dev/") {
			continue
		}
		n, err := blockNodeOf(ctx, source)
		if err != nil {
			return nil, err
		}
		if n == nil || seen[n.name] {
			continue
		}
		seen[n.name] = true
		env.nodes = append(env.nodes, *n)
		if disk := parentDisk(n.name); disk != nil && !seen[disk.name] {
			seen[disk.name] = true
			env.nodes = append(env.nodes, *disk)
		}
	}
	return env, nil
}

// blockNodeOf describes the host block device dev (a filesystem's source); nil when it is
// not a block device.
func blockNodeOf(ctx context.Context, dev string) (*blockNode, error) {
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return nil, nil
	}
	name := filepath.Base(dev)
	if !nodeName.MatchString(name) {
		return nil, nil
	}
	n := &blockNode{name: name, major: unix.Major(st.Rdev), minor: unix.Minor(st.Rdev)}
	out, err := exec.CommandContext(ctx, "blkid", "-p", "-s", "UUID", "-o", "value", dev).Output()
	if err != nil {
		return nil, fmt.Errorf("reading the UUID of %s (blkid -p): %w", dev, err)
	}
	if u := strings.TrimSpace(string(out)); uuidText.MatchString(u) {
		n.uuid = u
	}
	return n, nil
}

// parentDisk returns the whole disk of partition name (loop5 for loop5p1), which grub-probe
// reads for the partition table; nil when name is no partition.
func parentDisk(name string) *blockNode {
	sys := filepath.Join("/sys/class/block", name)
	if _, err := os.Stat(filepath.Join(sys, "partition")); err != nil {
		return nil
	}
	real, err := filepath.EvalSymlinks(sys)
	if err != nil {
		return nil
	}
	disk := filepath.Base(filepath.Dir(real))
	data, err := os.ReadFile(filepath.Join("/sys/class/block", disk, "dev"))
	if err != nil || !nodeName.MatchString(disk) {
		return nil
	}
	maj, min, _ := strings.Cut(strings.TrimSpace(string(data)), ":")
	a, err1 := strconv.ParseUint(maj, 10, 32)
	b, err2 := strconv.ParseUint(min, 10, 32)
	if err1 != nil || err2 != nil {
		return nil
	}
	return &blockNode{name: disk, major: uint32(a), minor: uint32(b)}
}

// setupScript is the shell program that prepares the environment in the nested namespaces
// and then runs the chroot command ("$@", the root being $1).
func (e *kernelEnv) setupScript() string {
	var b strings.Builder
	b.WriteString("set -e\nr=$1\nshift\n")
	b.WriteString("mount -t proc -o nosuid,nodev,noexec proc \"$r/proc\"\n")
	// grub-probe finds the disk of the root's partition (its partition table) through /sys
	b.WriteString("if [ -d \"$r/sys\" ] && [ ! -L \"$r/sys\" ]; then\n")
	b.WriteString("  mount -t sysfs -o ro,nosuid,nodev,noexec sysfs \"$r/sys\"\nfi\n")
	b.WriteString("mount -t tmpfs -o mode=755,nosuid,size=1m refit-kernel-dev \"$r/dev\"\n")
	b.WriteString("cd \"$r/dev\"\n")
	b.WriteString("mknod -m 666 null c 1 3; mknod -m 666 zero c 1 5; mknod -m 666 full c 1 7\n")
	b.WriteString("mknod -m 666 random c 1 8; mknod -m 666 urandom c 1 9; mknod -m 666 tty c 5 0\n")
	b.WriteString("ln -s /proc/self/fd fd; ln -s fd/0 stdin; ln -s fd/1 stdout; ln -s fd/2 stderr\n")
	b.WriteString("mkdir -p disk/by-uuid\n")
	for _, n := range e.nodes {
		fmt.Fprintf(&b, "mknod -m 660 %s b %d %d\n", n.name, n.major, n.minor)
		if n.uuid != "" {
			fmt.Fprintf(&b, "ln -s ../../%s disk/by-uuid/%s\n", n.name, n.uuid)
		}
	}
	// mkinitramfs builds the initramfs under $TMPDIR: scratch space that must not fill the image
	b.WriteString("if [ -d \"$r/tmp\" ] && [ ! -L \"$r/tmp\" ]; then\n")
	b.WriteString("  mount -t tmpfs -o mode=1777,nosuid,nodev,size=2g refit-kernel-tmp \"$r/tmp\"\nfi\n")
	b.WriteString("cd /\nexec \"$@\"\n")
	return b.String()
}

// command runs args in the root inside the kernel environment: the image's namespace
// (t.Prefix), then a private mount and PID namespace in which /proc and the /dev tmpfs are
// mounted; when the command ends, the namespaces end with every process left in them.
func (e *kernelEnv) command(ctx context.Context, t Target, args ...string) *exec.Cmd {
	if t.ChrootDir == "" {
		t.ChrootDir = t.HostRoot
	}
	argv := append(t.prefix(), "unshare", "--mount", "--propagation", "private",
		"--pid", "--fork", "--kill-child", "--", "/bin/sh", "-c", e.setupScript(), "sh", t.ChrootDir)
	argv = append(argv, t.chrootArgs(append([]string{"/usr/bin/env", "TMPDIR=/tmp"}, args...)...)...)
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// grubConfig is the image's GRUB configuration, kept to be restored when the new one is wrong.
type grubConfig struct {
	path string
	data []byte
	mode os.FileMode
}

// saveGrubConfig reads /boot/grub/grub.cfg of the root; nil when the image has none.
func saveGrubConfig(root string) (*grubConfig, error) {
	p := filepath.Join(root, "boot/grub/grub.cfg")
	st, err := os.Lstat(p)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: /boot/grub/grub.cfg in the image is not a regular file", ErrRefused)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading the image's grub.cfg: %w", err)
	}
	return &grubConfig{path: p, data: data, mode: st.Mode().Perm()}, nil
}

// restore writes the saved configuration back.
func (g *grubConfig) restore() error {
	return os.WriteFile(g.path, g.data, g.mode)
}

// check checks the new configuration (checkGrubConfig) boots the kernel versions and,
// when it does not, writes the saved one back.
func (g *grubConfig) check(versions []string) error {
	cfg, err := os.ReadFile(g.path)
	if err == nil {
		err = checkGrubConfig(string(cfg), versions)
	} else {
		err = fmt.Errorf("%w: reading the new grub.cfg: %v; the previous one was restored (or use kernel = \"firstboot\")", ErrApply, err)
	}
	if err != nil {
		if rerr := g.restore(); rerr != nil {
			return fmt.Errorf("%w; restoring the previous grub.cfg failed too: %v", err, rerr)
		}
		return err
	}
	return nil
}

// checkGrubConfig checks that the GRUB configuration cfg boots each kernel version: a
// menuentry with "linux /boot/vmlinuz-<v>" (or "/vmlinuz-<v>" on a separate /boot) and
// root=UUID=…, and that it names no loop device anywhere (grub-mkconfig's fallback when it
// cannot find the root's UUID, unbootable anywhere else).
func checkGrubConfig(cfg string, versions []string) error {
	var problems []string
	if strings.Contains(cfg, "/dev/loop") {
		problems = append(problems, "it names a /dev/loop device (the build host's)")
	}
	for _, v := range versions {
		found, inEntry := false, false
		for _, line := range strings.Split(cfg, "\n") {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			switch f[0] {
			case "menuentry":
				inEntry = true
			case "}":
				inEntry = false
			case "linux":
				if inEntry && len(f) > 1 && (f[1] == "/boot/vmlinuz-"+v || f[1] == "/vmlinuz-"+v) && slicesHasPrefix(f[2:], "root=UUID=") {
					found = true
				}
			}
		}
		if !found {
			problems = append(problems, "no menuentry boots /boot/vmlinuz-"+v+" with root=UUID=")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: the new /boot/grub/grub.cfg is wrong: %s; the previous grub.cfg was restored (use kernel = \"firstboot\" to install kernels on the first boot instead)", ErrApply, strings.Join(problems, "; "))
	}
	return nil
}

func slicesHasPrefix(words []string, prefix string) bool {
	for _, w := range words {
		if strings.HasPrefix(w, prefix) {
			return true
		}
	}
	return false
}
