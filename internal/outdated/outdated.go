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
	m := job.Manifest
	scheme, wantType, err := schemeFor(m.PackageManager)
	if err != nil {
		return nil, err
	}
	for _, r := range job.Repositories {
		t := r.Type
		if t == "" {
			t = repository.TypeRPM
		}
		if t != wantType {
			return nil, fmt.Errorf("repository %q is of type %q but the packages are managed by %s: use type = %q repositories for this image",
				r.Name, t, m.PackageManager, wantType)
		}
	}
	in := updates.Input{Scheme: scheme, Filter: job.Filter}
	names := map[string]bool{}
	for _, p := range m.Packages {
		if p.Name == "gpg-pubkey" || p.Name == "gpg-pubkey-release" {
			continue // imported rpm signing keys, not packages
		}
		names[p.Name] = true
		in.Installed = append(in.Installed, updates.Installed{
			Name: p.Name, Arch: p.Arch,
			EVR:         evr.EVR{Epoch: p.Epoch, Version: p.Version, Release: p.Release},
			InstallOnly: scheme == evr.RPM && updates.IsInstallOnly(p.Name, p.Provides),
		})
	}
	wanted := func(name string) bool { return names[name] }

	loaded := make([]*repository.Loaded, len(job.Repositories))
	errs := make([]error, len(job.Repositories))
	n := job.Concurrency
	if n <= 0 {
		n = 4
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, spec := range job.Repositories {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			loaded[i], errs[i] = job.Loader.Load(ctx, spec, wanted)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err // every repository's error, each naming it; errors.Is sees through
	}

	mod := updates.Modularity{Defaults: map[string]string{}}
	for _, l := range loaded {
		in.Candidates = append(in.Candidates, l.Candidates...)
		in.Advisories = append(in.Advisories, l.Advisories...)
		mod.Streams = append(mod.Streams, l.Streams...)
		for k, v := range l.Defaults {
			mod.Defaults[k] = v
		}
	}
	if job.Root != "" {
		mod.Enabled, err = EnabledModules(job.Root)
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
