package outdated

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// debRoot writes a Debian root whose dpkg status holds the given "name version arch
// [fields]" entries. (apt tells versions apart by Installed-Size and relationships too: an
// installed refit-demo 1.0-1 without the repository's Depends would count as upgradable.)
func debRoot(t *testing.T, pkgs ...string) string {
	t.Helper()
	root := t.TempDir()
	var status strings.Builder
	for _, p := range pkgs {
		f := strings.SplitN(p, " ", 4)
		extra := ""
		if len(f) == 4 {
			extra = strings.ReplaceAll(f[3], "; ", "\n") + "\n"
		}
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nPriority: optional\nMaintainer: x <x@example.invalid>\nArchitecture: %s\nVersion: %s\n%sDescription: test\n\n", f[0], f[2], f[1], extra)
	}
	files := map[string]string{
		"var/lib/dpkg/status": status.String(),
		"etc/os-release":      "ID=debian\nVERSION_ID=\"12\"\nNAME=\"Debian GNU/Linux\"\n",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestGeneratedAPTRepoMatchesAPT: the signed file:// APT repository of internal/apt's
// testdata against a generated dpkg status; refit must answer as apt list --upgradable.
func TestGeneratedAPTRepoMatchesAPT(t *testing.T) {
	fixture.Need(t, "apt-get")
	repo, err := filepath.Abs("../apt/testdata/aptrepo")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(repo, "refit-archive-key.asc")
	root := debRoot(t,
		"refit-demo 1.0-1 amd64 Installed-Size: 1; Depends: refit-data (>= 1.0); Provides: refit-demo-api", // 1.0-2 in demo-security
		"refit-tilde 2.0~rc1-0 amd64", // 2.0~rc1-1 in demo, 2.0-1 in demo-security
		"refit-epoch 2.5-1 amd64",     // 1:2.0-1: the epoch wins
		"refit-data 0.9-1 all",        // arch all
		"unrelated 1.0-1 amd64",       // in no repository
	)
	cases := []struct {
		name   string
		suites []string
		filter updates.Filter
	}{
		{"both suites", []string{"demo", "demo-security"}, updates.Filter{}},
		{"base suite only", []string{"demo"}, updates.Filter{}},
		{"security suite only", []string{"demo-security"}, updates.Filter{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var specs []repository.Spec
			var sources []string
			for _, s := range tc.suites {
				specs = append(specs, repository.Spec{Name: s, URL: "file://" + repo, Type: repository.TypeDeb, Suite: s, GPGKey: key})
				sources = append(sources, fmt.Sprintf("deb [signed-by=%s] file://%s %s main", key, repo, s))
			}
			res := runJob(t, root, specs, tc.filter)
			var got, want []string
			for _, u := range res.Updates {
				got = append(got, fmt.Sprintf("%s.%s %s from %s", u.Name, u.Arch, u.Available, u.Installed))
			}
			for _, u := range fixture.APTUpgradable(t, root, strings.Join(sources, "\n")+"\n") {
				want = append(want, fmt.Sprintf("%s.%s %s from %s", u.Name, u.Arch, u.EVR, u.Installed))
			}
			sort.Strings(got)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("refit and apt list --upgradable differ\nrefit: %q\napt:   %q", got, want)
			}
			if tc.name == "both suites" && len(want) < 4 {
				t.Errorf("apt offers only %q: the fixture is broken", want)
			}
		})
	}
	// security_only keeps what the security suite offers, as unattended-upgrades would.
	res := runJob(t, root, []repository.Spec{
		{Name: "demo", URL: "file://" + repo, Type: repository.TypeDeb, Suite: "demo", GPGKey: key},
		{Name: "security", URL: "file://" + repo, Type: repository.TypeDeb, Suite: "demo-security", GPGKey: key},
	}, updates.Filter{SecurityOnly: true})
	var names []string
	for _, u := range res.Updates {
		if u.Repository != "security" {
			t.Errorf("security_only offered %s from %s", u.Name, u.Repository)
		}
		names = append(names, u.Name)
	}
	if want := []string{"refit-demo", "refit-tilde"}; !reflect.DeepEqual(names, want) || res.SecurityCount != 2 {
		t.Errorf("security_only: %v (security_count %d), want %v", names, res.SecurityCount, want)
	}
}
