package outdated

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/evr"
	"github.com/refit-images/packer-plugin-refit/internal/fetch"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

func rpmSpecs(repos []fixture.RPMRepo) []repository.Spec {
	var specs []repository.Spec
	for _, r := range repos {
		specs = append(specs, repository.Spec{Name: r.Name, URL: r.URL, Type: repository.TypeRPM, Priority: r.Priority})
	}
	return specs
}

func runJob(t *testing.T, root string, specs []repository.Spec, f updates.Filter) *updates.Result {
	t.Helper()
	m, err := installed.FromRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Job{
		Manifest: m, Root: root, Repositories: specs, Filter: f,
		Loader: &repository.Loader{Fetch: fetch.New(t.TempDir())},
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// ours renders refit's upgrades and installs as dnf check-update lists them.
func ours(res *updates.Result) (ups, obs []string) {
	for _, u := range res.Updates {
		line := fmt.Sprintf("%s.%s %s %s", u.Name, u.Arch, u.Available, u.Repository)
		if u.Action == updates.ActionObsolete {
			obs = append(obs, line+" replaces "+strings.Join(u.Replaces, ","))
			continue
		}
		ups = append(ups, line)
	}
	sort.Strings(ups)
	sort.Strings(obs)
	return ups, obs
}

func dnfLines(up []fixture.Upgrade) []string {
	var out []string
	for _, u := range up {
		out = append(out, fmt.Sprintf("%s.%s %s %s", u.Name, u.Arch, u.EVR, u.Repo))
	}
	sort.Strings(out)
	return out
}

func dnfObsoleteLines(obs []fixture.Obsolete) []string {
	var out []string
	for _, o := range obs {
		var names []string
		for _, r := range o.Replaces {
			names = append(names, r.Name)
		}
		sort.Strings(names)
		out = append(out, fmt.Sprintf("%s.%s %s %s replaces %s", o.Name, o.Arch, o.EVR, o.Repo, strings.Join(names, ",")))
	}
	sort.Strings(out)
	return out
}

// TestRPMLabMatchesDNF runs the diff and the real dnf on the same root and repositories:
// the upgrades, obsoletes and advisories must be the same, for several repository sets
// and filters.
func TestRPMLabMatchesDNF(t *testing.T) {
	fixture.Need(t, "dnf", "rpm", "rpmbuild", "createrepo_c")
	lab := fixture.BuildRPMLab(t)
	all := lab.Repos
	cases := []struct {
		name   string
		repos  []fixture.RPMRepo
		filter updates.Filter
		dnf    []string
	}{
		{name: "all repositories", repos: all},
		{name: "base only", repos: []fixture.RPMRepo{lab.Repo(t, "base")}},
		{name: "updates only", repos: []fixture.RPMRepo{lab.Repo(t, "updates")}},
		{name: "security", repos: all, filter: updates.Filter{SecurityOnly: true}, dnf: []string{"--security"}},
		{name: "excluded kernel", repos: all, filter: updates.Filter{Exclude: []string{"demo-kernel*"}}, dnf: []string{"--exclude=demo-kernel*"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gotUp, gotObs := ours(runJob(t, lab.Root, rpmSpecs(tc.repos), tc.filter))
			wantUp := dnfLines(fixture.DNFCheckUpdate(t, lab.Root, tc.repos, tc.dnf...))
			wantObs := dnfObsoleteLines(fixture.DNFObsoletes(t, lab.Root, tc.repos, tc.dnf...))
			if !reflect.DeepEqual(gotUp, wantUp) {
				t.Errorf("upgrades differ from dnf check-update\nrefit: %q\ndnf:   %q", gotUp, wantUp)
			}
			if !reflect.DeepEqual(gotObs, wantObs) {
				t.Errorf("obsoletes differ from dnf check-update\nrefit: %q\ndnf:   %q", gotObs, wantObs)
			}
			if len(wantUp) == 0 && tc.name == "all repositories" {
				t.Fatal("dnf offers nothing: the lab is broken")
			}
		})
	}
}

// TestRPMLabAdvisoriesMatchDNF compares the advisories refit attaches to its updates with
// dnf updateinfo list. dnf lists an advisory whenever an installed package is older than
// the advisory's package, even when a higher-priority repository masks that version so
// that dnf itself would not install it; refit reports the advisories its updates fix, so
// the comparison is over the packages dnf check-update offers.
func TestRPMLabAdvisoriesMatchDNF(t *testing.T) {
	fixture.Need(t, "dnf", "rpm", "rpmbuild", "createrepo_c")
	lab := fixture.BuildRPMLab(t)
	res := runJob(t, lab.Root, rpmSpecs(lab.Repos), updates.Filter{})
	var got []string
	for _, u := range res.Updates {
		for _, a := range u.Advisories {
			got = append(got, a+" "+u.Name)
		}
	}
	sort.Strings(got)
	offered := map[string]evr.EVR{}
	for _, u := range fixture.DNFCheckUpdate(t, lab.Root, lab.Repos) {
		offered[u.Name] = evr.ParseRPM(u.EVR)
	}
	var want, masked []string
	for _, a := range fixture.DNFUpdateinfo(t, lab.Root, lab.Repos) {
		name := nevraName(a.Package)
		line := a.ID + " " + name
		advEVR := evr.ParseRPM(strings.TrimPrefix(a.Package[:strings.LastIndexByte(a.Package, '.')], name+"-"))
		if off, ok := offered[name]; ok && evr.CompareRPM(advEVR, off) <= 0 {
			want = append(want, line)
		} else {
			masked = append(masked, line)
		}
	}
	sort.Strings(want)
	if len(want) == 0 {
		t.Fatal("dnf lists no advisories: the lab is broken")
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("advisories differ from dnf updateinfo list\nrefit: %q\ndnf:   %q", got, want)
	}
	t.Logf("%d advisory/package pairs agree; dnf also lists %q for versions it would not install", len(got), masked)
}

// TestRPMLabSeverityMatchesDNF compares min_severity with the union of dnf check-update
// --sec-severity for every severity at or above it (dnf matches one severity exactly).
func TestRPMLabSeverityMatchesDNF(t *testing.T) {
	fixture.Need(t, "dnf", "rpm", "rpmbuild", "createrepo_c")
	lab := fixture.BuildRPMLab(t)
	severities := []string{"Low", "Moderate", "Important", "Critical"}
	for i, min := range severities {
		t.Run(min, func(t *testing.T) {
			gotUp, _ := ours(runJob(t, lab.Root, rpmSpecs(lab.Repos), updates.Filter{MinSeverity: min}))
			seen := map[string]bool{}
			var want []string
			for _, s := range severities[i:] {
				for _, line := range dnfLines(fixture.DNFCheckUpdate(t, lab.Root, lab.Repos, "--sec-severity="+s)) {
					if !seen[line] {
						seen[line] = true
						want = append(want, line)
					}
				}
			}
			sort.Strings(want)
			if !reflect.DeepEqual(gotUp, want) {
				t.Errorf("min_severity %s differs from dnf check-update --sec-severity\nrefit: %q\ndnf:   %q", min, gotUp, want)
			}
		})
	}
}

// nevraName returns the name of "name-[epoch:]version-release.arch".
func nevraName(nevra string) string {
	i := strings.LastIndexByte(nevra, '-')
	if i <= 0 {
		return nevra
	}
	j := strings.LastIndexByte(nevra[:i], '-')
	if j <= 0 {
		return nevra
	}
	return nevra[:j]
}
