// Package fleet answers, for many images at once, what refit-repodiff answers for one:
// it reads each image's record (a refit-manifest/v1 file, or a CycloneDX or SPDX SBOM
// through package sbom), loads every repository once
// for the whole fleet, gives each image the repositories that apply to it, and diffs each
// image through package outdated exactly as refit-repodiff does. It also renders the
// fleet's report (report.go): one self-contained HTML page and the same in JSON.
package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/outdated"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
	"github.com/refit-images/packer-plugin-refit/internal/sbom"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// ErrNoRecords is wrapped by the error of a manifests list that names no file.
var ErrNoRecords = errors.New("fleet: no image records")

// Record is one image's record: its name, distribution and what is installed in it.
type Record struct {
	// Name is the file's name without its suffixes (see ImageName).
	Name string
	// Path is the file the record was read from.
	Path string
	// OS and PackageManager are the record's.
	OS             installed.OS
	PackageManager string
	// InstalledCount is the number of packages the record lists.
	InstalledCount int
	// Arch is the image's Debian architecture name ("amd64", "arm64"), the one most of its
	// packages carry (as refit-repodiff finds it without a root); "" when none says.
	Arch string
	// packages index the fleet's table of distinct installed packages: a fleet repeats
	// the same packages at the same versions in image after image, so a thousand records
	// of a thousand packages each take megabytes, not hundreds of them.
	packages []uint32
	table    *packageTable
}

// Inventory is what is installed in the image, as outdated.Inventory gives it.
func (r *Record) Inventory() []updates.Installed {
	inv := make([]updates.Installed, len(r.packages))
	r.table.mu.Lock()
	defer r.table.mu.Unlock()
	for i, id := range r.packages {
		inv[i] = r.table.list[id]
	}
	return inv
}

// packageTable holds each distinct installed package of the fleet once.
type packageTable struct {
	mu   sync.Mutex
	ids  map[updates.Installed]uint32
	list []updates.Installed
}

// add records inv and returns its packages' ids.
func (t *packageTable) add(inv []updates.Installed) []uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ids == nil {
		t.ids = map[updates.Installed]uint32{}
	}
	out := make([]uint32, len(inv))
	for i, p := range inv {
		id, ok := t.ids[p]
		if !ok {
			id = uint32(len(t.list))
			t.ids[p] = id
			t.list = append(t.list, p)
		}
		out[i] = id
	}
	return out
}

// recordSuffixes are stripped, repeatedly, from the end of a record's file name to name
// the image: "web-01.qcow2.manifest.json" and "web-01.cdx.json" are both "web-01".
var recordSuffixes = []string{".json", ".manifest", ".cdx", ".spdx", ".sbom", ".qcow2", ".raw", ".img"}

// ImageName is the name of the image whose record is at p: the file name without its
// suffixes (.json, .manifest, .cdx, .spdx, .sbom and the image formats .qcow2, .raw and
// .img, in any order), so that a version in the name ("rocky-9.3") is kept.
func ImageName(p string) string {
	name := filepath.Base(p)
	for {
		trimmed := name
		for _, s := range recordSuffixes {
			if strings.HasSuffix(strings.ToLower(trimmed), s) && len(trimmed) > len(s) {
				trimmed = trimmed[:len(trimmed)-len(s)]
			}
		}
		if trimmed == name {
			return name
		}
		name = trimmed
	}
}

