package patch

import (
	"os"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/apt"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// debianMirrors returns the URIs of this machine's apt entries for the -updates and -security
// suites, and the keyring they are verified with; it skips the test when either is missing.
func debianMirrors(t *testing.T) (mirror, security, keyring string) {
	t.Helper()
	updates := fixture.HostDebianRepos(t, fixture.DebianSuite+"-updates")[0]
	sec := fixture.HostDebianRepos(t, fixture.DebianSuite+"-security")[0]
	if _, err := os.Stat(updates.Key); err != nil {
		t.Skipf("needs the Debian archive keyring %s (apt-get install debian-archive-keyring)", updates.Key)
	}
	return strings.TrimRight(updates.URI, "/"), strings.TrimRight(sec.URI, "/"), updates.Key
}

// parseStatusVersions returns name → version of the installed packages in a dpkg status file.
func parseStatusVersions(t *testing.T, status string) map[string]string {
	t.Helper()
	entries, err := apt.ParseStatus(strings.NewReader(status))
	if err != nil {
		t.Fatalf("parsing a dpkg status file: %v", err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if e.Installed() {
			out[e.Package] = e.Version
		}
	}
	if len(out) == 0 {
		t.Fatal("the dpkg status file lists no installed package")
	}
	return out
}
