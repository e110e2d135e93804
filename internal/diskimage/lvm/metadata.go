package lvm

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

var (
	// ErrMetadata is returned for LVM2 metadata that parses but does not describe a
	// usable volume group (missing extent_size, a segment pointing at an unknown PV, ...).
	ErrMetadata = errors.New("lvm: invalid LVM metadata")
	// ErrUnsupportedLV is returned for a logical volume that is not one linear run of
	// extents on one physical volume: without device-mapper only such volumes can be
	// reached (through a loop device at their offset).
	ErrUnsupportedLV = errors.New("lvm: logical volume is not linear")
)

// sectorSize is the unit of every LVM2 offset: LVM counts in 512-byte sectors
// whatever the device's logical sector size.
const sectorSize = 512

// VolumeGroup is the part of an LVM2 volume group refit needs to reach its volumes.
type VolumeGroup struct {
	Name       string
	ID         string
	Seqno      int64         // metadata sequence number: the highest copy is the newest
	ExtentSize int64         // sectors
	PVs        map[string]PV // by the metadata's key ("pv0")
	LVs        []LogicalVolume
}

// PV is one physical_volumes entry.
type PV struct {
	ID      string // with LVM's dashes removed, as in the PV label
	PEStart int64  // sectors from the start of the PV
	PECount int64
}

// LogicalVolume is one logical_volumes entry.
type LogicalVolume struct {
	Name     string
	Visible  bool
	Segments []Segment
}

// Segment is one segmentN section.
type Segment struct {
	StartExtent int64
	ExtentCount int64
	Kind        string // "striped", "thin", "raid1", ...
	Stripes     []Stripe
}

// Stripe is one ("pvN", first extent) pair of a segment's stripes array.
type Stripe struct {
	PV          string
	StartExtent int64
}

// LinearExtent is where a linear LV lies: ExtentCount extents from StartExtent of PV.
type LinearExtent struct {
	PV          string
	StartExtent int64
	ExtentCount int64
}

// ParseVolumeGroup reads the volume group out of the text of a PV's metadata area.
func ParseVolumeGroup(text []byte) (*VolumeGroup, error) {
	root, err := parseLVMConfig(text)
	if err != nil {
		return nil, err
	}
	// The text holds exactly one section, the VG, beside informational assignments.
	sections := root.subsections()
	if len(sections) != 1 {
		return nil, fmt.Errorf("%w: expected one volume group section, found %d", ErrMetadata, len(sections))
	}
	vgEntry := sections[0]
	vgSec := vgEntry.section
	vg := &VolumeGroup{Name: vgEntry.key, PVs: map[string]PV{}}
	vg.ID, _ = vgSec.str("id")
	vg.Seqno, _ = vgSec.int("seqno")
	var ok bool
	if vg.ExtentSize, ok = vgSec.int("extent_size"); !ok || vg.ExtentSize <= 0 {
		return nil, fmt.Errorf("%w: volume group %s has no positive extent_size", ErrMetadata, vg.Name)
	}
	if pvs := vgSec.section("physical_volumes"); pvs != nil {
		for _, e := range pvs.subsections() {
			pv := PV{}
			id, _ := e.section.str("id")
			pv.ID = strings.ReplaceAll(id, "-", "")
			if pv.PEStart, ok = e.section.int("pe_start"); !ok || pv.PEStart < 0 {
				return nil, fmt.Errorf("%w: physical volume %s of %s has no pe_start", ErrMetadata, e.key, vg.Name)
			}
			pv.PECount, _ = e.section.int("pe_count")
			vg.PVs[e.key] = pv
		}
	}
	if lvs := vgSec.section("logical_volumes"); lvs != nil {
		for _, e := range lvs.subsections() {
			lv, err := parseLogicalVolume(e.key, e.section)
			if err != nil {
				return nil, fmt.Errorf("logical volume %s/%s: %w", vg.Name, e.key, err)
			}
			vg.LVs = append(vg.LVs, lv)
		}
	}
	return vg, nil
}

