package patch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/apt"
	"github.com/refit-images/packer-plugin-refit/internal/decompress"
	"github.com/refit-images/packer-plugin-refit/internal/evr"
	"github.com/refit-images/packer-plugin-refit/internal/fetch"
	"github.com/refit-images/packer-plugin-refit/internal/outdated"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
	"github.com/refit-images/packer-plugin-refit/internal/rpmmd"
	"github.com/refit-images/packer-plugin-refit/internal/signature"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// repoPackage is one package a repository offers, as the resolver of new dependencies
// sees it: what it is, where it is, and what it provides.
type repoPackage struct {
	Name, Arch string
	EVR        evr.EVR
	Repository string
	// Priority follows dnf: the lower number wins.
	Priority           int
	Location, Checksum string
	Size               int64
	// Provides are an RPM's capabilities (its own "name = evr" included, as rpmbuild
	// writes it) and Files the paths primary.xml lists (the subset dependency solving
	// needs: /etc, */bin/* …).
	Provides []rpmCapability
	Files    []string
	// Deb is a Debian package's relationships.
	Deb *debPackage
}

// update describes the package as an update to download: a new install.
func (p *repoPackage) update() updates.Update {
	return updates.Update{Name: p.Name, Arch: p.Arch, Action: updates.ActionInstall, Available: p.EVR,
		Repository: p.Repository, Location: p.Location, Checksum: p.Checksum, Size: p.Size}
}

// repoIndex is everything the repositories offer, by the names dependencies ask for.
// refit reads it only when an update needs something that neither the image nor the
// other updates provide: it reads every package of every repository, where the diff
// (package outdated) reads only those of installed names.
type repoIndex struct {
	// provides maps a capability name (RPM provide, Debian package or virtual package
	// name) to the packages providing it.
	provides map[string][]*repoPackage
	// files maps a path to the RPM packages whose primary.xml entry lists it.
	files map[string][]*repoPackage
}

func (ix *repoIndex) add(p *repoPackage) {
	if p.Deb != nil {
		ix.provides[p.Name] = append(ix.provides[p.Name], p)
		for _, pr := range p.Deb.Provides {
			if pr.Name != p.Name {
				ix.provides[pr.Name] = append(ix.provides[pr.Name], p)
			}
		}
		return
	}
	seen := map[string]bool{}
	for _, pr := range p.Provides {
		if !seen[pr.Name] {
			seen[pr.Name] = true
			ix.provides[pr.Name] = append(ix.provides[pr.Name], p)
		}
	}
	if !seen[p.Name] {
		ix.provides[p.Name] = append(ix.provides[p.Name], p)
	}
	for _, f := range p.Files {
		ix.files[f] = append(ix.files[f], p)
	}
}

// loadRepoIndex reads every package of opts.Repositories, verified as package repository
// verifies them (metadata signatures when a repository has a gpg_key, checksums always),
// through the same metadata cache. RPM packages that dnf's modular filtering hides for
// the root (streams that are not active) are left out, as are names opts.Filter.Exclude
// matches. It returns nil when there are no repositories.
func loadRepoIndex(ctx context.Context, opts *Options, packageManager string) (*repoIndex, error) {
	if len(opts.Repositories) == 0 {
		return nil, nil
	}
	client := fetch.New(filepath.Join(opts.CacheDir, "metadata"))
	client.Progress = opts.Log
	ix := &repoIndex{provides: map[string][]*repoPackage{}, files: map[string][]*repoPackage{}}
	var all []*repoPackage
	mod := updates.Modularity{Defaults: map[string]string{}}
	for _, spec := range opts.Repositories {
		if spec.Priority == 0 {
			spec.Priority = repository.DefaultPriority
		}
		var (
			pkgs []*repoPackage
			err  error
		)
		if packageManager == "dpkg" {
			pkgs, err = loadDebIndex(ctx, client, spec)
		} else {
			pkgs, err = loadRPMIndex(ctx, client, spec, &mod)
		}
		if err != nil {
			return nil, fmt.Errorf("reading repository %q (%s) for new dependencies: %w", spec.Name, spec.URL, err)
		}
		opts.log("%s: %d package(s) considered for new dependencies", spec.Name, len(pkgs))
		all = append(all, pkgs...)
	}
	if packageManager != "dpkg" && len(mod.Streams) > 0 {
		enabled, err := outdated.EnabledModules(opts.Target.HostRoot)
		if err != nil {
			return nil, err
		}
		mod.Enabled = enabled
		all = hideModular(mod, all)
	}
	for _, p := range all {
		if !matchesAny(opts.Filter.Exclude, p.Name) {
			ix.add(p)
		}
	}
	return ix, nil
}

