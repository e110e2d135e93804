package apt

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Package is one paragraph of a Packages index: a binary package a
// repository offers.
type Package struct {
	Package, Version, Architecture string
	// Source is the source package, possibly with its version:
	// "openssl" or "openssl (3.0.11-1~deb12u2)"; empty when it equals Package.
	// SourceName and SourceVersion read it.
	Source string
	// Filename is the .deb's path relative to the repository root
	// ("pool/main/o/openssl/libssl3_3.0.11-1~deb12u2_amd64.deb").
	Filename string
	// SHA256 is the .deb's digest, lower-case hex as written in the index.
	SHA256 string
	// MultiArch is the Multi-Arch field: "same", "foreign", "allowed" or "".
	MultiArch string
	// Size is the .deb's size in bytes.
	Size int64
	// Essential is true for "Essential: yes".
	Essential bool
	Priority  string
	Section   string
	// Relationship fields, raw (continuation lines folded into one line).
	Depends, PreDepends, Provides, Replaces, Breaks, Conflicts string
}

// SourceName returns the name of the source package p was built from.
func (p *Package) SourceName() string { return sourceName(p.Source, p.Package) }

// SourceVersion returns the version of the source package p was built
// from, which differs from p.Version for binNMUs.
func (p *Package) SourceVersion() string { return sourceVersion(p.Source, p.Version) }

// packageFields are the fields ParsePackages stores; others, such as the
// long Description, are checked for syntax and skipped.
var packageFields = []string{
	"package", "version", "architecture", "source", "filename", "sha256", "multi-arch",
	"size", "essential", "priority", "section",
	"depends", "pre-depends", "provides", "replaces", "breaks", "conflicts",
}

// ParsePackages reads a Packages index paragraph by paragraph and calls fn
// for each package, without holding the index in memory. fn owns the
// *Package it gets. An error from fn stops the parse and is returned as is;
// parse errors name the line and the package. Package, Version and
// Architecture are required; Size, when present, must be a byte count.
func ParsePackages(r io.Reader, fn func(*Package) error) error {
	pr := newParagraphReader(r, packageFields...)
	var p paragraph
	for {
		err := pr.next(&p)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("parsing Packages index: %w", err)
		}
		pkg, err := packageFrom(&p)
		if err != nil {
			return fmt.Errorf("parsing Packages index: %w", err)
		}
		if err := fn(pkg); err != nil {
			return err
		}
	}
}

func packageFrom(p *paragraph) (*Package, error) {
	name, err := requireName(p)
	if err != nil {
		return nil, err
	}
	pkg := &Package{
		Package:      name,
		Version:      p.value("version"),
		Architecture: p.value("architecture"),
		Source:       p.value("source"),
		Filename:     p.value("filename"),
		SHA256:       p.value("sha256"),
		MultiArch:    p.value("multi-arch"),
		Essential:    p.value("essential") == "yes",
		Priority:     p.value("priority"),
		Section:      p.value("section"),
		Depends:      p.folded("depends"),
		PreDepends:   p.folded("pre-depends"),
		Provides:     p.folded("provides"),
		Replaces:     p.folded("replaces"),
		Breaks:       p.folded("breaks"),
		Conflicts:    p.folded("conflicts"),
	}
	for _, required := range []struct{ name, value string }{{"Version", pkg.Version}, {"Architecture", pkg.Architecture}} {
		if required.value == "" {
			return nil, fmt.Errorf("%w: package %s at line %d has no %s field", ErrSyntax, name, p.line, required.name)
		}
	}
	if f, ok := p.get("size"); ok {
		size, err := strconv.ParseInt(f.value, 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("%w: line %d: package %s: Size %q is not a byte count", ErrSyntax, f.line, name, f.value)
		}
		pkg.Size = size
	}
	return pkg, nil
}

// requireName returns the paragraph's Package field, which must be one word.
func requireName(p *paragraph) (string, error) {
	f, ok := p.get("package")
	if !ok || f.value == "" {
		return "", fmt.Errorf("%w: paragraph at line %d has no Package field", ErrSyntax, p.line)
	}
	if strings.ContainsAny(f.value, " \t\n") {
		return "", fmt.Errorf("%w: line %d: package name %q contains white space", ErrSyntax, f.line, f.value)
	}
	return f.value, nil
}

// sourceName reads a Source field ("name" or "name (version)"), which
// defaults to the binary package's own name.
func sourceName(source, binary string) string {
	name, _, _ := strings.Cut(strings.TrimSpace(source), " ")
	if name == "" {
		return binary
	}
	return name
}

// sourceVersion returns the version in a Source field ("name (version)"),
// which defaults to the binary package's own version.
func sourceVersion(source, binaryVersion string) string {
	_, rest, ok := strings.Cut(strings.TrimSpace(source), " ")
	if !ok {
		return binaryVersion
	}
	rest = strings.TrimSpace(rest)
	if !strings.HasPrefix(rest, "(") || !strings.HasSuffix(rest, ")") {
		return binaryVersion
	}
	if v := strings.TrimSpace(rest[1 : len(rest)-1]); v != "" {
		return v
	}
	return binaryVersion
}
