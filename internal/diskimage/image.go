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
)

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
	whole, err := probeDevice(ctx, img.disk.path)
	if err != nil {
		return err
	}
	var pvDevices []pvPlace
	if whole["PTTYPE"] != "" {
		if err := img.disk.addPartitions(ctx); err != nil {
			return err
		}
		for _, p := range partitionsOf(img.disk.name()) {
			dev := "/dev/" + p.name
			if err := waitForDeviceNode(ctx, dev); err != nil {
				return err
			}
			probe, err := probeDevice(ctx, dev)
			if err != nil {
				return err
			}
			fs := Filesystem{Device: dev, Partition: p.number}
			probe.fill(&fs)
			img.filesystems = append(img.filesystems, fs)
			if fs.Type == "LVM2_member" {
				pvDevices = append(pvDevices, pvPlace{dev, p.start * sectorSize, p.sectors * sectorSize})
			}
		}
		img.logf("partition table of %s: %s, %d partition(s)", img.disk.path, whole["PTTYPE"], len(img.filesystems))
	} else {
		fs := Filesystem{Device: img.disk.path}
		whole.fill(&fs)
		img.filesystems = append(img.filesystems, fs)
		if fs.Type == "LVM2_member" {
			fi, err := os.Stat(img.path)
			if err != nil {
				return fmt.Errorf("attaching %s: %w", img.path, err)
			}
			pvDevices = append(pvDevices, pvPlace{img.disk.path, 0, fi.Size()})
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("attaching %s: %w", img.path, err)
	}
	// LVM: read every PV's metadata, keep the newest copy of each VG, map its LVs.
	pvs := map[string]pvPlace{}
	vgs := map[string]*volumeGroup{}
	var vgOrder []string
	for _, place := range pvDevices {
		f, err := os.Open(place.device)
		if err != nil {
			return fmt.Errorf("reading the LVM label of %s: %w", place.device, err)
		}
		pv, err := readPhysicalVolume(f)
		f.Close()
		if err != nil {
			img.logf("skipping physical volume %s: %v", place.device, err)
			continue
		}
		pvs[pv.uuid] = place
		if pv.metadata == nil {
			continue
		}
		vg, err := parseVolumeGroup(pv.metadata)
		if err != nil {
			return fmt.Errorf("reading the LVM metadata on %s: %w", place.device, err)
		}
		key := vg.id + "/" + vg.name
		if old, ok := vgs[key]; !ok || vg.seqno > old.seqno {
			if !ok {
				vgOrder = append(vgOrder, key)
			}
			vgs[key] = vg
		}
	}
	for _, key := range vgOrder {
		vg := vgs[key]
		for _, lv := range vg.lvs {
			if !lv.visible {
				continue
			}
			fs := Filesystem{VolumeGroup: vg.name, LogicalVolume: lv.name}
			offset, length, err := locateVolume(vg, lv, pvs)
			if err != nil {
				fs.Unusable = err
				img.logf("cannot map logical volume %s/%s: %v", vg.name, lv.name, err)
				img.filesystems = append(img.filesystems, fs)
				continue
			}
			dev, err := attachLoop(ctx, img.path, offset, length, img.opts.ReadOnly)
			if dev != nil {
				img.volumes = append(img.volumes, dev)
			}
			if err != nil {
				return fmt.Errorf("mapping logical volume %s/%s: %w", vg.name, lv.name, err)
			}
			fs.Device = dev.path
			probe, err := probeDevice(ctx, dev.path)
			if err != nil {
				return err
			}
			probe.fill(&fs)
			img.filesystems = append(img.filesystems, fs)
			img.logf("mapped logical volume %s/%s (%d MiB at byte %d) to %s", vg.name, lv.name, length>>20, offset, dev.path)
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

// locateVolume returns where in the image file a linear LV lies.
func locateVolume(vg *volumeGroup, lv logicalVolume, pvs map[string]pvPlace) (offset, length int64, err error) {
	ext, err := lv.linear()
	if err != nil {
		return 0, 0, err
	}
	pv, ok := vg.pvs[ext.pv]
	if !ok {
		return 0, 0, fmt.Errorf("%w: volume group %s has no physical volume %q", ErrLVMMetadata, vg.name, ext.pv)
	}
	place, ok := pvs[pv.id]
	if !ok {
		return 0, 0, fmt.Errorf("physical volume %s (%s) of %s is not in this image", ext.pv, pv.id, vg.name)
	}
	off, length, err := vg.byteRange(ext)
	if err != nil {
		return 0, 0, err
	}
	if off > place.size || length > place.size-off {
		return 0, 0, fmt.Errorf("%w: %s/%s ends beyond its physical volume %s", ErrLVMMetadata, vg.name, lv.name, place.device)
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
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
	defer cancel()
	var errs []error
	if img.mounts != nil {
		if err := img.mounts.unmountLocked(ctx); err != nil {
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
