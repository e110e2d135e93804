package installed

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
)

// rpm header tags and types the installed-package list needs (rpm's rpmtag.h).
const (
	tagName        = 1000
	tagVersion     = 1001
	tagRelease     = 1002
	tagEpoch       = 1003
	tagVendor      = 1011
	tagLicense     = 1014
	tagArch        = 1022
	tagSourceRPM   = 1044
	tagProvideName = 1047

	typeInt32       = 4
	typeString      = 6
	typeStringArray = 8

	headerEntrySize = 16
)

// rpmHeader is the index of an rpmdb package header blob: a big-endian entry count and data
// length, the 16-byte entries (tag, type, offset, count), then the data the offsets point
// into. Only bounds are checked here; a value that cannot be read makes its reader fail.
type rpmHeader struct {
	entries []byte
	data    []byte
}

func parseRPMHeader(blob []byte) (rpmHeader, bool) {
	if len(blob) < 8 {
		return rpmHeader{}, false
	}
	il, dl := binary.BigEndian.Uint32(blob), binary.BigEndian.Uint32(blob[4:])
	if il == 0 || il > uint32(len(blob))/headerEntrySize || uint64(8)+uint64(il)*headerEntrySize+uint64(dl) > uint64(len(blob)) {
		return rpmHeader{}, false
	}
	entries := blob[8 : 8+il*headerEntrySize]
	return rpmHeader{entries: entries, data: blob[8+il*headerEntrySize : 8+il*headerEntrySize+dl]}, true
}

// entry returns the type, offset and count of tag. found is false when the header has no
// such entry; ok is false when it has more than one (rpm would take the later one of a
// region's trailer; such a header is left to the full decoder).
func (h rpmHeader) entry(tag uint32) (typ, off, count uint32, found, ok bool) {
	for e := h.entries; len(e) >= headerEntrySize; e = e[headerEntrySize:] {
		if binary.BigEndian.Uint32(e) != tag {
			continue
		}
		if found {
			return 0, 0, 0, true, false
		}
		typ, off, count, found = binary.BigEndian.Uint32(e[4:]), binary.BigEndian.Uint32(e[8:]), binary.BigEndian.Uint32(e[12:]), true
	}
	return typ, off, count, found, true
}

// cString returns the NUL-terminated string at off in the data.
func (h rpmHeader) cString(off uint32) (string, uint32, bool) {
	if off >= uint32(len(h.data)) {
		return "", 0, false
	}
	end := bytes.IndexByte(h.data[off:], 0)
	if end < 0 {
		return "", 0, false
	}
	return string(h.data[off : off+uint32(end)]), off + uint32(end) + 1, true
}

// str returns a STRING tag's value; present is false when the header has none.
func (h rpmHeader) str(tag uint32) (value string, present, ok bool) {
	typ, off, count, found, ok := h.entry(tag)
	if !found || !ok {
		return "", found, ok
	}
	if typ != typeString || count != 1 {
		return "", true, false
	}
	value, _, ok = h.cString(off)
	return value, true, ok
}

// strings returns a STRING_ARRAY tag's values.
func (h rpmHeader) strings(tag uint32) ([]string, bool) {
	typ, off, count, found, ok := h.entry(tag)
	if !found || !ok {
		return nil, ok
	}
	if typ != typeStringArray || count > uint32(len(h.data)) {
		return nil, false
	}
	out := make([]string, 0, count)
	for range count {
		var s string
		if s, off, ok = h.cString(off); !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// int32 returns the first value of an INT32 tag.
func (h rpmHeader) int32(tag uint32) (value int32, present, ok bool) {
	typ, off, count, found, ok := h.entry(tag)
	if !found || !ok {
		return 0, found, ok
	}
	if typ != typeInt32 || count < 1 || uint64(off)+4 > uint64(len(h.data)) {
		return 0, true, false
	}
	return int32(binary.BigEndian.Uint32(h.data[off:])), true, true
}

// headerPackage reads from an rpmdb package header blob the nine tags a Package holds,
// without decoding the rest (file lists, changelogs, scripts): a tenth of go-rpmdb's time
// per header. ok is false for a header it cannot read with certainty, which the caller
// then leaves to go-rpmdb's full decoder and its error.
func headerPackage(blob []byte) (Package, bool) {
	h, ok := parseRPMHeader(blob)
	if !ok {
		return Package{}, false
	}
	var p Package
	var present [5]bool
	var oks [8]bool
	p.Name, present[0], oks[0] = h.str(tagName)
	p.Version, present[1], oks[1] = h.str(tagVersion)
	p.Release, present[2], oks[2] = h.str(tagRelease)
	p.Arch, _, oks[3] = h.str(tagArch)
	p.SourceRPM, _, oks[4] = h.str(tagSourceRPM)
	p.Supplier, _, oks[5] = h.str(tagVendor)
	var license string
	license, _, oks[6] = h.str(tagLicense)
	var epoch int32
	epoch, p.EpochTagged, oks[7] = h.int32(tagEpoch)
	provides, provOK := h.strings(tagProvideName)
	if !present[0] || !present[1] || !present[2] || !provOK || slices.Contains(oks[:], false) || p.Name == "" {
		return Package{}, false
	}
	p.Epoch = int(epoch)
	// rpm stores "(none)" where a package has no value (gpg-pubkey's source rpm), as
	// go-rpmdb and syft read it: no value
	p.SourceRPM, p.Supplier, license = noneEmpty(p.SourceRPM), noneEmpty(p.Supplier), noneEmpty(license)
	p.Licenses = nonEmpty(license)
	p.Provides = installOnly(provides)
	return p, true
}

// installOnly returns the provides that make a package install-only (installOnlyProvides),
// sorted and without duplicates.
func installOnly(provides []string) []string {
	var out []string
	for _, prov := range provides {
		for _, prefix := range installOnlyProvides {
			if strings.HasPrefix(prov, prefix) && !slices.Contains(out, prov) {
				out = append(out, prov)
			}
		}
	}
	slices.Sort(out)
	return out
}

// noneEmpty returns s, or "" for rpm's "(none)".
func noneEmpty(s string) string {
	if s == "(none)" {
		return ""
	}
	return s
}
