package patch

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/apt"
	"github.com/refit-images/packer-plugin-refit/internal/evr"
)

func pkg(t *testing.T, name, version, depends, breaks, provides string) *debPackage {
	t.Helper()
	p, err := newDebPackage(&apt.Package{Package: name, Version: version, Depends: depends, Breaks: breaks, Provides: provides})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseDebRelations(t *testing.T) {
	got, err := parseDebRelations("libc6 (>= 2.36), foo:any | bar (<< 1:2~b) , python3:amd64 (= 3.11.2-1+b1)")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]debRelation{
		{{Name: "libc6", Op: ">=", Version: "2.36"}},
		{{Name: "foo"}, {Name: "bar", Op: "<<", Version: "1:2~b"}},
		{{Name: "python3", Op: "=", Version: "3.11.2-1+b1"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{"foo (>= 1", "foo (1.0)", "(>= 1)"} {
		if _, err := parseDebRelations(bad); err == nil {
			t.Errorf("parseDebRelations(%q) accepted", bad)
		}
	}
}

// TestResolveDebUpgrade: the hold-back rules of apt-get upgrade.
func TestResolveDebUpgrade(t *testing.T) {
	installed := func() map[string]*debPackage {
		return map[string]*debPackage{
			"libc6":    pkg(t, "libc6", "2.36-9", "", "", ""),
			"libfoo1":  pkg(t, "libfoo1", "1.0-1", "libc6 (>= 2.30)", "", ""),
			"foo-util": pkg(t, "foo-util", "1.0-1", "libfoo1 (= 1.0-1)", "", ""),
			"mta":      pkg(t, "exim", "4.96-1", "", "", "mail-transport-agent"),
			"app":      pkg(t, "app", "2.0-1", "libc6", "", ""),
		}
	}
	cases := []struct {
		name  string
		cands []*debPackage
		held  []string
	}{
		{name: "consistent set", cands: []*debPackage{
			pkg(t, "libc6", "2.36-9+deb12u1", "", "", ""),
			pkg(t, "app", "2.0-1+deb12u1", "libc6 (>= 2.36-9+deb12u1)", "", "")}},
		{name: "needs a newer libc that is not offered", cands: []*debPackage{
			pkg(t, "libfoo1", "1.0-2", "libc6 (>= 2.37)", "", "")}, held: []string{"libfoo1"}},
		{name: "needs a package that is not installed", cands: []*debPackage{
			pkg(t, "app", "2.0-2", "libc6, libnew1", "", "")}, held: []string{"app"}},
		{name: "installed package pins the old version", cands: []*debPackage{
			pkg(t, "libfoo1", "1.0-2", "libc6", "", "")}, held: []string{"libfoo1"}},
		{name: "pin moves with it", cands: []*debPackage{
			pkg(t, "libfoo1", "1.0-2", "libc6", "", ""),
			pkg(t, "foo-util", "1.0-2", "libfoo1 (= 1.0-2)", "", "")}},
		{name: "cascade", cands: []*debPackage{
			pkg(t, "libfoo1", "1.0-2", "libc6 (>= 3)", "", ""),
			pkg(t, "foo-util", "1.0-2", "libfoo1 (= 1.0-2)", "", "")}, held: []string{"foo-util", "libfoo1"}},
		{name: "breaks an installed package", cands: []*debPackage{
			pkg(t, "libc6", "2.36-10", "", "app (<< 3)", "")}, held: []string{"libc6"}},
		{name: "virtual package satisfied", cands: []*debPackage{
			pkg(t, "app", "2.0-2", "mail-transport-agent | postfix", "", "")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cands := map[string]*debPackage{}
			for _, c := range tc.cands {
				cands[c.Name] = c
			}
			held, added := resolveDebUpgrade(installed(), cands, nil, nil)
			if len(added) > 0 {
				t.Errorf("without repositories nothing new may be installed: %v", added)
			}
			got := sortedKeys(held)
			sort.Strings(tc.held)
			if len(got) == 0 && len(tc.held) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.held) {
				t.Errorf("held back %v (%v), want %v", got, held, tc.held)
			}
		})
	}
}

// debIndex is a repository index of Debian packages "name version depends breaks provides".
func debIndex(t *testing.T, pkgs ...*debPackage) *repoIndex {
	t.Helper()
	ix := &repoIndex{provides: map[string][]*repoPackage{}, files: map[string][]*repoPackage{}}
	for _, p := range pkgs {
		v, err := evr.ParseDeb(p.Version)
		if err != nil {
			t.Fatal(err)
		}
		ix.add(&repoPackage{Name: p.Name, Arch: "all", EVR: v, Priority: 99, Deb: p})
	}
	return ix
}

// TestResolveDebUpgradeWithNewPackages: the new packages "apt-get upgrade
// --with-new-pkgs" installs for upgrades, and what it holds back.
func TestResolveDebUpgradeWithNewPackages(t *testing.T) {
	installed := func() map[string]*debPackage {
		return map[string]*debPackage{
			"libc6": pkg(t, "libc6", "2.36-9", "", "", ""),
			"app":   pkg(t, "app", "2.0-1", "libc6", "", ""),
			"tool":  pkg(t, "tool", "1.0-1", "", "", ""),
			"guard": pkg(t, "guard", "1.0-1", "", "libguarded", ""),
		}
	}
	repo := debIndex(t,
		pkg(t, "libnew1", "1.0-1", "", "", ""),
		pkg(t, "libnew1", "2.1-1", "libnew1-data", "", ""),
		pkg(t, "libnew1-data", "2.1-1", "", "", ""),
		pkg(t, "liba", "1.0-1", "", "", ""),
		pkg(t, "libb", "1.0-1", "", "", ""),
		pkg(t, "provider-b", "1.0-1", "", "", "virt-thing, virt-v (= 1)"),
		pkg(t, "provider-a", "1.0-1", "", "", "virt-thing, virt-v (= 2)"),
		pkg(t, "newbad", "1.0-1", "", "app (<< 3)", ""),
		pkg(t, "libguarded", "1.0-1", "", "", ""),
		pkg(t, "needs-missing", "1.0-1", "nowhere-at-all", "", ""),
	)
	cases := []struct {
		name   string
		cands  []*debPackage
		reject map[string]string
		added  []string // "name <- needed by"
		held   []string // "name: reason fragment"
	}{
		{name: "a new dependency and its own", cands: []*debPackage{pkg(t, "app", "2.0-2", "libc6, libnew1 (>= 2)", "", "")},
			added: []string{"libnew1 <- app", "libnew1-data <- libnew1"}},
		{name: "the first alternative the repositories meet", cands: []*debPackage{pkg(t, "app", "2.0-2", "libgone | libb | liba", "", "")},
			added: []string{"libb <- app"}},
		{name: "only the candidate version counts", cands: []*debPackage{pkg(t, "app", "2.0-2", "libnew1 (<< 2)", "", "")},
			held: []string{"app: the repositories offer libnew1 2.1-1"}},
		{name: "a virtual package", cands: []*debPackage{pkg(t, "app", "2.0-2", "virt-thing", "", "")},
			added: []string{"provider-a <- app"}},
		{name: "a versioned virtual package", cands: []*debPackage{pkg(t, "tool", "1.0-2", "virt-v (>= 2)", "", "")},
			added: []string{"provider-a <- tool"}},
		{name: "an alternative already installed is kept", cands: []*debPackage{pkg(t, "app", "2.0-2", "libnew1 | tool", "", "")}},
		{name: "a new package that breaks an installed one", cands: []*debPackage{pkg(t, "tool", "1.0-2", "newbad", "", "")},
			held: []string{"tool: newbad 1.0-1 breaks or conflicts with app (<< 3)"}},
		{name: "a new package an installed one breaks", cands: []*debPackage{pkg(t, "tool", "1.0-2", "libguarded", "", "")},
			held: []string{"tool: guard 1.0-1 breaks or conflicts with libguarded 1.0-1"}},
		{name: "nothing provides it", cands: []*debPackage{pkg(t, "tool", "1.0-2", "nowhere-at-all", "", "")},
			held: []string{"tool: the repositories offer nothing that provides it"}},
		{name: "a new package whose own dependency fails is not installed", cands: []*debPackage{pkg(t, "tool", "1.0-2", "needs-missing", "", "")},
			held: []string{"tool: needs-missing 1.0-1 cannot be installed: needs nowhere-at-all"}},
		{name: "a rejected package", cands: []*debPackage{pkg(t, "app", "2.0-2", "libnew1", "", "")},
			reject: map[string]string{"libnew1": "its postinst is unsafe"}, held: []string{"app: its postinst is unsafe"}},
		{name: "new packages of a held upgrade are dropped", cands: []*debPackage{pkg(t, "app", "2.0-2", "liba, nowhere-at-all", "", "")},
			held: []string{"app: needs nowhere-at-all"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cands := map[string]*debPackage{}
			for _, c := range tc.cands {
				cands[c.Name] = c
			}
			held, added := resolveDebUpgrade(installed(), cands, repo, tc.reject)
			var gotAdded []string
			for _, n := range sortedKeys(added) {
				gotAdded = append(gotAdded, n+" <- "+strings.Join(added[n].dependencyOf, ","))
			}
			if strings.Join(gotAdded, "; ") != strings.Join(tc.added, "; ") {
				t.Errorf("new packages %q, want %q", gotAdded, tc.added)
			}
			if len(held) != len(tc.held) {
				t.Errorf("held back %v, want %v", held, tc.held)
			}
			for _, h := range tc.held {
				name, frag, _ := strings.Cut(h, ": ")
				if !strings.Contains(held[name], frag) {
					t.Errorf("%s held back for %q, want it to say %q", name, held[name], frag)
				}
			}
		})
	}
}

func FuzzParseDebRelations(f *testing.F) {
	for _, s := range []string{"libc6 (>= 2.36), foo | bar", "a:any (<< 1~)", "x [amd64] <!nocheck>", "(", "a (>= )"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rels, err := parseDebRelations(s)
		if err != nil {
			return
		}
		for _, alts := range rels {
			for _, r := range alts {
				if r.Name == "" {
					t.Fatalf("empty name from %q", s)
				}
				debVersionSatisfies("1.0", r.Op, r.Version)
			}
		}
	})
}

func TestDpkgPathFilter(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "etc/dpkg/dpkg.cfg.d/excludes", "path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\n# comment\npath-exclude /usr/share/man/*\n")
	f := readDpkgPathFilter(root)
	for p, want := range map[string]bool{
		"/usr/share/doc/apt/changelog.gz": true, "/usr/share/doc/apt/copyright": false,
		"/usr/share/man/man1/x.1.gz": true, "/usr/bin/apt": false,
	} {
		if got := f.excluded(p); got != want {
			t.Errorf("excluded(%s) = %v, want %v", p, got, want)
		}
	}
}

func writeFile(t *testing.T, root, name, text string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheckKernels(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "boot/vmlinuz-6.1.0-30-amd64", "k")
	writeFile(t, root, "boot/initrd.img-6.1.0-30-amd64", "i")
	writeFile(t, root, "boot/vmlinuz-6.1.0-31-amd64", "k")
	cases := []struct {
		names []string
		ok    bool
	}{
		{[]string{"linux-image-6.1.0-30-amd64", "linux-image-amd64", "bash"}, true},
		{[]string{"linux-image-6.1.0-31-amd64"}, false},
		{[]string{"linux-image-6.1.0-32-amd64"}, false},
	}
	for _, c := range cases {
		t.Run(c.names[0], func(t *testing.T) {
			if err := checkKernels(root, c.names); (err == nil) != c.ok {
				t.Errorf("checkKernels(%v) = %v", c.names, err)
			}
		})
	}
}
