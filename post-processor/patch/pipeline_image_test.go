package patch

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
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

// aptGetUpgradeVersions asks the real apt-get which versions "apt-get upgrade" installs for the
// installed set in status (a dpkg status file) from the repositories in sourcesList: a simulated
// run (-s) with private state, lists, cache and sources, so neither an image nor this host
// changes. It returns name → version after the upgrade.
func aptGetUpgradeVersions(t *testing.T, status, sourcesList string) map[string]string {
	t.Helper()
	tmp := t.TempDir()
	for _, d := range []string{"state/lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d", "log"} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{"status": status, "sources.list": sourcesList, "preferences": ""} {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opts := []string{
		"-q", "-o", "Dir::State=" + filepath.Join(tmp, "state"),
		"-o", "Dir::State::status=" + filepath.Join(tmp, "status"),
		"-o", "Dir::Cache=" + filepath.Join(tmp, "cache"),
		"-o", "Dir::Etc::sourcelist=" + filepath.Join(tmp, "sources.list"),
		"-o", "Dir::Etc::sourceparts=" + filepath.Join(tmp, "sources.list.d"),
		"-o", "Dir::Etc::preferences=" + filepath.Join(tmp, "preferences"),
		"-o", "Dir::Etc::preferencesparts=" + filepath.Join(tmp, "preferences.d"),
		"-o", "Dir::Log=" + filepath.Join(tmp, "log"),
		"-o", "Debug::NoLocking=1", "-o", "Acquire::Languages=none",
		"-o", "APT::Sandbox::User=root",
	}
	if arch := dpkgArchitecture(t, status); arch != "" {
		// the image's architecture, not this host's
		opts = append(opts, "-o", "APT::Architecture="+arch, "-o", "APT::Architectures::="+arch)
	}
	env := append(os.Environ(), "LC_ALL=C.UTF-8", "DEBIAN_FRONTEND=noninteractive")
	run := func(args ...string) string {
		cmd := exec.Command("apt-get", append(append([]string{}, opts...), args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("update")
	out := run("-s", "upgrade")
	versions := parseStatusVersions(t, status)
	// "Inst name [old] (new suite [arch])" for every package apt-get upgrade installs.
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || f[0] != "Inst" {
			continue
		}
		name, _, _ := strings.Cut(f[1], ":")
		v := f[2]
		if strings.HasPrefix(v, "[") && len(f) > 3 {
			v = f[3]
		}
		versions[name] = strings.TrimPrefix(v, "(")
	}
	if held := heldBack(out); held != "" {
		t.Logf("apt-get upgrade keeps back: %s", held)
	}
	return versions
}

// dpkgArchitecture returns the architecture of the dpkg package in a dpkg status file, or "".
func dpkgArchitecture(t *testing.T, status string) string {
	t.Helper()
	entries, err := apt.ParseStatus(strings.NewReader(status))
	if err != nil {
		t.Fatalf("parsing a dpkg status file: %v", err)
	}
	for _, e := range entries {
		if e.Package == "dpkg" {
			return e.Architecture
		}
	}
	return ""
}

// heldBack returns the packages apt-get lists as kept back, or "".
func heldBack(out string) string {
	_, rest, ok := strings.Cut(out, "The following packages have been kept back:\n")
	if !ok {
		return ""
	}
	var names []string
	for _, line := range strings.Split(rest, "\n") {
		if !strings.HasPrefix(line, " ") {
			break
		}
		names = append(names, strings.Fields(line)...)
	}
	return strings.Join(names, " ")
}
