package diskimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage/lvm"
)

// ErrUnsupportedLV is lvm.ErrUnsupportedLV, the reason recorded in
// Filesystem.Unusable (and wrapped by MountRoot) for a logical volume that is not
// one contiguous run of extents on one physical volume.
var ErrUnsupportedLV = lvm.ErrUnsupportedLV

// Options control how an image is attached and mounted.
type Options struct {
	// ReadOnly attaches the loop devices read-only and mounts every filesystem
	// read-only without journal replay (ext4 "ro,noload", XFS "ro,norecovery,nouuid"):
	// nothing is written to the image file.
	ReadOnly bool
	// MountPartition chooses the root filesystem: "" or "auto" finds the one holding
	// etc/os-release; otherwise a partition number ("3"), UUID=/LABEL=/PARTUUID=,
	// or a logical volume ("/dev/vg/root", "/dev/mapper/vg-root", "vg/root").
	MountPartition string
	// MountOptions are added to the root filesystem's mount options.
	MountOptions []string
	// MountFstab also mounts the filesystems the image's own /etc/fstab lists
	// (/boot, /boot/efi, /var, ...) at their places under the root.
	MountFstab bool
	// WorkDir is where OpenReadOnly writes the raw working copy of a qcow2 image
	// (default: os.TempDir()).
	WorkDir string
	// Log receives one line per step (attached, mounted, guarded, ...); nil discards.
	Log func(string)
}

// Image is a raw disk image attached to loop devices: the whole disk with its
// partition devices, plus one loop device per linear LVM logical volume, and the
// private mount namespace its filesystems are mounted in. Close (or Detach) undoes
// exactly what Attach did; both are safe to call more than once and after a
// partial Attach.
type Image struct {
	mu          sync.Mutex
	path        string
	opts        Options
	ns          *mountNamespace
	disk        *loopDevice
	volumes     []*loopDevice // logical volumes, in attach order
	filesystems []Filesystem
	mounts      *Mounts
	kernelFS    map[string]bool
}

func (img *Image) logf(format string, args ...any) {
	if img.opts.Log != nil {
		img.opts.Log(fmt.Sprintf(format, args...))
	}
}

// Path returns the absolute path of the attached raw image file.
func (img *Image) Path() string { return img.path }

// Filesystems returns every partition, logical volume and (without a partition
// table) the whole disk, with what blkid found on it.
func (img *Image) Filesystems() []Filesystem {
	img.mu.Lock()
	defer img.mu.Unlock()
	return slices.Clone(img.filesystems)
}

// CommandPrefix returns the argv prefix ("nsenter", "--target", PID, "--mount",
// "--") that runs a command inside the image's private mount namespace, where its
// filesystems are mounted: a chroot communicator's command wrapper.
func (img *Image) CommandPrefix() []string {
	img.mu.Lock()
	defer img.mu.Unlock()
	if img.ns == nil {
		return nil
	}
	return img.ns.commandPrefix()
}

// Attach attaches the raw image file at rawPath to a loop device, creates its
// partition devices, identifies every filesystem with blkid, and maps each linear
// LVM logical volume to a loop device of its own. rawPath must be raw (see
// MakeWorkingCopy); unless opts.ReadOnly, no loop device may be using it already.
// A host that cannot attach images yields CheckHost's error.
// On error or cancellation everything already done is undone.
func Attach(ctx context.Context, rawPath string, opts Options) (*Image, error) {
	if err := CheckHost(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(rawPath)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, fmt.Errorf("attaching %s: %w", rawPath, err)
	}
	format, err := DetectFormat(abs)
	if err != nil {
		return nil, err
	}
	if format != FormatRaw {
		return nil, fmt.Errorf("%w: %s is %s; attach needs a raw image: make one with MakeWorkingCopy (qemu-img convert -O raw)", ErrUnsupportedFormat, rawPath, format)
	}
	if !opts.ReadOnly {
		devs, err := loopDevicesOf(ctx, abs)
		if err != nil {
			return nil, err
		}
		if len(devs) > 0 {
			return nil, fmt.Errorf("%w: %s is already attached to %s: another build is using it, or a previous one left it behind (losetup -d)", ErrStillAttached, rawPath, strings.Join(devs, ", "))
		}
	}
	img := &Image{path: abs, opts: opts}
	if img.kernelFS, err = kernelFilesystems(); err != nil {
		return nil, err
	}
	if deviceMapperAvailable() {
		img.logf("device-mapper is present, but logical volumes are mapped through loop devices anyway (LVM activation is not implemented)")
	}
	if err := img.attach(ctx); err != nil {
		if derr := img.Detach(context.WithoutCancel(ctx)); derr != nil {
			err = errors.Join(err, fmt.Errorf("undoing the partial attach: %w", derr))
		}
		return nil, err
	}
	return img, nil
}

