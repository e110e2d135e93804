package updates

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/evr"
)

func inst(name, arch, v string) Installed {
	return Installed{Name: name, Arch: arch, EVR: evr.ParseRPM(v), InstallOnly: IsInstallOnly(name, nil)}
}

func cand(repo string, prio int, name, arch, v string) Candidate {
	return Candidate{Name: name, Arch: arch, EVR: evr.ParseRPM(v), Repository: repo, Priority: prio,
		InstallOnly: IsInstallOnly(name, nil)}
}

// summary renders updates as "name.arch action installed->available@repo".
func summary(r *Result) []string {
	var out []string
	for _, u := range r.Updates {
		s := fmt.Sprintf("%s.%s %s %s->%s@%s", u.Name, u.Arch, u.Action, u.Installed, u.Available, u.Repository)
		if len(u.Replaces) > 0 {
			s += " replaces " + strings.Join(u.Replaces, ",")
		}
		if len(u.Advisories) > 0 {
			s += " [" + strings.Join(u.Advisories, ",") + " " + u.Severity + "]"
		}
		out = append(out, s)
	}
	return out
}

func TestComputeRPM(t *testing.T) {
	advisories := []Advisory{
		{ID: "SEC-1", Type: "security", Severity: "Important", CVEs: []string{"CVE-2099-2", "CVE-2099-1"},
			Packages: []AdvisoryPackage{{Name: "lib", Arch: "x86_64", EVR: evr.ParseRPM("1.1-1")}}},
		{ID: "SEC-2", Type: "security", Severity: "Low", CVEs: []string{"CVE-2099-3"},
			Packages: []AdvisoryPackage{{Name: "tool", Arch: "noarch", EVR: evr.ParseRPM("2.0-1")}}},
		{ID: "BUG-1", Type: "bugfix",
			Packages: []AdvisoryPackage{{Name: "lib", Arch: "x86_64", EVR: evr.ParseRPM("1.2-1")}}},
		{ID: "OLD-1", Type: "security", Severity: "Critical", // already installed: not applicable
			Packages: []AdvisoryPackage{{Name: "lib", Arch: "x86_64", EVR: evr.ParseRPM("1.0-1")}}},
	}
	cases := []struct {
		name       string
		installed  []Installed
		candidates []Candidate
		filter     Filter
		want       []string
	}{
		{
			name:       "plain upgrade picks the newest",
			installed:  []Installed{inst("lib", "x86_64", "1.0-1")},
			candidates: []Candidate{cand("a", 99, "lib", "x86_64", "1.1-1"), cand("b", 99, "lib", "x86_64", "1.2-1"), cand("a", 99, "lib", "x86_64", "0.9-1")},
			want:       []string{"lib.x86_64 upgrade 1.0-1->1.2-1@b [BUG-1,SEC-1 Important]"},
		},
		{
			name:       "older or equal is never offered",
			installed:  []Installed{inst("lib", "x86_64", "2.0-1"), inst("same", "noarch", "1.0-1")},
			candidates: []Candidate{cand("a", 99, "lib", "x86_64", "1.9-1"), cand("a", 99, "same", "noarch", "1.0-1")},
		},
		{
			name:       "epoch beats version",
			installed:  []Installed{inst("data", "noarch", "5.0-1")},
			candidates: []Candidate{cand("a", 99, "data", "noarch", "1:1.0-1")},
			want:       []string{"data.noarch upgrade 5.0-1->1:1.0-1@a"},
		},
		{
			name:       "best priority masks newer versions elsewhere",
			installed:  []Installed{inst("pinned", "x86_64", "1.0-1")},
			candidates: []Candidate{cand("pin", 10, "pinned", "x86_64", "1.5-1"), cand("updates", 99, "pinned", "x86_64", "9.0-1")},
			want:       []string{"pinned.x86_64 upgrade 1.0-1->1.5-1@pin"},
		},
		{
			name:       "best priority repo older than installed: nothing",
			installed:  []Installed{inst("pinned", "x86_64", "2.0-1")},
			candidates: []Candidate{cand("pin", 10, "pinned", "x86_64", "1.5-1"), cand("updates", 99, "pinned", "x86_64", "9.0-1")},
		},
		{
			name:       "noarch to arch and back; no i686 to x86_64",
			installed:  []Installed{inst("a", "noarch", "1-1"), inst("b", "x86_64", "1-1"), inst("c", "i686", "1-1"), inst("c", "x86_64", "1-1")},
			candidates: []Candidate{cand("r", 99, "a", "x86_64", "2-1"), cand("r", 99, "b", "noarch", "2-1"), cand("r", 99, "c", "x86_64", "2-1")},
			want:       []string{"a.x86_64 upgrade 1-1->2-1@r", "b.noarch upgrade 1-1->2-1@r", "c.x86_64 upgrade 1-1->2-1@r"},
		},
		{
			name:       "multilib pair upgraded per arch",
			installed:  []Installed{inst("c", "i686", "1-1"), inst("c", "x86_64", "1-1")},
			candidates: []Candidate{cand("r", 99, "c", "x86_64", "2-1"), cand("r", 99, "c", "i686", "2-1")},
			want:       []string{"c.i686 upgrade 1-1->2-1@r", "c.x86_64 upgrade 1-1->2-1@r"},
		},
		{
			name:       "install-only beside the newest installed",
			installed:  []Installed{inst("kernel", "x86_64", "5.14-1"), inst("kernel", "x86_64", "5.14-2")},
			candidates: []Candidate{cand("r", 99, "kernel", "x86_64", "5.14-3"), cand("r", 99, "kernel", "x86_64", "5.14-2")},
			want:       []string{"kernel.x86_64 install 5.14-2->5.14-3@r"},
		},
		{
			name:      "obsoletes with a version constraint",
			installed: []Installed{inst("old", "noarch", "1.0-1"), inst("older", "noarch", "3.0-1")},
			candidates: []Candidate{{Name: "new", Arch: "noarch", EVR: evr.ParseRPM("1.0-1"), Repository: "r", Priority: 99,
				Obsoletes: []Obsolete{{Name: "old", Flags: "LT", EVR: evr.ParseRPM("2.0")}, {Name: "older", Flags: "LT", EVR: evr.ParseRPM("2.0")}}}},
			want: []string{"new.noarch obsolete 1.0-1->1.0-1@r replaces old"},
		},
		{
			name:       "tilde and caret",
			installed:  []Installed{inst("rc", "noarch", "1.0~rc1-1"), inst("snap", "noarch", "1.0^git1-1")},
			candidates: []Candidate{cand("r", 99, "rc", "noarch", "1.0-1"), cand("r", 99, "snap", "noarch", "1.0-1"), cand("r", 99, "snap", "noarch", "1.0.1-1")},
			want:       []string{"rc.noarch upgrade 1.0~rc1-1->1.0-1@r", "snap.noarch upgrade 1.0^git1-1->1.0.1-1@r"},
		},
		{
			name:       "security only and severity",
			installed:  []Installed{inst("lib", "x86_64", "1.0-1"), inst("tool", "noarch", "1.0-1"), inst("plain", "noarch", "1-1")},
			candidates: []Candidate{cand("r", 99, "lib", "x86_64", "1.1-1"), cand("r", 99, "tool", "noarch", "2.0-1"), cand("r", 99, "plain", "noarch", "2-1")},
			filter:     Filter{SecurityOnly: true, MinSeverity: "moderate"},
			want:       []string{"lib.x86_64 upgrade 1.0-1->1.1-1@r [SEC-1 Important]"},
		},
		{
			name:       "include and exclude globs",
			installed:  []Installed{inst("lib", "x86_64", "1.0-1"), inst("tool", "noarch", "1.0-1"), inst("plain", "noarch", "1-1")},
			candidates: []Candidate{cand("r", 99, "lib", "x86_64", "1.1-1"), cand("r", 99, "tool", "noarch", "2.0-1"), cand("r", 99, "plain", "noarch", "2-1")},
			filter:     Filter{Include: []string{"l*", "t*"}, Exclude: []string{"tool"}},
			want:       []string{"lib.x86_64 upgrade 1.0-1->1.1-1@r [SEC-1 Important]"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := summary(Compute(Input{Scheme: evr.RPM, Installed: tc.installed, Candidates: tc.candidates, Advisories: advisories, Filter: tc.filter}))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestComputeCountsAndCVEs(t *testing.T) {
	res := Compute(Input{
		Scheme:     evr.RPM,
		Installed:  []Installed{inst("lib", "x86_64", "1.0-1"), inst("tool", "noarch", "1.0-1")},
		Candidates: []Candidate{cand("r", 99, "lib", "x86_64", "1.1-1"), cand("r", 99, "tool", "noarch", "2.0-1")},
		Advisories: []Advisory{
			{ID: "A", Type: "security", Severity: "Critical", CVEs: []string{"CVE-1", "CVE-3"}, Packages: []AdvisoryPackage{{Name: "lib", Arch: "x86_64", EVR: evr.ParseRPM("1.1-1")}}},
			{ID: "B", Type: "security", Severity: "Low", CVEs: []string{"CVE-2", "CVE-1"}, Packages: []AdvisoryPackage{{Name: "tool", Arch: "noarch", EVR: evr.ParseRPM("1.5-1")}}},
			{ID: "C", Type: "security", Severity: "Low", CVEs: []string{"CVE-9"}, Packages: []AdvisoryPackage{{Name: "tool", Arch: "noarch", EVR: evr.ParseRPM("3.0-1")}}},
		},
	})
	if res.SecurityCount != 2 || len(res.Advisories) != 2 {
		t.Fatalf("security=%d advisories=%v; want 2 and [A B] (C needs a version nobody offers)", res.SecurityCount, res.Advisories)
	}
	if want := []string{"CVE-1", "CVE-2", "CVE-3"}; !reflect.DeepEqual(res.CVEs, want) {
		t.Fatalf("CVEs = %v, want %v", res.CVEs, want)
	}
}

func TestComputeDeb(t *testing.T) {
	deb := func(name, arch, v string) Installed {
		e, err := evr.ParseDeb(v)
		if err != nil {
			t.Fatal(err)
		}
		return Installed{Name: name, Arch: arch, EVR: e}
	}
	dc := func(repo string, prio int, sec bool, name, arch, v string) Candidate {
		e, err := evr.ParseDeb(v)
		if err != nil {
			t.Fatal(err)
		}
		return Candidate{Name: name, Arch: arch, EVR: e, Repository: repo, Priority: prio, Security: sec}
	}
	installed := []Installed{deb("libc6", "amd64", "2.36-9+deb12u1"), deb("tzdata", "all", "2024a-0+deb12u1"), deb("bash", "amd64", "5.2.15-2+b2"), deb("epoch", "amd64", "1:1.0-1")}
	candidates := []Candidate{
		dc("base", 99, false, "libc6", "amd64", "2.36-9+deb12u1"),
		dc("security", 99, true, "libc6", "amd64", "2.36-9+deb12u4"),
		dc("updates", 99, false, "libc6", "amd64", "2.36-9+deb12u7"),
		dc("updates", 99, false, "tzdata", "all", "2025b-0+deb12u1"),
		dc("base", 99, false, "bash", "amd64", "5.2.15-2+b2"),
		dc("base", 99, false, "epoch", "amd64", "2.0-1"),
		dc("base", 99, false, "libc6", "i386", "2.36-9+deb12u9"),
	}
	cases := []struct {
		name   string
		filter Filter
		want   []string
	}{
		{"highest version wins at equal pins", Filter{}, []string{"libc6.amd64 upgrade 2.36-9+deb12u1->2.36-9+deb12u7@updates", "tzdata.all upgrade 2024a-0+deb12u1->2025b-0+deb12u1@updates"}},
		{"security suites only", Filter{SecurityOnly: true}, []string{"libc6.amd64 upgrade 2.36-9+deb12u1->2.36-9+deb12u4@security"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := summary(Compute(Input{Scheme: evr.Deb, Installed: installed, Candidates: candidates, Filter: tc.filter}))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestModularityHide(t *testing.T) {
	m := Modularity{
		Streams: []ModuleStream{
			{Name: "nodejs", Stream: "18", Artifacts: []string{"nodejs-1:18.19.0-1.module_el9.x86_64", "nodejs-1:18.19.0-1.module_el9.src"}},
			{Name: "nodejs", Stream: "20", Artifacts: []string{"nodejs-1:20.11.0-1.module_el9.x86_64", "npm-1:10.2.0-1.module_el9.x86_64"}},
		},
		Defaults: map[string]string{"nodejs": "18"},
	}
	cands := []Candidate{
		{Name: "nodejs", Arch: "x86_64", EVR: evr.ParseRPM("1:18.19.0-1.module_el9")},
		{Name: "nodejs", Arch: "x86_64", EVR: evr.ParseRPM("1:20.11.0-1.module_el9")},
		{Name: "nodejs", Arch: "x86_64", EVR: evr.ParseRPM("1:16.0.0-1.el9")}, // non-modular, masked by the active stream
		{Name: "npm", Arch: "x86_64", EVR: evr.ParseRPM("1:10.2.0-1.module_el9")},
		{Name: "bash", Arch: "x86_64", EVR: evr.ParseRPM("5.1-1")},
	}
	names := func(cs []Candidate) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name+"-"+c.EVR.String())
		}
		return out
	}
	if got, want := names(m.Hide(cands)), []string{"nodejs-1:18.19.0-1.module_el9", "bash-5.1-1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("default stream: got %v, want %v", got, want)
	}
	m.Enabled = map[string]string{"nodejs": "20"}
	if got, want := names(m.Hide(cands)), []string{"nodejs-1:20.11.0-1.module_el9", "npm-1:10.2.0-1.module_el9", "bash-5.1-1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("enabled 20: got %v, want %v", got, want)
	}
	m.Enabled = map[string]string{"nodejs": ""}
	if got, want := names(m.Hide(cands)), []string{"nodejs-1:16.0.0-1.el9", "bash-5.1-1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("disabled: got %v, want %v", got, want)
	}
}