// hideModular drops what updates.Modularity hides.
func hideModular(mod updates.Modularity, pkgs []*repoPackage) []*repoPackage {
	cands := make([]updates.Candidate, len(pkgs))
	for i, p := range pkgs {
		// Location carries the index, to find each kept candidate's package again.
		cands[i] = updates.Candidate{Name: p.Name, Arch: p.Arch, EVR: p.EVR, Location: strconv.Itoa(i)}
	}
	var kept []*repoPackage
	for _, c := range mod.Hide(cands) {
		i, _ := strconv.Atoi(c.Location)
		kept = append(kept, pkgs[i])
	}
	return kept
}

func matchesAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// maxMetadata bounds repomd.xml, InRelease, Release and detached signatures.
const maxMetadata = 32 << 20

// maxUnpackedIndex bounds a decompressed primary.xml or Packages index whose size the
// repository does not state.
const maxUnpackedIndex = 8 << 30

func keyringFor(spec repository.Spec) (*signature.Keyring, error) {
	if spec.GPGKey == "" {
		return nil, nil
	}
	kr, err := signature.LoadKeyring(spec.GPGKey)
	if err != nil {
		return nil, fmt.Errorf("loading gpg_key: %w", err)
	}
	return kr, nil
}

func readMetadata(ctx context.Context, client *fetch.Client, base, rel string) ([]byte, string, error) {
	u, err := fetch.Resolve(base, rel)
	if err != nil {
		return nil, "", err
	}
	b, err := client.ReadSmall(ctx, u, maxMetadata)
	return b, u, err
}

