// Package apt parses APT repository metadata (Release and the body of
// InRelease, Packages indexes) and dpkg's status database.
//
// It owns the meaning of these deb822 files and nothing around them: the
// parsers take already-decompressed readers, signatures are checked by
// package signature before a Release body gets here, and comparing versions
// is package evr's job. All three formats go through one paragraph reader.
package apt

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"
)

// ErrNoSHA256 means a Release file lists no SHA256 checksums, so nothing it
// names can be verified.
var ErrNoSHA256 = errors.New("apt: Release file has no SHA256 field")

// FileHash is one index file a Release file vouches for.
type FileHash struct {
	// Path is relative to the directory holding the Release file
	// (dists/<suite>/), e.g. "main/binary-amd64/Packages.xz".
	Path string
	// Size is the file's size in bytes.
	Size int64
	// SHA256 is the file's SHA-256 digest, lower-case hex.
	SHA256 string
}

// Release is a parsed Release file (or the body of an InRelease file).
type Release struct {
	Origin, Label, Suite, Codename, Version string
	// Date and ValidUntil are as written, e.g. "Sat, 10 Jun 2023 08:53:47 UTC";
	// ParseReleaseDate reads them.
	Date, ValidUntil string
	// Architectures and Components are the space-separated lists of the same fields.
	Architectures, Components []string
	// AcquireByHash is true when the repository serves indexes under
	// by-hash/SHA256/<digest> as well (field "Acquire-By-Hash: yes").
	AcquireByHash bool
	// Files is every entry of the SHA256 field, by Path. MD5Sum and SHA1
	// entries are ignored: they are too weak to vouch for anything.
	Files map[string]FileHash
}

// ParseRelease reads a Release file, or the body of an InRelease file once
// its signature has been checked or stripped. It fails on malformed lines
// (naming the line), on a missing or malformed SHA256 field, and on more
// than one paragraph.
func ParseRelease(r io.Reader) (*Release, error) {
	pr := newParagraphReader(r)
	var p paragraph
	if err := pr.next(&p); err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: Release file is empty", ErrSyntax)
		}
		return nil, fmt.Errorf("parsing Release file: %w", err)
	}
	var extra paragraph
	switch err := pr.next(&extra); {
	case err == nil:
		return nil, fmt.Errorf("parsing Release file: %w: line %d: a second paragraph; a Release file has exactly one", ErrSyntax, extra.line)
	case err != io.EOF:
		return nil, fmt.Errorf("parsing Release file: %w", err)
	}
	rel := &Release{
		Origin:        p.value("origin"),
		Label:         p.value("label"),
		Suite:         p.value("suite"),
		Codename:      p.value("codename"),
		Version:       p.value("version"),
		Date:          p.value("date"),
		ValidUntil:    p.value("valid-until"),
		Architectures: strings.Fields(p.value("architectures")),
		Components:    strings.Fields(p.value("components")),
		AcquireByHash: strings.EqualFold(p.value("acquire-by-hash"), "yes"),
	}
	sums, ok := p.get("sha256")
	if !ok {
		return nil, fmt.Errorf("%w (paragraph at line %d); the repository is too old or this is not a Release file", ErrNoSHA256, p.line)
	}
	files, err := parseSHA256Field(sums)
	if err != nil {
		return nil, fmt.Errorf("parsing Release file: %w", err)
	}
	rel.Files = files
	return rel, nil
}

