package patch

import (
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/apt"
	"github.com/refit-images/packer-plugin-refit/internal/evr"
)

// debRelation is one alternative of a Debian relationship field: "libc6 (>= 2.36)".
type debRelation struct {
	Name, Op, Version string
}

// parseDebRelations splits a Depends-style field into clauses (comma-separated) of
// alternatives ("|"). Architecture qualifiers (":any", ":amd64") are dropped: refit
// patches one architecture.
func parseDebRelations(field string) ([][]debRelation, error) {
	var out [][]debRelation
	for _, clause := range strings.Split(field, ",") {
		clause = strings.TrimSpace(clause)
		if clause == "" {
			continue
		}
		var alts []debRelation
		for _, alt := range strings.Split(clause, "|") {
			alt = strings.TrimSpace(alt)
			// Binary packages carry no [arch] or <profile> restrictions; drop them if present.
			if i := strings.IndexAny(alt, "[<"); i >= 0 && !strings.Contains(alt[:i], "(") {
				alt = strings.TrimSpace(alt[:i])
			}
			r := debRelation{}
			if i := strings.IndexByte(alt, '('); i >= 0 {
				j := strings.IndexByte(alt, ')')
				if j < i {
					return nil, fmt.Errorf("relation %q: unbalanced parenthesis", alt)
				}
				cons := strings.TrimSpace(alt[i+1 : j])
				k := strings.IndexFunc(cons, func(c rune) bool { return c != '<' && c != '>' && c != '=' })
				if k <= 0 {
					return nil, fmt.Errorf("relation %q: no operator", alt)
				}
				r.Op, r.Version = cons[:k], strings.TrimSpace(cons[k:])
				alt = strings.TrimSpace(alt[:i])
			}
			if c := strings.IndexByte(alt, ':'); c >= 0 {
				alt = alt[:c]
			}
			if alt == "" {
				return nil, fmt.Errorf("relation %q: no package name", clause)
			}
			r.Name = alt
			alts = append(alts, r)
		}
		out = append(out, alts)
	}
	return out, nil
}

// debVersionSatisfies reports whether version v meets op ref (dpkg's meaning of <<, <=, =,
// >=, >> and the obsolete < and >).
func debVersionSatisfies(v, op, ref string) bool {
	if op == "" {
		return true
	}
	a, err1 := evr.ParseDeb(v)
	b, err2 := evr.ParseDeb(ref)
	if err1 != nil || err2 != nil {
		return false
	}
	c := evr.CompareDeb(a, b)
	switch op {
	case "<<":
		return c < 0
	case "<=", "<":
		return c <= 0
	case "=":
		return c == 0
	case ">=", ">":
		return c >= 0
	case ">>":
		return c > 0
	}
	return false
}

// debPackage is one package version as the resolver sees it.
type debPackage struct {
	Name, Version string
	Depends       [][]debRelation // Depends and Pre-Depends
	Breaks        [][]debRelation // Breaks and Conflicts
	Provides      []debRelation
}

func newDebPackage(p *apt.Package) (*debPackage, error) {
	d := &debPackage{Name: p.Package, Version: p.Version}
	for _, f := range []struct {
		into  *[][]debRelation
		field string
	}{{&d.Depends, p.Depends}, {&d.Depends, p.PreDepends}, {&d.Breaks, p.Breaks}, {&d.Breaks, p.Conflicts}} {
		rels, err := parseDebRelations(f.field)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", p.Package, p.Version, err)
		}
		*f.into = append(*f.into, rels...)
	}
	prov, err := parseDebRelations(p.Provides)
	if err != nil {
		return nil, fmt.Errorf("%s %s: Provides: %w", p.Package, p.Version, err)
	}
	for _, alts := range prov {
		d.Provides = append(d.Provides, alts...)
	}
	return d, nil
}

// debState is a set of installed package versions, by name.
type debState struct {
	pkgs     map[string]*debPackage
	provides map[string][]debRelation // virtual name → providers (Name = provider, Version = provided version)
}

func newDebState(pkgs map[string]*debPackage) *debState {
	s := &debState{pkgs: pkgs, provides: map[string][]debRelation{}}
	for _, p := range pkgs {
		for _, pr := range p.Provides {
			s.provides[pr.Name] = append(s.provides[pr.Name], debRelation{Name: p.Name, Version: pr.Version})
		}
	}
	return s
}

