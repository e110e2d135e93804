package patch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/evr"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

func TestRPMCapabilitySatisfiedBy(t *testing.T) {
	cases := []struct {
		req, provide string
		want         bool
	}{
		{"foo", "foo = 1.0-1", true},
		{"foo >= 1.0", "foo", true}, // an unversioned provide meets every version
		{"foo >= 1.0", "foo = 1.0-1", true},
		{"foo >= 1.1", "foo = 1.0-9", false},
		{"foo > 1.0", "foo = 1.0-1", false}, // no release on the requirement: 1.0 == 1.0
		{"foo > 1.0-1", "foo = 1.0-2", true},
		{"foo < 2", "foo = 1:1.0-1", false}, // the epoch wins
		{"foo = 1.0", "foo = 1.0-5", true},
		{"foo <= 1.0", "foo >= 1.0", true}, // ranges meeting at 1.0
		{"foo < 1.0", "foo > 1.0", false},
		{"foo >= 2", "foo < 3", true},
		{"foo >= 1.0", "bar = 1.0", false},
		{"foo >= 1.0~rc1", "foo = 1.0~beta-1", false},
	}
	for _, c := range cases {
		t.Run(c.req+" by "+c.provide, func(t *testing.T) {
			if got := parseRPMCapability(c.req).satisfiedBy(parseRPMCapability(c.provide)); got != c.want {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestParseRPMCapability(t *testing.T) {
	for in, want := range map[string]rpmCapability{
		"libc.so.6()(64bit)":   {Name: "libc.so.6()(64bit)"},
		" foo >= 1:2.0-3 ":     {Name: "foo", Op: ">=", EVR: evr.EVR{Epoch: 1, Version: "2.0", Release: "3"}},
		"(a or b)":             {Name: "(a or b)"},
		"(a if b else c) >= 1": {Name: "(a if b else c) >= 1"},
	} {
		got := parseRPMCapability(in)
		if got.Name != want.Name || got.Op != want.Op || got.EVR.String() != want.EVR.String() {
			t.Errorf("parseRPMCapability(%q) = %+v, want %+v", in, got, want)
		}
	}
}

func FuzzParseRPMCapability(f *testing.F) {
	for _, s := range []string{"foo >= 1.0-1", "/usr/bin/x", "(a or b)", "x = ", "a b c d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := parseRPMCapability(s)
		if c.Op != "" && c.Name == "" {
			t.Fatalf("%q: an operator without a name", s)
		}
		c.satisfiedBy(c)
	})
}

// rpmRepoPackage describes a repository package "name-evr.arch" of priority prio.
func rpmRepoPackage(nevra string, prio int, provides ...string) *repoPackage {
	var name, ver, arch string
	fmt.Sscanf(nevra, "%s %s %s", &name, &ver, &arch)
	p := &repoPackage{Name: name, Arch: arch, EVR: evr.ParseRPM(ver), Priority: prio, Location: nevra}
	p.Provides = append(p.Provides, rpmCapability{Name: name, Op: "=", EVR: p.EVR})
	for _, pr := range provides {
		if pr[0] == '/' {
			p.Files = append(p.Files, pr)
			continue
		}
		p.Provides = append(p.Provides, parseRPMCapability(pr))
	}
	return p
}

// TestBestRPMProvider: the choice of a new dependency's package, case by case as
// libsolv makes it (TestRPMNewDependencyMatchesDNF checks the whole against dnf).
func TestBestRPMProvider(t *testing.T) {
	cases := []struct {
		name string
		req  string
		pkgs []*repoPackage
		skip string
		want string
	}{
		{"highest version", "foo >= 1", []*repoPackage{
			rpmRepoPackage("foo 1.0-1 noarch", 99), rpmRepoPackage("foo 1.2-1 noarch", 99), rpmRepoPackage("foo 0.9-1 noarch", 99)}, "", "foo 1.2-1 noarch"},
		{"the best priority wins over a higher version", "foo", []*repoPackage{
			rpmRepoPackage("foo 1.0-1 noarch", 10), rpmRepoPackage("foo 2.0-1 noarch", 99)}, "", "foo 1.0-1 noarch"},
		{"only providers meeting the version count", "foo >= 2", []*repoPackage{
			rpmRepoPackage("foo 1.0-1 noarch", 10), rpmRepoPackage("foo 2.0-1 noarch", 99)}, "", "foo 2.0-1 noarch"},
		{"machine arch before multilib", "libfoo.so.1", []*repoPackage{
			rpmRepoPackage("libfoo 1.0-1 i686", 99, "libfoo.so.1"), rpmRepoPackage("libfoo 1.0-1 x86_64", 99, "libfoo.so.1")}, "", "libfoo 1.0-1 x86_64"},
		{"multilib when nothing else provides it", "libfoo.so.1", []*repoPackage{
			rpmRepoPackage("libfoo 1.0-1 i686", 99, "libfoo.so.1"), rpmRepoPackage("libfoo 1.0-1 aarch64", 99, "libfoo.so.1")}, "", "libfoo 1.0-1 i686"},
		{"the highest provided version of a shared capability", "foo", []*repoPackage{
			rpmRepoPackage("foo 3.0-1 noarch", 99), rpmRepoPackage("foo-ng 1.0-1 noarch", 99, "foo = 4.0")}, "", "foo-ng 1.0-1 noarch"},
		{"names in byte order otherwise", "mta", []*repoPackage{
			rpmRepoPackage("sendmail 8-1 x86_64", 99, "mta"), rpmRepoPackage("postfix 3-1 x86_64", 99, "mta")}, "", "postfix 3-1 x86_64"},
		{"a file listed in primary.xml", "/usr/bin/helper", []*repoPackage{
			rpmRepoPackage("helper 1-1 noarch", 99, "/usr/bin/helper")}, "", "helper 1-1 noarch"},
		{"installed names are not new packages", "mta", []*repoPackage{
			rpmRepoPackage("sendmail 8-1 x86_64", 99, "mta"), rpmRepoPackage("postfix 3-1 x86_64", 99, "mta")}, "postfix", "sendmail 8-1 x86_64"},
		{"nothing provides it", "bar", []*repoPackage{rpmRepoPackage("foo 1-1 noarch", 99)}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ix := &repoIndex{provides: map[string][]*repoPackage{}, files: map[string][]*repoPackage{}}
			for _, p := range c.pkgs {
				ix.add(p)
			}
			p := ix.bestRPMProvider(parseRPMCapability(c.req), "x86_64", func(n string) bool { return n == c.skip })
			got := ""
			if p != nil {
				got = p.Location
			}
			if got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// TestLoadRepoIndex reads the RPM lab's repositories as the resolver of new
// dependencies does: what dnf's modular filtering hides for the lab root and what
// exclude matches are left out, and a repository whose signature does not verify is an
// error.
func TestLoadRepoIndex(t *testing.T) {
	fixture.Need(t, "rpm", "rpmbuild", "createrepo_c")
	lab := fixture.BuildRPMLab(t)
	var specs []repository.Spec
	for _, r := range lab.Repos {
		spec := repository.Spec{Name: r.Name, URL: r.URL, Type: repository.TypeRPM, Priority: r.Priority}
		if r.Signed {
			spec.GPGKey = lab.GPGKeyFile
		}
		specs = append(specs, spec)
	}
	opts := &Options{Target: Target{HostRoot: lab.Root}, Repositories: specs, CacheDir: t.TempDir(),
		Filter: updates.Filter{Exclude: []string{"demo-ex*"}}}
	ix, err := loadRepoIndex(context.Background(), opts, "rpm")
	if err != nil {
		t.Fatal(err)
	}
	var nodejs []string
	for _, p := range ix.provides["nodejs"] {
		nodejs = append(nodejs, p.EVR.String())
	}
	if strings.Join(nodejs, " ") != "1:18.19.0-1.module+el9.3.0+101+a1b2c3d4 1:18.20.0-1.module+el9.4.0+201+a1b2c3d4" {
		t.Errorf("nodejs versions %v, want only those of the active stream 18", nodejs)
	}
	if len(ix.provides["demo-extra"]) != 0 {
		t.Error("demo-extra is excluded but indexed")
	}
	if len(ix.provides["demo-lib"]) == 0 || len(ix.provides["/sbin/ldconfig"]) == 0 {
		t.Error("demo-lib or the provider of /sbin/ldconfig is missing")
	}
	// The signed repository verified above with its own key; another key must fail.
	specs[1].GPGKey = "/usr/share/keyrings/debian-archive-keyring.gpg"
	if _, err := os.Stat(specs[1].GPGKey); err != nil {
		t.Skipf("needs a key that did not sign the lab (apt-get install debian-archive-keyring): %v", err)
	}
	if _, err := loadRepoIndex(context.Background(), &Options{Target: Target{HostRoot: lab.Root}, Repositories: specs, CacheDir: t.TempDir()}, "rpm"); err == nil || !strings.Contains(err.Error(), "verifying") {
		t.Errorf("a repository signed by another key: %v, want a verification error", err)
	}
}

// TestLoadDebIndex reads internal/apt's signed test repository.
func TestLoadDebIndex(t *testing.T) {
	repo, err := filepath.Abs("../apt/testdata/aptrepo")
	if err != nil {
		t.Fatal(err)
	}
	spec := repository.Spec{Name: "demo", URL: "file://" + repo, Type: repository.TypeDeb, Suite: "demo-security",
		GPGKey: filepath.Join(repo, "refit-archive-key.asc")}
	ix, err := loadRepoIndex(context.Background(), &Options{Repositories: []repository.Spec{spec}, CacheDir: t.TempDir()}, "dpkg")
	if err != nil {
		t.Fatal(err)
	}
	p := ix.debCandidate("refit-demo")
	if p == nil || p.EVR.String() != "1.0-2" || p.Checksum == "" || !strings.HasSuffix(p.Location, ".deb") {
		t.Fatalf("refit-demo candidate %+v", p)
	}
	if names := ix.debProviderNames("refit-demo-api"); len(names) != 1 || names[0] != "refit-demo" {
		t.Errorf("providers of refit-demo-api: %v", names)
	}
}
