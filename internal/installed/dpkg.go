package installed

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/imageroot"
)

var (
	// ErrNoDpkgStatus is returned by ReadDpkgStatus when the root has no dpkg status file.
	ErrNoDpkgStatus = errors.New("installed: no dpkg status found")
	// ErrDpkgStatusSyntax is wrapped by every parse error of a dpkg status file.
	ErrDpkgStatusSyntax = errors.New("installed: malformed dpkg status")
)

// dpkgStates are the package states of a Status field's third word; the value says whether the
// package counts as installed. apt gives a package a current version unless it is not-installed
// or config-files, and `apt list --upgradable` works from that, so this does the same.
var dpkgStates = map[string]bool{
	"not-installed":    false,
	"config-files":     false,
	"half-installed":   true,
	"unpacked":         true,
	"half-configured":  true,
	"triggers-awaited": true,
	"triggers-pending": true,
	"installed":        true,
}

// ReadDpkgStatus returns the installed packages recorded in root/var/lib/dpkg/status, with the
// records dpkg has journalled in var/lib/dpkg/updates/ but not yet merged applied on top, as
// dpkg-query does. A package counts as installed unless its state is not-installed or
// config-files ("install ok installed" and "hold ok installed" are the usual ones). Debian
// versions are split into Epoch, Version (upstream) and Release (revision).
func ReadDpkgStatus(root string) ([]Package, error) {
	statusPath, err := imageroot.Resolve(root, "/var/lib/dpkg/status")
	if err != nil {
		return nil, fmt.Errorf("looking for the dpkg status: %w", err)
	}
	f, err := os.Open(statusPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w under %s: expected var/lib/dpkg/status; is %s the root filesystem of a Debian-based system?", ErrNoDpkgStatus, root, root)
	}
	if err != nil {
		return nil, fmt.Errorf("reading dpkg status: %w", err)
	}
	records, err := parseDpkgStatus(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", statusPath, err)
	}
	updates, err := readDpkgUpdates(root)
	if err != nil {
		return nil, err
	}
	records = mergeDpkgRecords(records, updates)
	pkgs, err := installedDpkgPackages(records)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", statusPath, err)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("%w: %s: is this the root filesystem of an installed system?", ErrNoPackages, statusPath)
	}
	readDebianLicenses(root, pkgs)
	return pkgs, nil
}

// readDpkgUpdates parses dpkg's journal, var/lib/dpkg/updates/NNNN, in name order (dpkg names
// the entries with digits only; anything else there is a temporary file it ignores).
func readDpkgUpdates(root string) ([]dpkgRecord, error) {
	dir, err := imageroot.Resolve(root, "/var/lib/dpkg/updates")
	if err != nil {
		return nil, fmt.Errorf("looking for dpkg updates: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading dpkg updates: %w", err)
	}
	var records []dpkgRecord
	for _, e := range entries { // ReadDir sorts by name
		if !e.Type().IsRegular() || strings.Trim(e.Name(), "0123456789") != "" {
			continue
		}
		p := filepath.Join(dir, e.Name())
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("reading dpkg updates: %w", err)
		}
		rs, err := parseDpkgStatus(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		records = append(records, rs...)
	}
	return records, nil
}

// dpkgRecord holds the fields of one status paragraph that the inventory needs.
type dpkgRecord struct {
	Package, Version, Architecture, Status, Source, Maintainer string
	Line                                                       int // line the paragraph starts on
}

func (r dpkgRecord) key() string { return r.Package + ":" + r.Architecture }

// mergeDpkgRecords replaces records by later ones for the same package and architecture.
func mergeDpkgRecords(base, updates []dpkgRecord) []dpkgRecord {
	if len(updates) == 0 {
		return base
	}
	index := make(map[string]int, len(base))
	for i, r := range base {
		index[r.key()] = i
	}
	out := slices.Clone(base)
	for _, u := range updates {
		if i, ok := index[u.key()]; ok {
			out[i] = u
			continue
		}
		index[u.key()] = len(out)
		out = append(out, u)
	}
	return out
}

// dpkgFields are the fields parseDpkgStatus keeps, by lower-case name (deb822 field names are
// case-insensitive).
var dpkgFields = map[string]func(*dpkgRecord) *string{
	"package":      func(r *dpkgRecord) *string { return &r.Package },
	"version":      func(r *dpkgRecord) *string { return &r.Version },
	"architecture": func(r *dpkgRecord) *string { return &r.Architecture },
	"status":       func(r *dpkgRecord) *string { return &r.Status },
	"source":       func(r *dpkgRecord) *string { return &r.Source },
	"maintainer":   func(r *dpkgRecord) *string { return &r.Maintainer },
}