// satisfies reports whether one alternative is met.
func (s *debState) satisfies(r debRelation) bool {
	if p := s.pkgs[r.Name]; p != nil && debVersionSatisfies(p.Version, r.Op, r.Version) {
		return true
	}
	for _, pr := range s.provides[r.Name] {
		if r.Op == "" || (pr.Version != "" && debVersionSatisfies(pr.Version, r.Op, r.Version)) {
			return true
		}
	}
	return false
}

func (s *debState) clauseMet(alts []debRelation) bool {
	for _, r := range alts {
		if s.satisfies(r) {
			return true
		}
	}
	return false
}

// breaks reports whether p's Breaks/Conflicts hit a package of s (other than p itself).
func (s *debState) breaks(p *debPackage) (string, bool) {
	for _, alts := range p.Breaks {
		for _, r := range alts {
			if q := s.pkgs[r.Name]; q != nil && q.Name != p.Name && debVersionSatisfies(q.Version, r.Op, r.Version) {
				return formatRelation(r), true
			}
		}
	}
	return "", false
}

// brokenBy reports whether a package of s breaks or conflicts with p (by name and
// version, or through a name p provides).
func (s *debState) brokenBy(p *debPackage) (string, bool) {
	for _, q := range s.pkgs {
		if q.Name == p.Name {
			continue
		}
		for _, alts := range q.Breaks {
			for _, r := range alts {
				if r.Name == p.Name && debVersionSatisfies(p.Version, r.Op, r.Version) {
					return q.Name + " " + q.Version, true
				}
				for _, pr := range p.Provides {
					if pr.Name == r.Name && r.Op == "" {
						return q.Name + " " + q.Version, true
					}
				}
			}
		}
	}
	return "", false
}

func formatRelation(r debRelation) string {
	if r.Op == "" {
		return r.Name
	}
	return fmt.Sprintf("%s (%s %s)", r.Name, r.Op, r.Version)
}

func formatClause(alts []debRelation) string {
	parts := make([]string, len(alts))
	for i, r := range alts {
		parts[i] = formatRelation(r)
	}
	return strings.Join(parts, " | ")
}

// debNewPackage is a package the upgrade installs because an upgraded (or another new)
// package depends on it.
type debNewPackage struct {
	pkg *repoPackage
	// dependencyOf names the packages whose dependencies chose it.
	dependencyOf []string
}

// resolveDebUpgrade decides which of the candidate upgrades can be applied together, as
// "apt-get upgrade --with-new-pkgs" (what "apt upgrade" does) decides it: nothing is
// removed; a dependency of an upgraded package that what is installed or upgraded does
// not meet is met by installing a new package from avail — the first alternative of the
// clause that the repositories can meet (a real package whose candidate version
// satisfies the relation, else a provider of the virtual package), provided it breaks
// nothing and nothing breaks it — whose own dependencies are resolved the same way; and
// an upgrade whose dependencies cannot be met that way, or that breaks an installed
// package, or that an installed package's dependencies forbid, is held back. With avail
// nil nothing new is installed: that is "apt-get upgrade". Names in rejected are never
// installed new (the reason says why).
//
// It returns the names held back with the reason, and the new packages by name.
func resolveDebUpgrade(installed, candidates map[string]*debPackage, avail *repoIndex, rejected map[string]string) (map[string]string, map[string]*debNewPackage) {
	rejected = maps.Clone(rejected)
	if rejected == nil {
		rejected = map[string]string{}
	}
	first := map[string]string{} // why an upgrade was first held back
	for {
		held, added := resolveDebPass(installed, candidates, avail, rejected)
		for n, why := range held {
			if f, ok := first[n]; ok {
				held[n] = f
			} else {
				first[n] = why
			}
		}
		// A new package is needed only while something that needs it is applied.
		used := map[string]bool{}
		for changed := true; changed; {
			changed = false
			for n, a := range added {
				if used[n] {
					continue
				}
				for _, by := range a.dependencyOf {
					if _, isCand := candidates[by]; (isCand && held[by] == "") || used[by] {
						used[n], changed = true, true
						break
					}
				}
			}
		}
		unused := false
		for n := range added {
			if !used[n] {
				rejected[n] = "nothing that needs it is upgraded"
				unused = true
			}
		}
		if !unused {
			return held, added
		}
	}
}

