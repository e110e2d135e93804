package installed

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	rpmdb "github.com/knqyf263/go-rpmdb/pkg"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver go-rpmdb opens rpmdb.sqlite with

	"github.com/refit-images/packer-plugin-refit/internal/imageroot"
)

var (
	// ErrNoRPMDB is returned by ReadRPMDB when the root holds no rpm database.
	ErrNoRPMDB = errors.New("installed: no rpmdb found")
	// ErrNoPackages is returned when a package database exists but lists no installed package.
	ErrNoPackages = errors.New("installed: package database lists no installed packages")
	// ErrCorruptRPMDB is returned when an rpm database cannot be read.
	ErrCorruptRPMDB = errors.New("installed: unreadable rpmdb")
)

// rpmdbFiles are the database files of rpm's three backends, in the order they are preferred
// when a directory holds more than one (a left-over of a backend conversion).
var rpmdbFiles = []string{
	"rpmdb.sqlite", // sqlite: rpm >= 4.16 on RHEL 9, Fedora 33+, CBL-Mariner
	"Packages.db",  // ndb: SUSE
	"Packages",     // Berkeley DB hash: EL5 to EL8, older SUSE
}

// ReadRPMDB returns the packages in the rpm database of the root filesystem at root. It looks
// where the image's rpm does (see rpmdbDirsOf): the %_dbpath of the image's macros files, or
// else var/lib/rpm, then usr/lib/sysimage/rpm, for rpmdb.sqlite, Packages.db or Packages,
// and resolves symlinks inside root (/var/lib/rpm is often a link to ../../usr/lib/sysimage/rpm).
// Nothing under root is modified. Every package the database counts is returned, or an error
// wrapping ErrCorruptRPMDB: never a shorter list.
func ReadRPMDB(root string) ([]Package, error) {
	return readRPMDB(root, nil)
}

// readRPMDB is ReadRPMDB; names, when set, is first given the installed package names as
// soon as they are read, before the headers are decoded (see FromRootWithNames).
func readRPMDB(root string, names func([]string)) ([]Package, error) {
	path, err := findRPMDB(root)
	if err != nil {
		return nil, err
	}
	pkgs, err := readRPMDBFile(path, names)
	if err != nil {
		return nil, err
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("%w: %s: is this the root filesystem of an installed system?", ErrNoPackages, path)
	}
	slices.SortStableFunc(pkgs, comparePackages)
	return pkgs, nil
}

// findRPMDB returns the host path of the first non-empty rpm database file under root.
func findRPMDB(root string) (string, error) {
	dirs, origin, unexpanded, err := rpmdbDirsOf(root)
	if err != nil {
		return "", err
	}
	var empty []string
	for _, dir := range dirs {
		for _, file := range rpmdbFiles {
			p, err := imageroot.Resolve(root, dir+"/"+file)
			if err != nil {
				return "", fmt.Errorf("looking for the rpmdb: %w", err)
			}
			fi, err := os.Stat(p)
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				continue
			}
			if err != nil {
				return "", fmt.Errorf("looking for the rpmdb: %w", err)
			}
			if !fi.Mode().IsRegular() {
				return "", fmt.Errorf("%w: %s is not a regular file", ErrCorruptRPMDB, p)
			}
			if fi.Size() == 0 {
				empty = append(empty, p)
				continue
			}
			return p, nil
		}
	}
	if len(empty) > 0 {
		return "", fmt.Errorf("%w under %s: %s is empty (0 bytes)", ErrNoRPMDB, root, strings.Join(empty, ", "))
	}
	if origin != "" {
		return "", fmt.Errorf("%w under %s: %s sets %%_dbpath to %s, which holds no rpmdb.sqlite, Packages or Packages.db",
			ErrNoRPMDB, root, origin, dirs[0])
	}
	if unexpanded != nil {
		return "", fmt.Errorf("%w under %s: %w, and var/lib/rpm and usr/lib/sysimage/rpm hold no "+
			"rpmdb.sqlite, Packages or Packages.db", ErrNoRPMDB, root, unexpanded)
	}
	return "", fmt.Errorf("%w under %s: expected var/lib/rpm/rpmdb.sqlite, Packages or Packages.db "+
		"(or the same under usr/lib/sysimage/rpm); is %s the root filesystem of an rpm-based system?", ErrNoRPMDB, root, root)
}

