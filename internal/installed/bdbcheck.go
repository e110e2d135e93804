package installed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// Berkeley DB hash database layout, as in db_page.h of Berkeley DB 5.3 (the version EL7 and
// EL8 rpm link).
const (
	bdbHashMagic      = 0x061561 // DB_HASHMAGIC, at offset 12 of the metadata page
	bdbMagicOffset    = 12
	bdbPageSizeOffset = 20 // DBMETA.pagesize
	bdbLastPgnoOffset = 32 // DBMETA.last_pgno
	bdbNelemOffset    = 88 // HMETA.nelem: the number of key/data pairs
	bdbPgnoOffset     = 8  // PAGE.pgno
	bdbNextPgnoOffset = 16 // PAGE.next_pgno
	bdbEntriesOffset  = 20 // PAGE.entries
	bdbHfOffset       = 22 // PAGE.hf_offset: on an overflow page, the bytes used
	bdbTypeOffset     = 25 // PAGE.type
	bdbPageHeaderSize = 26 // SIZEOF_PAGE
	bdbHOffPageSize   = 12 // HOFFPAGE item: type, 3 unused bytes, pgno, tlen

	bdbPageHashUnsorted = 2  // P_HASH_UNSORTED (EL5)
	bdbPageOverflow     = 7  // P_OVERFLOW
	bdbPageHashMeta     = 8  // P_HASHMETA
	bdbPageHash         = 13 // P_HASH
	bdbLastPageType     = 16 // P_IHEAP, the highest page type defined
	bdbHKeyData         = 1  // H_KEYDATA: an item stored on the hash page itself
	bdbHOffPage         = 3  // H_OFFPAGE: an item stored on overflow pages
)

// rpmdbRecord is one package header of an rpmdb: its instance number (the Berkeley DB key,
// the ndb package index) and the header blob rpm stored.
type rpmdbRecord struct {
	instance uint32
	blob     []byte
}

// readBerkeleyDB reads every package header of a Berkeley DB hash rpmdb ("Packages"), and
// verifies on the way everything of the file it relies on: every page carries its own page
// number and a known type (unused pages are all zero), the file holds all the pages the
// metadata promises, every hash item lies inside its page, every overflow chain stays in the
// file, visits only overflow pages, never loops and holds the length its item promises, and
// the hash pages hold exactly as many key/data pairs as the metadata counts (HMETA.nelem:
// the packages and rpm's key-0 record, which holds the next instance number).
//
// A value is stored either on the hash page itself (H_KEYDATA) or, when it does not fit,
// on a chain of overflow pages (H_OFFPAGE); with 4 KiB pages nearly every header is long
// enough to need a chain, with 16 KiB pages small headers are stored inline.
func readBerkeleyDB(path string) ([]rpmdbRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	meta := make([]byte, 512)
	if _, err := io.ReadFull(f, meta); err != nil {
		return nil, fmt.Errorf("reading the Berkeley DB metadata page: %w", err)
	}
	var order binary.ByteOrder = binary.LittleEndian
	if order.Uint32(meta[bdbMagicOffset:]) != bdbHashMagic {
		order = binary.BigEndian // rpmdbs of big-endian machines, such as s390x
		if order.Uint32(meta[bdbMagicOffset:]) != bdbHashMagic {
			return nil, errors.New("not a Berkeley DB hash database (bad magic)")
		}
	}
	pageSize := int64(order.Uint32(meta[bdbPageSizeOffset:]))
	if pageSize < 512 || pageSize > 64<<10 || pageSize&(pageSize-1) != 0 {
		return nil, fmt.Errorf("invalid Berkeley DB page size %d", pageSize)
	}
	if meta[bdbTypeOffset] != bdbPageHashMeta {
		return nil, fmt.Errorf("page 0 has type %d, want the hash metadata page", meta[bdbTypeOffset])
	}
	npages := fi.Size() / pageSize
	if fi.Size()%pageSize != 0 {
		return nil, fmt.Errorf("page %d is truncated (%d of %d bytes)", npages, fi.Size()%pageSize, pageSize)
	}
	if lastPgno := int64(order.Uint32(meta[bdbLastPgnoOffset:])); lastPgno >= npages {
		return nil, fmt.Errorf("file is truncated: it ends at page %d, the metadata says the last page is %d", npages, lastPgno)
	}
	c := bdbReader{f: f, order: order, pageSize: pageSize, npages: npages, inChain: make([]bool, npages)}
	page := make([]byte, pageSize)
	for pgno := int64(1); pgno < npages; pgno++ {
		if _, err := f.ReadAt(page, pgno*pageSize); err != nil {
			return nil, fmt.Errorf("reading page %d: %w", pgno, err)
		}
		if err := c.readPage(pgno, page); err != nil {
			return nil, err
		}
	}
	if nelem := int64(order.Uint32(meta[bdbNelemOffset:])); int64(c.pairs) != nelem {
		return nil, fmt.Errorf("the hash metadata counts %d records, the %d hash pages walked (%v) hold %d "+
			"(%d packages%s); %d records could not be read; all-zero pages: %v "+
			"(rpm never sets Berkeley DB's h_nelem hint; a database reloaded with db_load counts it too)",
			nelem, len(c.hashPages), c.hashPages, c.pairs, len(c.records), c.counterNote(), nelem-int64(c.pairs), c.zeroPages)
	}
	return c.records, nil
}

