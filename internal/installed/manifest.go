package installed

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/osrelease"
)

// ManifestFormat is the format string of the manifests this package reads and writes.
const ManifestFormat = "refit-manifest/v1"

// ErrInvalidManifest is wrapped by every validation error of ReadManifest and Write.
var ErrInvalidManifest = errors.New("installed: invalid manifest")

// Package is one installed package.
type Package struct {
	// Name is the package name, e.g. "bash".
	Name string `json:"name"`
	// Epoch is the rpm epoch or Debian epoch; 0 when the package has none.
	Epoch int `json:"epoch"`
	// Version is the upstream version (for dpkg without epoch and revision).
	Version string `json:"version"`
	// Release is the rpm release or the Debian revision (may be empty for dpkg).
	Release string `json:"release"`
	// Arch is the architecture, e.g. "x86_64", "noarch", "amd64", "all". rpm's gpg-pubkey
	// pseudo-packages have none, so it is empty for them.
	Arch string `json:"arch"`
	// Provides holds only the provides that change how a package is updated: the
	// "installonlypkg(...)" and "multiversion(...)" capabilities dnf uses to recognise
	// install-only packages such as kernels, which are installed beside the old ones instead
	// of being upgraded. Other provides are left out to keep manifests small. Always empty for dpkg.
	Provides []string `json:"provides,omitempty"`
	// SourceRPM is, for rpm, the source package file name (SOURCERPM, e.g.
	// "bash-5.1.8-6.el9.src.rpm"); for dpkg, the source package name from the Source field
	// without its version, and empty when the source package has the binary package's name.
	SourceRPM string `json:"source,omitempty"`

	// The fields below are read from the package database for SBOMs (internal/sbom) and are
	// not part of refit-manifest/v1: a manifest neither writes nor reads them.

	// EpochTagged is set when an rpm header carries an Epoch tag, even one of 0 (rpm -q
	// shows "(none)" otherwise); purls name the epoch exactly then. Always false for dpkg.
	EpochTagged bool `json:"-"`
	// SourceVersion is, for dpkg, the version in the Source field ("glibc (2.36-9)") when it
	// differs from the binary package's; empty for rpm.
	SourceVersion string `json:"-"`
	// Licenses are rpm's License tag (one expression), or the licenses a Debian
	// machine-readable /usr/share/doc/<name>/copyright file names (the first line of each
	// Files paragraph's License field, in order, without repeats); empty when the package
	// records none.
	Licenses []string `json:"-"`
	// Supplier is rpm's Vendor tag or dpkg's Maintainer field.
	Supplier string `json:"-"`
}

// EVR returns the version as "[epoch:]version[-release]": the epoch only when it is not 0 (or
// when the version itself contains a colon, which Debian allows after an explicit epoch), the
// release only when it is not empty.
func (p Package) EVR() string {
	var b strings.Builder
	if p.Epoch != 0 || strings.Contains(p.Version, ":") {
		b.WriteString(strconv.Itoa(p.Epoch))
		b.WriteByte(':')
	}
	b.WriteString(p.Version)
	if p.Release != "" {
		b.WriteByte('-')
		b.WriteString(p.Release)
	}
	return b.String()
}

// comparePackages orders packages by name, arch, epoch, version and release. The order only
// needs to be deterministic, so versions compare as strings.
func comparePackages(a, b Package) int {
	return cmp.Or(
		strings.Compare(a.Name, b.Name),
		strings.Compare(a.Arch, b.Arch),
		cmp.Compare(a.Epoch, b.Epoch),
		strings.Compare(a.Version, b.Version),
		strings.Compare(a.Release, b.Release),
	)
}

// OS identifies the distribution a manifest was taken from.
type OS struct {
	// ID is os-release's ID, e.g. "rocky".
	ID string `json:"id"`
	// VersionID is os-release's VERSION_ID, e.g. "9.3".
	VersionID string `json:"version_id"`
	// Family is "rhel", "fedora", "suse" or "debian".
	Family string `json:"family"`
}

// Manifest is a refit-manifest/v1 package manifest: the distribution and every installed package.
type Manifest struct {
	// Format is always ManifestFormat.
	Format string `json:"format"`
	// OS is the distribution.
	OS OS `json:"os"`
	// PackageManager is "rpm" or "dpkg".
	PackageManager string `json:"package_manager"`
	// Packages are the installed packages, sorted by name, arch, epoch, version and release.
	Packages []Package `json:"packages"`
}

