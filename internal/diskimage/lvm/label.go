package lvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

var (
	// ErrNoPVLabel is returned by ReadPhysicalVolume for a device without an LVM2 label.
	ErrNoPVLabel = errors.New("lvm: no LVM2 physical volume label")
	// ErrPVLabel is returned for an LVM2 label or metadata area that is damaged.
	ErrPVLabel = errors.New("lvm: damaged LVM2 physical volume")
)

// On-disk layout of an LVM2 physical volume (ref. lvm2 lib/label/label.h and
// lib/format_text/layout.h). All integers are little-endian.
const (
	labelID         = "LABELONE"
	labelType       = "LVM2 001"
	labelScanSector = 4                                                                  // the label is in one of the first four sectors
	labelHeaderSize = 32                                                                 // id[8] sector_xl u64, crc_xl u32, offset_xl u32, type[8]
	pvHeaderUUIDLen = 32                                                                 // pv_header.pv_uuid, without dashes
	mdaHeaderSize   = 512                                                                // MDA_HEADER_SIZE
	mdaMagic        = "\x20\x4c\x56\x4d\x32\x20\x78\x5b\x35\x41\x25\x72\x30\x4e\x2a\x3e" // FMTT_MAGIC
	mdaVersion      = 1                                                                  // FMTT_VERSION
	rawLocnIgnored  = 0x1                                                                // RAW_LOCN_IGNORED
	lvmCRCInitial   = 0xf597a6cf                                                         // INITIAL_CRC
	maxDiskLocns    = 16                                                                 // far more than LVM writes (one data area, two metadata areas)
)

// lvmCRC is LVM's calc_crc: reflected CRC-32 (IEEE) seeded with INITIAL_CRC and
// without the final inversion (ref. lvm2 lib/misc/crc.c).
func lvmCRC(data []byte) uint32 {
	return ^crc32.Update(^uint32(lvmCRCInitial), crc32.IEEETable, data)
}

// diskLocn is a (byte offset, byte size) pair of a PV header list.
type diskLocn struct {
	offset, size uint64
}

// PhysicalVolume is what the label and first valid metadata area of a PV say.
type PhysicalVolume struct {
	UUID       string // 32 characters, no dashes
	DeviceSize uint64
	Metadata   []byte // the VG text of the newest metadata, nil for a PV without metadata areas
}

// ReadPhysicalVolume reads the LVM2 label and the committed metadata text of the PV
// stored in r (a partition, a whole disk, or a test buffer).
func ReadPhysicalVolume(r io.ReaderAt) (*PhysicalVolume, error) {
	sector := make([]byte, sectorSize)
	for s := int64(0); s < labelScanSector; s++ {
		if _, err := r.ReadAt(sector, s*sectorSize); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, ErrNoPVLabel
			}
			return nil, fmt.Errorf("reading sector %d: %w", s, err)
		}
		if string(sector[:8]) != labelID {
			continue
		}
		return parsePVLabel(r, sector, s)
	}
	return nil, ErrNoPVLabel
}

