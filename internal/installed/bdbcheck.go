package installed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Berkeley DB hash database layout, as in db_page.h of Berkeley DB 5.3 (the version EL7 and
// EL8 rpm link).
const (
	bdbHashMagic      = 0x061561 // DB_HASHMAGIC, at offset 12 of the metadata page
	bdbMagicOffset    = 12
	bdbPageSizeOffset = 20 // DBMETA.pagesize
	bdbLastPgnoOffset = 32 // DBMETA.last_pgno
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
	bdbHOffPage         = 3  // H_OFFPAGE: an item stored on overflow pages
)

// checkBerkeleyDBPages verifies everything of a Berkeley DB hash file that go-rpmdb relies on
// without checking: every page carries its own page number and a known type (unused pages
// are all zero), the file holds all the pages the metadata promises, every hash item lies
// inside its page, and every overflow chain stays in the file, visits only overflow pages
// and never loops. go-rpmdb silently skips damaged pages (dropping packages from the
// inventory, where rpm fails with "bdb_ro error reading Packages database"), loops forever
// on a chain that reaches a page of another type, and crashes on an item outside its page.
func checkBerkeleyDBPages(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	meta := make([]byte, 512)
	if _, err := io.ReadFull(f, meta); err != nil {
		return fmt.Errorf("reading the Berkeley DB metadata page: %w", err)
	}
	var order binary.ByteOrder = binary.LittleEndian
	if order.Uint32(meta[bdbMagicOffset:]) != bdbHashMagic {
		order = binary.BigEndian // rpmdbs of big-endian machines, such as s390x
		if order.Uint32(meta[bdbMagicOffset:]) != bdbHashMagic {
			return errors.New("not a Berkeley DB hash database (bad magic)")
		}
	}
	pageSize := int64(order.Uint32(meta[bdbPageSizeOffset:]))
	if pageSize < 512 || pageSize > 64<<10 || pageSize&(pageSize-1) != 0 {
		return fmt.Errorf("invalid Berkeley DB page size %d", pageSize)
	}
	if meta[bdbTypeOffset] != bdbPageHashMeta {
		return fmt.Errorf("page 0 has type %d, want the hash metadata page", meta[bdbTypeOffset])
	}
	npages := fi.Size() / pageSize
	if fi.Size()%pageSize != 0 {
		return fmt.Errorf("page %d is truncated (%d of %d bytes)", npages, fi.Size()%pageSize, pageSize)
	}
	if lastPgno := int64(order.Uint32(meta[bdbLastPgnoOffset:])); lastPgno >= npages {
		return fmt.Errorf("file is truncated: it ends at page %d, the metadata says the last page is %d", npages, lastPgno)
	}
	c := bdbChecker{f: f, order: order, pageSize: pageSize, npages: npages, inChain: make([]bool, npages)}
	page := make([]byte, pageSize)
	for pgno := int64(1); pgno < npages; pgno++ {
		if _, err := f.ReadAt(page, pgno*pageSize); err != nil {
			return fmt.Errorf("reading page %d: %w", pgno, err)
		}
		if err := c.checkPage(pgno, page); err != nil {
			return err
		}
	}
	return nil
}

// bdbChecker holds what checking one Berkeley DB file needs across pages.
type bdbChecker struct {
	f        *os.File
	order    binary.ByteOrder
	pageSize int64
	npages   int64
	inChain  []bool // overflow pages already reached by a chain
}

// checkPage checks one page's header and, for a hash page, its items and their chains.
func (c *bdbChecker) checkPage(pgno int64, page []byte) error {
	if isZero(page) {
		return nil
	}
	typ := page[bdbTypeOffset]
	if got := int64(c.order.Uint32(page[bdbPgnoOffset:])); got != pgno || typ > bdbLastPageType {
		return fmt.Errorf("page %d is damaged (its header says page %d, type %d)", pgno, got, typ)
	}
	if typ != bdbPageHash && typ != bdbPageHashUnsorted {
		return nil
	}
	entries := int64(c.order.Uint16(page[bdbEntriesOffset:]))
	if entries%2 != 0 || bdbPageHeaderSize+2*entries > c.pageSize {
		return fmt.Errorf("hash page %d is damaged (%d entries)", pgno, entries)
	}
	for i := int64(1); i < entries; i += 2 { // items come in key/value pairs; values hold packages
		off := int64(c.order.Uint16(page[bdbPageHeaderSize+2*i:]))
		if off >= c.pageSize {
			return fmt.Errorf("hash page %d is damaged (item %d at offset %d)", pgno, i, off)
		}
		if page[off] != bdbHOffPage {
			continue
		}
		if off+bdbHOffPageSize > c.pageSize {
			return fmt.Errorf("hash page %d is damaged (item %d at offset %d)", pgno, i, off)
		}
		if err := c.checkChain(pgno, int64(c.order.Uint32(page[off+4:]))); err != nil {
			return err
		}
	}
	return nil
}

// checkChain follows the overflow chain starting at page next, referenced from hash page from.
func (c *bdbChecker) checkChain(from, next int64) error {
	header := make([]byte, bdbPageHeaderSize)
	for next != 0 {
		if next >= c.npages || c.inChain[next] {
			return fmt.Errorf("overflow chain from hash page %d is damaged (page %d out of range or reached twice)", from, next)
		}
		c.inChain[next] = true
		if _, err := c.f.ReadAt(header, next*c.pageSize); err != nil {
			return fmt.Errorf("reading page %d: %w", next, err)
		}
		if header[bdbTypeOffset] != bdbPageOverflow {
			return fmt.Errorf("overflow chain from hash page %d reaches page %d of type %d", from, next, header[bdbTypeOffset])
		}
		after := int64(c.order.Uint32(header[bdbNextPgnoOffset:]))
		if used := int64(c.order.Uint16(header[bdbHfOffset:])); after == 0 && bdbPageHeaderSize+used > c.pageSize {
			return fmt.Errorf("overflow page %d is damaged (%d bytes used)", next, used)
		}
		next = after
	}
	return nil
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
