package diskimage

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// ErrNotOurDevice is returned when a loop device no longer matches what refit attached
// (someone detached and reused it): refit then leaves it alone.
var ErrNotOurDevice = errors.New("diskimage: loop device is not the one refit attached")

// loopDevice is a loop device refit attached, with what identifies it as ours.
type loopDevice struct {
	path      string // /dev/loop3
	backing   string // absolute path of the backing file
	inode     uint64
	offset    int64
	sizeLimit int64
	readOnly  bool
	// partitioned is set once partx -a added partition devices, which partx -d removes.
	partitioned bool
	// keep holds the device open while it is marked auto-clear, so that the kernel
	// detaches it by itself if this process dies (see attachLoop).
	keep *os.File
}

// loopListing is one entry of `losetup --json --list`.
type loopListing struct {
	Name      string  `json:"name"`
	BackFile  *string `json:"back-file"`
	BackIno   uint64  `json:"back-ino"`
	Offset    int64   `json:"offset"`
	SizeLimit int64   `json:"sizelimit"`
	ReadOnly  bool    `json:"ro"`
}

func parseLoopListing(out string) ([]loopListing, error) {
	var doc struct {
		Devices []loopListing `json:"loopdevices"`
	}
	if strings.TrimSpace(out) == "" {
		return nil, nil
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, fmt.Errorf("reading losetup --json output: %w", err)
	}
	return doc.Devices, nil
}

// loopDevicesOf lists the loop devices attached to file (`losetup -j`).
func loopDevicesOf(ctx context.Context, file string) ([]string, error) {
	out, err := runCommand(ctx, "losetup", "--json", "--list", "-O", "NAME", "--associated", file)
	if err != nil {
		return nil, fmt.Errorf("listing loop devices of %s: %w", file, err)
	}
	list, err := parseLoopListing(out)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(list))
	for i, l := range list {
		names[i] = l.Name
	}
	return names, nil
}

// fileInode returns the inode number of path.
func fileInode(path string) (uint64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("no inode for %s", path)
	}
	return st.Ino, nil
}

// attachLoop attaches file (an absolute path), or the byte range offset+sizeLimit of
// it when sizeLimit > 0, to a free loop device.
func attachLoop(ctx context.Context, file string, offset, sizeLimit int64, readOnly bool) (*loopDevice, error) {
	ino, err := fileInode(file)
	if err != nil {
		return nil, fmt.Errorf("attaching %s: %w", file, err)
	}
	args := []string{"--find", "--show"}
	if readOnly {
		args = append(args, "--read-only")
	}
	if offset > 0 {
		args = append(args, "--offset", strconv.FormatInt(offset, 10))
	}
	if sizeLimit > 0 {
		args = append(args, "--sizelimit", strconv.FormatInt(sizeLimit, 10))
	}
	args = append(args, "--", file)
	out, err := runCommand(ctx, "losetup", args...)
	dev := strings.TrimSpace(out)
	if err != nil {
		if dev != "" && strings.HasPrefix(dev, "/dev/loop") {
			// Attached, then failed (cancelled): still ours to detach.
			return &loopDevice{path: dev, backing: file, inode: ino, offset: offset, sizeLimit: sizeLimit, readOnly: readOnly},
				fmt.Errorf("attaching %s to a loop device: %w", file, err)
		}
		return nil, fmt.Errorf("attaching %s to a loop device (is the loop module loaded and a device free?): %w", file, err)
	}
	if !strings.HasPrefix(dev, "/dev/loop") {
		return nil, fmt.Errorf("attaching %s: losetup printed %q, not a loop device", file, dev)
	}
	l := &loopDevice{path: dev, backing: file, inode: ino, offset: offset, sizeLimit: sizeLimit, readOnly: readOnly}
	if err := l.holdWithAutoclear(); err != nil {
		return l, fmt.Errorf("attaching %s: %w", file, err)
	}
	return l, nil
}

// Loop ioctls and struct loop_info64 (ref. linux include/uapi/linux/loop.h).
const (
	loopSetStatus64    = 0x4C04
	loopGetStatus64    = 0x4C05
	loopFlagsAutoclear = 4
	loopInfo64Size     = 232 // 5 u64, 4 u32, 64+64+32 bytes, 2 u64
	loopInfo64Flags    = 52  // offset of lo_flags
)

// holdWithAutoclear opens the device and marks it auto-clear: the kernel then
// detaches it when its last user goes, this process's descriptor included. While
// refit runs, that descriptor keeps it attached; if refit is killed, the mount
// namespace holder ends too, the mounts go with the namespace, and the kernel
// detaches the device: nothing leaks even without teardown.
func (l *loopDevice) holdWithAutoclear() error {
	f, err := os.OpenFile(l.path, os.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", l.path, err)
	}
	var info [loopInfo64Size]byte
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), loopGetStatus64, uintptr(unsafe.Pointer(&info[0]))); e != 0 {
		f.Close()
		return fmt.Errorf("reading the status of %s: %w", l.path, e)
	}
	flags := binary.NativeEndian.Uint32(info[loopInfo64Flags:])
	binary.NativeEndian.PutUint32(info[loopInfo64Flags:], flags|loopFlagsAutoclear)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), loopSetStatus64, uintptr(unsafe.Pointer(&info[0]))); e != 0 {
		f.Close()
		return fmt.Errorf("marking %s auto-clear: %w", l.path, e)
	}
	l.keep = f
	return nil
}

