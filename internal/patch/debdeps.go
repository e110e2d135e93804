package patch

import (
	"fmt"
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

// resolveDebUpgrade decides which of the candidate upgrades can be applied together, as
// "apt-get upgrade" does: nothing new is installed and nothing removed, so an upgrade
// whose dependencies are not met by what is installed or upgraded, or that breaks an
// installed package, or that an installed package's dependencies forbid, is held back.
// It returns the names held back with the reason, repeating until the set is consistent.
func resolveDebUpgrade(installed map[string]*debPackage, candidates map[string]*debPackage) map[string]string {
	held := map[string]string{}
	before := newDebState(installed)
	for {
		final := map[string]*debPackage{}
		for n, p := range installed {
			final[n] = p
		}
		for n, p := range candidates {
			if _, h := held[n]; !h {
				final[n] = p
			}
		}
		after := newDebState(final)
		changed := false
		hold := func(name, why string) {
			if _, h := held[name]; !h {
				held[name] = why
				changed = true
			}
		}
		names := make([]string, 0, len(final))
		for n := range final {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			p := final[n]
			_, upgraded := candidates[n]
			upgraded = upgraded && held[n] == ""
			for _, alts := range p.Depends {
				if after.clauseMet(alts) {
					continue
				}
				if upgraded {
					hold(n, "needs "+formatClause(alts)+", which is neither installed nor upgraded")
					continue
				}
				if !before.clauseMet(alts) {
					continue // already broken before the patch: not ours to judge
				}
				for _, r := range alts {
					if _, ok := candidates[r.Name]; ok && held[r.Name] == "" {
						hold(r.Name, fmt.Sprintf("installed %s %s needs %s", n, p.Version, formatClause(alts)))
					}
					for _, pr := range before.provides[r.Name] {
						if _, ok := candidates[pr.Name]; ok && held[pr.Name] == "" {
							hold(pr.Name, fmt.Sprintf("installed %s %s needs %s", n, p.Version, formatClause(alts)))
						}
					}
				}
			}
			if what, bad := after.breaks(p); bad {
				if upgraded {
					hold(n, "breaks installed "+what)
				} else if _, was := before.breaks(p); !was {
					for _, alts := range p.Breaks {
						for _, r := range alts {
							if _, ok := candidates[r.Name]; ok && held[r.Name] == "" && after.pkgs[r.Name] != nil && debVersionSatisfies(after.pkgs[r.Name].Version, r.Op, r.Version) {
								hold(r.Name, fmt.Sprintf("installed %s %s breaks %s", n, p.Version, formatRelation(r)))
							}
						}
					}
				}
			}
		}
		if !changed {
			return held
		}
	}
}
