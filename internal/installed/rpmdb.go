package installed

import (
	"bytes"
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

	"github.com/refit-images/packer-plugin-refit/internal/osrelease"
)

var (
	// ErrNoRPMDB is returned by ReadRPMDB when the root holds no rpm database.
	ErrNoRPMDB = errors.New("installed: no rpmdb found")
	// ErrNoPackages is returned when a package database exists but lists no installed package.
	ErrNoPackages = errors.New("installed: package database lists no installed packages")
	// ErrCorruptRPMDB is returned when an rpm database cannot be read.
	ErrCorruptRPMDB = errors.New("installed: unreadable rpmdb")
)

// rpmdbDirs are the directories rpm keeps its database in, inside the root: the classic one,
// and the one Fedora 36+ and openSUSE moved it to (where /var/lib/rpm is then a symlink).
var rpmdbDirs = []string{"/var/lib/rpm", "/usr/lib/sysimage/rpm"}

// rpmdbFiles are the database files of rpm's three backends, in the order they are preferred
// when a directory holds more than one (a left-over of a backend conversion).
var rpmdbFiles = []string{
	"rpmdb.sqlite", // sqlite: rpm >= 4.16 on RHEL 9, Fedora 33+, CBL-Mariner
	"Packages.db",  // ndb: SUSE
	"Packages",     // Berkeley DB hash: EL5 to EL8, older SUSE
}

// ReadRPMDB returns the packages in the rpm database of the root filesystem at root. It looks
// in var/lib/rpm, then usr/lib/sysimage/rpm, for rpmdb.sqlite, Packages.db or Packages, and
// resolves symlinks inside root (/var/lib/rpm is often a link to ../../usr/lib/sysimage/rpm).
// Nothing under root is modified: a sqlite database is read from a private copy.
func ReadRPMDB(root string) ([]Package, error) {
	path, err := findRPMDB(root)
	if err != nil {
		return nil, err
	}
	var infos []*rpmdb.PackageInfo
	if filepath.Base(path) == "rpmdb.sqlite" {
		infos, err = listSQLiteRPMDB(path)
	} else {
		infos, err = listRPMDB(path, path)
	}
	if err != nil {
		return nil, err
	}
	if len(infos) == 0 {
		return nil, fmt.Errorf("%w: %s: is this the root filesystem of an installed system?", ErrNoPackages, path)
	}
	pkgs := make([]Package, 0, len(infos))
	for _, info := range infos {
		pkgs = append(pkgs, packageFromRPM(info))
	}
	slices.SortStableFunc(pkgs, comparePackages)
	return pkgs, nil
}

// findRPMDB returns the host path of the first non-empty rpm database file under root.
func findRPMDB(root string) (string, error) {
	var empty []string
	for _, dir := range rpmdbDirs {
		for _, file := range rpmdbFiles {
			p, err := osrelease.ResolveInRoot(root, dir+"/"+file)
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
	return "", fmt.Errorf("%w under %s: expected var/lib/rpm/rpmdb.sqlite, Packages or Packages.db "+
		"(or the same under usr/lib/sysimage/rpm); is %s the root filesystem of an rpm-based system?", ErrNoRPMDB, root, root)
}

// rebuildAdvice ends every error about a damaged rpmdb.
const rebuildAdvice = "check the image's rpm database (rpm --rebuilddb, run inside the image)"

// listRPMDB lists the database at path; errors name it as shown. A Berkeley DB or ndb database
// is read in place: go-rpmdb opens both with os.Open (read-only) and the ndb reader only takes
// a shared flock, which changes nothing on disk.
func listRPMDB(path, shown string) (infos []*rpmdb.PackageInfo, err error) {
	// go-rpmdb parses package headers in this goroutine and indexes slices with offsets read
	// from the file; a header crafted to be inconsistent must become an error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			infos, err = nil, fmt.Errorf("%w: %s: malformed package header: %v; %s", ErrCorruptRPMDB, shown, r, rebuildAdvice)
		}
	}()
	if err := checkRPMDBStructure(path); err != nil {
		return nil, fmt.Errorf("%w: %s: %w; %s", ErrCorruptRPMDB, shown, err, rebuildAdvice)
	}
	db, err := rpmdb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w; %s", ErrCorruptRPMDB, shown, err, rebuildAdvice)
	}
	defer db.Close()
	infos, err = db.ListPackages()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w; %s", ErrCorruptRPMDB, shown, err, rebuildAdvice)
	}
	return infos, nil
}

// listSQLiteRPMDB copies rpmdb.sqlite and its write-ahead log (or rollback journal) into a
// private temporary directory and lists the copy. The sqlite driver opens databases
// read-write and creates -shm/-wal files next to them, so the root's own files are never
// handed to it; and unlike immutable=1 the copy still sees transactions only in the WAL.
func listSQLiteRPMDB(path string) ([]*rpmdb.PackageInfo, error) {
	tmp, err := os.MkdirTemp("", "refit-rpmdb-")
	if err != nil {
		return nil, fmt.Errorf("copying rpmdb %s: %w", path, err)
	}
	defer os.RemoveAll(tmp)
	dst := filepath.Join(tmp, "rpmdb.sqlite")
	if err := copyRegularFile(path, dst); err != nil {
		return nil, fmt.Errorf("copying rpmdb %s: %w", path, err)
	}
	for _, suffix := range []string{"-wal", "-journal"} {
		err := copyRegularFile(path+suffix, dst+suffix)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("copying rpmdb %s: %w", path+suffix, err)
		}
	}
	return listRPMDB(dst, path)
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

// checkRPMDBStructure verifies a Berkeley DB or ndb file before go-rpmdb reads it. The format
// is told from the content, as go-rpmdb does, not from the file name, so that a file of one
// format under another backend's name cannot skip the check. sqlite checks its own files.
func checkRPMDBStructure(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	magic := make([]byte, len(sqliteMagic))
	_, err = io.ReadFull(f, magic)
	f.Close()
	switch {
	case err != nil:
		return fmt.Errorf("reading the database header: %w", err)
	case bytes.Equal(magic, sqliteMagic):
		return nil
	case binary.LittleEndian.Uint32(magic) == ndbHeaderMagic:
		return checkNDBBlobs(path)
	default:
		return checkBerkeleyDBPages(path)
	}
}

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
	}
	for _, prov := range info.Provides {
		for _, prefix := range installOnlyProvides {
			if strings.HasPrefix(prov, prefix) && !slices.Contains(p.Provides, prov) {
				p.Provides = append(p.Provides, prov)
			}
		}
	}
	slices.Sort(p.Provides)
	return p
}
