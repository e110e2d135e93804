// Package outdated runs the whole diff job shared by the refit-repodiff data source and
// the refit-patch post-processor: read what is installed, load the repositories
// concurrently, hide what dnf's modularity hides, and compute the updates.
package outdated

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/refit-images/packer-plugin-refit/internal/evr"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// Job is one diff to run.
type Job struct {
	// Manifest is what is installed.
	Manifest *installed.Manifest
	// ReadManifest, when Manifest is nil, reads what is installed while the repositories
	// load (reading an rpmdb and decompressing metadata then share the CPUs); the loaders
	// wait for the installed names before they keep their first package. ReadManifest may
	// hand them over early, through names (at most once, before it returns: see
	// installed.FromRootWithNames), so the loaders need not wait for the whole manifest.
	ReadManifest func(names func([]string)) (*installed.Manifest, error)
	// Root, when set, is the root filesystem the manifest was read from; its
	// /etc/dnf/modules.d tells which module streams are enabled.
	Root         string
	Repositories []repository.Spec
	Filter       updates.Filter
	Loader       *repository.Loader
	// Concurrency bounds how many repositories load at once (default 4).
	Concurrency int
}

// Run computes the updates.
func Run(ctx context.Context, job Job) (*updates.Result, error) {
	var (
		m         = job.Manifest
		merr      error
		names     map[string]bool
		ready     = make(chan struct{}) // names is set
		read      = make(chan struct{}) // m and merr are set
		readyOnce sync.Once
	)
	setNames := func(list func(yield func(string) bool)) {
		readyOnce.Do(func() {
			names = map[string]bool{}
			for n := range list {
				if !isSigningKey(n) {
					names[n] = true
				}
			}
			close(ready)
		})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if m != nil {
		names = InstalledNames(m)
		close(ready)
		close(read)
	} else {
		go func() {
			defer close(read)
			m, merr = job.ReadManifest(func(early []string) { setNames(slices.Values(early)) })
			if merr != nil {
				cancel() // no use loading for an inventory that cannot be read
				readyOnce.Do(func() { close(ready) })
				return
			}
			setNames(func(yield func(string) bool) {
				for _, p := range m.Packages {
					if !yield(p.Name) {
						return
					}
				}
			})
		}()
	}
	wanted := func(name string) bool {
		<-ready
		return names[name]
	}
	repos := job.Repositories
	if needsArch(repos) {
		// APT indexes are per architecture: the image's, from its root or else its packages.
		a, ok, err := ImageArch(job.Root, job.Manifest)
		if err == nil && !ok && job.Manifest == nil {
			<-read
			if merr != nil {
				return nil, merr
			}
			a, ok, err = ImageArch("", m)
		}
		if err != nil {
			return nil, fmt.Errorf("finding the image's architecture: %w", err)
		}
		if ok {
			if repos, err = ForArch(repos, a); err != nil {
				return nil, err
			}
		}
	}
	all := make([]repository.Wanted, len(repos))
	for i := range all {
		all[i] = wanted
	}
	loaded, lerr := Load(ctx, job.Loader, repos, all, job.Concurrency)
	<-read
	if merr != nil {
		return nil, merr
	}
	// A repository of the wrong type is named as such, not by the error loading it gave.
	if err := checkTypes(m, repos); err != nil {
		return nil, err
	}
	if lerr != nil {
		return nil, lerr
	}
	return Diff(m, job.Root, NewOffer(loaded), job.Filter)
}

// checkTypes checks that every repository is of the type m's package manager reads.
func checkTypes(m *installed.Manifest, repos []repository.Spec) error {
	_, wantType, err := schemeFor(m.PackageManager)
	if err != nil {
		return err
	}
	for _, r := range repos {
		t := r.Type
		if t == "" {
			t = repository.TypeRPM
		}
		if t != wantType {
			return fmt.Errorf("repository %q is of type %q but the packages are managed by %s: use type = %q repositories for this image",
				r.Name, t, m.PackageManager, wantType)
		}
	}
	return nil
}

// InstalledNames is the set of the names of m's packages that repositories are asked
// about (every one but rpm's imported signing keys).
func InstalledNames(m *installed.Manifest) map[string]bool {
	names := make(map[string]bool, len(m.Packages))
	for _, p := range m.Packages {
		if !isSigningKey(p.Name) {
			names[p.Name] = true
		}
	}
	return names
}

// isSigningKey tells rpm's imported signing keys, which are not packages.
func isSigningKey(name string) bool { return name == "gpg-pubkey" || name == "gpg-pubkey-release" }

// Load loads every spec once, concurrency at a time (default 4), keeping the candidates
// and advisories of the names wanted[i] accepts for specs[i]. The errors of every repository that failed
// are joined, each naming it.
func Load(ctx context.Context, loader *repository.Loader, specs []repository.Spec, wanted []repository.Wanted, concurrency int) ([]*repository.Loaded, error) {
	loaded := make([]*repository.Loaded, len(specs))
	errs := make([]error, len(specs))
	if concurrency <= 0 {
		concurrency = 4
	}
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			loaded[i], errs[i] = loader.Load(ctx, spec, wanted[i])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err // errors.Is sees through
	}
	return loaded, nil
}

