// Package updates computes which installed packages are outdated against a set of
// repository candidates, with the same answer dnf (check-update) and apt
// (list --upgradable) give for the same installed set and repositories.
package updates

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/evr"
)

// Actions an update can take.
const (
	ActionUpgrade  = "upgrade"  // replaces the installed version in place
	ActionInstall  = "install"  // an install-only package (kernel) installed beside the old ones
	ActionObsolete = "obsolete" // a new package that replaces the installed ones in Replaces
)

// Installed is one installed package.
type Installed struct {
	Name, Arch string
	EVR        evr.EVR
	// InstallOnly is set when the package provides installonlypkg(...) or is named in InstallOnlyNames.
	InstallOnly bool
}

// Obsolete is one Obsoletes entry of a candidate.
type Obsolete struct {
	Name string
	// Flags is the rpm comparison ("", "LT", "LE", "EQ", "GE", "GT"); "" matches every version.
	Flags string
	EVR   evr.EVR
}

// Candidate is one package offered by a repository.
type Candidate struct {
	Name, Arch string
	EVR        evr.EVR
	// Repository is the name of the repository offering it.
	Repository string
	// Priority follows dnf: the lower number wins.
	Priority int
	// Location is the absolute URL of the package file.
	Location string
	// Checksum is "sha256:<hex>" (or another algorithm the metadata used).
	Checksum string
	Size     int64
	// InstallOnly is set when the package provides installonlypkg(...) or is named in InstallOnlyNames.
	InstallOnly bool
	Obsoletes   []Obsolete
	// Security marks a Debian candidate offered by a security suite.
	Security bool
}

// AdvisoryPackage is one package version an advisory ships.
type AdvisoryPackage struct {
	Name, Arch string
	EVR        evr.EVR
}

// Advisory is an erratum from updateinfo.
type Advisory struct {
	ID, Type, Severity, Title string
	CVEs                      []string
	Packages                  []AdvisoryPackage
}

// Filter narrows the result the way dnf's --security, --sec-severity and excludes do.
type Filter struct {
	// SecurityOnly keeps updates fixing a security advisory (RPM) or offered by a security suite (Debian).
	SecurityOnly bool
	// MinSeverity keeps updates fixing an advisory of at least this severity (Low, Moderate, Important, Critical).
	MinSeverity string
	// Include keeps only packages whose names match one of these globs (none: all).
	Include []string
	// Exclude drops packages whose names match one of these globs.
	Exclude []string
}

// Input is everything Compute needs.
type Input struct {
	Scheme     evr.Scheme
	Installed  []Installed
	Candidates []Candidate
	Advisories []Advisory
	Filter     Filter
}

// Update is one outdated package and what would replace it.
type Update struct {
	Name, Arch, Action string
	Installed          string
	Available          evr.EVR
	Repository         string
	Location, Checksum string
	Size               int64
	Advisories         []string
	Severity           string
	Replaces           []string
	security           bool
	severityRank       int
}

// AdvisoryRef is an advisory fixed by at least one update.
type AdvisoryRef struct {
	ID, Type, Severity, Title string
	CVEs                      []string
}

// Result is the diff.
type Result struct {
	Updates       []Update
	Advisories    []AdvisoryRef
	CVEs          []string
	SecurityCount int
}

// InstallOnlyNames are the package names dnf installs beside older versions by default
// (dnf.conf installonlypkgs), besides anything providing installonlypkg(...).
var InstallOnlyNames = []string{"kernel", "kernel-PAE", "kernel-core", "kernel-modules", "kernel-modules-core",
	"kernel-modules-extra", "kernel-devel", "kernel-uek", "kernel-uek-core", "kernel-rt", "kernel-rt-core",
	"kernel-64k", "kernel-64k-core", "kernel-debug", "kernel-debug-core"}

// IsInstallOnly reports whether a package with this name and these provides is install-only.
func IsInstallOnly(name string, provides []string) bool {
	for _, n := range InstallOnlyNames {
		if n == name {
			return true
		}
	}
	for _, p := range provides {
		if strings.HasPrefix(p, "installonlypkg(") || strings.HasPrefix(p, "multiversion(kernel)") {
			return true
		}
	}
	return false
}

var severityRanks = map[string]int{"low": 1, "moderate": 2, "important": 3, "critical": 4}

// SeverityRank orders severities: 0 unknown, 1 Low … 4 Critical.
func SeverityRank(s string) int { return severityRanks[strings.ToLower(s)] }

// ValidSeverity reports whether s is one of Low, Moderate, Important, Critical (any case).
func ValidSeverity(s string) bool { return SeverityRank(s) > 0 }

