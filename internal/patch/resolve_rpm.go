package patch

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/evr"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/rpmfile"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// rpmCapability is one RPM dependency entry: a name and, optionally, a comparison with an
// EVR ("demo-lib >= 1.1", "/usr/bin/python3", "libc.so.6()(64bit)").
type rpmCapability struct {
	Name string
	// Op is "", "<", "<=", "=", ">=" or ">".
	Op  string
	EVR evr.EVR
}

// rpmFlagOps maps primary.xml's flags to operators.
var rpmFlagOps = map[string]string{"": "", "LT": "<", "LE": "<=", "EQ": "=", "GE": ">=", "GT": ">"}

func (c rpmCapability) String() string {
	if c.Op == "" {
		return c.Name
	}
	return c.Name + " " + c.Op + " " + c.EVR.String()
}

// parseRPMCapability reads "name [op evr]" as rpm prints a dependency. A rich dependency
// ("(a or b)") is returned whole as the name; nothing provides such a name, so it stays
// unresolved with its text in the error.
func parseRPMCapability(s string) rpmCapability {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "(") {
		return rpmCapability{Name: s}
	}
	f := strings.Fields(s)
	switch {
	case len(f) == 0:
		return rpmCapability{}
	case len(f) == 3 && strings.Trim(f[1], "<=>") == "":
		return rpmCapability{Name: f[0], Op: f[1], EVR: evr.ParseRPM(f[2])}
	}
	return rpmCapability{Name: s}
}

// satisfiedBy reports whether provide p meets requirement c: the same name and
// overlapping version ranges, as rpm's rpmdsCompare decides. A side without a version
// matches any version, and releases are compared only when both sides have one.
func (c rpmCapability) satisfiedBy(p rpmCapability) bool {
	if c.Name != p.Name {
		return false
	}
	if c.Op == "" || p.Op == "" {
		return true
	}
	a, b := p.EVR, c.EVR
	if a.Release == "" || b.Release == "" {
		a, b = evr.EVR{Epoch: a.Epoch, Version: a.Version}, evr.EVR{Epoch: b.Epoch, Version: b.Version}
	}
	sense := evr.CompareRPM(a, b)
	pLess, pEq, pGreater := strings.Contains(p.Op, "<"), strings.Contains(p.Op, "="), strings.Contains(p.Op, ">")
	cLess, cEq, cGreater := strings.Contains(c.Op, "<"), strings.Contains(c.Op, "="), strings.Contains(c.Op, ">")
	switch {
	case sense < 0:
		return pGreater || cLess
	case sense > 0:
		return pLess || cGreater
	}
	return (pEq && cEq) || (pLess && cLess) || (pGreater && cGreater)
}

// provides reports whether the repository package p meets requirement c, through one
// of its provides, its own name and version, or (for a path) a file primary.xml lists.
func (p *repoPackage) providesRPM(c rpmCapability) bool {
	if strings.HasPrefix(c.Name, "/") {
		for _, f := range p.Files {
			if f == c.Name {
				return true
			}
		}
	}
	for _, pr := range p.Provides {
		if c.satisfiedBy(pr) {
			return true
		}
	}
	return c.satisfiedBy(rpmCapability{Name: p.Name, Op: "=", EVR: p.EVR})
}

// multilibArches are the architectures an rpm system of each machine architecture
// installs beside its own (ref. rpm's rpmrc arch_compat).
var multilibArches = map[string][]string{
	"x86_64":  {"i686", "i586", "i486", "i386", "athlon"},
	"ppc64":   {"ppc"},
	"s390x":   {"s390"},
	"aarch64": {},
	"ppc64le": {},
}

// rpmArchRank orders architectures for a system of machine architecture machine:
// 0 for the machine's own and noarch, 1 for multilib ones, -1 for the incompatible.
func rpmArchRank(machine, arch string) int {
	if arch == machine || arch == "noarch" {
		return 0
	}
	for _, a := range multilibArches[machine] {
		if a == arch {
			return 1
		}
	}
	return -1
}

