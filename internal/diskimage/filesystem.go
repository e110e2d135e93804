package diskimage

import (
	"bufio"
	"context"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage/lvm"
)

// Filesystem is one place of an attached image that may hold a filesystem: a
// partition, a logical volume reached through its own loop device, or the whole disk.
type Filesystem struct {
	// Device is the host block device (/dev/loop3p2, /dev/loop4); empty when Unusable.
	Device string
	// Partition is the 1-based partition number, 0 for a logical volume or the whole disk.
	Partition int
	// VolumeGroup and LogicalVolume name a logical volume; both empty otherwise.
	VolumeGroup, LogicalVolume string
	// Type is the filesystem type blkid probed ("ext4", "xfs", "vfat", "swap",
	// "LVM2_member"); empty when blkid found nothing.
	Type string
	// UUID and Label are the filesystem's, as fstab's UUID= and LABEL= use them.
	UUID, Label string
	// PartUUID and PartLabel are the partition table entry's (PARTUUID=, PARTLABEL=).
	PartUUID, PartLabel string
	// Unusable says why a logical volume could not be mapped (not linear, PV missing);
	// nil for everything refit can mount.
	Unusable error
}

// String describes f for messages: "partition 2 (/dev/loop3p2, ext4)".
func (f Filesystem) String() string {
	var what string
	switch {
	case f.LogicalVolume != "":
		what = "logical volume " + f.VolumeGroup + "/" + f.LogicalVolume
	case f.Partition > 0:
		what = "partition " + strconv.Itoa(f.Partition)
	default:
		what = "whole disk"
	}
	var detail []string
	if f.Device != "" {
		detail = append(detail, f.Device)
	}
	if f.Type != "" {
		detail = append(detail, f.Type)
	} else if f.Unusable == nil {
		detail = append(detail, "no filesystem")
	}
	if f.Unusable != nil {
		detail = append(detail, "unusable: "+f.Unusable.Error())
	}
	return what + " (" + strings.Join(detail, ", ") + ")"
}

// blkidProbe is what `blkid -p -o export` says about a device.
type blkidProbe map[string]string

// probeDevice runs a low-level blkid probe (no cache) on dev. A device where blkid
// finds nothing yields an empty probe, not an error.
func probeDevice(ctx context.Context, dev string) (blkidProbe, error) {
	out, err := runCommand(ctx, "blkid", "-p", "-c", "/dev/null", "-o", "export", "--", dev)
	if err != nil {
		if exitCode(err) == 2 { // nothing detected
			return blkidProbe{}, nil
		}
		return nil, fmt.Errorf("identifying the filesystem on %s: %w", dev, err)
	}
	return parseBlkidExport(out), nil
}

// parseBlkidExport reads blkid's "-o export" KEY=value lines, whose values escape
// shell-special characters with a backslash.
func parseBlkidExport(out string) blkidProbe {
	p := blkidProbe{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || k == "" {
			continue
		}
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
			}
			b.WriteByte(v[i])
		}
		p[k] = b.String()
	}
	return p
}

// fill copies the probe's identifiers into f.
func (p blkidProbe) fill(f *Filesystem) {
	f.Type, f.UUID, f.Label = p["TYPE"], p["UUID"], p["LABEL"]
	f.PartUUID, f.PartLabel = p["PART_ENTRY_UUID"], p["PART_ENTRY_NAME"]
}

// firstDiskPartition matches the names a guest gives the partitions of its first
// disk (/dev/vda3, /dev/sda3, /dev/xvda3, /dev/nvme0n1p3, /dev/mmcblk0p3): the image.
var firstDiskPartition = regexp.MustCompile(`^/dev/(?:[shv]da|xvda|nvme0n1p|mmcblk0p)([0-9]+)$`)

// firstDisk matches the guest's name of its whole first disk.
var firstDisk = regexp.MustCompile(`^/dev/(?:[shv]da|xvda|nvme0n1|mmcblk0)$`)

// findFilesystem returns the filesystem a device spec names, or nil. Specs are what
// fstab's first field and mount_partition hold: a partition number ("3"),
// UUID=/LABEL=/PARTUUID=/PARTLABEL=, /dev/disk/by-*/…, /dev/mapper/VG-LV, /dev/VG/LV,
// "VG/LV", or the guest's device name of a partition of its first disk (/dev/vda3).
func findFilesystem(fss []Filesystem, spec string) *Filesystem {
	spec = strings.TrimSpace(spec)
	if n, err := strconv.Atoi(spec); err == nil {
		return findFirst(fss, func(f *Filesystem) bool { return f.Partition == n && n > 0 })
	}
	if k, v, ok := strings.Cut(spec, "="); ok && !strings.HasPrefix(spec, "/") {
		v = strings.Trim(v, `"`)
		return findByKey(fss, strings.ToUpper(k), v)
	}
	for prefix, key := range map[string]string{
		"/dev/disk/by-uuid/": "UUID", "/dev/disk/by-label/": "LABEL",
		"/dev/disk/by-partuuid/": "PARTUUID", "/dev/disk/by-partlabel/": "PARTLABEL",
	} {
		if v, ok := strings.CutPrefix(spec, prefix); ok {
			return findByKey(fss, key, unescapeUdev(v))
		}
	}
	if m := firstDiskPartition.FindStringSubmatch(spec); m != nil {
		n, _ := strconv.Atoi(m[1])
		return findFirst(fss, func(f *Filesystem) bool { return f.Partition == n })
	}
	if firstDisk.MatchString(spec) {
		return findFirst(fss, func(f *Filesystem) bool { return f.Partition == 0 && f.LogicalVolume == "" })
	}
	var vg, lv string
	if name, ok := strings.CutPrefix(spec, "/dev/mapper/"); ok {
		var valid bool
		if vg, lv, valid = lvm.SplitMapperName(name); !valid {
			return nil
		}
	} else {
		p := strings.TrimPrefix(path.Clean(spec), "/dev/")
		parts := strings.Split(p, "/")
		if len(parts) != 2 {
			return nil
		}
		vg, lv = parts[0], parts[1]
	}
	return findFirst(fss, func(f *Filesystem) bool { return f.VolumeGroup == vg && f.LogicalVolume == lv })
}

func findFirst(fss []Filesystem, match func(*Filesystem) bool) *Filesystem {
	for i := range fss {
		if match(&fss[i]) {
			return &fss[i]
		}
	}
	return nil
}

func findByKey(fss []Filesystem, key, value string) *Filesystem {
	if value == "" {
		return nil
	}
	return findFirst(fss, func(f *Filesystem) bool {
		switch key {
		case "UUID":
			// Skip LVM2_member: its UUID is the PV's, and mounting it makes no sense.
			return strings.EqualFold(f.UUID, value) && f.Type != "LVM2_member"
		case "LABEL":
			return f.Label == value
		case "PARTUUID":
			return strings.EqualFold(f.PartUUID, value)
		case "PARTLABEL":
			return f.PartLabel == value
		}
		return false
	})
}

// unescapeUdev decodes the \xHH escapes udev uses in /dev/disk/by-label names.
func unescapeUdev(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