// attach does the work of Attach in its order: the private mount namespace, the
// disk's loop device, its filesystems (partitions or the whole disk), then the
// logical volumes of the LVM physical volumes among them.
func (img *Image) attach(ctx context.Context) error {
	start := time.Now()
	var err error
	if img.ns, err = newMountNamespace(ctx, img.logf); err != nil {
		return err
	}
	img.disk, err = attachLoop(ctx, img.path, 0, 0, img.opts.ReadOnly)
	if err != nil {
		return err
	}
	img.logf("attached %s to %s", img.path, img.disk.path)
	places, err := img.probeDisk(ctx)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("attaching %s: %w", img.path, err)
	}
	vgs, pvs, err := img.readVolumeGroups(places)
	if err != nil {
		return err
	}
	for _, vg := range vgs {
		if err := img.mapLogicalVolumes(ctx, vg, pvs); err != nil {
			return err
		}
	}
	img.logf("attached %s in %v: %d filesystem(s)", img.path, time.Since(start).Round(time.Millisecond), len(img.filesystems))
	return nil
}

// pvPlace is where a physical volume lies in the image.
type pvPlace struct {
	device string
	base   int64 // byte offset of the PV in the image file
	size   int64
}

// sectorSize is the unit of partition-table offsets (sysfs start and size).
const sectorSize = 512

// probeDisk identifies what the attached disk holds: with a partition table, each
// partition (on a device of its own); without one, the whole disk. It records each
// in img.filesystems and returns where the LVM physical volumes among them lie.
func (img *Image) probeDisk(ctx context.Context) ([]pvPlace, error) {
	whole, err := probeDevice(ctx, img.disk.path)
	if err != nil {
		return nil, err
	}
	if whole["PTTYPE"] != "" {
		return img.probePartitions(ctx, whole["PTTYPE"])
	}
	fs := Filesystem{Device: img.disk.path}
	whole.fill(&fs)
	img.filesystems = append(img.filesystems, fs)
	if fs.Type != "LVM2_member" {
		return nil, nil
	}
	fi, err := os.Stat(img.path)
	if err != nil {
		return nil, fmt.Errorf("attaching %s: %w", img.path, err)
	}
	return []pvPlace{{img.disk.path, 0, fi.Size()}}, nil
}

// probePartitions creates the partition devices of the disk and identifies each.
func (img *Image) probePartitions(ctx context.Context, tableType string) ([]pvPlace, error) {
	if err := img.disk.addPartitions(ctx); err != nil {
		return nil, err
	}
	var places []pvPlace
	for _, p := range partitionsOf(img.disk.name()) {
		dev := "/dev/" + p.name
		if err := waitForDeviceNode(ctx, dev); err != nil {
			return nil, err
		}
		probe, err := probeDevice(ctx, dev)
		if err != nil {
			return nil, err
		}
		fs := Filesystem{Device: dev, Partition: p.number}
		probe.fill(&fs)
		img.filesystems = append(img.filesystems, fs)
		if fs.Type == "LVM2_member" {
			places = append(places, pvPlace{dev, p.start * sectorSize, p.sectors * sectorSize})
		}
	}
	img.logf("partition table of %s: %s, %d partition(s)", img.disk.path, tableType, len(img.filesystems))
	return places, nil
}

// readVolumeGroups reads the LVM label and metadata of every physical volume and
// keeps the newest copy (highest seqno) of each volume group, in the order the
// groups were first seen. It returns them with the place of each PV by its UUID.
// A device whose label cannot be read is skipped (and logged); metadata that
// cannot be parsed is an error.
func (img *Image) readVolumeGroups(places []pvPlace) ([]*lvm.VolumeGroup, map[string]pvPlace, error) {
	pvs := map[string]pvPlace{}
	newest := map[string]*lvm.VolumeGroup{}
	var order []string
	for _, place := range places {
		f, err := os.Open(place.device)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the LVM label of %s: %w", place.device, err)
		}
		pv, err := lvm.ReadPhysicalVolume(f)
		f.Close()
		if err != nil {
			img.logf("skipping physical volume %s: %v", place.device, err)
			continue
		}
		pvs[pv.UUID] = place
		if pv.Metadata == nil {
			continue
		}
		vg, err := lvm.ParseVolumeGroup(pv.Metadata)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the LVM metadata on %s: %w", place.device, err)
		}
		key := vg.ID + "/" + vg.Name
		if old, ok := newest[key]; !ok || vg.Seqno > old.Seqno {
			if !ok {
				order = append(order, key)
			}
			newest[key] = vg
		}
	}
	vgs := make([]*lvm.VolumeGroup, len(order))
	for i, key := range order {
		vgs[i] = newest[key]
	}
	return vgs, pvs, nil
}

