// Package debfile reads Debian binary packages (.deb files) without installing them: the
// control paragraph, the maintainer scripts, and the paths of the data archive, which it
// checks so that no entry can land outside the root it is installed into.
//
// It owns the ar container, the control.tar and data.tar members (uncompressed, gzip, xz,
// zstd or bzip2) and the payload path rules refit-patch enforces before anything changes.
package debfile

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/apt"
	"github.com/refit-images/packer-plugin-refit/internal/decompress"
)

var (
	// ErrFormat is wrapped by every error about a file that is not a well-formed .deb
	// (including a truncated one).
	ErrFormat = errors.New("debfile: not a valid .deb")
	// ErrUnsafePath is wrapped by the error for a data.tar entry that would be written
	// outside the root: an absolute name, a ".." component, a path through a symlink of
	// the same package, a hard link or symlink pointing above the root, or a device node.
	ErrUnsafePath = errors.New("debfile: payload path escapes the root")
)

// ScriptNames are the control members that dpkg runs as maintainer scripts.
var ScriptNames = []string{"preinst", "postinst", "prerm", "postrm", "config"}

// maxControl caps the decompressed control archive: real ones are a few hundred KiB.
const maxControl = 64 << 20

// Deb is what refit needs to know about one .deb.
type Deb struct {
	// Control is the parsed control paragraph (Package, Version, Architecture, Depends, …).
	Control apt.Package
	// ControlText is the control file as written in the package, for building a Packages index.
	ControlText string
	// Scripts maps a maintainer script name (see ScriptNames) to its text.
	Scripts map[string]string
	// Triggers is the package's triggers control file, empty when it has none.
	Triggers string
	// Templates is the package's debconf templates control file, empty when it has none.
	Templates string
	// Paths are the data archive's entries, cleaned and absolute ("/usr/bin/x").
	Paths []string
}

// Read reads a .deb from r and checks every payload path. It reads r to the end.
func Read(r io.Reader) (*Deb, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, 8)
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != "!<arch>\n" {
		return nil, fmt.Errorf("%w: no ar magic", ErrFormat)
	}
	d := &Deb{Scripts: map[string]string{}}
	var sawControl, sawData bool
	for {
		name, size, err := readARHeader(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		member := &exactReader{r: br, n: size}
		switch {
		case name == "debian-binary":
			var buf bytes.Buffer
			if _, err := io.Copy(&buf, io.LimitReader(member, 64)); err != nil {
				return nil, fmt.Errorf("%w: debian-binary: %v", ErrFormat, err)
			}
			if !strings.HasPrefix(buf.String(), "2.") {
				return nil, fmt.Errorf("%w: unsupported format version %q", ErrFormat, strings.TrimSpace(buf.String()))
			}
		case strings.HasPrefix(name, "control.tar"):
			if err := d.readControl(member, name); err != nil {
				return nil, err
			}
			sawControl = true
		case strings.HasPrefix(name, "data.tar"):
			if err := d.readData(member, name); err != nil {
				return nil, err
			}
			sawData = true
		}
		// Skip the rest of the member and its padding byte.
		if _, err := io.Copy(io.Discard, member); err != nil {
			return nil, fmt.Errorf("%w: member %s: %v", ErrFormat, name, err)
		}
		if size%2 == 1 {
			if _, err := br.ReadByte(); err != nil && err != io.EOF {
				return nil, fmt.Errorf("%w: %v", ErrFormat, err)
			}
		}
	}
	if !sawControl || !sawData {
		return nil, fmt.Errorf("%w: control.tar or data.tar missing (truncated download?)", ErrFormat)
	}
	return d, nil
}

// readARHeader reads one 60-byte ar member header and returns the member's name and size.
func readARHeader(br *bufio.Reader) (string, int64, error) {
	hdr := make([]byte, 60)
	n, err := io.ReadFull(br, hdr)
	if n == 0 && err == io.EOF {
		return "", 0, io.EOF
	}
	if err != nil {
		return "", 0, fmt.Errorf("%w: truncated ar header", ErrFormat)
	}
	if string(hdr[58:60]) != "`\n" {
		return "", 0, fmt.Errorf("%w: bad ar header", ErrFormat)
	}
	name := strings.TrimRight(strings.TrimSpace(string(hdr[0:16])), "/")
	size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
	if err != nil || size < 0 {
		return "", 0, fmt.Errorf("%w: bad member size in ar header of %q", ErrFormat, name)
	}
	return name, size, nil
}

