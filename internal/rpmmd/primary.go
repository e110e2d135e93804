package rpmmd

import (
	"encoding/xml"
	"fmt"
	"io"
)

// Entry is one dependency of a package: a Provides, Requires, Obsoletes or
// Conflicts item such as "libc.so.6()(64bit)" or "bash >= 0:5.1-1".
type Entry struct {
	// Name is the capability, e.g. "bash", "/bin/sh" or "(a or b)".
	Name string
	// Flags is the comparison: "" (any version), "EQ", "LT", "LE", "GT" or
	// "GE".
	Flags string
	// Epoch, Ver and Rel are the version compared against; Epoch is 0
	// when the file leaves it out.
	Epoch int
	Ver   string
	Rel   string
	// Pre is true for Requires(pre) and other install-time requirements.
	Pre bool
}

// Package is one <package type="rpm"> of primary.xml.
type Package struct {
	Name    string
	Arch    string
	Epoch   int
	Version string
	Release string
	// Checksum is the digest of the .rpm file (its pkgid).
	Checksum Checksum
	// Location is the href of the .rpm, relative to LocationBase when set
	// and to the repository's base URL otherwise.
	Location string
	// LocationBase is <location xml:base=...>, usually empty.
	LocationBase string
	// Size is the size of the .rpm file in bytes (<size package=...>).
	Size int64
	// SourceRPM is the file name of the source package, e.g.
	// "bash-5.1.8-6.el9.src.rpm".
	SourceRPM string
	// Provides, Obsoletes, Requires and Conflicts are the package's
	// dependencies in file order.
	Provides  []Entry
	Obsoletes []Entry
	Requires  []Entry
	Conflicts []Entry
	// Files are the paths primary.xml lists, files and directories alike:
	// only the subset dependency solving needs (/etc, */bin/*...); the rest
	// live in filelists.xml.
	Files []string
}

// ParsePrimary streams primary.xml, calling fn with each package in file
// order. Only one package is held in memory at a time; fn may keep the
// pointer, every call gets a new Package. An error from fn stops parsing and
// is returned as is.
//
// Elements ParsePrimary does not know are skipped, and packages of a type
// other than "rpm" are ignored. A package without name, arch or version, or
// XML that is malformed or truncated, fails with an error wrapping
// [ErrInvalid] that gives the package's position and the line in the file.
func ParsePrimary(r io.Reader, fn func(*Package) error) error {
	s := newXMLStream(r, "primary.xml")
	root, err := s.root("metadata")
	if err != nil {
		return err
	}
	p := primaryReader{xmlStream: s}
	for {
		tok, err := s.token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "package" {
				if err := s.skip(t.Name); err != nil {
					return err
				}
				continue
			}
			p.index++
			if typ := attr(t, "type"); typ != "" && typ != "rpm" {
				if err := s.skip(t.Name); err != nil {
					return err
				}
				continue
			}
			pkg, err := p.pkg(t.Name)
			if err != nil {
				return err
			}
			if err := fn(pkg); err != nil {
				return err
			}
		case xml.EndElement:
			return s.closes(t, root.Name)
		}
	}
}

// primaryReader reads the packages of primary.xml.
type primaryReader struct {
	*xmlStream
	index int // 1-based position of the current <package>
	cur   *Package
}

// failf reports a problem with the current package.
func (p *primaryReader) failf(format string, args ...any) error {
	what := fmt.Sprintf("package %d", p.index)
	if p.cur != nil && p.cur.Name != "" {
		what = fmt.Sprintf("package %d (%s)", p.index, p.cur.Name)
	}
	return p.invalidf("%s: %s", what, fmt.Sprintf(format, args...))
}