// resolveDebPass is one resolution of resolveDebUpgrade with a given set of rejected
// new packages.
func resolveDebPass(installed, candidates map[string]*debPackage, avail *repoIndex, rejected map[string]string) (map[string]string, map[string]*debNewPackage) {
	s := &debPass{installed: installed, candidates: candidates, avail: avail, rejected: rejected,
		held: map[string]string{}, added: map[string]*debNewPackage{}, before: newDebState(installed)}
	for s.scan() {
	}
	return s.held, s.added
}

// debPass is the state of one resolveDebPass: the upgrades held back (with the reason)
// and the new packages added so far.
type debPass struct {
	installed, candidates map[string]*debPackage
	avail                 *repoIndex
	rejected              map[string]string
	held                  map[string]string
	added                 map[string]*debNewPackage
	// before is the installed state, after the state the pass would leave.
	before, after *debState
	changed       bool
}

// scan checks every package of the state the pass would leave, and reports whether that
// state changed (it must be checked again).
func (s *debPass) scan() bool {
	final := map[string]*debPackage{}
	for n, p := range s.installed {
		final[n] = p
	}
	for n, p := range s.candidates {
		if _, h := s.held[n]; !h {
			final[n] = p
		}
	}
	for n, a := range s.added {
		final[n] = a.pkg.Deb
	}
	s.after = newDebState(final)
	s.changed = false
	for _, n := range sortedKeys(final) {
		p := final[n]
		_, upgraded := s.candidates[n]
		upgraded = upgraded && s.held[n] == ""
		isNew := s.added[n] != nil
		if s.checkDepends(n, p, upgraded, isNew) || s.checkBreaks(n, p, upgraded, isNew) {
			return true // a package was added or rejected: look again
		}
	}
	return s.changed
}

// hold holds the upgrade of name back, unless it already is.
func (s *debPass) hold(name, why string) {
	if _, h := s.held[name]; !h {
		s.held[name] = why
		s.changed = true
	}
}

// reject rejects the new package name.
func (s *debPass) reject(name, why string) {
	s.rejected[name] = why
	delete(s.added, name)
}

// checkDepends meets p's dependencies that the state does not: with a new package for an
// upgraded or new one, else by holding back the upgrades that broke them. It reports
// whether a package was added or rejected.
func (s *debPass) checkDepends(n string, p *debPackage, upgraded, isNew bool) bool {
	for _, alts := range p.Depends {
		if s.after.clauseMet(alts) {
			continue
		}
		if upgraded || isNew {
			q, why := pickDebNew(alts, s.avail, s.after, s.rejected)
			if q != nil {
				if s.added[q.Name] == nil {
					s.added[q.Name] = &debNewPackage{pkg: q}
				}
				s.added[q.Name].dependencyOf = append(s.added[q.Name].dependencyOf, n)
				return true
			}
			if isNew {
				s.reject(n, "needs "+formatClause(alts)+why)
				return true
			}
			s.hold(n, "needs "+formatClause(alts)+", which is neither installed nor upgraded"+why)
			continue
		}
		if !s.before.clauseMet(alts) {
			continue // already broken before the patch: not ours to judge
		}
		for _, r := range alts {
			if _, ok := s.candidates[r.Name]; ok && s.held[r.Name] == "" {
				s.hold(r.Name, fmt.Sprintf("installed %s %s needs %s", n, p.Version, formatClause(alts)))
			}
			for _, pr := range s.before.provides[r.Name] {
				if _, ok := s.candidates[pr.Name]; ok && s.held[pr.Name] == "" {
					s.hold(pr.Name, fmt.Sprintf("installed %s %s needs %s", n, p.Version, formatClause(alts)))
				}
			}
		}
	}
	return false
}

// checkBreaks holds back or rejects what p's Breaks/Conflicts newly hit. It reports
// whether a package was rejected.
func (s *debPass) checkBreaks(n string, p *debPackage, upgraded, isNew bool) bool {
	what, bad := s.after.breaks(p)
	switch {
	case !bad:
	case isNew:
		s.reject(n, "breaks "+what)
		return true
	case upgraded:
		s.hold(n, "breaks installed "+what)
	default:
		if _, was := s.before.breaks(p); was {
			return false
		}
		for _, alts := range p.Breaks {
			for _, r := range alts {
				if _, ok := s.candidates[r.Name]; ok && s.held[r.Name] == "" && s.after.pkgs[r.Name] != nil && debVersionSatisfies(s.after.pkgs[r.Name].Version, r.Op, r.Version) {
					s.hold(r.Name, fmt.Sprintf("installed %s %s breaks %s", n, p.Version, formatRelation(r)))
				}
			}
		}
	}
	return false
}

