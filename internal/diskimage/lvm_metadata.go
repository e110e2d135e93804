package diskimage

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

var (
	// ErrLVMMetadata is returned for LVM2 metadata that parses but does not describe a
	// usable volume group (missing extent_size, a segment pointing at an unknown PV, ...).
	ErrLVMMetadata = errors.New("diskimage: invalid LVM metadata")
	// ErrUnsupportedLV is returned for a logical volume that is not one linear run of
	// extents on one physical volume: without device-mapper only such volumes can be
	// reached (through a loop device at their offset).
	ErrUnsupportedLV = errors.New("diskimage: logical volume is not linear")
)

// sectorSize is the unit of every LVM2 and partition-table offset refit reads.
const sectorSize = 512

// volumeGroup is the part of an LVM2 volume group refit needs to reach its volumes.
type volumeGroup struct {
	name       string
	id         string
	seqno      int64
	extentSize int64 // sectors
	pvs        map[string]lvmPV
	lvs        []logicalVolume
}

// lvmPV is one physical_volumes entry.
type lvmPV struct {
	id      string // with LVM's dashes removed, as in the PV label
	peStart int64  // sectors from the start of the PV
	peCount int64
}

// logicalVolume is one logical_volumes entry.
type logicalVolume struct {
	name     string
	visible  bool
	segments []lvSegment
}

// lvSegment is one segmentN section.
type lvSegment struct {
	startExtent int64
	extentCount int64
	kind        string // "striped", "thin", "raid1", ...
	stripes     []lvStripe
}

// lvStripe is one ("pvN", first extent) pair of a segment's stripes array.
type lvStripe struct {
	pv          string
	startExtent int64
}

// linearExtent is where a linear LV lies: extentCount extents from startExtent of pv.
type linearExtent struct {
	pv          string
	startExtent int64
	extentCount int64
}

// parseVolumeGroup reads the volume group out of the text of a PV's metadata area.
func parseVolumeGroup(text []byte) (*volumeGroup, error) {
	root, err := parseLVMConfig(text)
	if err != nil {
		return nil, err
	}
	// The text holds exactly one section, the VG, beside informational assignments.
	sections := root.subsections()
	if len(sections) != 1 {
		return nil, fmt.Errorf("%w: expected one volume group section, found %d", ErrLVMMetadata, len(sections))
	}
	vgEntry := sections[0]
	vgSec := vgEntry.section
	vg := &volumeGroup{name: vgEntry.key, pvs: map[string]lvmPV{}}
	vg.id, _ = vgSec.str("id")
	vg.seqno, _ = vgSec.int("seqno")
	var ok bool
	if vg.extentSize, ok = vgSec.int("extent_size"); !ok || vg.extentSize <= 0 {
		return nil, fmt.Errorf("%w: volume group %s has no positive extent_size", ErrLVMMetadata, vg.name)
	}
	if pvs := vgSec.section("physical_volumes"); pvs != nil {
		for _, e := range pvs.subsections() {
			pv := lvmPV{}
			id, _ := e.section.str("id")
			pv.id = strings.ReplaceAll(id, "-", "")
			if pv.peStart, ok = e.section.int("pe_start"); !ok || pv.peStart < 0 {
				return nil, fmt.Errorf("%w: physical volume %s of %s has no pe_start", ErrLVMMetadata, e.key, vg.name)
			}
			pv.peCount, _ = e.section.int("pe_count")
			vg.pvs[e.key] = pv
		}
	}
	if lvs := vgSec.section("logical_volumes"); lvs != nil {
		for _, e := range lvs.subsections() {
			lv, err := parseLogicalVolume(e.key, e.section)
			if err != nil {
				return nil, fmt.Errorf("logical volume %s/%s: %w", vg.name, e.key, err)
			}
			vg.lvs = append(vg.lvs, lv)
		}
	}
	return vg, nil
}

func parseLogicalVolume(name string, sec *configSection) (logicalVolume, error) {
	lv := logicalVolume{name: name}
	if status, ok := sec.array("status"); ok {
		for _, s := range status {
			if s.kind == configString && s.str == "VISIBLE" {
				lv.visible = true
			}
		}
	}
	for _, e := range sec.subsections() {
		if !strings.HasPrefix(e.key, "segment") {
			continue
		}
		seg := lvSegment{}
		var ok bool
		seg.startExtent, ok = e.section.int("start_extent")
		if !ok || seg.startExtent < 0 {
			return lv, fmt.Errorf("%w: %s has no start_extent", ErrLVMMetadata, e.key)
		}
		seg.extentCount, ok = e.section.int("extent_count")
		if !ok || seg.extentCount <= 0 {
			return lv, fmt.Errorf("%w: %s has no extent_count", ErrLVMMetadata, e.key)
		}
		seg.kind, _ = e.section.str("type")
		if stripes, ok := e.section.array("stripes"); ok {
			if len(stripes)%2 != 0 {
				return lv, fmt.Errorf("%w: %s stripes is not a list of (pv, extent) pairs", ErrLVMMetadata, e.key)
			}
			for i := 0; i < len(stripes); i += 2 {
				pv, ext := stripes[i], stripes[i+1]
				if pv.kind != configString || ext.kind != configInt || ext.num < 0 {
					return lv, fmt.Errorf("%w: %s stripes is not a list of (pv, extent) pairs", ErrLVMMetadata, e.key)
				}
				seg.stripes = append(seg.stripes, lvStripe{pv: pv.str, startExtent: ext.num})
			}
		}
		lv.segments = append(lv.segments, seg)
	}
	return lv, nil
}