// pkg reads the body of a <package> element.
func (p *primaryReader) pkg(start xml.Name) (*Package, error) {
	pkg := new(Package)
	p.cur = pkg
	hasVersion := false
	for {
		tok, err := p.token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "name":
				pkg.Name, err = p.text(t.Name)
			case "arch":
				pkg.Arch, err = p.text(t.Name)
			case "version":
				hasVersion = true
				pkg.Version, pkg.Release = attr(t, "ver"), attr(t, "rel")
				if pkg.Epoch, err = parseEpoch(attr(t, "epoch")); err != nil {
					return nil, p.failf("%v", err)
				}
				err = p.skip(t.Name)
			case "checksum":
				typ := attr(t, "type")
				var value string
				value, err = p.text(t.Name)
				pkg.Checksum = newChecksum(typ, value)
			case "location":
				pkg.Location, pkg.LocationBase = attr(t, "href"), xmlBase(t)
				err = p.skip(t.Name)
			case "size":
				if pkg.Size, err = parseSize(attr(t, "package")); err != nil {
					return nil, p.failf("%v", err)
				}
				err = p.skip(t.Name)
			case "format":
				err = p.format(t.Name)
			default:
				err = p.skip(t.Name)
			}
			if err != nil {
				return nil, err
			}
		case xml.EndElement:
			if err := p.closes(t, start); err != nil {
				return nil, err
			}
			switch {
			case pkg.Name == "":
				return nil, p.failf("no <name>")
			case pkg.Arch == "":
				return nil, p.failf("no <arch>")
			case !hasVersion || pkg.Version == "":
				return nil, p.failf("no <version ver=...>")
			}
			return pkg, nil
		}
	}
}

// format reads the body of a package's <format> element.
func (p *primaryReader) format(start xml.Name) error {
	pkg := p.cur
	for {
		tok, err := p.token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "sourcerpm":
				pkg.SourceRPM, err = p.text(t.Name)
			case "provides":
				pkg.Provides, err = p.entries(t.Name)
			case "requires":
				pkg.Requires, err = p.entries(t.Name)
			case "obsoletes":
				pkg.Obsoletes, err = p.entries(t.Name)
			case "conflicts":
				pkg.Conflicts, err = p.entries(t.Name)
			case "file":
				var path string
				if path, err = p.text(t.Name); err == nil {
					pkg.Files = append(pkg.Files, path)
				}
			default:
				err = p.skip(t.Name)
			}
			if err != nil {
				return err
			}
		case xml.EndElement:
			return p.closes(t, start)
		}
	}
}

// entries reads the <rpm:entry> elements of a dependency list.
func (p *primaryReader) entries(start xml.Name) ([]Entry, error) {
	var list []Entry
	for {
		tok, err := p.token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "entry" {
				e, err := entry(t)
				if err != nil {
					return nil, p.failf("%v", err)
				}
				list = append(list, e)
			}
			if err := p.skip(t.Name); err != nil {
				return nil, err
			}
		case xml.EndElement:
			return list, p.closes(t, start)
		}
	}
}

// entry decodes the attributes of one <rpm:entry>.
func entry(t xml.StartElement) (Entry, error) {
	var e Entry
	var epoch string
	for _, a := range t.Attr {
		switch a.Name.Local {
		case "name":
			e.Name = a.Value
		case "flags":
			e.Flags = a.Value
		case "epoch":
			epoch = a.Value
		case "ver":
			e.Ver = a.Value
		case "rel":
			e.Rel = a.Value
		case "pre":
			e.Pre = a.Value == "1" || a.Value == "true" || a.Value == "yes"
		}
	}
	if e.Name == "" {
		return e, fmt.Errorf("dependency entry without a name")
	}
	switch e.Flags {
	case "", "EQ", "LT", "LE", "GT", "GE":
	default:
		return e, fmt.Errorf("dependency %q has unknown flags %q (want EQ, LT, LE, GT or GE)", e.Name, e.Flags)
	}
	var err error
	if e.Epoch, err = parseEpoch(epoch); err != nil {
		return e, fmt.Errorf("dependency %q: %v", e.Name, err)
	}
	return e, nil
}