// rebuildAdvice ends every error about a damaged rpmdb.
const rebuildAdvice = "check the image's rpm database (rpm --rebuilddb, run inside the image)"

// readRPMDBFile lists the packages of the database file at path, whatever its backend. The
// format is told from the content, as rpm does, not from the file name. The package headers
// are read out of a copy of rpmdb.sqlite with its write-ahead log, or out of a Berkeley DB or
// ndb file by readBerkeleyDB or readNDB, and the tags a Package holds are read from each
// (headerPackage). When a header cannot be read that way, go-rpmdb decodes them all in full
// from one private sqlite database and names the damage (go-rpmdb parses header blobs only
// as it reads them from a database, and its own Berkeley DB reader drops headers stored
// inline on the hash page).
//
// names, when set, is given the packages' names before they are returned, once.
func readRPMDBFile(path string, names func([]string)) ([]Package, error) {
	pkgs, err := decodeRPMDBFile(path)
	if err == nil && names != nil {
		out := make([]string, len(pkgs))
		for i, p := range pkgs {
			out[i] = p.Name
		}
		names(out)
	}
	return pkgs, err
}

// decodeRPMDBFile is readRPMDBFile without names.
func decodeRPMDBFile(path string) ([]Package, error) {
	corrupt := func(err error) error {
		return fmt.Errorf("%w: %s: %w; %s", ErrCorruptRPMDB, path, err, rebuildAdvice)
	}
	tmp, err := os.MkdirTemp("", "refit-rpmdb-")
	if err != nil {
		return nil, fmt.Errorf("reading rpmdb %s: %w", path, err)
	}
	defer os.RemoveAll(tmp)
	private := filepath.Join(tmp, "rpmdb.sqlite")
	magic := make([]byte, len(sqliteMagic))
	if err := readHead(path, magic); err != nil {
		return nil, corrupt(fmt.Errorf("reading the database header: %w", err))
	}
	var records []rpmdbRecord
	var blobs [][]byte
	switch {
	case bytes.Equal(magic, sqliteMagic):
		if err := copySQLite(path, private); err != nil {
			return nil, fmt.Errorf("copying rpmdb %s: %w", path, err)
		}
		blobs, err = sqliteBlobs(private)
	case binary.LittleEndian.Uint32(magic) == ndbHeaderMagic:
		records, err = readNDB(path)
	default:
		records, err = readBerkeleyDB(path)
	}
	if err != nil {
		return nil, corrupt(err)
	}
	for _, r := range records {
		blobs = append(blobs, r.blob)
	}
	if pkgs, ok := headerPackages(blobs); ok {
		return pkgs, nil
	}
	if records != nil {
		if err := writeRecords(private, records); err != nil {
			return nil, fmt.Errorf("reading rpmdb %s: %w", path, err)
		}
	}
	infos, err := listSQLite(private)
	if err != nil {
		return nil, corrupt(err)
	}
	pkgs := make([]Package, 0, len(infos))
	for _, info := range infos {
		pkgs = append(pkgs, packageFromRPM(info))
	}
	return pkgs, nil
}