func parseLogicalVolume(name string, sec *configSection) (LogicalVolume, error) {
	lv := LogicalVolume{Name: name}
	if status, ok := sec.array("status"); ok {
		for _, s := range status {
			if s.kind == configString && s.str == "VISIBLE" {
				lv.Visible = true
			}
		}
	}
	for _, e := range sec.subsections() {
		if !strings.HasPrefix(e.key, "segment") {
			continue
		}
		seg := Segment{}
		var ok bool
		seg.StartExtent, ok = e.section.int("start_extent")
		if !ok || seg.StartExtent < 0 {
			return lv, fmt.Errorf("%w: %s has no start_extent", ErrMetadata, e.key)
		}
		seg.ExtentCount, ok = e.section.int("extent_count")
		if !ok || seg.ExtentCount <= 0 {
			return lv, fmt.Errorf("%w: %s has no extent_count", ErrMetadata, e.key)
		}
		seg.Kind, _ = e.section.str("type")
		if stripes, ok := e.section.array("stripes"); ok {
			if len(stripes)%2 != 0 {
				return lv, fmt.Errorf("%w: %s stripes is not a list of (pv, extent) pairs", ErrMetadata, e.key)
			}
			for i := 0; i < len(stripes); i += 2 {
				pv, ext := stripes[i], stripes[i+1]
				if pv.kind != configString || ext.kind != configInt || ext.num < 0 {
					return lv, fmt.Errorf("%w: %s stripes is not a list of (pv, extent) pairs", ErrMetadata, e.key)
				}
				seg.Stripes = append(seg.Stripes, Stripe{PV: pv.str, StartExtent: ext.num})
			}
		}
		lv.Segments = append(lv.Segments, seg)
	}
	return lv, nil
}

// linear returns where lv lies when it is one contiguous run of extents on one PV:
// a single "striped" segment with one stripe, or several such segments that follow
// each other both in the LV and on the PV (what lvextend leaves when the next
// extents were free). Anything else needs device-mapper and yields ErrUnsupportedLV.
func (lv LogicalVolume) Linear() (LinearExtent, error) {
	if len(lv.Segments) == 0 {
		return LinearExtent{}, fmt.Errorf("%w: %s has no segments", ErrUnsupportedLV, lv.Name)
	}
	var out LinearExtent
	for i, seg := range lv.Segments {
		if seg.Kind != "striped" || len(seg.Stripes) != 1 {
			return LinearExtent{}, fmt.Errorf("%w: %s segment %d is %q with %d stripes; only linear volumes can be mapped without device-mapper",
				ErrUnsupportedLV, lv.Name, i+1, seg.Kind, len(seg.Stripes))
		}
		st := seg.Stripes[0]
		if i == 0 {
			if seg.StartExtent != 0 {
				return LinearExtent{}, fmt.Errorf("%w: %s starts at extent %d", ErrUnsupportedLV, lv.Name, seg.StartExtent)
			}
			out = LinearExtent{PV: st.PV, StartExtent: st.StartExtent, ExtentCount: seg.ExtentCount}
			continue
		}
		if seg.StartExtent != out.ExtentCount || st.PV != out.PV || st.StartExtent != out.StartExtent+out.ExtentCount {
			return LinearExtent{}, fmt.Errorf("%w: %s has %d segments that are not contiguous on one physical volume; only linear volumes can be mapped without device-mapper",
				ErrUnsupportedLV, lv.Name, len(lv.Segments))
		}
		if seg.ExtentCount > math.MaxInt64-out.ExtentCount {
			return LinearExtent{}, fmt.Errorf("%w: %s is too large", ErrMetadata, lv.Name)
		}
		out.ExtentCount += seg.ExtentCount
	}
	return out, nil
}

// byteRange returns the offset and length in bytes, relative to the start of the PV
// device, of a linear extent, checking that it fits the PV and int64.
func (vg *VolumeGroup) ByteRange(ext LinearExtent) (offset, length int64, err error) {
	pv, ok := vg.PVs[ext.PV]
	if !ok {
		return 0, 0, fmt.Errorf("%w: volume group %s has no physical volume %q", ErrMetadata, vg.Name, ext.PV)
	}
	if pv.PECount > 0 && ext.StartExtent+ext.ExtentCount > pv.PECount {
		return 0, 0, fmt.Errorf("%w: extents %d+%d lie beyond the %d of %s", ErrMetadata, ext.StartExtent, ext.ExtentCount, pv.PECount, ext.PV)
	}
	const limit = math.MaxInt64 / sectorSize
	if ext.StartExtent > limit/vg.ExtentSize || ext.ExtentCount > limit/vg.ExtentSize {
		return 0, 0, fmt.Errorf("%w: extents of %s out of range", ErrMetadata, vg.Name)
	}
	start := ext.StartExtent * vg.ExtentSize
	if start > limit-pv.PEStart {
		return 0, 0, fmt.Errorf("%w: extents of %s out of range", ErrMetadata, vg.Name)
	}
	return (pv.PEStart + start) * sectorSize, ext.ExtentCount * vg.ExtentSize * sectorSize, nil
}

// MapperName returns the /dev/mapper name of vg/lv: each "-" doubled, joined by "-".
func MapperName(vg, lv string) string {
	return strings.ReplaceAll(vg, "-", "--") + "-" + strings.ReplaceAll(lv, "-", "--")
}

// SplitMapperName splits a /dev/mapper name into VG and LV ("a--b-c" is "a-b", "c").
func SplitMapperName(name string) (vg, lv string, ok bool) {
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