// Expand turns paths and globs into the sorted list of files they name. A glob that
// matches nothing, or a path that does not exist, is an error naming it.
func Expand(patterns []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, p := range patterns {
		matches, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("manifests: bad glob %q: %w", p, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("manifests: %q names no file: give existing paths or globs such as \"images/*.manifest.json\"", p)
		}
		for _, m := range matches {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: manifests is empty", ErrNoRecords)
	}
	sort.Strings(out)
	return out, nil
}

// ReadRecords reads the records at paths, workers at a time (default: one per CPU). Two
// files naming the same image are an error naming both.
func ReadRecords(ctx context.Context, paths []string, workers int) ([]*Record, error) {
	recs := make([]*Record, len(paths))
	table := &packageTable{}
	err := parallel(ctx, len(paths), workers, func(i int) error {
		m, err := readRecord(paths[i])
		if err != nil {
			return err
		}
		inv, err := outdated.Inventory(m)
		if err != nil {
			return fmt.Errorf("%s: %w", paths[i], err)
		}
		a, ok, err := outdated.ImageArch("", m)
		if err != nil && m.PackageManager == "dpkg" { // rpm-md indexes hold every architecture
			return fmt.Errorf("%s: the architecture of its packages: %w (set architecture on the repository blocks that serve it)", paths[i], err)
		}
		recs[i] = &Record{Name: ImageName(paths[i]), Path: paths[i], OS: m.OS, PackageManager: m.PackageManager,
			InstalledCount: len(m.Packages), packages: table.add(inv), table: table}
		if ok {
			recs[i].Arch = a.Debian
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	byName := map[string]string{}
	for _, r := range recs {
		if other, ok := byName[r.Name]; ok {
			return nil, fmt.Errorf("manifests: %s and %s both name the image %q; keep one record per image (for example a glob of *.manifest.json or of *.cdx.json files, not both)", other, r.Path, r.Name)
		}
		byName[r.Name] = r.Path
	}
	return recs, nil
}

// readRecord reads a refit-manifest/v1 file, or a CycloneDX or SPDX JSON SBOM (by its
// name, .cdx.json or .spdx.json, or when the file is not a manifest) through sbom.Read.
func readRecord(p string) (*installed.Manifest, error) {
	lower := strings.ToLower(p)
	if strings.HasSuffix(lower, ".cdx.json") || strings.HasSuffix(lower, ".spdx.json") {
		r, err := sbom.Read(p)
		if err != nil {
			return nil, err
		}
		return r.Manifest, nil
	}
	m, err := installed.ReadManifest(p)
	if errors.Is(err, installed.ErrInvalidManifest) {
		if r, serr := sbom.Read(p); serr == nil {
			return r.Manifest, nil
		} else if !errors.Is(serr, sbom.ErrNotSBOM) {
			return nil, serr
		}
	}
	return m, err
}

// Repository is one repository of the fleet and the images it applies to.
type Repository struct {
	Spec repository.Spec
	// OSIDs, when set, limit the repository to images whose os-release ID or family is
	// one of them ("rocky", "rhel", "debian").
	OSIDs []string
	// OSVersionIDs, when set, limit it to images whose VERSION_ID matches one of these
	// globs ("9*", "12").
	OSVersionIDs []string
}

// Type is the repository's type, rpm-md when unset.
func (r Repository) Type() string {
	if r.Spec.Type == "" {
		return repository.TypeRPM
	}
	return r.Spec.Type
}

// packageManagers maps a repository type to the package manager of the images it serves.
var packageManagers = map[string]string{repository.TypeRPM: "rpm", repository.TypeDeb: "dpkg"}

// AppliesTo tells whether r serves the image rec records: its type fits the image's
// package manager (rpm-md: rpm, deb: dpkg), and os_id and os_version_id, where set, match.
func (r Repository) AppliesTo(rec *Record) bool {
	if packageManagers[r.Type()] != rec.PackageManager {
		return false
	}
	if len(r.OSIDs) > 0 && !slices.Contains(r.OSIDs, rec.OS.ID) && !slices.Contains(r.OSIDs, rec.OS.Family) {
		return false
	}
	if len(r.OSVersionIDs) > 0 {
		for _, g := range r.OSVersionIDs {
			if ok, _ := path.Match(g, rec.OS.VersionID); ok {
				return true
			}
		}
		return false
	}
	return true
}

// ValidateGlobs checks os_version_id globs.
func ValidateGlobs(globs []string) error {
	for _, g := range globs {
		if _, err := path.Match(g, ""); err != nil {
			return fmt.Errorf("bad os_version_id pattern %q: %w", g, err)
		}
	}
	return nil
}

// Job is one fleet diff.
type Job struct {
	Records      []*Record
	Repositories []Repository
	Filter       updates.Filter
	Loader       *repository.Loader
	// Workers bounds the images diffed at once (default: one per CPU).
	Workers int
}

// Image is one image's answer: what refit-repodiff answers for it alone, with the
// repositories that apply to it.
type Image struct {
	Record       *Record
	Repositories []string
	Result       *updates.Result
}

// Result is the fleet's answer, images in the order of their records.
type Result struct {
	Images []Image
}

// Run loads each repository once, with the names of every image it applies to, and diffs
// each image against the repositories that apply to it. A deb repository without an
// architecture is loaded once per architecture of the images it serves, each image reading
// its own architecture's index (Record.Arch; amd64 when the record does not say), as
// refit-repodiff does for one image; a repository's architecture, when set, is read for
// every image it serves. An image that no repository applies to is an error naming it.
func Run(ctx context.Context, job Job) (*Result, error) {
	// A load is one repository at one architecture ("" for rpm-md, whose index holds every
	// architecture, and for a repository whose architecture is set).
	type load struct {
		repo int
		arch string
	}
	var (
		specs  []repository.Spec
		names  []map[string]bool
		loads  = map[load]int{} // → index in specs
		repoOf []int            // specs index → job.Repositories index
	)
	applies := make([][]int, len(job.Records)) // image -> indices (in specs) of its loads
	for ri, rec := range job.Records {
		for i, r := range job.Repositories {
			if !r.AppliesTo(rec) {
				continue
			}
			l := load{repo: i}
			if r.Type() == repository.TypeDeb && r.Spec.Arch == "" {
				l.arch = rec.Arch
			}
			k, ok := loads[l]
			if !ok {
				k = len(specs)
				loads[l] = k
				spec := r.Spec
				spec.Arch = cmp.Or(spec.Arch, l.arch)
				specs = append(specs, spec)
				names = append(names, map[string]bool{})
				repoOf = append(repoOf, i)
			}
			applies[ri] = append(applies[ri], k)
			for _, id := range rec.packages {
				names[k][rec.table.list[id].Name] = true
			}
		}
		if len(applies[ri]) == 0 {
			want := repository.TypeRPM
			if rec.PackageManager == "dpkg" {
				want = repository.TypeDeb
			}
			return nil, fmt.Errorf("image %q (%s, %s %s, %s) has no repository: add a repository block of type = %q whose os_id and os_version_id, if set, match it",
				rec.Name, rec.Path, rec.OS.ID, rec.OS.VersionID, rec.PackageManager, want)
		}
	}
	wanted := make([]repository.Wanted, len(specs))
	for i := range specs {
		set := names[i]
		wanted[i] = func(n string) bool { return set[n] }
	}
	// Only what some image needs is in specs: a repository no image needs is not fetched at all.
	loaded, err := outdated.Load(ctx, job.Loader, specs, wanted, 0)
	if err != nil {
		return nil, err
	}
	// Images with the same repositories share one index of what they offer.
	offers := map[string]*outdated.Offer{}
	for _, idx := range applies {
		key := fmt.Sprint(idx)
		if offers[key] == nil {
			set := make([]*repository.Loaded, len(idx))
			for k, i := range idx {
				set[k] = loaded[i]
			}
			offers[key] = outdated.NewOffer(set)
		}
	}
	res := &Result{Images: make([]Image, len(job.Records))}
	err = parallel(ctx, len(job.Records), job.Workers, func(ri int) error {
		rec := job.Records[ri]
		r, err := outdated.DiffInventory(rec.PackageManager, rec.Inventory(), "", offers[fmt.Sprint(applies[ri])], job.Filter)
		if err != nil {
			return fmt.Errorf("image %q (%s): %w", rec.Name, rec.Path, err)
		}
		var repos []string
		for _, k := range applies[ri] {
			repos = append(repos, job.Repositories[repoOf[k]].Spec.Name)
		}
		res.Images[ri] = Image{Record: rec, Repositories: repos, Result: r}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// parallel runs fn(0..n-1), workers at a time (default: one per CPU), and returns the
// first error; after one, the remaining indices are skipped.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if first != nil || next >= n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				err := ctx.Err()
				if err == nil {
					err = fn(i)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}
