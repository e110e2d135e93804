package repository

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/apt"
	"github.com/refit-images/packer-plugin-refit/internal/decompress"
	"github.com/refit-images/packer-plugin-refit/internal/evr"
	"github.com/refit-images/packer-plugin-refit/internal/fetch"
	"github.com/refit-images/packer-plugin-refit/internal/signature"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// loadDeb reads an APT suite's Packages indexes: Load's candidates when wanted is set,
// LoadIndex's packages when it is nil.
func (l *Loader) loadDeb(ctx context.Context, spec Spec, wanted Wanted) (*Loaded, error) {
	if spec.Suite == "" {
		return nil, fmt.Errorf("suite is required for a deb repository (for example \"bookworm-security\")")
	}
	if len(spec.Components) == 0 {
		spec.Components = []string{"main"}
	}
	if spec.Arch == "" {
		spec.Arch = "amd64"
	}
	kr, err := l.keyring(spec)
	if err != nil {
		return nil, err
	}
	dist := "dists/" + spec.Suite + "/"
	out := &Loaded{}
	body, err := l.release(ctx, spec, dist, kr, out)
	if err != nil {
		return nil, err
	}
	rel, err := apt.ParseRelease(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parsing %sRelease: %w", dist, err)
	}
	security := strings.HasSuffix(spec.Suite, "-security") || strings.HasSuffix(spec.Suite, "/updates") ||
		strings.Contains(strings.ToLower(rel.Label), "security")
	for _, comp := range spec.Components {
		p, fh, ok := rel.IndexPath(comp, spec.Arch)
		if !ok {
			return nil, fmt.Errorf("%sRelease lists no Packages index for component %q, architecture %s (components offered: %s)",
				dist, comp, spec.Arch, strings.Join(rel.Components, ", "))
		}
		l.log("%s: reading %s%s", spec.Name, dist, p)
		f, u, err := l.openIndex(ctx, spec, dist, p, fh, rel.AcquireByHash)
		if err != nil {
			return nil, err
		}
		err = func() error {
			defer f.Close()
			dec, err := decompress.Reader(f, p, maxUnpacked)
			if err != nil {
				return err
			}
			r := decompress.ReadAhead(dec) // decompress on one core while parsing on the other
			defer r.Close()
			return apt.ParsePackages(r, func(pkg *apt.Package) error {
				if wanted != nil && !wanted(pkg.Package) {
					return nil
				}
				p, err := debPackage(spec, pkg)
				if err != nil {
					return err
				}
				if wanted == nil {
					out.Packages = append(out.Packages, p)
					return nil
				}
				out.Candidates = append(out.Candidates, updates.Candidate{
					Name: p.Name, Arch: p.Arch, EVR: p.EVR,
					Repository: p.Repository, Priority: p.Priority,
					Location: p.Location, Checksum: p.Checksum, Size: p.Size,
					Security: security,
				})
				return nil
			})
		}()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", u, err)
		}
	}
	return out, nil
}

// debPackage is pkg as LoadIndex keeps it.
func debPackage(spec Spec, pkg *apt.Package) (Package, error) {
	v, err := evr.ParseDeb(pkg.Version)
	if err != nil {
		return Package{}, fmt.Errorf("package %s: %w", pkg.Package, err)
	}
	loc, err := fetch.Resolve(spec.URL, pkg.Filename)
	if err != nil {
		return Package{}, fmt.Errorf("package %s: %w", pkg.Package, err)
	}
	return Package{Name: pkg.Package, Arch: pkg.Architecture, EVR: v, Repository: spec.Name, Priority: spec.Priority,
		Location: loc, Checksum: checksumString("sha256", pkg.SHA256), Size: pkg.Size, Deb: pkg}, nil
}

// release fetches InRelease (or Release + Release.gpg, only when InRelease does not
// exist: an InRelease that fails to verify is an error) and returns the verified body.
func (l *Loader) release(ctx context.Context, spec Spec, dist string, kr *signature.Keyring, out *Loaded) ([]byte, error) {
	inrel, u, err := l.readSmall(ctx, spec.URL, dist+"InRelease")
	if err == nil {
		if kr == nil {
			return signature.ClearsignedBody(inrel)
		}
		body, signer, err := kr.VerifyClearsigned(inrel)
		if err != nil {
			return nil, fmt.Errorf("verifying %s: %w", u, err)
		}
		out.Signer = signer.Fingerprint
		return body, nil
	}
	if !isNotFound(err) {
		return nil, err
	}
	rel, u, err := l.readSmall(ctx, spec.URL, dist+"Release")
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%w: neither InRelease nor Release found under %s; check url (the folder holding dists/) and suite", err, dist)
		}
		return nil, err
	}
	if kr == nil {
		return rel, nil
	}
	sig, _, err := l.readSmall(ctx, spec.URL, dist+"Release.gpg")
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("gpg_key is set but %s has no InRelease and no Release.gpg: the suite is unsigned", dist)
		}
		return nil, err
	}
	signer, err := kr.VerifyDetached(bytes.NewReader(rel), bytes.NewReader(sig))
	if err != nil {
		return nil, fmt.Errorf("verifying %s.gpg: %w", u, err)
	}
	out.Signer = signer.Fingerprint
	return rel, nil
}

// openIndex opens a Packages index, by hash when the suite offers it (immune to a mirror
// updating between Release and the index), else by name.
func (l *Loader) openIndex(ctx context.Context, spec Spec, dist, p string, fh apt.FileHash, byHash bool) (io.ReadCloser, string, error) {
	want := fetch.Want{Size: fh.Size, Checksum: checksumString("sha256", fh.SHA256)}
	if byHash {
		u, err := fetch.Resolve(spec.URL, dist+path.Clean(apt.ByHashPath(p, fh.SHA256)))
		if err != nil {
			return nil, "", err
		}
		f, err := l.Fetch.Open(ctx, u, want)
		if err == nil {
			return f, u, nil
		}
		if !isNotFound(err) {
			return nil, "", err
		}
	}
	u, err := fetch.Resolve(spec.URL, dist+p)
	if err != nil {
		return nil, "", err
	}
	f, err := l.Fetch.Open(ctx, u, want)
	return f, u, err
}
