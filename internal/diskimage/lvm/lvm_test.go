package lvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseLVMConfig(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		check func(t *testing.T, root *configSection)
		err   bool
	}{
		{
			name: "assignments and a comment",
			text: "contents = \"Text Format Volume Group\" # informational\nversion = 1\nratio = 0.5\nneg = -3\n",
			check: func(t *testing.T, root *configSection) {
				if s, _ := root.str("contents"); s != "Text Format Volume Group" {
					t.Errorf("contents = %q", s)
				}
				if n, _ := root.int("version"); n != 1 {
					t.Errorf("version = %d", n)
				}
				if n, _ := root.int("neg"); n != -3 {
					t.Errorf("neg = %d", n)
				}
				if _, ok := root.int("ratio"); ok {
					t.Errorf("ratio parsed as an integer")
				}
			},
		},
		{
			name: "nested sections, names LVM allows",
			text: "vg-1.a+b { physical_volumes { pv0 { pe_start = 2048 } } 0lv { x = 1 } }",
			check: func(t *testing.T, root *configSection) {
				vg := root.section("vg-1.a+b")
				if vg == nil {
					t.Fatal("no vg section")
				}
				if n, _ := vg.section("physical_volumes").section("pv0").int("pe_start"); n != 2048 {
					t.Errorf("pe_start = %d", n)
				}
				if vg.section("0lv") == nil {
					t.Errorf("a section named with a leading digit is lost")
				}
			},
		},
		{
			name: "arrays: empty, strings, mixed, multi-line",
			text: "flags = []\nstatus = [\"READ\", \"WRITE\"]\nstripes = [\n\t\"pv0\", 0,\n\t\"pv1\", 8\n]\n",
			check: func(t *testing.T, root *configSection) {
				if a, ok := root.array("flags"); !ok || len(a) != 0 {
					t.Errorf("flags = %v, %v", a, ok)
				}
				a, _ := root.array("stripes")
				if len(a) != 4 || a[0].str != "pv0" || a[3].num != 8 {
					t.Errorf("stripes = %+v", a)
				}
			},
		},
		{
			name: "escaped quotes and a multi-line string",
			text: "description = \"vgcfgbackup --config 'filter=[\\\"a|x|\\\"]\n more'\"\nid = \"a\\\\b\"",
			check: func(t *testing.T, root *configSection) {
				if s, _ := root.str("description"); s != "vgcfgbackup --config 'filter=[\"a|x|\"]\n more'" {
					t.Errorf("description = %q", s)
				}
				if s, _ := root.str("id"); s != `a\b` {
					t.Errorf("id = %q", s)
				}
			},
		},
		{name: "unterminated string", text: `a = "abc`, err: true},
		{name: "missing closing brace", text: "vg { a = 1", err: true},
		{name: "stray closing brace", text: "a = 1 }", err: true},
		{name: "nested array", text: "a = [[1]]", err: true},
		{name: "missing value", text: "a = ", err: true},
		{name: "missing equals", text: "a 1", err: true},
		{name: "bad number", text: "a = 12abc", err: true},
		{name: "array without comma", text: "a = [1 2]", err: true},
		{name: "too deep", text: strings.Repeat("a {", maxConfigDepth+2) + strings.Repeat("}", maxConfigDepth+2), err: true},
		{name: "NUL byte", text: "a = 1\x00", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, err := parseLVMConfig([]byte(tt.text))
			if tt.err {
				if !errors.Is(err, ErrConfigSyntax) {
					t.Fatalf("err = %v, want ErrConfigSyntax", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, root)
		})
	}
}

