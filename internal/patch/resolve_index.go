package patch

import (
	"context"
	"fmt"
	"path"
	"strconv"

	"github.com/refit-images/packer-plugin-refit/internal/evr"
	"github.com/refit-images/packer-plugin-refit/internal/outdated"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
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

// loadRepoIndex reads every package of opts.Repositories through package repository's
// loader in its index mode (metadata verified as for the diff, through the same metadata
// cache). RPM packages that dnf's modular filtering hides for the root (streams that are
// not active) are left out, as are names opts.Filter.Exclude matches. It returns nil when
// there are no repositories.
func loadRepoIndex(ctx context.Context, opts *Options, packageManager string) (*repoIndex, error) {
	if len(opts.Repositories) == 0 {
		return nil, nil
	}
	loader := opts.loader()
	ix := &repoIndex{provides: map[string][]*repoPackage{}, files: map[string][]*repoPackage{}}
	var all []*repoPackage
	mod := updates.Modularity{Defaults: map[string]string{}}
	for _, spec := range opts.Repositories {
		loaded, err := loader.LoadIndex(ctx, spec)
		if err != nil {
			return nil, fmt.Errorf("reading the repositories for new dependencies: %w", err)
		}
		for i := range loaded.Packages {
			p, err := newRepoPackage(&loaded.Packages[i])
			if err != nil {
				return nil, fmt.Errorf("repository %q: %w", spec.Name, err)
			}
			all = append(all, p)
		}
		mod.Streams = append(mod.Streams, loaded.Streams...)
		for k, v := range loaded.Defaults {
			mod.Defaults[k] = v
		}
		opts.log("%s: %d package(s) considered for new dependencies", spec.Name, len(loaded.Packages))
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

// newRepoPackage is p as the resolver sees it: RPM provides parsed into capabilities,
// Debian relationships into debPackage.
func newRepoPackage(p *repository.Package) (*repoPackage, error) {
	rp := &repoPackage{Name: p.Name, Arch: p.Arch, EVR: p.EVR, Repository: p.Repository, Priority: p.Priority,
		Location: p.Location, Checksum: p.Checksum, Size: p.Size}
	if p.Deb != nil {
		d, err := newDebPackage(p.Deb)
		if err != nil {
			return nil, err
		}
		rp.Deb = d
		return rp, nil
	}
	if p.RPM != nil {
		rp.Files = p.RPM.Files
		for _, e := range p.RPM.Provides {
			rp.Provides = append(rp.Provides, rpmCapability{Name: e.Name, Op: rpmFlagOps[e.Flags],
				EVR: evr.EVR{Epoch: e.Epoch, Version: e.Ver, Release: e.Rel}})
		}
	}
	return rp, nil
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