// Inventory is m's packages as the diff reads them (rpm's imported signing keys left out).
func Inventory(m *installed.Manifest) ([]updates.Installed, error) {
	scheme, _, err := schemeFor(m.PackageManager)
	if err != nil {
		return nil, err
	}
	inv := make([]updates.Installed, 0, len(m.Packages))
	for _, p := range m.Packages {
		if isSigningKey(p.Name) {
			continue
		}
		inv = append(inv, updates.Installed{
			Name: p.Name, Arch: p.Arch,
			EVR:         evr.EVR{Epoch: p.Epoch, Version: p.Version, Release: p.Release},
			InstallOnly: scheme == evr.RPM && updates.IsInstallOnly(p.Name, p.Provides),
		})
	}
	return inv, nil
}

// Diff computes the updates of the packages m lists against what offer holds, exactly as
// Run does when offer was loaded for m's names alone: offer may hold more (the names of
// other images, as refit-fleet loads it), which Diff narrows to m's names first. root,
// when set, is where m was read from (its enabled module streams count).
func Diff(m *installed.Manifest, root string, offer *Offer, f updates.Filter) (*updates.Result, error) {
	inv, err := Inventory(m)
	if err != nil {
		return nil, err
	}
	return DiffInventory(m.PackageManager, inv, root, offer, f)
}

// DiffInventory is Diff for an inventory (Inventory) of an image whose package manager
// is pm.
func DiffInventory(pm string, inv []updates.Installed, root string, offer *Offer, f updates.Filter) (*updates.Result, error) {
	scheme, _, err := schemeFor(pm)
	if err != nil {
		return nil, err
	}
	in := updates.Input{Scheme: scheme, Filter: f, Installed: inv}
	names := make(map[string]bool, len(inv))
	for _, p := range inv {
		names[p.Name] = true
	}
	in.Candidates, in.Advisories = offer.narrow(names)
	mod := updates.Modularity{Defaults: map[string]string{}}
	for _, l := range offer.loaded {
		mod.Streams = append(mod.Streams, l.Streams...)
		for k, v := range l.Defaults {
			mod.Defaults[k] = v
		}
	}
	if root != "" {
		mod.Enabled, err = EnabledModules(root)
		if err != nil {
			return nil, err
		}
	}
	in.Candidates = mod.Hide(in.Candidates)
	in.Advisories = dedupeAdvisories(in.Advisories)
	return updates.Compute(in), nil
}

func schemeFor(pm string) (evr.Scheme, string, error) {
	switch pm {
	case "rpm":
		return evr.RPM, repository.TypeRPM, nil
	case "dpkg":
		return evr.Deb, repository.TypeDeb, nil
	}
	return 0, "", fmt.Errorf("unknown package manager %q (expected rpm or dpkg)", pm)
}

// dedupeAdvisories keeps one copy of an advisory published by several repositories.
func dedupeAdvisories(advs []updates.Advisory) []updates.Advisory {
	seen := map[string]int{}
	var out []updates.Advisory
	for _, a := range advs {
		if i, ok := seen[a.ID]; ok {
			out[i].Packages = append(out[i].Packages, a.Packages...)
			continue
		}
		seen[a.ID] = len(out)
		out = append(out, a)
	}
	return out
}

// EnabledModules reads root/etc/dnf/modules.d/*.module: module name → enabled stream
// ("" for a module the image disabled). A missing folder is no error.
func EnabledModules(root string) (map[string]string, error) {
	dir := filepath.Join(root, "etc", "dnf", "modules.d")
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".module") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, e.Name()), err)
		}
		var name, stream, state string
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
				name = strings.Trim(line, "[]")
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "name":
				name = strings.TrimSpace(v)
			case "stream":
				stream = strings.TrimSpace(v)
			case "state":
				state = strings.TrimSpace(v)
			}
		}
		switch state {
		case "enabled":
			out[name] = stream
		case "disabled":
			out[name] = ""
		}
	}
	return out, nil
}
