package outdated

import (
	"slices"

	"github.com/refit-images/packer-plugin-refit/internal/repository"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// Offer is what a set of loaded repositories offers, indexed by package name so that
// one load serves many images: Diff narrows it to each image's names in time
// proportional to that image, not to the repositories.
type Offer struct {
	loaded []*repository.Loaded
	// byName: candidates by their name; byObsoleted: by each name they obsolete;
	// advisories: by the names of the packages they ship. Refs are in load order.
	byName, byObsoleted, advisories map[string][]ref
}

// ref points at element i of repository r's candidates or advisories.
type ref struct{ r, i int }

func compareRefs(a, b ref) int {
	if a.r != b.r {
		return a.r - b.r
	}
	return a.i - b.i
}

// NewOffer indexes loaded (in the order the repositories were given).
func NewOffer(loaded []*repository.Loaded) *Offer {
	o := &Offer{loaded: loaded, byName: map[string][]ref{}, byObsoleted: map[string][]ref{}, advisories: map[string][]ref{}}
	for r, l := range loaded {
		for i, c := range l.Candidates {
			o.byName[c.Name] = append(o.byName[c.Name], ref{r, i})
			for _, ob := range c.Obsoletes {
				if refs := o.byObsoleted[ob.Name]; len(refs) == 0 || refs[len(refs)-1] != (ref{r, i}) {
					o.byObsoleted[ob.Name] = append(refs, ref{r, i})
				}
			}
		}
		for i, a := range l.Advisories {
			for _, p := range a.Packages {
				if refs := o.advisories[p.Name]; len(refs) == 0 || refs[len(refs)-1] != (ref{r, i}) {
					o.advisories[p.Name] = append(refs, ref{r, i})
				}
			}
		}
	}
	return o
}

// narrow returns the candidates and advisories repository.Loader.Load keeps when it is
// asked for names alone, in the order it keeps them: a candidate named in names or
// obsoleting one of them (with only those obsoletes), an advisory shipping one of them
// (with only those packages).
func (o *Offer) narrow(names map[string]bool) ([]updates.Candidate, []updates.Advisory) {
	var cands, advs []ref
	for n := range names {
		cands = append(cands, o.byName[n]...)
		cands = append(cands, o.byObsoleted[n]...)
		advs = append(advs, o.advisories[n]...)
	}
	slices.SortFunc(cands, compareRefs)
	cands = slices.Compact(cands)
	slices.SortFunc(advs, compareRefs)
	advs = slices.Compact(advs)

	outC := make([]updates.Candidate, 0, len(cands))
	for _, x := range cands {
		c := o.loaded[x.r].Candidates[x.i]
		var obs []updates.Obsolete
		for _, ob := range c.Obsoletes {
			if names[ob.Name] {
				obs = append(obs, ob)
			}
		}
		c.Obsoletes = obs
		outC = append(outC, c)
	}
	outA := make([]updates.Advisory, 0, len(advs))
	for _, x := range advs {
		a := o.loaded[x.r].Advisories[x.i]
		var pkgs []updates.AdvisoryPackage
		for _, p := range a.Packages {
			if names[p.Name] {
				pkgs = append(pkgs, p)
			}
		}
		a.Packages = pkgs
		outA = append(outA, a)
	}
	return outC, outA
}