// linear returns where lv lies when it is one contiguous run of extents on one PV:
// a single "striped" segment with one stripe, or several such segments that follow
// each other both in the LV and on the PV (what lvextend leaves when the next
// extents were free). Anything else needs device-mapper and yields ErrUnsupportedLV.
func (lv logicalVolume) linear() (linearExtent, error) {
	if len(lv.segments) == 0 {
		return linearExtent{}, fmt.Errorf("%w: %s has no segments", ErrUnsupportedLV, lv.name)
	}
	var out linearExtent
	for i, seg := range lv.segments {
		if seg.kind != "striped" || len(seg.stripes) != 1 {
			return linearExtent{}, fmt.Errorf("%w: %s segment %d is %q with %d stripes; only linear volumes can be mapped without device-mapper",
				ErrUnsupportedLV, lv.name, i+1, seg.kind, len(seg.stripes))
		}
		st := seg.stripes[0]
		if i == 0 {
			if seg.startExtent != 0 {
				return linearExtent{}, fmt.Errorf("%w: %s starts at extent %d", ErrUnsupportedLV, lv.name, seg.startExtent)
			}
			out = linearExtent{pv: st.pv, startExtent: st.startExtent, extentCount: seg.extentCount}
			continue
		}
		if seg.startExtent != out.extentCount || st.pv != out.pv || st.startExtent != out.startExtent+out.extentCount {
			return linearExtent{}, fmt.Errorf("%w: %s has %d segments that are not contiguous on one physical volume; only linear volumes can be mapped without device-mapper",
				ErrUnsupportedLV, lv.name, len(lv.segments))
		}
		if seg.extentCount > math.MaxInt64-out.extentCount {
			return linearExtent{}, fmt.Errorf("%w: %s is too large", ErrLVMMetadata, lv.name)
		}
		out.extentCount += seg.extentCount
	}
	return out, nil
}

// byteRange returns the offset and length in bytes, relative to the start of the PV
// device, of a linear extent, checking that it fits the PV and int64.
func (vg *volumeGroup) byteRange(ext linearExtent) (offset, length int64, err error) {
	pv, ok := vg.pvs[ext.pv]
	if !ok {
		return 0, 0, fmt.Errorf("%w: volume group %s has no physical volume %q", ErrLVMMetadata, vg.name, ext.pv)
	}
	if pv.peCount > 0 && ext.startExtent+ext.extentCount > pv.peCount {
		return 0, 0, fmt.Errorf("%w: extents %d+%d lie beyond the %d of %s", ErrLVMMetadata, ext.startExtent, ext.extentCount, pv.peCount, ext.pv)
	}
	const limit = math.MaxInt64 / sectorSize
	if ext.startExtent > limit/vg.extentSize || ext.extentCount > limit/vg.extentSize {
		return 0, 0, fmt.Errorf("%w: extents of %s out of range", ErrLVMMetadata, vg.name)
	}
	start := ext.startExtent * vg.extentSize
	if start > limit-pv.peStart {
		return 0, 0, fmt.Errorf("%w: extents of %s out of range", ErrLVMMetadata, vg.name)
	}
	return (pv.peStart + start) * sectorSize, ext.extentCount * vg.extentSize * sectorSize, nil
}

// mapperName returns the /dev/mapper name of vg/lv: each "-" doubled, joined by "-".
func mapperName(vg, lv string) string {
	return strings.ReplaceAll(vg, "-", "--") + "-" + strings.ReplaceAll(lv, "-", "--")
}

// splitMapperName splits a /dev/mapper name into VG and LV ("a--b-c" is "a-b", "c").
func splitMapperName(name string) (vg, lv string, ok bool) {
	for i := 0; i < len(name); i++ {
		if name[i] != '-' {
			continue
		}
		if i+1 < len(name) && name[i+1] == '-' {
			i++
			continue
		}
		vg = strings.ReplaceAll(name[:i], "--", "-")
		lv = strings.ReplaceAll(name[i+1:], "--", "-")
		return vg, lv, vg != "" && lv != ""
	}
	return "", "", false
}
