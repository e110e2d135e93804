package apt

import (
	"fmt"
	"io"
	"strings"
)

// StatusEntry is one paragraph of dpkg's status database
// (/var/lib/dpkg/status): a package dpkg knows, installed or not.
type StatusEntry struct {
	Package, Version, Architecture string
	// Status is dpkg's "want flag state" triple, e.g. "install ok installed".
	Status string
	// Source is as in Package.Source.
	Source string
	// MultiArch is the Multi-Arch field: "same", "foreign", "allowed" or "".
	MultiArch string
	// Essential is true for "Essential: yes".
	Essential bool
	// Provides is the raw Provides field.
	Provides string
}

// State returns the third word of Status, dpkg's package state:
// "installed", "config-files", "half-installed", "unpacked", ...
func (e StatusEntry) State() string {
	words := strings.Fields(e.Status)
	if len(words) != 3 {
		return ""
	}
	return words[2]
}

// installedStates are the dpkg states in which a package's files and
// version are on the system. The triggers states are installed packages
// whose triggers have yet to run; dpkg and APT count them as installed.
var installedStates = map[string]bool{
	"installed":         true,
	"triggers-awaiting": true,
	"triggers-pending":  true,
}

// Installed reports whether the package is installed: its state is
// "installed" (or one of the triggers states) and its error flag is "ok".
// The want flag does not matter: "hold ok installed" is installed, and so is
// "deinstall ok installed" until dpkg actually removes it. "half-installed",
// "unpacked", "half-configured" and "config-files" are not installed.
func (e StatusEntry) Installed() bool {
	words := strings.Fields(e.Status)
	return len(words) == 3 && words[1] == "ok" && installedStates[words[2]]
}

// SourceName returns the name of the source package e was built from.
func (e StatusEntry) SourceName() string { return sourceName(e.Source, e.Package) }

// SourceVersion returns the version of the source package e was built from.
func (e StatusEntry) SourceVersion() string { return sourceVersion(e.Source, e.Version) }

// statusFields are the fields ParseStatus stores.
var statusFields = []string{
	"package", "version", "architecture", "status", "source", "multi-arch", "essential", "provides",
}

// ParseStatus reads dpkg's status database and returns every entry in file
// order, whatever its state; filter with Installed. Each entry needs a
// Package field and a three-word Status field.
func ParseStatus(r io.Reader) ([]StatusEntry, error) {
	pr := newParagraphReader(r, statusFields...)
	var (
		p       paragraph
		entries []StatusEntry
	)
	for {
		err := pr.next(&p)
		if err == io.EOF {
			return entries, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parsing dpkg status: %w", err)
		}
		name, err := requireName(&p)
		if err != nil {
			return nil, fmt.Errorf("parsing dpkg status: %w", err)
		}
		status, ok := p.get("status")
		if !ok {
			return nil, fmt.Errorf("parsing dpkg status: %w: package %s at line %d has no Status field", ErrSyntax, name, p.line)
		}
		if len(strings.Fields(status.value)) != 3 {
			return nil, fmt.Errorf("parsing dpkg status: %w: line %d: package %s: Status %q is not \"want flag state\"", ErrSyntax, status.line, name, status.value)
		}
		entries = append(entries, StatusEntry{
			Package:      name,
			Version:      p.value("version"),
			Architecture: p.value("architecture"),
			Status:       status.value,
			Source:       p.value("source"),
			MultiArch:    p.value("multi-arch"),
			Essential:    p.value("essential") == "yes",
			Provides:     p.folded("provides"),
		})
	}
}
