package outdated

import (
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// debianSpecs turns this machine's apt entries for suites into deb repositories, verified
// with the keys apt itself uses (Signed-By, else the Debian archive keyring).
func debianSpecs(t *testing.T, suites ...string) []repository.Spec {
	t.Helper()
	var specs []repository.Spec
	for i, r := range fixture.HostDebianRepos(t, suites...) {
		specs = append(specs, repository.Spec{Name: fmt.Sprintf("%s-%d", r.Suite, i), URL: r.URI,
			Type: repository.TypeDeb, Suite: r.Suite, Components: r.Components, GPGKey: r.Key})
	}
	return specs
}

// TestDebianRootMatchesAPT: a real Debian 12 root made from the base suite only, against
// the real bookworm, -updates and -security suites this machine's apt configuration
// reaches: refit's answer must equal apt list --upgradable on the same root.
func TestDebianRootMatchesAPT(t *testing.T) {
	fixture.Need(t, "mmdebstrap", "apt-get")
	root := fixture.DebianRoot(t)
	suites := []string{fixture.DebianSuite, fixture.DebianSuite + "-updates", fixture.DebianSuite + "-security"}
	specs := debianSpecs(t, suites...)
	if _, err := os.Stat("/usr/share/keyrings/debian-archive-keyring.gpg"); err != nil {
		t.Skip("needs the Debian archive keyring (apt-get install debian-archive-keyring)")
	}
	want := map[string]string{}
	for _, u := range fixture.APTUpgradable(t, root, fixture.DebianSourcesList(t, suites...)) {
		want[u.Name+"."+u.Arch] = u.EVR
	}
	res := runJob(t, root, specs, updates.Filter{})
	got := map[string]string{}
	for _, u := range res.Updates {
		got[u.Name+"."+u.Arch] = u.Available.String()
	}
	if len(want) == 0 {
		t.Skip("apt offers no updates for the base suite today: nothing to compare")
	}
	if !reflect.DeepEqual(got, want) {
		var diff []string
		for k, v := range want {
			if got[k] != v {
				diff = append(diff, fmt.Sprintf("%s: apt %q refit %q", k, v, got[k]))
			}
		}
		for k, v := range got {
			if _, ok := want[k]; !ok {
				diff = append(diff, fmt.Sprintf("%s: apt - refit %q", k, v))
			}
		}
		sort.Strings(diff)
		t.Fatalf("refit and apt list --upgradable differ (%d of %d):\n%s", len(diff), len(want), strings.Join(diff, "\n"))
	}
	t.Logf("%d upgradable packages, refit and apt agree", len(got))
}