// MachineArch returns the architecture most installed packages have, leaving out
// architecture-independent ones (noarch, all) and rpm's gpg-pubkey pseudo-packages; ""
// when no package has one. Ties go to the name first in sort order.
func (m *Manifest) MachineArch() string {
	count := map[string]int{}
	for _, p := range m.Packages {
		if p.Arch != "noarch" && p.Arch != "all" && p.Arch != "" && p.Name != "gpg-pubkey" {
			count[p.Arch]++
		}
	}
	best, n := "", 0
	for _, a := range slices.Sorted(maps.Keys(count)) {
		if count[a] > n {
			best, n = a, count[a]
		}
	}
	return best
}

// familyPackageManager is the package manager each known family uses.
var familyPackageManager = map[string]string{
	osrelease.FamilyRHEL:   osrelease.PackageManagerRPM,
	osrelease.FamilyFedora: osrelease.PackageManagerRPM,
	osrelease.FamilySUSE:   osrelease.PackageManagerRPM,
	osrelease.FamilyDebian: osrelease.PackageManagerDpkg,
}

// ReadManifest reads and validates the manifest at path: the format string, package_manager
// (rpm or dpkg), os.family (rhel, fedora, suse or debian, matching the package manager) and every
// package (non-empty name and version, epoch not negative). Errors name the file and, for a bad
// package, its index in the packages list.
func ReadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	m, err := parseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return m, nil
}

// parseManifest decodes and validates a manifest. Unknown fields are rejected so that a
// misspelt key in a hand-written manifest is reported rather than silently read as zero.
func parseManifest(data []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: unexpected data after the JSON object", ErrInvalidManifest)
	}
	if m.Packages == nil {
		return nil, fmt.Errorf("%w: no \"packages\" list", ErrInvalidManifest)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks a manifest built in memory (by internal/sbom from an SBOM, for example)
// as ReadManifest checks one read from a file; errors wrap ErrInvalidManifest.
func (m *Manifest) Validate() error { return m.validate() }

// validate checks everything but the format string's presence rules shared by read and write.
func (m *Manifest) validate() error {
	if m.Format != ManifestFormat {
		return fmt.Errorf("%w: format is %q, want %q: is this a refit package manifest?", ErrInvalidManifest, m.Format, ManifestFormat)
	}
	if m.PackageManager != osrelease.PackageManagerRPM && m.PackageManager != osrelease.PackageManagerDpkg {
		return fmt.Errorf("%w: package_manager is %q, want \"rpm\" or \"dpkg\"", ErrInvalidManifest, m.PackageManager)
	}
	pm, ok := familyPackageManager[m.OS.Family]
	if !ok {
		return fmt.Errorf("%w: os.family is %q, want \"rhel\", \"fedora\", \"suse\" or \"debian\"", ErrInvalidManifest, m.OS.Family)
	}
	if pm != m.PackageManager {
		return fmt.Errorf("%w: os.family %q uses %s, but package_manager is %q", ErrInvalidManifest, m.OS.Family, pm, m.PackageManager)
	}
	for i, p := range m.Packages {
		switch {
		case p.Name == "" || strings.ContainsFunc(p.Name, isSpaceOrControl):
			return fmt.Errorf("%w: packages[%d]: name %q is empty or contains white space", ErrInvalidManifest, i, p.Name)
		case p.Version == "":
			return fmt.Errorf("%w: packages[%d] (%s): empty version", ErrInvalidManifest, i, p.Name)
		case p.Epoch < 0:
			return fmt.Errorf("%w: packages[%d] (%s): negative epoch %d", ErrInvalidManifest, i, p.Name, p.Epoch)
		}
	}
	return nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// Write validates m and writes it to path atomically (a temporary file in the same directory,
// renamed over path), with packages sorted, two-space indentation and a trailing newline. An
// empty Format is written as ManifestFormat. m itself is not modified.
func (m *Manifest) Write(path string) error {
	out := *m
	if out.Format == "" {
		out.Format = ManifestFormat
	}
	out.Packages = slices.Clone(m.Packages)
	if out.Packages == nil {
		out.Packages = []Package{}
	}
	slices.SortStableFunc(out.Packages, comparePackages)
	if err := out.validate(); err != nil {
		return fmt.Errorf("writing manifest %s: %w", path, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&out); err != nil { // Encode ends with the newline
		return fmt.Errorf("encoding manifest %s: %w", path, err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

// writeFileAtomic writes data to a temporary file next to path, syncs it and renames it over
// path, so readers see either the old file or the complete new one.
func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing manifest %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("writing manifest %s: %w", path, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("writing manifest %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("writing manifest %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("writing manifest %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing manifest %s: %w", path, err)
	}
	return nil
}