// pickDebNew chooses the new package that meets a clause, as apt does: the first
// alternative the repositories can meet, by the candidate version of a real package
// (the best priority, then the highest version) when it satisfies the relation, else by
// a package providing the virtual name (with a version that satisfies a versioned
// relation): the candidate of the best priority, then the first name. A package that
// would break an installed, upgraded or new one, or that one of them breaks, or that is
// rejected, does not count. Without a choice it returns why, as ", …" text.
func pickDebNew(alts []debRelation, avail *repoIndex, state *debState, rejected map[string]string) (*repoPackage, string) {
	if avail == nil {
		return nil, ""
	}
	var why []string
	usable := func(q *repoPackage) bool {
		if reason, ok := rejected[q.Name]; ok {
			why = append(why, fmt.Sprintf("%s %s cannot be installed: %s", q.Name, q.EVR, reason))
			return false
		}
		if what, bad := state.breaks(q.Deb); bad {
			why = append(why, fmt.Sprintf("%s %s breaks or conflicts with %s", q.Name, q.EVR, what))
			return false
		}
		if by, bad := state.brokenBy(q.Deb); bad {
			why = append(why, fmt.Sprintf("%s breaks or conflicts with %s %s", by, q.Name, q.EVR))
			return false
		}
		return true
	}
	for _, r := range alts {
		if have := state.pkgs[r.Name]; have != nil {
			// installed, upgraded or new at a version that does not satisfy the relation
			why = append(why, fmt.Sprintf("%s would be %s", r.Name, have.Version))
			continue
		}
		if q := avail.debCandidate(r.Name); q != nil {
			if debVersionSatisfies(q.EVR.String(), r.Op, r.Version) && usable(q) {
				return q, ""
			}
			if !debVersionSatisfies(q.EVR.String(), r.Op, r.Version) {
				why = append(why, fmt.Sprintf("the repositories offer %s %s", q.Name, q.EVR))
			}
			continue
		}
		var providers []*repoPackage
		for _, name := range avail.debProviderNames(r.Name) {
			q := avail.debCandidate(name)
			if q == nil || state.pkgs[name] != nil {
				continue
			}
			for _, pr := range q.Deb.Provides {
				if pr.Name == r.Name && (r.Op == "" || (pr.Version != "" && debVersionSatisfies(pr.Version, r.Op, r.Version))) {
					providers = append(providers, q)
					break
				}
			}
		}
		sort.SliceStable(providers, func(i, j int) bool { return providers[i].Priority < providers[j].Priority })
		for _, q := range providers {
			if usable(q) {
				return q, ""
			}
		}
	}
	if len(why) == 0 {
		return nil, ", and the repositories offer nothing that provides it"
	}
	return nil, " (" + strings.Join(why, "; ") + ")"
}

// debCandidate returns the version apt would install of the package called name: the
// best priority (the lower number wins), then the highest version.
func (ix *repoIndex) debCandidate(name string) *repoPackage {
	var best *repoPackage
	for _, p := range ix.provides[name] {
		if p.Name != name {
			continue
		}
		if best == nil || p.Priority < best.Priority || (p.Priority == best.Priority && evr.CompareDeb(p.EVR, best.EVR) > 0) {
			best = p
		}
	}
	return best
}

// debProviderNames returns, sorted, the names of the packages that provide the virtual
// package name in some version.
func (ix *repoIndex) debProviderNames(name string) []string {
	seen := map[string]bool{}
	for _, p := range ix.provides[name] {
		if p.Name != name {
			seen[p.Name] = true
		}
	}
	return sortedKeys(seen)
}

// needsNewPackages reports whether resolveDebUpgrade held something back for a
// dependency nothing installed or upgraded meets, which a new package might.
func needsNewPackages(held map[string]string) bool {
	for _, why := range held {
		if strings.HasPrefix(why, "needs ") {
			return true
		}
	}
	return false
}