func parsePVLabel(r io.ReaderAt, sector []byte, at int64) (*PhysicalVolume, error) {
	le := binary.LittleEndian
	if got := le.Uint64(sector[8:]); got != uint64(at) {
		return nil, fmt.Errorf("%w: label in sector %d says it is in sector %d", ErrPVLabel, at, got)
	}
	if want, got := le.Uint32(sector[16:]), lvmCRC(sector[20:]); want != got {
		return nil, fmt.Errorf("%w: label checksum %#x, computed %#x", ErrPVLabel, want, got)
	}
	if string(sector[24:32]) != labelType {
		return nil, fmt.Errorf("%w: label type %q is not %q", ErrPVLabel, sector[24:32], labelType)
	}
	off := int(le.Uint32(sector[20:]))
	if off < labelHeaderSize || off > sectorSize-pvHeaderUUIDLen-8 {
		return nil, fmt.Errorf("%w: PV header offset %d out of the label sector", ErrPVLabel, off)
	}
	hdr := sector[off:]
	pv := &PhysicalVolume{UUID: string(hdr[:pvHeaderUUIDLen]), DeviceSize: le.Uint64(hdr[pvHeaderUUIDLen:])}
	rest := hdr[pvHeaderUUIDLen+8:]
	// Two zero-terminated lists follow: data areas, then metadata areas.
	var lists [2][]diskLocn
	for i := range lists {
		for {
			if len(rest) < 16 {
				return nil, fmt.Errorf("%w: PV header lists run past the label sector", ErrPVLabel)
			}
			l := diskLocn{offset: le.Uint64(rest), size: le.Uint64(rest[8:])}
			rest = rest[16:]
			if l.offset == 0 {
				break
			}
			if len(lists[i]) == maxDiskLocns {
				return nil, fmt.Errorf("%w: more than %d areas in the PV header", ErrPVLabel, maxDiskLocns)
			}
			lists[i] = append(lists[i], l)
		}
	}
	var firstErr error
	for _, mda := range lists[1] {
		text, err := readMetadataArea(r, mda)
		if err == nil {
			pv.Metadata = text
			return pv, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return pv, nil
}

// readMetadataArea returns the committed metadata text of one metadata area, which
// is a circular buffer after its 512-byte header: text may wrap to just past the header.
func readMetadataArea(r io.ReaderAt, mda diskLocn) ([]byte, error) {
	le := binary.LittleEndian
	if mda.size < mdaHeaderSize || mda.offset > 1<<62 || mda.size > 1<<62 {
		return nil, fmt.Errorf("%w: metadata area at %d has size %d", ErrPVLabel, mda.offset, mda.size)
	}
	hdr := make([]byte, mdaHeaderSize)
	if _, err := r.ReadAt(hdr, int64(mda.offset)); err != nil {
		return nil, fmt.Errorf("%w: reading metadata area header at %d: %v", ErrPVLabel, mda.offset, err)
	}
	if want, got := le.Uint32(hdr), lvmCRC(hdr[4:]); want != got {
		return nil, fmt.Errorf("%w: metadata area header checksum %#x, computed %#x", ErrPVLabel, want, got)
	}
	if string(hdr[4:20]) != mdaMagic {
		return nil, fmt.Errorf("%w: metadata area at %d has no LVM2 magic", ErrPVLabel, mda.offset)
	}
	if v := le.Uint32(hdr[20:]); v != mdaVersion {
		return nil, fmt.Errorf("%w: metadata area version %d, want %d", ErrPVLabel, v, mdaVersion)
	}
	if start := le.Uint64(hdr[24:]); start != mda.offset {
		return nil, fmt.Errorf("%w: metadata area header says it starts at %d, not %d", ErrPVLabel, start, mda.offset)
	}
	areaSize := le.Uint64(hdr[32:])
	if areaSize != mda.size {
		return nil, fmt.Errorf("%w: metadata area size %d, PV header says %d", ErrPVLabel, areaSize, mda.size)
	}
	// raw_locns[0] is the committed metadata (offset u64, size u64, checksum u32, flags u32).
	loc := hdr[40:64]
	offset, size, sum, flags := le.Uint64(loc), le.Uint64(loc[8:]), le.Uint32(loc[16:]), le.Uint32(loc[20:])
	if offset == 0 || flags&rawLocnIgnored != 0 {
		return nil, fmt.Errorf("%w: metadata area at %d holds no metadata", ErrPVLabel, mda.offset)
	}
	ring := areaSize - mdaHeaderSize
	if offset < mdaHeaderSize || offset >= areaSize || size > ring || size > maxConfigSize {
		return nil, fmt.Errorf("%w: metadata text at %d+%d outside its %d-byte area", ErrPVLabel, offset, size, areaSize)
	}
	text := make([]byte, size)
	first := min(size, areaSize-offset)
	if _, err := r.ReadAt(text[:first], int64(mda.offset+offset)); err != nil {
		return nil, fmt.Errorf("%w: reading metadata text: %v", ErrPVLabel, err)
	}
	if first < size {
		if _, err := r.ReadAt(text[first:], int64(mda.offset+mdaHeaderSize)); err != nil {
			return nil, fmt.Errorf("%w: reading wrapped metadata text: %v", ErrPVLabel, err)
		}
	}
	if got := lvmCRC(text); got != sum {
		return nil, fmt.Errorf("%w: metadata text checksum %#x, computed %#x", ErrPVLabel, sum, got)
	}
	return bytes.TrimRight(text, "\x00"), nil
}