// bestRPMProvider picks the repository package that provides requirement c as dnf's
// solver (libsolv's policy_filter_unwanted) chooses one for a new dependency: among the
// compatible architectures, only the repositories of the best priority count (the
// lower number wins), then the machine's own architecture (and noarch) before multilib
// ones, and the highest version of each name; of the names left, the one providing the
// highest version of a capability they share comes first (so a package providing
// "foo = 5" beats foo 1.1 itself), then names in byte order. Names skip accepts
// (installed, or already in the transaction) are never chosen: those are upgrades, not
// new packages.
func (ix *repoIndex) bestRPMProvider(c rpmCapability, machine string, skip func(name string) bool) *repoPackage {
	if ix == nil {
		return nil
	}
	seen := map[*repoPackage]bool{}
	var cands []*repoPackage
	for _, list := range [][]*repoPackage{ix.provides[c.Name], ix.files[c.Name]} {
		for _, p := range list {
			if seen[p] || skip(p.Name) || rpmArchRank(machine, p.Arch) < 0 || !p.providesRPM(c) {
				continue
			}
			seen[p] = true
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	best := cands[0].Priority
	for _, p := range cands {
		best = min(best, p.Priority)
	}
	bestArch := 1
	for _, p := range cands {
		if p.Priority == best && p.Arch != "noarch" {
			bestArch = min(bestArch, rpmArchRank(machine, p.Arch))
		}
	}
	newest := map[string]*repoPackage{} // the highest version of each name
	for _, p := range cands {
		if p.Priority != best || (p.Arch != "noarch" && rpmArchRank(machine, p.Arch) != bestArch) {
			continue
		}
		q := newest[p.Name]
		if q == nil || evr.CompareRPM(p.EVR, q.EVR) > 0 || (evr.CompareRPM(p.EVR, q.EVR) == 0 && p.Arch == machine) {
			newest[p.Name] = p
		}
	}
	keep := make([]*repoPackage, 0, len(newest))
	for _, name := range sortedKeys(newest) {
		keep = append(keep, newest[name])
	}
	sortByCommonProvides(keep)
	return keep[0]
}

// sortByCommonProvides orders packages (stably) by how many others provide a higher
// version of a capability they share, as libsolv's sort_by_common_dep does: only
// "name = version" (and "<", "<=") provides count, and versions that look like hashes
// do not.
func sortByCommonProvides(pkgs []*repoPackage) {
	type entry struct {
		pkg  int
		name string
		evr  evr.EVR
	}
	var entries []entry
	for i, p := range pkgs {
		for _, pr := range p.Provides {
			if (pr.Op != "=" && pr.Op != "<=" && pr.Op != "<") || looksLikeHash(pr.EVR) {
				continue
			}
			entries = append(entries, entry{pkg: i, name: pr.Name, evr: pr.EVR})
		}
	}
	compare := func(a, b evr.EVR) int { // newest first, releases only when both have one
		if a.Release == "" || b.Release == "" {
			a, b = evr.EVR{Epoch: a.Epoch, Version: a.Version}, evr.EVR{Epoch: b.Epoch, Version: b.Version}
		}
		return evr.CompareRPM(b, a)
	}
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].name != entries[j].name {
			return entries[i].name < entries[j].name
		}
		return compare(entries[i].evr, entries[j].evr) < 0
	})
	badness := make([]int, len(pkgs))
	bad := 0
	for i, e := range entries {
		switch {
		case i == 0 || entries[i-1].name != e.name:
			bad = 0
		case entries[i-1].pkg != e.pkg && compare(entries[i-1].evr, e.evr) < 0:
			bad++
		}
		badness[e.pkg] += bad
	}
	order := make([]int, len(pkgs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return badness[order[i]] < badness[order[j]] })
	sorted := make([]*repoPackage, len(pkgs))
	for i, k := range order {
		sorted[i] = pkgs[k]
	}
	copy(pkgs, sorted)
}

// looksLikeHash reports whether a provided version is a hexadecimal hash (4 digits or
// more), which libsolv leaves out when it compares providers.
func looksLikeHash(v evr.EVR) bool {
	s := v.String()
	if len(s) < 4 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}

// rpmNeed is one requirement rpm reports unmet: "req is needed by by".
type rpmNeed struct {
	req string
	by  *rpmUpdate
}