// parseDpkgStatus splits a dpkg status file (deb822: paragraphs of "Field: value" lines,
// separated by blank lines, continuation lines starting with a space or tab) into records.
// Like dpkg, it rejects a paragraph without Package and a field given twice in a paragraph.
func parseDpkgStatus(r io.Reader) ([]dpkgRecord, error) {
	br := bufio.NewReader(r)
	var (
		records []dpkgRecord
		cur     dpkgRecord
		seen    = map[string]bool{}
		inPara  bool
		lastKey string // field the next continuation line belongs to; "" before the first field
	)
	finish := func() error {
		if !inPara {
			return nil
		}
		if cur.Package == "" {
			return fmt.Errorf("%w: paragraph at line %d has no Package field", ErrDpkgStatusSyntax, cur.Line)
		}
		records = append(records, cur)
		cur, inPara, lastKey = dpkgRecord{}, false, ""
		clear(seen)
		return nil
	}
	for lineNo := 1; ; lineNo++ {
		line, readErr := br.ReadString('\n')
		if readErr != nil && readErr != io.EOF {
			return nil, readErr
		}
		if line == "" && readErr == io.EOF {
			break
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.TrimSpace(line) == "":
			if err := finish(); err != nil {
				return nil, err
			}
		case line[0] == ' ' || line[0] == '\t':
			if !inPara {
				return nil, fmt.Errorf("%w: line %d: continuation line outside a paragraph", ErrDpkgStatusSyntax, lineNo)
			}
			// Continuations only matter for the fields kept here, which are single-line in
			// practice; a folded one is joined with a space, as deb822 folding means.
			if field, ok := dpkgFields[lastKey]; ok {
				p := field(&cur)
				*p = strings.TrimSpace(*p + " " + strings.TrimSpace(line))
			}
		case line[0] == '#':
			// deb822 comment line
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok || name == "" || strings.ContainsAny(name, " \t") {
				return nil, fmt.Errorf("%w: line %d: expected \"Field: value\", got %q", ErrDpkgStatusSyntax, lineNo, line)
			}
			if !inPara {
				inPara, cur.Line = true, lineNo
			}
			key := strings.ToLower(name)
			if seen[key] {
				return nil, fmt.Errorf("%w: line %d: duplicate %s field", ErrDpkgStatusSyntax, lineNo, name)
			}
			seen[key] = true
			lastKey = key
			if field, ok := dpkgFields[key]; ok {
				*field(&cur) = strings.TrimSpace(value)
			}
		}
		if readErr == io.EOF {
			break
		}
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return records, nil
}

// installedDpkgPackages converts the records of installed packages, sorted.
func installedDpkgPackages(records []dpkgRecord) ([]Package, error) {
	var pkgs []Package
	for _, r := range records {
		status := strings.Fields(r.Status)
		if len(status) != 3 {
			return nil, fmt.Errorf("%w: package %s (line %d): Status %q is not three words \"want flag state\"", ErrDpkgStatusSyntax, r.Package, r.Line, r.Status)
		}
		installed, known := dpkgStates[status[2]]
		if !known {
			return nil, fmt.Errorf("%w: package %s (line %d): unknown package state %q", ErrDpkgStatusSyntax, r.Package, r.Line, status[2])
		}
		if !installed {
			continue
		}
		if strings.ContainsFunc(r.Package, isSpaceOrControl) {
			return nil, fmt.Errorf("%w: line %d: package name %q contains white space", ErrDpkgStatusSyntax, r.Line, r.Package)
		}
		if r.Architecture == "" || strings.ContainsFunc(r.Architecture, isSpaceOrControl) {
			return nil, fmt.Errorf("%w: package %s (line %d): installed but Architecture %q is empty or not one word", ErrDpkgStatusSyntax, r.Package, r.Line, r.Architecture)
		}
		epoch, upstream, revision, err := splitDebianVersion(r.Version)
		if err != nil {
			return nil, fmt.Errorf("%w: package %s (line %d): %w", ErrDpkgStatusSyntax, r.Package, r.Line, err)
		}
		source, sourceVersion := splitDpkgSource(r.Source)
		if source == r.Package {
			source = ""
		}
		pkgs = append(pkgs, Package{
			Name: r.Package, Epoch: epoch, Version: upstream, Release: revision,
			Arch: r.Architecture, SourceRPM: source,
			SourceVersion: sourceVersion, Supplier: r.Maintainer,
		})
	}
	slices.SortStableFunc(pkgs, comparePackages)
	return pkgs, nil
}

// splitDpkgSource splits a Source field, "name" or "name (version)"; the version is there only
// when it differs from the binary package's.
func splitDpkgSource(field string) (name, version string) {
	name, rest, _ := strings.Cut(strings.TrimSpace(field), " ")
	rest = strings.TrimSpace(rest)
	if strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")") {
		version = strings.TrimSpace(rest[1 : len(rest)-1])
	}
	return name, version
}

// SplitDebianVersion splits a Debian version "[epoch:]upstream[-revision]" as dpkg does, into
// the Epoch, Version and Release of a Package.
func SplitDebianVersion(v string) (epoch int, upstream, revision string, err error) {
	return splitDebianVersion(v)
}

// splitDebianVersion splits "[epoch:]upstream[-revision]" as dpkg does: the epoch ends at the
// first colon and the revision starts after the last hyphen.
func splitDebianVersion(v string) (epoch int, upstream, revision string, err error) {
	if v == "" {
		return 0, "", "", errors.New("empty Version")
	}
	upstream = v
	if e, rest, ok := strings.Cut(v, ":"); ok {
		if e == "" || strings.Trim(e, "0123456789") != "" {
			return 0, "", "", fmt.Errorf("version %q: epoch %q is not a number", v, e)
		}
		epoch, err = strconv.Atoi(e)
		if err != nil {
			return 0, "", "", fmt.Errorf("version %q: epoch %q is out of range", v, e)
		}
		upstream = rest
	}
	if i := strings.LastIndexByte(upstream, '-'); i >= 0 {
		upstream, revision = upstream[:i], upstream[i+1:]
		if revision == "" {
			return 0, "", "", fmt.Errorf("version %q: empty revision after '-'", v)
		}
	}
	if upstream == "" {
		return 0, "", "", fmt.Errorf("version %q: empty upstream version", v)
	}
	if strings.ContainsFunc(upstream+revision, isSpaceOrControl) {
		return 0, "", "", fmt.Errorf("version %q contains white space", v)
	}
	return epoch, upstream, revision, nil
}