// release closes the descriptor that keeps the device attached.
func (l *loopDevice) release() {
	if l.keep != nil {
		l.keep.Close()
		l.keep = nil
	}
}

// verify checks that the device still is the one refit attached: same backing file
// and inode, offset and size limit. It returns (false, nil) when the device is free.
func (l *loopDevice) verify(ctx context.Context) (attached bool, err error) {
	out, err := runCommand(ctx, "losetup", "--json", "--list", "-O", "NAME,BACK-FILE,BACK-INO,OFFSET,SIZELIMIT,RO", l.path)
	if err != nil {
		if _, statErr := os.Stat(l.path); errors.Is(statErr, os.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("inspecting %s: %w", l.path, err)
	}
	list, err := parseLoopListing(out)
	if err != nil {
		return false, err
	}
	if len(list) == 0 || list[0].BackFile == nil {
		return false, nil
	}
	got := list[0]
	if strings.TrimSuffix(*got.BackFile, " (deleted)") != l.backing || got.BackIno != l.inode || got.Offset != l.offset || got.SizeLimit != l.sizeLimit {
		return false, fmt.Errorf("%w: %s is now %s (inode %d, offset %d, size limit %d), refit attached %s (inode %d, offset %d, size limit %d); leaving it alone",
			ErrNotOurDevice, l.path, *got.BackFile, got.BackIno, got.Offset, got.SizeLimit, l.backing, l.inode, l.offset, l.sizeLimit)
	}
	return true, nil
}

// name returns the kernel name of the device ("loop3").
func (l *loopDevice) name() string { return filepath.Base(l.path) }

// addPartitions creates the partition devices (/dev/loop3p1, ...) with partx -a,
// because losetup -P does not on these kernels, and waits until their nodes exist.
func (l *loopDevice) addPartitions(ctx context.Context) error {
	l.partitioned = true // partx -a may add some partitions and then fail: always undo
	if len(partitionsOf(l.name())) > 0 {
		// Left by a previous user of this device number that detached without partx -d
		// (the kernel keeps them): the device is ours now, and they would make partx -a fail.
		if _, err := runCommand(ctx, "partx", "--delete", "--", l.path); err != nil {
			return fmt.Errorf("removing stale partition devices of %s: %w", l.path, err)
		}
	}
	if _, err := runCommand(ctx, "partx", "--add", "--", l.path); err != nil {
		return fmt.Errorf("creating partition devices of %s: %w", l.path, err)
	}
	return nil
}

// detach removes the partition devices and the loop device, after checking it is
// still ours, and waits (bounded) until the kernel has let go of it.
func (l *loopDevice) detach(ctx context.Context) error {
	attached, err := l.verify(ctx)
	if err != nil {
		return err
	}
	if !attached {
		l.release()
		return nil
	}
	if l.partitioned {
		if _, err := runCommand(ctx, "partx", "--delete", "--", l.path); err != nil {
			// partx -d fails when there were no partitions left; anything else keeps the device busy.
			if partitionsOf(l.name()) != nil {
				return fmt.Errorf("removing the partition devices of %s (is a partition still mounted or open?): %w", l.path, err)
			}
		}
		l.partitioned = false
	}
	l.release() // auto-clear may detach it right here
	if _, err := runCommand(ctx, "losetup", "--detach", l.path); err != nil {
		if attached, vErr := l.verify(ctx); vErr == nil && !attached {
			return nil
		}
		return fmt.Errorf("detaching %s: %w", l.path, err)
	}
	// A busy device is only marked for auto-clear: wait until it is really free.
	deadline := time.Now().Add(detachWait)
	for {
		attached, err := l.verify(ctx)
		if err != nil {
			return err
		}
		if !attached {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is still attached to %s %v after losetup --detach: something still holds it open", l.path, l.backing, detachWait)
		}
		if err := sleepContext(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for %s to detach: %w", l.path, err)
		}
	}
}

// detachWait bounds the wait for a detached loop device to become free.
const detachWait = 10 * time.Second

// partitionsOf lists the partitions of a block device from sysfs, in partition
// number order: name ("loop3p2"), number, start and size in 512-byte sectors.
func partitionsOf(disk string) []sysfsPartition {
	entries, err := os.ReadDir(filepath.Join("/sys/block", disk))
	if err != nil {
		return nil
	}
	var parts []sysfsPartition
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), disk) {
			continue
		}
		dir := filepath.Join("/sys/block", disk, e.Name())
		num, err1 := readSysfsInt(filepath.Join(dir, "partition"))
		start, err2 := readSysfsInt(filepath.Join(dir, "start"))
		size, err3 := readSysfsInt(filepath.Join(dir, "size"))
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		parts = append(parts, sysfsPartition{name: e.Name(), number: int(num), start: start, sectors: size})
	}
	slices.SortFunc(parts, func(a, b sysfsPartition) int { return a.number - b.number })
	return parts
}

// sysfsPartition is a partition as /sys/block/<disk>/<part>/ describes it.
type sysfsPartition struct {
	name           string
	number         int
	start, sectors int64
}

func readSysfsInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// sleepContext sleeps for d or until ctx is done.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// waitForDeviceNode waits (bounded) until the device node path exists: partition
// nodes appear in devtmpfs shortly after partx -a returns.
func waitForDeviceNode(ctx context.Context, path string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("device node %s did not appear", path)
		}
		if err := sleepContext(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}
