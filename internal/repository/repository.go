// Package repository is refit's one loader of rpm-md (yum/dnf) and APT repositories: it
// fetches their metadata, verifies checksums and signatures (repomd.xml.asc, InRelease,
// Release.gpg — nowhere else in refit), and parses it in one of two modes: Load keeps the
// candidates and advisories of the package names asked for, which package outdated diffs
// against; LoadIndex keeps every package with its whole metadata entry (RPM provides,
// requires and files, the Debian relationship fields), which package patch resolves new
// dependencies against.
package repository

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/apt"
	"github.com/refit-images/packer-plugin-refit/internal/evr"
	"github.com/refit-images/packer-plugin-refit/internal/fetch"
	"github.com/refit-images/packer-plugin-refit/internal/rpmmd"
	"github.com/refit-images/packer-plugin-refit/internal/signature"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// Repository types.
const (
	TypeRPM = "rpm-md"
	TypeDeb = "deb"
)

// DefaultPriority is dnf's default repository priority.
const DefaultPriority = 99

// Spec describes one repository to load.
type Spec struct {
	Name string
	// URL is the base URL: the folder holding repodata/ (rpm-md) or dists/ (deb).
	URL  string
	Type string
	// Suite and Components select an APT distribution (deb only).
	Suite      string
	Components []string
	// Arch is the Debian architecture whose Packages index is read (deb only). outdated.ForArch
	// sets it to the image's; amd64 when still unset (refit-fleet, whose images may differ).
	Arch string
	// GPGKey is an armored or binary public key file; when set, metadata signatures must verify.
	GPGKey string
	// Priority follows dnf: the lower number wins.
	Priority int
}

// Loaded is what one repository offers: for Load, the candidates and advisories of the
// package names asked for; for LoadIndex, every package. Both read the module streams.
type Loaded struct {
	// Candidates and Advisories are filled by Load.
	Candidates []updates.Candidate
	Advisories []updates.Advisory
	// Packages is filled by LoadIndex.
	Packages []Package
	Streams  []updates.ModuleStream
	Defaults map[string]string
	// Signer describes the key that signed the metadata, when a key was given.
	Signer string
}

// Package is one package as LoadIndex keeps it: what and where it is, and its whole
// metadata entry, for dependency resolution. Source packages are left out.
type Package struct {
	Name, Arch string
	EVR        evr.EVR
	Repository string
	// Priority follows dnf: the lower number wins.
	Priority int
	// Location is the package file's absolute URL, Checksum "<type>:<hex>".
	Location, Checksum string
	Size               int64
	// RPM is the primary.xml entry (rpm-md): provides, requires, obsoletes, the files
	// primary.xml lists.
	RPM *rpmmd.Package
	// Deb is the Packages stanza (deb): Depends, Pre-Depends, Provides, Breaks … raw.
	Deb *apt.Package
}

// Loader fetches and parses repositories.
type Loader struct {
	Fetch *fetch.Client
	// Log receives progress lines.
	Log func(string)
}

// maxSmall bounds repomd.xml, InRelease, Release and signature files.
const maxSmall = 32 << 20

// Wanted tells whether a package name matters (it is installed, or is obsoleting one).
type Wanted func(name string) bool

// Load fetches spec's metadata and returns the candidates whose names wanted accepts,
// plus those that obsolete such a name, and the advisories about them.
func (l *Loader) Load(ctx context.Context, spec Spec, wanted Wanted) (*Loaded, error) {
	if wanted == nil {
		wanted = func(string) bool { return false }
	}
	return l.load(ctx, spec, wanted)
}

// LoadIndex fetches spec's metadata, verified as Load verifies it, and returns every
// package it offers with its whole metadata entry (Loaded.Packages), and the module
// streams; it reads no advisories.
func (l *Loader) LoadIndex(ctx context.Context, spec Spec) (*Loaded, error) {
	return l.load(ctx, spec, nil)
}

// load is Load when wanted is set, LoadIndex when it is nil.
func (l *Loader) load(ctx context.Context, spec Spec, wanted Wanted) (*Loaded, error) {
	if spec.Priority == 0 {
		spec.Priority = DefaultPriority
	}
	var (
		out *Loaded
		err error
	)
	switch spec.Type {
	case "", TypeRPM:
		out, err = l.loadRPM(ctx, spec, wanted)
	case TypeDeb:
		out, err = l.loadDeb(ctx, spec, wanted)
	default:
		return nil, fmt.Errorf("repository %q: unknown type %q (use %q or %q)", spec.Name, spec.Type, TypeRPM, TypeDeb)
	}
	if err != nil {
		return nil, fmt.Errorf("repository %q (%s): %w", spec.Name, spec.URL, err)
	}
	return out, nil
}

func (l *Loader) log(format string, args ...any) {
	if l.Log != nil {
		l.Log(fmt.Sprintf(format, args...))
	}
}

func (l *Loader) keyring(spec Spec) (*signature.Keyring, error) {
	if spec.GPGKey == "" {
		return nil, nil
	}
	kr, err := signature.LoadKeyring(spec.GPGKey)
	if err != nil {
		return nil, fmt.Errorf("loading gpg_key: %w", err)
	}
	return kr, nil
}

// readSmall fetches a small metadata file relative to base.
func (l *Loader) readSmall(ctx context.Context, base, rel string) ([]byte, string, error) {
	u, err := fetch.Resolve(base, rel)
	if err != nil {
		return nil, "", err
	}
	b, err := l.Fetch.ReadSmall(ctx, u, maxSmall)
	return b, u, err
}

func isNotFound(err error) bool { return errors.Is(err, fetch.ErrNotFound) }

func checksumString(typ, value string) string {
	if typ == "" || value == "" {
		return ""
	}
	return strings.ToLower(typ) + ":" + strings.ToLower(value)
}