// headerPackages reads every header with headerPackage, or reports that one cannot be read.
func headerPackages(blobs [][]byte) ([]Package, bool) {
	pkgs := make([]Package, 0, len(blobs))
	for _, b := range blobs {
		p, ok := headerPackage(b)
		if !ok {
			return nil, false
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, true
}

func readHead(path string, head []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.ReadFull(f, head)
	return err
}

// copySQLite copies rpmdb.sqlite and its write-ahead log (or rollback journal) to dst. The
// sqlite driver opens databases read-write and creates -shm/-wal files next to them, so the
// root's own files are never handed to it; and unlike immutable=1 the copy still sees
// transactions only in the WAL.
func copySQLite(path, dst string) error {
	if err := copyRegularFile(path, dst); err != nil {
		return err
	}
	for _, suffix := range []string{"-wal", "-journal"} {
		err := copyRegularFile(path+suffix, dst+suffix)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// writeRecords writes package headers to a new sqlite database at dst, in rpm's own
// rpmdb.sqlite schema, for go-rpmdb to parse. An instance number seen twice is an error.
func writeRecords(dst string, records []rpmdbRecord) error {
	db, err := sql.Open("sqlite", dst)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	if _, err := tx.Exec("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"); err != nil {
		return err
	}
	for _, r := range records {
		if _, err := tx.Exec("INSERT INTO Packages (hnum, blob) VALUES (?, ?)", r.instance, r.blob); err != nil {
			return fmt.Errorf("package instance %d: %w", r.instance, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return db.Close()
}

// listSQLite lists the private sqlite rpmdb at path with go-rpmdb and requires it to decode
// every row of the Packages table: go-rpmdb stops silently when sqlite fails mid-table.
func listSQLite(path string) (infos []*rpmdb.PackageInfo, err error) {
	hnums, err := packageRows(path)
	if err != nil {
		return nil, err
	}
	// go-rpmdb parses package headers in this goroutine and indexes slices with offsets read
	// from the file; a header crafted to be inconsistent must become an error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			infos, err = nil, fmt.Errorf("malformed package header: %v", r)
		}
	}()
	db, err := rpmdb.Open(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if infos, err = db.ListPackages(); err != nil {
		return nil, err
	}
	if len(infos) != len(hnums) {
		return nil, fmt.Errorf("decoded %d of the %d packages the database holds; not decoded: the packages of instance %s",
			len(infos), len(hnums), shortList(hnums[min(len(infos), len(hnums)):]))
	}
	return infos, nil
}

// packageRows returns the instance numbers of the Packages table of a sqlite rpmdb, in the
// order go-rpmdb reads them, after checking them against SELECT count(*).
func packageRows(path string) ([]int64, error) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var count int
	if err := db.QueryRow("SELECT count(*) FROM Packages").Scan(&count); err != nil {
		return nil, fmt.Errorf("counting packages: %w", err)
	}
	rows, err := db.Query("SELECT hnum FROM Packages")
	if err != nil {
		return nil, fmt.Errorf("listing packages: %w", err)
	}
	defer rows.Close()
	var hnums []int64
	for rows.Next() {
		var h int64
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("listing packages: %w", err)
		}
		hnums = append(hnums, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing packages (%d of %d read): %w", len(hnums), count, err)
	}
	if len(hnums) != count {
		return nil, fmt.Errorf("the Packages table counts %d packages but lists %d", count, len(hnums))
	}
	return hnums, nil
}

// sqliteBlobs returns the package headers of the sqlite rpmdb at path, all of those
// SELECT count(*) counts or an error.
func sqliteBlobs(path string) ([][]byte, error) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var count int
	if err := db.QueryRow("SELECT count(*) FROM Packages").Scan(&count); err != nil {
		return nil, fmt.Errorf("counting packages: %w", err)
	}
	rows, err := db.Query("SELECT blob FROM Packages")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var blobs [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		blobs = append(blobs, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading package headers (%d of %d read): %w", len(blobs), count, err)
	}
	if len(blobs) != count {
		return nil, fmt.Errorf("the Packages table counts %d packages but lists %d", count, len(blobs))
	}
	return blobs, nil
}

// shortList formats up to 20 numbers.
func shortList(ns []int64) string {
	s := fmt.Sprint(ns[:min(len(ns), 20)])
	if len(ns) > 20 {
		s += fmt.Sprintf(" and %d more", len(ns)-20)
	}
	return s
}

// copyRegularFile copies src to a new file dst without following a symlink at src: the caller
// resolved src's directory inside the root, and a link there could point anywhere on the host.
func copyRegularFile(src, dst string) error {
	in, err := os.OpenFile(src, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// sqliteMagic starts every sqlite 3 database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// installOnlyProvides are the capability prefixes dnf's installonlypkgs setting uses.
var installOnlyProvides = []string{"installonlypkg(", "multiversion("}

func packageFromRPM(info *rpmdb.PackageInfo) Package {
	p := Package{
		Name:      info.Name,
		Epoch:     info.EpochNum(),
		Version:   info.Version,
		Release:   info.Release,
		Arch:      info.Arch,
		SourceRPM: info.SourceRpm,

		EpochTagged: info.Epoch != nil,
		Licenses:    nonEmpty(info.License),
		Supplier:    info.Vendor,
		Provides:    installOnly(info.Provides),
	}
	return p
}