// ValidateGlobs checks that every pattern is a well-formed glob.
func ValidateGlobs(patterns []string) error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("bad package name pattern %q: %w", p, err)
		}
	}
	return nil
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// Compute returns the updates for in.
func Compute(in Input) *Result {
	cmp := func(a, b evr.EVR) int { return evr.Compare(in.Scheme, a, b) }
	installedByName := map[string][]Installed{}
	for _, p := range in.Installed {
		installedByName[p.Name] = append(installedByName[p.Name], p)
	}
	byName := map[string][]Candidate{}
	for _, c := range in.Candidates {
		if matchAny(in.Filter.Exclude, c.Name) {
			continue
		}
		if in.Scheme == evr.Deb && in.Filter.SecurityOnly && !c.Security {
			continue
		}
		byName[c.Name] = append(byName[c.Name], c)
	}

	var ups []Update
	if in.Scheme == evr.RPM {
		ups = rpmUpdates(installedByName, byName, cmp)
	} else {
		ups = debUpdates(installedByName, byName, cmp)
	}
	res := &Result{}
	attachAdvisories(ups, in, cmp)
	advisories := map[string]AdvisoryRef{}
	cves := map[string]bool{}
	advByID := map[string]Advisory{}
	for _, a := range in.Advisories {
		advByID[a.ID] = a
	}
	for _, u := range ups {
		if len(in.Filter.Include) > 0 && !matchAny(in.Filter.Include, u.Name) {
			continue
		}
		if in.Filter.SecurityOnly && !u.security {
			continue
		}
		if in.Filter.MinSeverity != "" && u.severityRank < SeverityRank(in.Filter.MinSeverity) {
			continue
		}
		if u.security {
			res.SecurityCount++
		}
		for _, id := range u.Advisories {
			a := advByID[id]
			advisories[id] = AdvisoryRef{ID: a.ID, Type: a.Type, Severity: a.Severity, Title: a.Title, CVEs: a.CVEs}
			for _, c := range a.CVEs {
				cves[c] = true
			}
		}
		res.Updates = append(res.Updates, u)
	}
	for _, a := range advisories {
		res.Advisories = append(res.Advisories, a)
	}
	sort.Slice(res.Advisories, func(i, j int) bool { return res.Advisories[i].ID < res.Advisories[j].ID })
	for c := range cves {
		res.CVEs = append(res.CVEs, c)
	}
	sort.Strings(res.CVEs)
	return res
}

// archCompatible reports whether a candidate of arch ca may replace an installed package
// of arch ia: the same arch, or a move to or from noarch (libsolv forbids other arch changes,
// such as i686 to x86_64, in an upgrade).
func archCompatible(ia, ca string) bool {
	return ia == ca || ia == "noarch" || ca == "noarch"
}

func rpmUpdates(installedByName map[string][]Installed, byName map[string][]Candidate, cmp func(a, b evr.EVR) int) []Update {
	var ups []Update
	names := sortedKeys(byName)
	for _, name := range names {
		cands := byName[name]
		// dnf (libdnf filterUpdownByPriority): among all candidates of a name, only those
		// of the best-priority repository count, whatever their versions.
		best := cands[0].Priority
		for _, c := range cands {
			best = min(best, c.Priority)
		}
		kept := cands[:0:0]
		for _, c := range cands {
			if c.Priority == best {
				kept = append(kept, c)
			}
		}
		inst := installedByName[name]
		if len(inst) == 0 {
			continue
		}
		installOnly := false
		for _, p := range inst {
			installOnly = installOnly || p.InstallOnly
		}
		for _, c := range kept {
			installOnly = installOnly || c.InstallOnly
		}
		if installOnly {
			// Beside the old ones: compare with the newest installed version of a compatible arch.
			var newest *Installed
			for i, p := range inst {
				if newest == nil || cmp(p.EVR, newest.EVR) > 0 {
					newest = &inst[i]
				}
			}
			if c, ok := bestCandidate(kept, newest.Arch, cmp); ok && cmp(c.EVR, newest.EVR) > 0 {
				ups = append(ups, newUpdate(c, ActionInstall, newest.EVR))
			}
			continue
		}
		seen := map[string]bool{}
		for _, p := range inst {
			c, ok := bestCandidate(kept, p.Arch, cmp)
			if !ok || cmp(c.EVR, p.EVR) <= 0 || seen[c.Name+"."+c.Arch+" "+p.Arch] {
				continue
			}
			seen[c.Name+"."+c.Arch+" "+p.Arch] = true
			ups = append(ups, newUpdate(c, ActionUpgrade, p.EVR))
		}
	}
	ups = append(ups, rpmObsoletes(installedByName, byName, cmp)...)
	sortUpdates(ups)
	return ups
}

// bestCandidate picks the highest version among candidates an installed package of arch ia
// may move to; on a tie the installed arch wins.
func bestCandidate(cands []Candidate, ia string, cmp func(a, b evr.EVR) int) (Candidate, bool) {
	var best Candidate
	found := false
	for _, c := range cands {
		if !archCompatible(ia, c.Arch) {
			continue
		}
		if !found {
			best, found = c, true
			continue
		}
		switch d := cmp(c.EVR, best.EVR); {
		case d > 0:
			best = c
		case d == 0 && c.Arch == ia && best.Arch != ia:
			best = c
		}
	}
	return best, found
}

