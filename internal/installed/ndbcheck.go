package installed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"os"
	"slices"
)

// ndb (rpm's "Packages.db") layout, as in lib/backend/ndb/rpmpkg.c of rpm 4.16+. All integers
// are little-endian.
const (
	ndbHeaderMagic  = 'R' | 'p'<<8 | 'm'<<16 | 'P'<<24 // RPMPKGDB magic, at offset 0
	ndbSlotMagic    = 'S' | 'l'<<8 | 'o'<<16 | 't'<<24 // SLOT_MAGIC
	ndbBlobMagic    = 'B' | 'l'<<8 | 'b'<<16 | 'S'<<24 // BLOBHEAD_MAGIC
	ndbBlobTail     = 'B' | 'l'<<8 | 'b'<<16 | 'E'<<24 // BLOBTAIL_MAGIC
	ndbPageSize     = 4096                             // slot pages
	ndbSlotSize     = 16                               // SLOT_SIZE: magic, pkgidx, blkoff, blkcnt
	ndbBlockSize    = 16                               // BLK_SIZE: unit of blkoff and blkcnt
	ndbBlobHeadSize = 16                               // BLOBHEAD_SIZE: magic, pkgidx, generation, bloblen
	ndbBlobTailSize = 12                               // BLOBTAIL_SIZE: adler32, bloblen, magic
	ndbMaxSlotPages = 2048                             // the bound go-rpmdb applies too
)

// readNDB reads every package header of an ndb database, verified the way rpm does before
// using a package: every slot carries the slot magic, and every used slot points to a blob
// with matching head and tail and a correct Adler-32 checksum. go-rpmdb checks none of the
// checksums and only prints a bad slot magic, so its reader would return garbage. Every used
// slot yields a record or an error: the slot table is the database's own count.
func readNDB(path string) ([]rpmdbRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	head := make([]byte, 16)
	if _, err := f.ReadAt(head, 0); err != nil {
		return nil, fmt.Errorf("reading the ndb header: %w", err)
	}
	le := binary.LittleEndian
	if le.Uint32(head) != ndbHeaderMagic || le.Uint32(head[4:]) != 0 {
		return nil, errors.New("not an ndb database (bad magic or version)")
	}
	npages := le.Uint32(head[12:])
	if npages == 0 || npages > ndbMaxSlotPages {
		return nil, fmt.Errorf("invalid ndb slot page count %d", npages)
	}
	slots := make([]byte, int64(npages)*ndbPageSize)
	if _, err := f.ReadAt(slots, 0); err != nil {
		return nil, fmt.Errorf("reading the ndb slot pages: %w", err)
	}
	var records []rpmdbRecord
	var block []byte
	for off := 2 * ndbSlotSize; off < len(slots); off += ndbSlotSize { // the header takes two slots
		slot := slots[off : off+ndbSlotSize]
		n := off / ndbSlotSize
		if le.Uint32(slot) != ndbSlotMagic {
			return nil, fmt.Errorf("ndb slot %d is damaged (bad slot magic)", n)
		}
		pkgIdx, blkOff, blkCnt := le.Uint32(slot[4:]), int64(le.Uint32(slot[8:])), int64(le.Uint32(slot[12:]))
		if pkgIdx == 0 {
			continue // free slot
		}
		start, length := blkOff*ndbBlockSize, blkCnt*ndbBlockSize
		if length < ndbBlobHeadSize+ndbBlobTailSize || start < int64(len(slots)) || start+length > size {
			return nil, fmt.Errorf("ndb slot %d (package %d) points outside the file", n, pkgIdx)
		}
		if int64(cap(block)) < length {
			block = make([]byte, length)
		}
		block = block[:length]
		if _, err := f.ReadAt(block, start); err != nil && err != io.EOF {
			return nil, fmt.Errorf("reading package %d: %w", pkgIdx, err)
		}
		blobLen := int64(le.Uint32(block[12:]))
		tail := block[length-ndbBlobTailSize:]
		switch {
		case le.Uint32(block) != ndbBlobMagic || le.Uint32(block[4:]) != pkgIdx:
			return nil, fmt.Errorf("package %d: damaged blob header", pkgIdx)
		case blobLen > length-ndbBlobHeadSize-ndbBlobTailSize || int64(le.Uint32(tail[4:])) != blobLen || le.Uint32(tail[8:]) != ndbBlobTail:
			return nil, fmt.Errorf("package %d: damaged blob tail", pkgIdx)
		case adler32.Checksum(block[:length-ndbBlobTailSize]) != le.Uint32(tail):
			return nil, fmt.Errorf("package %d: blob checksum mismatch", pkgIdx)
		}
		records = append(records, rpmdbRecord{instance: pkgIdx, blob: slices.Clone(block[ndbBlobHeadSize : ndbBlobHeadSize+blobLen])})
	}
	return records, nil
}