// loadRPMIndex reads an rpm-md repository's primary.xml (and modules.yaml into mod).
func loadRPMIndex(ctx context.Context, client *fetch.Client, spec repository.Spec, mod *updates.Modularity) ([]*repoPackage, error) {
	kr, err := keyringFor(spec)
	if err != nil {
		return nil, err
	}
	raw, repomdURL, err := readMetadata(ctx, client, spec.URL, "repodata/repomd.xml")
	if err != nil {
		return nil, err
	}
	if kr != nil {
		sig, _, err := readMetadata(ctx, client, spec.URL, "repodata/repomd.xml.asc")
		if err != nil {
			return nil, fmt.Errorf("gpg_key is set but repodata/repomd.xml.asc cannot be read: %w", err)
		}
		if _, err := kr.VerifyDetached(bytes.NewReader(raw), bytes.NewReader(sig)); err != nil {
			return nil, fmt.Errorf("verifying %s.asc: %w", repomdURL, err)
		}
	}
	md, err := rpmmd.ParseRepomd(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", repomdURL, err)
	}
	primary, ok := md.Find("primary")
	if !ok {
		return nil, fmt.Errorf("%s lists no primary metadata", repomdURL)
	}
	var out []*repoPackage
	err = repository.ReadRepomdData(ctx, client, spec, primary, func(r io.Reader) error {
		return rpmmd.ParsePrimary(r, func(p *rpmmd.Package) error {
			if p.Arch == "src" || p.Arch == "nosrc" {
				return nil
			}
			base := spec.URL
			if p.LocationBase != "" {
				base = p.LocationBase
			}
			loc, err := fetch.Resolve(base, p.Location)
			if err != nil {
				return fmt.Errorf("package %s: %w", p.Name, err)
			}
			rp := &repoPackage{Name: p.Name, Arch: p.Arch, EVR: evr.EVR{Epoch: p.Epoch, Version: p.Version, Release: p.Release},
				Repository: spec.Name, Priority: spec.Priority, Location: loc, Size: p.Size, Files: p.Files}
			if p.Checksum.Type != "" && p.Checksum.Value != "" {
				rp.Checksum = strings.ToLower(p.Checksum.Type) + ":" + strings.ToLower(p.Checksum.Value)
			}
			for _, e := range p.Provides {
				rp.Provides = append(rp.Provides, rpmCapability{Name: e.Name, Op: rpmFlagOps[e.Flags],
					EVR: evr.EVR{Epoch: e.Epoch, Version: e.Ver, Release: e.Rel}})
			}
			out = append(out, rp)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if mods, ok := md.Find("modules"); ok {
		err := repository.ReadRepomdData(ctx, client, spec, mods, func(r io.Reader) error {
			m, err := rpmmd.ParseModules(r)
			if err != nil {
				return err
			}
			for _, s := range m.Streams {
				mod.Streams = append(mod.Streams, updates.ModuleStream{Name: s.Name, Stream: s.Stream, Artifacts: s.Artifacts})
			}
			for k, v := range m.Defaults {
				mod.Defaults[k] = v
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loadDebIndex reads the Packages indexes of an APT suite's components.
func loadDebIndex(ctx context.Context, client *fetch.Client, spec repository.Spec) ([]*repoPackage, error) {
	if spec.Suite == "" {
		return nil, fmt.Errorf("suite is required for a deb repository")
	}
	comps := spec.Components
	if len(comps) == 0 {
		comps = []string{"main"}
	}
	arch := spec.Arch
	if arch == "" {
		arch = "amd64"
	}
	kr, err := keyringFor(spec)
	if err != nil {
		return nil, err
	}
	dist := "dists/" + spec.Suite + "/"
	body, err := debReleaseBody(ctx, client, spec, dist, kr)
	if err != nil {
		return nil, err
	}
	rel, err := apt.ParseRelease(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parsing %sRelease: %w", dist, err)
	}
	var out []*repoPackage
	for _, comp := range comps {
		p, fh, ok := rel.IndexPath(comp, arch)
		if !ok {
			return nil, fmt.Errorf("%sRelease lists no Packages index for component %q, architecture %s", dist, comp, arch)
		}
		want := fetch.Want{Size: fh.Size, Checksum: "sha256:" + strings.ToLower(fh.SHA256)}
		var f io.ReadCloser
		if rel.AcquireByHash {
			if u, err := fetch.Resolve(spec.URL, dist+path.Clean(apt.ByHashPath(p, fh.SHA256))); err == nil {
				if byHash, err := client.Open(ctx, u, want); err == nil {
					f = byHash
				}
			}
		}
		u, err := fetch.Resolve(spec.URL, dist+p)
		if err != nil {
			return nil, err
		}
		if f == nil {
			if f, err = client.Open(ctx, u, want); err != nil {
				return nil, err
			}
		}
		err = func() error {
			defer f.Close()
			r, err := decompress.Reader(f, p, maxUnpackedIndex)
			if err != nil {
				return err
			}
			defer r.Close()
			return apt.ParsePackages(r, func(pkg *apt.Package) error {
				v, err := evr.ParseDeb(pkg.Version)
				if err != nil {
					return fmt.Errorf("package %s: %w", pkg.Package, err)
				}
				loc, err := fetch.Resolve(spec.URL, pkg.Filename)
				if err != nil {
					return fmt.Errorf("package %s: %w", pkg.Package, err)
				}
				d, err := newDebPackage(pkg)
				if err != nil {
					return err
				}
				rp := &repoPackage{Name: pkg.Package, Arch: pkg.Architecture, EVR: v, Repository: spec.Name,
					Priority: spec.Priority, Location: loc, Size: pkg.Size, Deb: d}
				if pkg.SHA256 != "" {
					rp.Checksum = "sha256:" + strings.ToLower(pkg.SHA256)
				}
				out = append(out, rp)
				return nil
			})
		}()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", u, err)
		}
	}
	return out, nil
}

// debReleaseBody fetches InRelease (or Release and Release.gpg) and returns the body,
// verified when the repository has a key.
func debReleaseBody(ctx context.Context, client *fetch.Client, spec repository.Spec, dist string, kr *signature.Keyring) ([]byte, error) {
	inrel, u, err := readMetadata(ctx, client, spec.URL, dist+"InRelease")
	if err == nil {
		if kr == nil {
			return signature.ClearsignedBody(inrel)
		}
		body, _, err := kr.VerifyClearsigned(inrel)
		if err != nil {
			return nil, fmt.Errorf("verifying %s: %w", u, err)
		}
		return body, nil
	}
	rel, u, err := readMetadata(ctx, client, spec.URL, dist+"Release")
	if err != nil {
		return nil, err
	}
	if kr == nil {
		return rel, nil
	}
	sig, _, err := readMetadata(ctx, client, spec.URL, dist+"Release.gpg")
	if err != nil {
		return nil, fmt.Errorf("gpg_key is set but %s has no InRelease and Release.gpg cannot be read: %w", dist, err)
	}
	if _, err := kr.VerifyDetached(bytes.NewReader(rel), bytes.NewReader(sig)); err != nil {
		return nil, fmt.Errorf("verifying %s.gpg: %w", u, err)
	}
	return rel, nil
}
