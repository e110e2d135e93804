package diskimage

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

var (
	// ErrHostNotReady is wrapped by every CheckHost error.
	ErrHostNotReady = errors.New("diskimage: this host cannot attach disk images")
	// ErrMissingTool is returned when an external tool refit needs is not installed.
	ErrMissingTool = errors.New("diskimage: missing tool")
)

// hostTool is an external program refit runs, and where to get it.
type hostTool struct {
	name string
	// what it is needed for
	purpose string
	// Debian/Ubuntu and Fedora/RHEL packages that install it
	deb, rpm string
}

// qemuImg converts images; MakeWorkingCopy and Convert check it themselves.
var qemuImg = hostTool{"qemu-img", "converting qcow2 images", "qemu-utils", "qemu-img"}

// requiredTools are checked by CheckHost: every attach, mount and teardown needs them.
var requiredTools = []hostTool{
	qemuImg,
	{"losetup", "attaching images to loop devices", "mount", "util-linux"},
	{"partx", "creating partition devices", "util-linux", "util-linux"},
	{"blkid", "identifying filesystems", "util-linux", "util-linux"},
	{"mount", "mounting filesystems", "mount", "util-linux"},
	{"umount", "unmounting filesystems", "mount", "util-linux"},
	{"nsenter", "mounting in the build's private mount namespace", "util-linux", "util-linux"},
	{"fsfreeze", "flushing filesystems before unmount", "util-linux", "util-linux"},
	{"fstrim", "discarding freed blocks before unmount, so the output image holds only used ones", "util-linux", "util-linux"},
	{"e2fsck", "checking ext2/3/4 filesystems after unmount", "e2fsprogs", "e2fsprogs"},
}

// xfsRepair is checked when an image holds an XFS filesystem.
var xfsRepair = hostTool{"xfs_repair", "checking XFS filesystems after unmount", "xfsprogs", "xfsprogs"}

func (t hostTool) missingError() error {
	return fmt.Errorf("%w: %s (needed for %s): install it with `apt-get install %s` (Debian/Ubuntu) or `dnf install %s` (Fedora/RHEL)",
		ErrMissingTool, t.name, t.purpose, t.deb, t.rpm)
}

// lookTool returns an error naming the package to install when t is not on PATH.
func lookTool(t hostTool) error {
	if _, err := exec.LookPath(t.name); err != nil {
		return t.missingError()
	}
	return nil
}

// CheckHost reports, in one error, everything that keeps this host from attaching
// and mounting images: not running as root, no loop device support, missing tools.
// Each problem says how to fix it. It returns nil when the host is ready.
func CheckHost() error {
	var problems []error
	if os.Geteuid() != 0 {
		problems = append(problems, errors.New("not running as root: loop devices and mounts need root; run packer with sudo"))
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		problems = append(problems, fmt.Errorf("no loop device support (%v): load the loop module (`modprobe loop`), or run in a VM or a privileged container with /dev/loop-control", err))
	}
	for _, t := range requiredTools {
		if err := lookTool(t); err != nil {
			problems = append(problems, err)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w:\n  %w", ErrHostNotReady, joinIndented(problems))
}

// joinIndented joins errors one per line, indented under a heading.
func joinIndented(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return &joinedError{msg: strings.Join(msgs, "\n  "), errs: errs}
}

type joinedError struct {
	msg  string
	errs []error
}

func (e *joinedError) Error() string   { return e.msg }
func (e *joinedError) Unwrap() []error { return e.errs }

// kernelFilesystems returns the filesystem types the running kernel can mount
// (/proc/filesystems; modules not loaded yet are missed, which errs on the safe side).
func kernelFilesystems() (map[string]bool, error) {
	f, err := os.Open("/proc/filesystems")
	if err != nil {
		return nil, fmt.Errorf("reading the kernel's filesystems: %w", err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 {
			out[fields[len(fields)-1]] = true
		}
	}
	return out, sc.Err()
}

// deviceMapperAvailable reports whether the kernel has device-mapper. refit maps
// logical volumes through loop devices either way (see the package documentation).
// A /dev/mapper/control node alone does not count: LVM tools create it even when the
// kernel has no driver behind it.
func deviceMapperAvailable() bool {
	if _, err := os.Stat("/sys/class/misc/device-mapper"); err == nil {
		return true
	}
	misc, err := os.ReadFile("/proc/misc")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(misc), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[1] == "device-mapper" {
			return true
		}
	}
	return false
}