func rpmObsoletes(installedByName map[string][]Installed, byName map[string][]Candidate, cmp func(a, b evr.EVR) int) []Update {
	var ups []Update
	for _, name := range sortedKeys(byName) {
		if len(installedByName[name]) > 0 {
			continue // installed already: an upgrade, not a replacement
		}
		// Only the newest version of an obsoleting package counts.
		var newest *Candidate
		for i, c := range byName[name] {
			if newest == nil || cmp(c.EVR, newest.EVR) > 0 {
				newest = &byName[name][i]
			}
		}
		var replaces []string
		var replacedEVR evr.EVR
		for _, o := range newest.Obsoletes {
			for _, p := range installedByName[o.Name] {
				if obsoleteMatches(o, p.EVR, cmp) {
					if len(replaces) == 0 {
						replacedEVR = p.EVR
					}
					replaces = append(replaces, p.Name)
					break
				}
			}
		}
		if len(replaces) > 0 {
			u := newUpdate(*newest, ActionObsolete, replacedEVR)
			sort.Strings(replaces)
			u.Replaces = replaces
			ups = append(ups, u)
		}
	}
	return ups
}

func obsoleteMatches(o Obsolete, installed evr.EVR, cmp func(a, b evr.EVR) int) bool {
	if o.Flags == "" {
		return true
	}
	want := o.EVR
	have := installed
	if want.Release == "" {
		have.Release = "" // "Obsoletes: foo < 2.0" compares versions only
	}
	d := cmp(have, want)
	switch o.Flags {
	case "LT":
		return d < 0
	case "LE":
		return d <= 0
	case "EQ":
		return d == 0
	case "GE":
		return d >= 0
	case "GT":
		return d > 0
	}
	return false
}

func debUpdates(installedByName map[string][]Installed, byName map[string][]Candidate, cmp func(a, b evr.EVR) int) []Update {
	var ups []Update
	for _, name := range sortedKeys(installedByName) {
		for _, p := range installedByName[name] {
			// apt: versions older than the installed one are never candidates (pins below 1000);
			// among the newer ones the best pin (priority) wins, then the highest version.
			var best *Candidate
			for i, c := range byName[name] {
				if !(c.Arch == p.Arch || c.Arch == "all" || p.Arch == "all") || cmp(c.EVR, p.EVR) <= 0 {
					continue
				}
				if best == nil || c.Priority < best.Priority ||
					(c.Priority == best.Priority && cmp(c.EVR, best.EVR) > 0) {
					best = &byName[name][i]
				}
			}
			if best != nil {
				u := newUpdate(*best, ActionUpgrade, p.EVR)
				u.security = best.Security
				ups = append(ups, u)
			}
		}
	}
	sortUpdates(ups)
	return ups
}

// attachAdvisories links each RPM update to the advisories it fixes: an advisory package
// of the same name and arch whose version is newer than the installed one and not newer
// than the update (dnf updateinfo's "available" rule, bounded by what the update brings).
func attachAdvisories(ups []Update, in Input, cmp func(a, b evr.EVR) int) {
	type key struct{ name, arch string }
	idx := map[key][]int{}
	for i, u := range ups {
		idx[key{u.Name, u.Arch}] = append(idx[key{u.Name, u.Arch}], i)
	}
	for _, a := range in.Advisories {
		for _, ap := range a.Packages {
			for _, i := range idx[key{ap.Name, ap.Arch}] {
				u := &ups[i]
				inst := evr.ParseRPM(u.Installed)
				if in.Scheme == evr.Deb {
					inst, _ = evr.ParseDeb(u.Installed)
				}
				if cmp(ap.EVR, inst) <= 0 || cmp(ap.EVR, u.Available) > 0 || contains(u.Advisories, a.ID) {
					continue
				}
				u.Advisories = append(u.Advisories, a.ID)
				if a.Type == "security" {
					u.security = true
				}
				if r := SeverityRank(a.Severity); r > u.severityRank {
					u.severityRank, u.Severity = r, a.Severity
				}
			}
		}
	}
	for i := range ups {
		sort.Strings(ups[i].Advisories)
	}
}

func newUpdate(c Candidate, action string, installed evr.EVR) Update {
	return Update{
		Name: c.Name, Arch: c.Arch, Action: action,
		Installed: installed.String(), Available: c.EVR,
		Repository: c.Repository, Location: c.Location, Checksum: c.Checksum, Size: c.Size,
	}
}

func sortUpdates(ups []Update) {
	sort.Slice(ups, func(i, j int) bool {
		if ups[i].Name != ups[j].Name {
			return ups[i].Name < ups[j].Name
		}
		return ups[i].Arch < ups[j].Arch
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