// TestParseVolumeGroupFixture reads what vgcfgbackup wrote for the volume group of
// testdata/images/make-images.sh's lvm.raw (regenerate: make-images.sh DIR lvm).
func TestParseVolumeGroupFixture(t *testing.T) {
	text, err := os.ReadFile("testdata/refit-vg.vgcfg")
	if err != nil {
		t.Fatal(err)
	}
	vg, err := ParseVolumeGroup(text)
	if err != nil {
		t.Fatal(err)
	}
	if vg.Name != "refit-vg" || vg.ExtentSize != 8192 || len(vg.PVs) != 1 || vg.PVs["pv0"].PEStart != 2048 {
		t.Fatalf("vg = %+v", vg)
	}
	want := map[string]struct {
		offset, length int64
		err            error
	}{
		"root":      {2048 * 512, 32 << 20, nil},
		"var":       {2048*512 + 8*4<<20, 16 << 20, nil},
		"swap":      {2048*512 + 12*4<<20, 4 << 20, nil},
		"scattered": {err: ErrUnsupportedLV},
	}
	if len(vg.LVs) != len(want) {
		t.Fatalf("%d logical volumes, want %d", len(vg.LVs), len(want))
	}
	for _, lv := range vg.LVs {
		t.Run(lv.Name, func(t *testing.T) {
			w := want[lv.Name]
			ext, err := lv.Linear()
			if w.err != nil {
				if !errors.Is(err, w.err) || !strings.Contains(err.Error(), lv.Name) {
					t.Fatalf("err = %v, want %v naming %s", err, w.err, lv.Name)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			off, length, err := vg.ByteRange(ext)
			if err != nil || off != w.offset || length != w.length {
				t.Errorf("ByteRange = %d, %d, %v; want %d, %d", off, length, err, w.offset, w.length)
			}
		})
	}
}

// lvText renders a volume group with one LV whose segments are given as
// "start count type pv pvstart" strings.
func lvText(segments ...string) string {
	var b strings.Builder
	b.WriteString("vg { id = \"x\" seqno = 3 extent_size = 8192\n physical_volumes { pv0 { id = \"aaaa-bbbb\" pe_start = 2048 pe_count = 100 } pv1 { id = \"c\" pe_start = 2048 } }\n logical_volumes { lv { status = [\"VISIBLE\"]\n")
	for i, s := range segments {
		f := strings.Fields(s)
		b.WriteString("segment" + string(rune('1'+i)) + " { start_extent = " + f[0] + " extent_count = " + f[1] + " type = \"" + f[2] + "\"")
		if len(f) > 3 {
			b.WriteString(" stripes = [\"" + f[3] + "\", " + f[4])
			for j := 5; j+1 < len(f); j += 2 {
				b.WriteString(", \"" + f[j] + "\", " + f[j+1])
			}
			b.WriteString("]")
		}
		b.WriteString(" }\n")
	}
	b.WriteString("} } }\ncontents = \"Text Format Volume Group\"\n")
	return b.String()
}

func TestLogicalVolumeLinear(t *testing.T) {
	tests := []struct {
		name     string
		segments []string
		want     LinearExtent
		err      error
	}{
		{"one segment", []string{"0 10 striped pv0 5"}, LinearExtent{"pv0", 5, 10}, nil},
		{"contiguous segments merge", []string{"0 2 striped pv0 8", "2 3 striped pv0 10", "5 1 striped pv0 13"}, LinearExtent{"pv0", 8, 6}, nil},
		{"gap on the PV", []string{"0 1 striped pv0 13", "1 1 striped pv0 15"}, LinearExtent{}, ErrUnsupportedLV},
		{"segments on two PVs", []string{"0 1 striped pv0 0", "1 1 striped pv1 1"}, LinearExtent{}, ErrUnsupportedLV},
		{"two stripes", []string{"0 4 striped pv0 0 pv1 0"}, LinearExtent{}, ErrUnsupportedLV},
		{"thin volume", []string{"0 4 thin"}, LinearExtent{}, ErrUnsupportedLV},
		{"raid1", []string{"0 4 raid1"}, LinearExtent{}, ErrUnsupportedLV},
		{"starts past extent 0", []string{"1 4 striped pv0 0"}, LinearExtent{}, ErrUnsupportedLV},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vg, err := ParseVolumeGroup([]byte(lvText(tt.segments...)))
			if err != nil {
				t.Fatal(err)
			}
			got, err := vg.LVs[0].Linear()
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), "lv") {
					t.Fatalf("err = %v, want %v naming the volume", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Linear() = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseVolumeGroupErrors(t *testing.T) {
	tests := []struct {
		name, text string
		err        error
	}{
		{"no section", "contents = \"x\"", ErrMetadata},
		{"two sections", "a { extent_size = 1 } b { extent_size = 1 }", ErrMetadata},
		{"no extent size", "vg { seqno = 1 }", ErrMetadata},
		{"PV without pe_start", "vg { extent_size = 8 physical_volumes { pv0 { id = \"x\" } } }", ErrMetadata},
		{"segment without extent_count", "vg { extent_size = 8 logical_volumes { lv { segment1 { start_extent = 0 } } } }", ErrMetadata},
		{"odd stripes", "vg { extent_size = 8 logical_volumes { lv { segment1 { start_extent = 0 extent_count = 1 stripes = [\"pv0\"] } } } }", ErrMetadata},
		{"syntax", "vg {", ErrConfigSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseVolumeGroup([]byte(tt.text)); !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
}

func TestByteRangeBounds(t *testing.T) {
	vg := &VolumeGroup{Name: "vg", ExtentSize: 1 << 40, PVs: map[string]PV{"pv0": {PEStart: 2048}}}
	if _, _, err := vg.ByteRange(LinearExtent{"pv0", 1 << 30, 1}); !errors.Is(err, ErrMetadata) {
		t.Errorf("overflowing extent: err = %v", err)
	}
	if _, _, err := vg.ByteRange(LinearExtent{"pv9", 0, 1}); !errors.Is(err, ErrMetadata) {
		t.Errorf("unknown PV: err = %v", err)
	}
	vg.PVs["pv0"] = PV{PEStart: 2048, PECount: 10}
	vg.ExtentSize = 8
	if _, _, err := vg.ByteRange(LinearExtent{"pv0", 8, 4}); !errors.Is(err, ErrMetadata) {
		t.Errorf("extents past pe_count: err = %v", err)
	}
}

func TestMapperNames(t *testing.T) {
	tests := []struct{ vg, lv, mapper string }{
		{"vg0", "root", "vg0-root"},
		{"refit-vg", "root", "refit--vg-root"},
		{"a-b", "c-d", "a--b-c--d"},
		{"rl", "var_log", "rl-var_log"},
	}
	for _, tt := range tests {
		t.Run(tt.mapper, func(t *testing.T) {
			if got := MapperName(tt.vg, tt.lv); got != tt.mapper {
				t.Errorf("MapperName = %q", got)
			}
			vg, lv, ok := SplitMapperName(tt.mapper)
			if !ok || vg != tt.vg || lv != tt.lv {
				t.Errorf("SplitMapperName = %q, %q, %v", vg, lv, ok)
			}
		})
	}
	for _, bad := range []string{"novg", "-lv", "vg-", "a--b"} {
		if _, _, ok := SplitMapperName(bad); ok {
			t.Errorf("SplitMapperName(%q) accepted", bad)
		}
	}
}

// pvLayout describes a synthetic physical volume for buildPV.
type pvLayout struct {
	uuid      string
	text      string
	mdaOffset uint64 // byte offset of the metadata area
	mdaSize   uint64
	textAt    uint64 // offset of the text in the area (>= 512); the text wraps past mdaSize
	size      int    // total bytes
}

// buildPV writes an LVM2 label, PV header, metadata area header and text the way
// LVM lays them out (lib/format_text/layout.h), with valid checksums.
func buildPV(l pvLayout) []byte {
	le := binary.LittleEndian
	buf := make([]byte, l.size)
	label := buf[sectorSize : 2*sectorSize]
	copy(label, labelID)
	le.PutUint64(label[8:], 1)
	le.PutUint32(label[20:], 32)
	copy(label[24:], labelType)
	hdr := label[32:]
	copy(hdr, l.uuid)
	le.PutUint64(hdr[32:], uint64(l.size))
	le.PutUint64(hdr[40:], 1<<20) // data area, then terminator
	le.PutUint64(hdr[72:], l.mdaOffset)
	le.PutUint64(hdr[80:], l.mdaSize) // metadata area, then terminator
	le.PutUint32(label[16:], lvmCRC(label[20:]))

	text := append([]byte(l.text), 0)
	area := buf[l.mdaOffset : l.mdaOffset+l.mdaSize]
	first := copy(area[l.textAt:], text)
	copy(area[mdaHeaderSize:], text[first:])
	mh := area[:mdaHeaderSize]
	copy(mh[4:], mdaMagic)
	le.PutUint32(mh[20:], mdaVersion)
	le.PutUint64(mh[24:], l.mdaOffset)
	le.PutUint64(mh[32:], l.mdaSize)
	le.PutUint64(mh[40:], l.textAt)
	le.PutUint64(mh[48:], uint64(len(text)))
	le.PutUint32(mh[56:], lvmCRC(text))
	le.PutUint32(mh, lvmCRC(mh[4:]))
	return buf
}

func TestReadPhysicalVolume(t *testing.T) {
	const uuid = "Dhu6V2teKjX8sMseso3Dt2NwcUVK2WZW"
	text := lvText("0 10 striped pv0 5")
	plain := pvLayout{uuid: uuid, text: text, mdaOffset: 4096, mdaSize: 8192, textAt: 512, size: 16384}
	wrapped := plain
	wrapped.textAt = plain.mdaSize - 100 // 100 bytes at the end, the rest after the header
	tests := []struct {
		name    string
		data    []byte
		corrupt func([]byte)
		err     error
	}{
		{name: "plain", data: buildPV(plain)},
		{name: "wrapped text", data: buildPV(wrapped)},
		{name: "no label", data: make([]byte, 4096), err: ErrNoPVLabel},
		{name: "short device", data: []byte("LABELONE"), err: ErrNoPVLabel},
		{name: "label checksum", data: buildPV(plain), corrupt: func(b []byte) { b[sectorSize+100] ^= 1 }, err: ErrPVLabel},
		{name: "metadata header checksum", data: buildPV(plain), corrupt: func(b []byte) { b[4096+30] ^= 1 }, err: ErrPVLabel},
		{name: "metadata text checksum", data: buildPV(plain), corrupt: func(b []byte) { b[4096+512+3] ^= 1 }, err: ErrPVLabel},
		{name: "truncated metadata area", data: buildPV(plain)[:4096+600], err: ErrPVLabel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.corrupt != nil {
				tt.corrupt(tt.data)
			}
			pv, err := ReadPhysicalVolume(bytes.NewReader(tt.data))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pv.UUID != uuid || string(pv.Metadata) != text {
				t.Fatalf("pv = %q, metadata %q", pv.UUID, pv.Metadata)
			}
		})
	}
}

func FuzzParseVolumeGroup(f *testing.F) {
	if text, err := os.ReadFile("testdata/refit-vg.vgcfg"); err == nil {
		f.Add(text)
	}
	f.Add([]byte(lvText("0 2 striped pv0 8", "2 3 striped pv0 10")))
	f.Add([]byte(lvText("0 4 striped pv0 0 pv1 0")))
	f.Add([]byte("a = [\"x\", 1, -2.5] # c\nb { c { d = \"e\\\"f\" } }"))
	f.Fuzz(func(t *testing.T, text []byte) {
		vg, err := ParseVolumeGroup(text)
		if err != nil {
			return
		}
		for _, lv := range vg.LVs {
			if ext, err := lv.Linear(); err == nil {
				off, length, err := vg.ByteRange(ext)
				if err == nil && (off < 0 || length <= 0) {
					t.Fatalf("ByteRange = %d, %d for %+v", off, length, ext)
				}
			}
		}
	})
}

func FuzzReadPhysicalVolume(f *testing.F) {
	text := lvText("0 10 striped pv0 5")
	f.Add(buildPV(pvLayout{uuid: "Dhu6V2teKjX8sMseso3Dt2NwcUVK2WZW", text: text, mdaOffset: 2048, mdaSize: 2048, textAt: 512, size: 4096}), true)
	f.Add(buildPV(pvLayout{uuid: "Dhu6V2teKjX8sMseso3Dt2NwcUVK2WZW", text: text, mdaOffset: 2048, mdaSize: 2048, textAt: 1900, size: 4096}), false)
	f.Add([]byte("LABELONE"), false)
	f.Fuzz(func(t *testing.T, data []byte, fixChecksums bool) {
		if fixChecksums {
			// Let the fuzzer reach past the checksums into the structure.
			fixPVChecksums(data)
		}
		pv, err := ReadPhysicalVolume(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(pv.Metadata) > len(data) {
			t.Fatalf("%d bytes of metadata from %d bytes of device", len(pv.Metadata), len(data))
		}
		_, _ = ParseVolumeGroup(pv.Metadata)
	})
}

// fixPVChecksums recomputes, where the bytes allow, the label checksum of a label in
// sector 1, and the header and text checksums of the first metadata area it lists.
func fixPVChecksums(data []byte) {
	le := binary.LittleEndian
	if len(data) < 2*sectorSize {
		return
	}
	label := data[sectorSize : 2*sectorSize]
	off := int(le.Uint32(label[20:]))
	if off >= labelHeaderSize && off+pvHeaderUUIDLen+8+4*16 <= sectorSize {
		// Skip the data area list to the first metadata area.
		p := off + pvHeaderUUIDLen + 8
		for p+16 <= sectorSize && le.Uint64(label[p:]) != 0 {
			p += 16
		}
		p += 16
		if p+16 <= sectorSize {
			mdaOff, mdaSize := le.Uint64(label[p:]), le.Uint64(label[p+8:])
			if mdaOff < uint64(len(data)) && mdaSize >= mdaHeaderSize && mdaOff+mdaSize <= uint64(len(data)) {
				area := data[mdaOff : mdaOff+mdaSize]
				textAt, textSize := le.Uint64(area[40:]), le.Uint64(area[48:])
				if textAt >= mdaHeaderSize && textAt < mdaSize && textSize <= mdaSize-textAt {
					le.PutUint32(area[56:], lvmCRC(area[textAt:textAt+textSize]))
				}
				le.PutUint32(area, lvmCRC(area[4:mdaHeaderSize]))
			}
		}
	}
	le.PutUint32(label[16:], lvmCRC(label[20:]))
}