// parseSHA256Field reads the " <sha256> <size> <path>" lines of a SHA256 field.
func parseSHA256Field(f field) (map[string]FileHash, error) {
	files := make(map[string]FileHash)
	for i, text := range strings.Split(f.value, "\n") {
		if text == "" {
			continue
		}
		line := f.line + i
		parts := strings.Fields(text)
		if len(parts) != 3 {
			return nil, fmt.Errorf("%w: line %d: SHA256 entry %q is not \"<sha256> <size> <path>\"", ErrSyntax, line, text)
		}
		digest, sizeText, name := strings.ToLower(parts[0]), parts[1], parts[2]
		if !isSHA256Hex(digest) {
			return nil, fmt.Errorf("%w: line %d: %q is not a SHA-256 digest", ErrSyntax, line, parts[0])
		}
		size, err := strconv.ParseInt(sizeText, 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("%w: line %d: size %q is not a byte count", ErrSyntax, line, sizeText)
		}
		if !isRelativePath(name) {
			return nil, fmt.Errorf("%w: line %d: path %q must be relative and stay inside the suite directory", ErrSyntax, line, name)
		}
		if _, dup := files[name]; dup {
			return nil, fmt.Errorf("%w: line %d: %s is listed twice", ErrSyntax, line, name)
		}
		files[name] = FileHash{Path: name, Size: size, SHA256: digest}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: line %d: the SHA256 field lists no files", ErrNoSHA256, f.line)
	}
	return files, nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isRelativePath reports whether p is a clean relative path that cannot
// climb out of the directory it is joined to.
func isRelativePath(p string) bool {
	return p != "" && p != "." && !strings.HasPrefix(p, "/") && path.Clean(p) == p && p != ".." && !strings.HasPrefix(p, "../")
}

// Lookup returns the entry for path, relative to dists/<suite>/.
func (r *Release) Lookup(path string) (FileHash, bool) {
	fh, ok := r.Files[path]
	return fh, ok
}

// packagesIndexSuffixes is the order in which IndexPath prefers the
// compressed forms of a Packages index: smallest download first.
var packagesIndexSuffixes = []string{".xz", ".gz", ""}

// IndexPath picks the Packages index of component and arch to download:
// the first of Packages.xz, Packages.gz and Packages that the Release file
// lists. ok is false when it lists none of them.
func (r *Release) IndexPath(component, arch string) (path string, fh FileHash, ok bool) {
	base := component + "/binary-" + arch + "/Packages"
	for _, suffix := range packagesIndexSuffixes {
		if fh, ok := r.Files[base+suffix]; ok {
			return base + suffix, fh, true
		}
	}
	return "", FileHash{}, false
}

// ByHashPath returns where a repository with Acquire-By-Hash serves the file
// at path under its digest: the same directory, then by-hash/SHA256/<digest>.
// For example "main/binary-amd64/Packages.xz" becomes
// "main/binary-amd64/by-hash/SHA256/<digest>".
func ByHashPath(p, sha256 string) string {
	return path.Join(path.Dir(p), "by-hash", "SHA256", sha256)
}

// releaseDateLayouts are the forms of Date and Valid-Until found in the
// wild: RFC 2822 with a zone name or a numeric offset, day with or without
// a leading zero.
var releaseDateLayouts = []string{
	"Mon, _2 Jan 2006 15:04:05 MST",
	"Mon, _2 Jan 2006 15:04:05 -0700",
}

// ParseReleaseDate reads the Date or Valid-Until field of a Release file,
// such as "Sat, 10 Jun 2023 08:53:47 UTC".
func ParseReleaseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	var firstErr error
	for _, layout := range releaseDateLayouts {
		t, err := time.Parse(layout, s)
		if err == nil {
			return t, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return time.Time{}, fmt.Errorf("%w: date %q is not in RFC 2822 form (\"Sat, 10 Jun 2023 08:53:47 UTC\"): %v", ErrSyntax, s, firstErr)
}

// FlatRelease returns the Release file of a local flat repository ("deb [trusted=yes] file:DIR ./")
// whose only index is the uncompressed Packages text packages. Without a Release file, apt probes
// Packages.xz, .bz2, .lzma, .gz, .lz4 and .zst first and logs an error for each. The date is fixed
// and old: apt refuses a Release dated after its clock ("not valid yet"), and a booted image's
// clock may be behind the build host's.
func FlatRelease(label, packages string) string {
	sum := sha256.Sum256([]byte(packages))
	return fmt.Sprintf("Origin: refit-patch\nLabel: %s\nDate: Thu, 01 Jan 1970 00:00:00 UTC\nSHA256:\n %s %d Packages\n",
		label, hex.EncodeToString(sum[:]), len(packages))
}
