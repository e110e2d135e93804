package patch

import (
	"os"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/apt"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// debianKeyring is the keyring apt uses for Debian's archives when a source names none.
const debianKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// debianMirrors returns the URIs of this machine's apt entries for the -updates and -security
// suites, and the keyring they are verified with; it skips the test when either is missing.
func debianMirrors(t *testing.T) (mirror, security, keyring string) {
	t.Helper()
	srcs, err := fixture.HostAPTSources()
	if err != nil {
		t.Skipf("needs this machine's apt sources: %v", err)
	}
	keyring = debianKeyring
	for _, s := range srcs {
		if !contains(s.Types, "deb") || len(s.URIs) == 0 {
			continue
		}
		uri := strings.TrimRight(s.URIs[0], "/")
		if contains(s.Suites, fixture.DebianSuite+"-updates") && contains(s.Suites, fixture.DebianSuite) && mirror == "" {
			mirror = uri
		}
		if contains(s.Suites, fixture.DebianSuite+"-security") && security == "" {
			security = uri
		}
		if k := s.Options["signed-by"]; strings.HasPrefix(k, "/") {
			keyring = k
		}
	}
	if mirror == "" || security == "" {
		t.Skipf("needs apt sources for %s and %s-updates (one URI) and %s-security", fixture.DebianSuite, fixture.DebianSuite, fixture.DebianSuite)
	}
	if _, err := os.Stat(keyring); err != nil {
		t.Skipf("needs the Debian archive keyring %s (apt-get install debian-archive-keyring)", keyring)
	}
	return mirror, security, keyring
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
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