// rpmUnmet runs "rpm -U --test" over the updates that rpm -U installs (all but the
// install-only ones) and returns the requirements nothing provides, leaving out those
// the installed version already lacked. A requirement of an installed package that the
// transaction takes away is an error.
func rpmUnmet(ctx context.Context, runner *rpmRunner, ups []*rpmUpdate) ([]rpmNeed, error) {
	var files []string
	byNEVRA := map[string]*rpmUpdate{}
	for _, d := range ups {
		if d.u.Action == updates.ActionInstall && len(d.dependencyOf) == 0 {
			continue // install-only packages go in with rpm -i, beside the old ones
		}
		files = append(files, runner.path(d.file))
		for _, k := range d.nevraForms() {
			byNEVRA[k] = d
		}
	}
	if len(files) == 0 {
		return nil, nil
	}
	out, err := runner.command(ctx, append([]string{"-U", "--test"}, files...)...).CombinedOutput()
	if err == nil {
		return nil, nil
	}
	var needs []rpmNeed
	var broken []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		m := neededBy.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		d := byNEVRA[m[2]]
		switch {
		case d == nil:
			broken = append(broken, fmt.Sprintf("%s is needed by installed %s", m[1], m[2]))
		case !preexisting(ctx, runner, d, m[1]):
			needs = append(needs, rpmNeed{req: m[1], by: d})
		}
	}
	if len(broken) > 0 {
		return nil, fmt.Errorf("%w: the transaction cannot be resolved offline: %s", ErrRefused, strings.Join(broken, "; "))
	}
	if len(needs) == 0 && len(out) > 0 && !strings.Contains(string(out), "is needed by") {
		return nil, fmt.Errorf("%w: rpm -U --test refuses the transaction:\n%s", ErrRefused, strings.TrimSpace(string(out)))
	}
	return needs, nil
}

// resolveRPMNewDeps adds to the transaction, as new installs, the packages dnf would pull
// in for requirements that neither the image nor the updates meet: for each, the best
// provider the repositories offer (bestRPMProvider), downloaded and verified like the
// updates, then the same for the new packages' own requirements, until nothing is
// missing. A requirement no repository meets is an error naming it, before any change.
func resolveRPMNewDeps(ctx context.Context, opts *Options, m *installed.Manifest, runner *rpmRunner, ups []*rpmUpdate, dir string) ([]*rpmUpdate, error) {
	var index *repoIndex
	loaded := false
	machine := m.MachineArch()
	if machine == "" {
		machine = "x86_64"
	}
	installedNames := map[string]bool{}
	for _, p := range m.Packages {
		installedNames[p.Name] = true
	}
	var added []*rpmUpdate
	for {
		all := append(append([]*rpmUpdate{}, ups...), added...)
		needs, err := rpmUnmet(ctx, runner, all)
		if err != nil {
			return nil, err
		}
		if len(needs) == 0 {
			return added, nil
		}
		if !loaded {
			if index, err = loadRepoIndex(ctx, opts, "rpm"); err != nil {
				return nil, err
			}
			loaded = true
		}
		inTransaction := map[string]bool{}
		for _, d := range all {
			inTransaction[d.u.Name] = true
		}
		skip := func(name string) bool { return installedNames[name] || inTransaction[name] }
		picked := map[*repoPackage][]string{}
		var order []*repoPackage
		var unresolved []string
		for _, n := range needs {
			p := index.bestRPMProvider(parseRPMCapability(n.req), machine, skip)
			if p == nil {
				unresolved = append(unresolved, fmt.Sprintf("%s is needed by %s, and neither the image, the updates nor the repositories provide it", n.req, n.by.nevra()))
				continue
			}
			if _, ok := picked[p]; !ok {
				order = append(order, p)
			}
			if !slices.Contains(picked[p], n.by.u.Name) {
				picked[p] = append(picked[p], n.by.u.Name)
			}
		}
		if len(unresolved) > 0 {
			sort.Strings(unresolved)
			return nil, fmt.Errorf("%w: the transaction cannot be resolved offline: %s", ErrRefused, strings.Join(unresolved, "; "))
		}
		var want []updates.Update
		for _, p := range order {
			want = append(want, p.update())
		}
		got, err := downloadAll(ctx, opts, want, dir, readRPMUpdate)
		if err != nil {
			return nil, err
		}
		for i, d := range got {
			d.dependencyOf = picked[order[i]]
			opts.log("installing %s %s (new dependency of %s)", d.u.Name, d.u.Available, strings.Join(d.dependencyOf, ", "))
			added = append(added, d)
		}
	}
}

// readRPMUpdate reads a downloaded RPM and checks that it is the package the metadata
// named.
func readRPMUpdate(u updates.Update, r io.Reader, file string) (*rpmUpdate, error) {
	p, err := rpmfile.Read(r)
	if err != nil {
		return nil, err
	}
	got := evr.EVR{Epoch: p.Epoch, Version: p.Version, Release: p.Release}
	if p.Name != u.Name || evr.CompareRPM(got, u.Available) != 0 || (u.Arch != "" && p.Arch != u.Arch) {
		return nil, fmt.Errorf("%w: %s is %s-%s.%s, but the metadata promised %s-%s.%s", ErrRefused, u.Location, p.Name, got, p.Arch, u.Name, u.Available, u.Arch)
	}
	return &rpmUpdate{txEntry: txEntry{u: u, file: file}, pkg: p}, nil
}