// controlEntries calls fn with each entry of a control archive member (compressed as its name says)
// and its name inside the archive ("preinst" for "./preinst"); fn may read the entry from tr.
func controlEntries(r io.Reader, name string, fn func(h *tar.Header, base string, tr *tar.Reader) error) error {
	dr, err := decompress.Reader(r, name, maxControl)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
	}
	defer dr.Close()
	tr := tar.NewReader(dr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
		}
		if err := fn(h, path.Clean(strings.TrimPrefix(h.Name, "./")), tr); err != nil {
			return err
		}
	}
}

func (d *Deb) readControl(r io.Reader, name string) error {
	err := controlEntries(r, name, func(h *tar.Header, base string, tr *tar.Reader) error {
		if h.Typeflag != tar.TypeReg {
			return nil
		}
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, tr); err != nil {
			return fmt.Errorf("%w: %s: %s: %v", ErrFormat, name, base, err)
		}
		switch {
		case base == "control":
			d.ControlText = buf.String()
		case base == "triggers":
			d.Triggers = buf.String()
		case base == "templates":
			d.Templates = buf.String()
		case isScript(base):
			d.Scripts[base] = buf.String()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if d.ControlText == "" {
		return fmt.Errorf("%w: %s has no control file", ErrFormat, name)
	}
	found := false
	err = apt.ParsePackages(strings.NewReader(d.ControlText), func(p *apt.Package) error {
		if !found {
			d.Control = *p
			found = true
		}
		return nil
	})
	if err != nil || !found || d.Control.Package == "" || d.Control.Version == "" {
		return fmt.Errorf("%w: control file: missing Package or Version (%v)", ErrFormat, err)
	}
	return nil
}

func isScript(name string) bool {
	for _, s := range ScriptNames {
		if s == name {
			return true
		}
	}
	return false
}

func (d *Deb) readData(r io.Reader, name string) error {
	dr, err := decompress.Reader(r, name, 0)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
	}
	defer dr.Close()
	tr := tar.NewReader(dr)
	links := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %v (truncated download?)", ErrFormat, name, err)
		}
		p, err := CheckPath(h.Name, h.Typeflag, h.Linkname, links)
		if err != nil {
			return err
		}
		if p != "/" {
			d.Paths = append(d.Paths, p)
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return fmt.Errorf("%w: %s: %s: %v (truncated download?)", ErrFormat, name, h.Name, err)
		}
	}
}

// CheckPath checks one payload entry, as a tar header gives it (name, type flag and link
// target), against the rules of ErrUnsafePath and returns its absolute cleaned path.
// symlinks holds the symlinks earlier entries of the same payload created; CheckPath adds
// to it. It is shared with rpm payloads, whose cpio entries follow the same rules.
func CheckPath(name string, typ byte, link string, symlinks map[string]bool) (string, error) {
	refuse := func(why string) (string, error) {
		return "", fmt.Errorf("%w: %q %s; refusing the package (it was not installed)", ErrUnsafePath, name, why)
	}
	if strings.ContainsRune(name, 0) || strings.ContainsRune(link, 0) {
		return refuse("contains a NUL byte")
	}
	rel := strings.TrimPrefix(name, "./")
	if strings.HasPrefix(rel, "/") {
		return refuse("is an absolute path")
	}
	for _, c := range strings.Split(rel, "/") {
		if c == ".." {
			return refuse("has a \"..\" component")
		}
	}
	p := path.Clean("/" + rel)
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		if symlinks[dir] {
			return refuse("goes through the symlink " + dir + " of the same package")
		}
	}
	switch typ {
	case tar.TypeSymlink:
		target := link
		if !path.IsAbs(target) {
			// A relative target must not climb above the root from where the link sits.
			depth := strings.Count(path.Dir(p), "/")
			if path.Dir(p) == "/" {
				depth = 0
			}
			for _, c := range strings.Split(target, "/") {
				switch c {
				case "..":
					depth--
					if depth < 0 {
						return refuse("is a symlink to " + link + ", above the root")
					}
				case "", ".":
				default:
					depth++
				}
			}
		}
		symlinks[p] = true
	case tar.TypeLink:
		lt := strings.TrimPrefix(link, "./")
		if strings.HasPrefix(lt, "/") || strings.Contains("/"+lt+"/", "/../") {
			return refuse("is a hard link to " + link + ", outside the root")
		}
	case tar.TypeChar, tar.TypeBlock:
		return refuse("is a device node")
	}
	return p, nil
}

// exactReader reads exactly n bytes of r: running out early is io.ErrUnexpectedEOF (a
// truncated file), not a clean end.
type exactReader struct {
	r io.Reader
	n int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.n {
		p = p[:e.n]
	}
	n, err := e.r.Read(p)
	e.n -= int64(n)
	if err == io.EOF && e.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}