// mapLogicalVolumes gives each visible logical volume of vg a loop device of its
// own and identifies its filesystem. A volume that cannot be mapped (not linear,
// PV missing) is recorded as Unusable; failing to attach or probe one is an error.
func (img *Image) mapLogicalVolumes(ctx context.Context, vg *lvm.VolumeGroup, pvs map[string]pvPlace) error {
	for _, lv := range vg.LVs {
		if !lv.Visible {
			continue
		}
		fs := Filesystem{VolumeGroup: vg.Name, LogicalVolume: lv.Name}
		offset, length, err := locateVolume(vg, lv, pvs)
		if err != nil {
			fs.Unusable = err
			img.logf("cannot map logical volume %s/%s: %v", vg.Name, lv.Name, err)
			img.filesystems = append(img.filesystems, fs)
			continue
		}
		dev, err := attachLoop(ctx, img.path, offset, length, img.opts.ReadOnly)
		if dev != nil {
			img.volumes = append(img.volumes, dev)
		}
		if err != nil {
			return fmt.Errorf("mapping logical volume %s/%s: %w", vg.Name, lv.Name, err)
		}
		fs.Device = dev.path
		probe, err := probeDevice(ctx, dev.path)
		if err != nil {
			return err
		}
		probe.fill(&fs)
		img.filesystems = append(img.filesystems, fs)
		img.logf("mapped logical volume %s/%s (%d MiB at byte %d) to %s", vg.Name, lv.Name, length>>20, offset, dev.path)
	}
	return nil
}

// locateVolume returns where in the image file a linear LV lies.
func locateVolume(vg *lvm.VolumeGroup, lv lvm.LogicalVolume, pvs map[string]pvPlace) (offset, length int64, err error) {
	ext, err := lv.Linear()
	if err != nil {
		return 0, 0, err
	}
	pv, ok := vg.PVs[ext.PV]
	if !ok {
		return 0, 0, fmt.Errorf("%w: volume group %s has no physical volume %q", lvm.ErrMetadata, vg.Name, ext.PV)
	}
	place, ok := pvs[pv.ID]
	if !ok {
		return 0, 0, fmt.Errorf("physical volume %s (%s) of %s is not in this image", ext.PV, pv.ID, vg.Name)
	}
	off, length, err := vg.ByteRange(ext)
	if err != nil {
		return 0, 0, err
	}
	if off > place.size || length > place.size-off {
		return 0, 0, fmt.Errorf("%w: %s/%s ends beyond its physical volume %s", lvm.ErrMetadata, vg.Name, lv.Name, place.device)
	}
	return place.base + off, length, nil
}

// Detach unmounts whatever is still mounted (see Mounts.Unmount), ends the mount
// namespace, removes the partition devices and detaches every loop device refit
// attached, after checking each is still the one it attached; then it checks that
// no loop device of its own (none at all, for a writable image) still uses the file.
// It runs to the end even when ctx is already cancelled, so a cancelled build still
// cleans up, and may be called again after an error to retry what is left.
func (img *Image) Detach(ctx context.Context) error {
	img.mu.Lock()
	defer img.mu.Unlock()
	if img.ns == nil && img.disk == nil && len(img.volumes) == 0 && (img.mounts == nil || img.mounts.done) {
		return nil // nothing left to undo
	}
	keep := ctx.Err() == nil
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
	defer cancel()
	var errs []error
	if img.mounts != nil {
		if err := img.mounts.unmountLocked(ctx, keep); err != nil {
			errs = append(errs, err)
		}
	}
	if img.ns != nil {
		if len(errs) == 0 || !img.ns.alive() {
			img.ns.close()
			img.ns = nil
		} else {
			// Mounts remain: keep the namespace so a retry can unmount them.
			errs = append(errs, errors.New("the image's filesystems are still mounted: not detaching its loop devices"))
			return errors.Join(errs...)
		}
	}
	for i := len(img.volumes) - 1; i >= 0; i-- {
		if err := img.volumes[i].detach(ctx); err != nil {
			errs = append(errs, err)
			continue
		}
		img.volumes = slices.Delete(img.volumes, i, i+1)
	}
	if img.disk != nil {
		if err := img.disk.detach(ctx); err != nil {
			errs = append(errs, err)
		} else {
			img.disk = nil
		}
	}
	if len(errs) == 0 {
		if err := img.checkNoLoopLeft(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("detaching %s: %w", img.path, errors.Join(errs...))
	}
	img.logf("detached %s", img.path)
	return nil
}

// checkNoLoopLeft is the final check of Detach: `losetup -j` on the file.
func (img *Image) checkNoLoopLeft(ctx context.Context) error {
	devs, err := loopDevicesOf(ctx, img.path)
	if err != nil {
		return err
	}
	if img.opts.ReadOnly {
		return nil // other read-only sessions may share the file; ours were verified one by one
	}
	if len(devs) > 0 {
		return fmt.Errorf("%w: %s is still attached to %s after detaching", ErrStillAttached, img.path, strings.Join(devs, ", "))
	}
	return nil
}

// Close is Detach with a background context; it implements io.Closer.
func (img *Image) Close() error {
	return img.Detach(context.Background())
}

// teardownTimeout bounds a whole unmount or detach.
const teardownTimeout = 3 * time.Minute