// bdbReader holds what reading one Berkeley DB file needs across pages.
type bdbReader struct {
	f         *os.File
	order     binary.ByteOrder
	pageSize  int64
	npages    int64
	inChain   []bool // overflow pages already reached by a chain
	records   []rpmdbRecord
	pairs     int  // key/data pairs found, the packages and the instance counter
	counter   bool // rpm's key-0 record (the next instance number) was found
	hashPages []int64
	zeroPages []int64
}

func (c *bdbReader) counterNote() string {
	if c.counter {
		return " and the instance counter"
	}
	return ", no instance counter"
}

// readPage checks one page's header and, for a hash page, reads its key/data pairs.
func (c *bdbReader) readPage(pgno int64, page []byte) error {
	if isZero(page) {
		c.zeroPages = append(c.zeroPages, pgno)
		return nil
	}
	typ := page[bdbTypeOffset]
	if got := int64(c.order.Uint32(page[bdbPgnoOffset:])); got != pgno || typ > bdbLastPageType {
		return fmt.Errorf("page %d is damaged (its header says page %d, type %d)", pgno, got, typ)
	}
	if typ != bdbPageHash && typ != bdbPageHashUnsorted {
		return nil
	}
	c.hashPages = append(c.hashPages, pgno)
	entries := int64(c.order.Uint16(page[bdbEntriesOffset:]))
	if entries%2 != 0 || bdbPageHeaderSize+2*entries > c.pageSize {
		return fmt.Errorf("hash page %d is damaged (%d entries)", pgno, entries)
	}
	// item returns hash item i: its type byte and data. Items are packed from the end of the
	// page down, so an item ends where the previous one starts (LEN_HITEM in db_page.h).
	item := func(i int64) (byte, []byte, error) {
		end := c.pageSize
		if i > 0 {
			end = int64(c.order.Uint16(page[bdbPageHeaderSize+2*(i-1):]))
		}
		off := int64(c.order.Uint16(page[bdbPageHeaderSize+2*i:]))
		if off < bdbPageHeaderSize+2*entries || off >= end || end > c.pageSize {
			return 0, nil, fmt.Errorf("hash page %d is damaged (item %d at offset %d, next item at %d)", pgno, i, off, end)
		}
		return page[off], page[off+1 : end], nil
	}
	for i := int64(0); i < entries; i += 2 { // key/data pairs
		ktype, key, err := item(i)
		if err != nil {
			return err
		}
		if ktype != bdbHKeyData || len(key) != 4 {
			return fmt.Errorf("hash page %d: key %d is not a package instance number (type %d, %d bytes); not an rpm Packages database",
				pgno, i/2, ktype, len(key))
		}
		instance := c.order.Uint32(key)
		vtype, value, err := item(i + 1)
		if err != nil {
			return err
		}
		switch vtype {
		case bdbHKeyData:
			value = slices.Clone(value)
		case bdbHOffPage:
			if len(value) < bdbHOffPageSize-1 {
				return fmt.Errorf("hash page %d is damaged (item %d is a short overflow reference)", pgno, i+1)
			}
			value, err = c.readChain(pgno, int64(c.order.Uint32(value[3:])), int64(c.order.Uint32(value[7:])))
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("hash page %d: package %d is stored as item type %d, which rpm's Packages database never uses",
				pgno, instance, vtype)
		}
		c.pairs++
		if instance == 0 { // rpm's record of the next instance number, not a package
			c.counter = true
			continue
		}
		c.records = append(c.records, rpmdbRecord{instance: instance, blob: value})
	}
	return nil
}

// readChain reads the overflow chain starting at page next, referenced from hash page from
// for an item of length bytes.
func (c *bdbReader) readChain(from, next, length int64) ([]byte, error) {
	page := make([]byte, c.pageSize)
	data := make([]byte, 0, min(length, c.npages*c.pageSize))
	for next != 0 {
		if next >= c.npages || c.inChain[next] {
			return nil, fmt.Errorf("overflow chain from hash page %d is damaged (page %d out of range or reached twice)", from, next)
		}
		c.inChain[next] = true
		if _, err := c.f.ReadAt(page, next*c.pageSize); err != nil {
			return nil, fmt.Errorf("reading page %d: %w", next, err)
		}
		if page[bdbTypeOffset] != bdbPageOverflow {
			return nil, fmt.Errorf("overflow chain from hash page %d reaches page %d of type %d", from, next, page[bdbTypeOffset])
		}
		used := int64(c.order.Uint16(page[bdbHfOffset:]))
		if bdbPageHeaderSize+used > c.pageSize || int64(len(data))+used > length {
			return nil, fmt.Errorf("overflow page %d is damaged (%d bytes used)", next, used)
		}
		data = append(data, page[bdbPageHeaderSize:bdbPageHeaderSize+used]...)
		next = int64(c.order.Uint32(page[bdbNextPgnoOffset:]))
	}
	if int64(len(data)) != length {
		return nil, fmt.Errorf("overflow chain from hash page %d holds %d bytes, its item says %d", from, len(data), length)
	}
	return data, nil
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
