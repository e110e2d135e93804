package repository

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/refit-images/packer-plugin-refit/internal/decompress"
	"github.com/refit-images/packer-plugin-refit/internal/evr"
	"github.com/refit-images/packer-plugin-refit/internal/fetch"
	"github.com/refit-images/packer-plugin-refit/internal/rpmmd"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// maxUnpacked bounds decompressed metadata whose repomd.xml gives no open-size.
const maxUnpacked = 8 << 30

// loadRPM reads an rpm-md repository: Load's candidates and advisories when wanted is
// set, LoadIndex's packages when it is nil; module streams either way.
func (l *Loader) loadRPM(ctx context.Context, spec Spec, wanted Wanted) (*Loaded, error) {
	out := &Loaded{}
	md, repomdURL, err := l.repomd(ctx, spec, out)
	if err != nil {
		return nil, err
	}
	primary, ok := md.Find("primary")
	if !ok {
		return nil, fmt.Errorf("%s lists no primary metadata", repomdURL)
	}
	l.log("%s: reading %s", spec.Name, primary.Location)
	err = l.readData(ctx, spec, primary, func(r io.Reader) error {
		if wanted == nil {
			return rpmmd.ParsePrimary(r, func(p *rpmmd.Package) error {
				if p.Arch == "src" || p.Arch == "nosrc" {
					return nil
				}
				pkg, err := rpmPackage(spec, p)
				if err != nil {
					return err
				}
				out.Packages = append(out.Packages, pkg)
				return nil
			})
		}
		return rpmmd.ScanPrimary(r, wanted, func(p *rpmmd.Package) error {
			if c, ok := rpmCandidate(spec, p, wanted); ok {
				out.Candidates = append(out.Candidates, c)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if ui, ok := md.Find("updateinfo"); ok && wanted != nil {
		err := l.readData(ctx, spec, ui, func(r io.Reader) error {
			advs, err := rpmmd.ParseUpdateinfo(r)
			if err != nil {
				return err
			}
			for _, a := range advs {
				if adv, ok := rpmAdvisory(a, wanted); ok {
					out.Advisories = append(out.Advisories, adv)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if mods, ok := md.Find("modules"); ok {
		err := l.readData(ctx, spec, mods, func(r io.Reader) error {
			m, err := rpmmd.ParseModules(r)
			if err != nil {
				return err
			}
			for _, s := range m.Streams {
				out.Streams = append(out.Streams, updates.ModuleStream{Name: s.Name, Stream: s.Stream, Artifacts: s.Artifacts})
			}
			out.Defaults = m.Defaults
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// repomd fetches repodata/repomd.xml, verifies its signature when spec has a key
// (recording the signer in out) and parses it.
func (l *Loader) repomd(ctx context.Context, spec Spec, out *Loaded) (*rpmmd.Repomd, string, error) {
	kr, err := l.keyring(spec)
	if err != nil {
		return nil, "", err
	}
	raw, repomdURL, err := l.readSmall(ctx, spec.URL, "repodata/repomd.xml")
	if err != nil {
		if isNotFound(err) {
			return nil, "", fmt.Errorf("%w: no repodata/repomd.xml here; the url must be the folder that holds repodata/ (for an APT repository set type = \"deb\")", err)
		}
		return nil, "", err
	}
	if kr != nil {
		sig, _, err := l.readSmall(ctx, spec.URL, "repodata/repomd.xml.asc")
		if err != nil {
			if isNotFound(err) {
				return nil, "", fmt.Errorf("gpg_key is set but the repository has no repodata/repomd.xml.asc: it is unsigned (drop gpg_key only if you trust the transport)")
			}
			return nil, "", err
		}
		signer, err := kr.VerifyDetached(bytes.NewReader(raw), bytes.NewReader(sig))
		if err != nil {
			return nil, "", fmt.Errorf("verifying %s.asc: %w", repomdURL, err)
		}
		out.Signer = signer.Fingerprint
	}
	md, err := rpmmd.ParseRepomd(bytes.NewReader(raw))
	if err != nil {
		return nil, "", fmt.Errorf("parsing %s: %w", repomdURL, err)
	}
	return md, repomdURL, nil
}

// readData fetches one data file repomd.xml lists (primary, modules, updateinfo …),
// verifies its size and checksum, and hands parse the decompressed stream, bounded by the
// open-size repomd.xml gives (8 GiB without one).
func (l *Loader) readData(ctx context.Context, spec Spec, d rpmmd.Data, parse func(io.Reader) error) error {
	u, err := fetch.Resolve(spec.URL, d.Location)
	if err != nil {
		return err
	}
	f, err := l.Fetch.Open(ctx, u, fetch.Want{Size: d.Size, Checksum: checksumString(d.Checksum.Type, d.Checksum.Value)})
	if err != nil {
		return err
	}
	defer f.Close()
	limit := int64(maxUnpacked)
	if d.OpenSize > 0 {
		limit = d.OpenSize
	}
	dec, err := decompress.Reader(f, d.Location, limit)
	if err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	r := decompress.ReadAhead(dec) // decompress on one core while parse reads on the other
	defer r.Close()
	if err := parse(r); err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	return nil
}

func rpmCandidate(spec Spec, p *rpmmd.Package, wanted Wanted) (updates.Candidate, bool) {
	keep := wanted(p.Name)
	var obs []updates.Obsolete
	for _, o := range p.Obsoletes {
		if wanted(o.Name) {
			keep = true
			obs = append(obs, updates.Obsolete{Name: o.Name, Flags: o.Flags, EVR: evr.EVR{Epoch: o.Epoch, Version: o.Ver, Release: o.Rel}})
		}
	}
	if !keep || p.Arch == "src" || p.Arch == "nosrc" {
		return updates.Candidate{}, false
	}
	base := spec.URL
	if p.LocationBase != "" {
		base = p.LocationBase
	}
	loc, err := fetch.Resolve(base, p.Location)
	if err != nil {
		loc = p.Location
	}
	provides := make([]string, 0, len(p.Provides))
	for _, pr := range p.Provides {
		provides = append(provides, pr.Name)
	}
	return updates.Candidate{
		Name: p.Name, Arch: p.Arch,
		EVR:        evr.EVR{Epoch: p.Epoch, Version: p.Version, Release: p.Release},
		Repository: spec.Name, Priority: spec.Priority,
		Location: loc, Checksum: checksumString(p.Checksum.Type, p.Checksum.Value), Size: p.Size,
		InstallOnly: updates.IsInstallOnly(p.Name, provides),
		Obsoletes:   obs,
	}, true
}

// rpmPackage is p as LoadIndex keeps it.
func rpmPackage(spec Spec, p *rpmmd.Package) (Package, error) {
	base := spec.URL
	if p.LocationBase != "" {
		base = p.LocationBase
	}
	loc, err := fetch.Resolve(base, p.Location)
	if err != nil {
		return Package{}, fmt.Errorf("package %s: %w", p.Name, err)
	}
	return Package{
		Name: p.Name, Arch: p.Arch,
		EVR:        evr.EVR{Epoch: p.Epoch, Version: p.Version, Release: p.Release},
		Repository: spec.Name, Priority: spec.Priority,
		Location: loc, Checksum: checksumString(p.Checksum.Type, p.Checksum.Value), Size: p.Size,
		RPM: p,
	}, nil
}

func rpmAdvisory(a rpmmd.Advisory, wanted Wanted) (updates.Advisory, bool) {
	adv := updates.Advisory{ID: a.ID, Type: a.Type, Severity: a.Severity, Title: a.Title, CVEs: a.CVEs}
	for _, p := range a.Packages {
		if wanted(p.Name) {
			adv.Packages = append(adv.Packages, updates.AdvisoryPackage{
				Name: p.Name, Arch: p.Arch, EVR: evr.EVR{Epoch: p.Epoch, Version: p.Version, Release: p.Release},
			})
		}
	}
	return adv, len(adv.Packages) > 0
}
