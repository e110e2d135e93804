package container

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/sys/unix"
)

// LayerStats describe a layer written by WriteLayer.
type LayerStats struct {
	// Entries is the number of tar entries; Whiteouts how many of them are whiteouts.
	Entries, Whiteouts int
	// ContentBytes is the size of the regular files' content; TarBytes the tar's size
	// (uncompressed).
	ContentBytes, TarBytes int64
	// Time is the modification time of everything written during the run (see WriteLayer).
	Time time.Time
}

// Forget removes from the overlay upper directory (unmounted) the paths matching
// patterns (path.Match globs relative to the root): the image keeps what its lower
// layers have there. Patch runs use it for apt's caches and logs.
func Forget(upper string, patterns []string) error {
	for _, pat := range patterns {
		matches, err := filepath.Glob(filepath.Join(upper, pat))
		if err != nil {
			return err
		}
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return err
			}
		}
	}
	return nil
}

// layerGzipLevel is the new layer's gzip level: klauspost/compress at level 3 compresses a
// Debian upgrade's layer (68 MB of tar) in half the time of compress/gzip's BestSpeed, and
// 5 % smaller.
const layerGzipLevel = 3

// WriteLayer writes the overlay upper directory upper (unmounted; lowers are the lower
// directories, bottom first) as a gzip-compressed OCI layer tar to out, in one pass (the
// tar itself is never stored): changed and new files with their
// owners, modes and extended attributes, overlay whiteouts as .wh. entries, opaque
// directories as a .wh..wh..opq entry. Directories that only overlay's copy-up put there
// (empty, unchanged from the lower layers) are left out. Entries are sorted and
// timestamps fixed: a file older than since keeps its time (what a package put there);
// everything newer (written during the run) gets the newest such time, or fallback when
// there is none, so the same run gives the same bytes.
func WriteLayer(upper string, lowers []string, since, fallback time.Time, out string) (*LayerStats, error) {
	if err := pruneCopiedUpDirs(upper, lowers); err != nil {
		return nil, err
	}
	st := &LayerStats{Time: fallback.UTC().Truncate(time.Second)}
	var newest time.Time
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if mt := fi.ModTime(); mt.Before(since) && mt.After(newest) {
			newest = mt
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !newest.IsZero() {
		st.Time = newest.UTC().Truncate(time.Second)
	}
	f, err := os.Create(out)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, err := gzip.NewWriterLevel(bw, layerGzipLevel)
	if err != nil {
		f.Close()
		return nil, err
	}
	cw := &countWriter{w: zw}
	tw := tar.NewWriter(cw)
	links := map[uint64]string{}
	err = filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(upper, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		return st.add(tw, p, rel, d, since, links)
	})
	for _, close := range []func() error{tw.Close, zw.Close, bw.Flush} {
		if err == nil {
			err = close()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out)
		return nil, fmt.Errorf("writing the new layer: %w", err)
	}
	st.TarBytes = cw.n
	return st, nil
}

// add writes the tar entries of one path of the upper directory.
func (st *LayerStats) add(tw *tar.Writer, p, rel string, d fs.DirEntry, since time.Time, links map[uint64]string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	sys := fi.Sys().(*syscall.Stat_t)
	mtime := fi.ModTime().UTC().Truncate(time.Second)
	if !fi.ModTime().Before(since) {
		mtime = st.Time
	}
	if fi.Mode()&fs.ModeCharDevice != 0 && sys.Rdev == 0 {
		st.Entries++
		st.Whiteouts++
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path.Join(path.Dir(rel), whiteoutPrefix+path.Base(rel)),
			Mode: 0o644, ModTime: st.Time, Format: tar.FormatPAX})
	}
	hdr, err := tar.FileInfoHeader(fi, "")
	if err != nil {
		return err
	}
	hdr.Name, hdr.Uname, hdr.Gname = rel, "", ""
	hdr.Uid, hdr.Gid = int(sys.Uid), int(sys.Gid)
	hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = mtime, time.Time{}, time.Time{}
	hdr.Format = tar.FormatPAX
	if fi.Mode()&fs.ModeSymlink != 0 {
		if hdr.Linkname, err = os.Readlink(p); err != nil {
			return err
		}
	}
	if fi.IsDir() {
		hdr.Name += "/"
	}
	opaque := false
	if names, err := listXattrs(p); err == nil {
		for _, n := range names {
			if n == opaqueXattr {
				v, _ := getXattr(p, n)
				opaque = string(v) == "y"
				continue
			}
			if strings.HasPrefix(n, "trusted.overlay.") {
				continue
			}
			v, err := getXattr(p, n)
			if err != nil {
				return err
			}
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords[xattrPAX+n] = string(v)
		}
	}
	if fi.Mode().IsRegular() && sys.Nlink > 1 {
		if first, ok := links[sys.Ino]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
		} else {
			links[sys.Ino] = rel
		}
	}
	st.Entries++
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeReg {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		n, err := io.Copy(tw, f)
		f.Close()
		if err != nil {
			return err
		}
		st.ContentBytes += n
	}
	if opaque {
		st.Entries++
		st.Whiteouts++
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel + "/" + whiteoutOpaque, Mode: 0o644,
			ModTime: st.Time, Format: tar.FormatPAX})
	}
	return nil
}

// pruneCopiedUpDirs removes, deepest first, the upper directories that hold nothing, are
// not opaque, and have the same type, mode and owner as in the lower layers: overlay
// copied them up for a file created and removed again.
func pruneCopiedUpDirs(upper string, lowers []string) error {
	var dirs []string
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != upper {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		p := dirs[i]
		entries, err := os.ReadDir(p)
		if err != nil || len(entries) > 0 {
			continue
		}
		if v, _ := getXattr(p, opaqueXattr); string(v) == "y" {
			continue
		}
		rel, _ := filepath.Rel(upper, p)
		lower := lowerStat(lowers, rel)
		fi, err := os.Lstat(p)
		if err != nil || lower == nil || !lower.IsDir() {
			continue
		}
		a, b := fi.Sys().(*syscall.Stat_t), lower.Sys().(*syscall.Stat_t)
		if fi.Mode() == lower.Mode() && a.Uid == b.Uid && a.Gid == b.Gid {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// lowerStat is what the merged lower layers have at rel (nil when nothing: absent or
// whited out).
func lowerStat(lowers []string, rel string) os.FileInfo {
	for i := len(lowers) - 1; i >= 0; i-- {
		fi, err := os.Lstat(filepath.Join(lowers[i], rel))
		if err != nil {
			continue
		}
		if fi.Mode()&fs.ModeCharDevice != 0 && fi.Sys().(*syscall.Stat_t).Rdev == 0 {
			return nil
		}
		return fi
	}
	return nil
}

func listXattrs(p string) ([]string, error) {
	buf := make([]byte, 4096)
	for {
		n, err := unix.Llistxattr(p, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for _, s := range strings.Split(string(buf[:n]), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		return names, nil
	}
}

func getXattr(p, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
