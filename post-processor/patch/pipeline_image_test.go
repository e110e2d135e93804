package patch

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/apt"
	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
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

// hostNameservers returns the nameserver addresses of this host's /etc/resolv.conf (at most 3).
func hostNameservers(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Skipf("needs this host's /etc/resolv.conf: %v", err)
	}
	var servers []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "nameserver" && len(servers) < 3 {
			servers = append(servers, f[1])
		}
	}
	if len(servers) == 0 {
		t.Skip("needs a nameserver line in this host's /etc/resolv.conf")
	}
	return servers
}

// hclList renders strings as an HCL list (for -var).
func hclList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// imageFile is one file read from an image.
type imageFile struct {
	exists  bool
	content string
}

// readImage opens image read-only, calls inspect (when not nil) with the host path of its root,
// and returns the content of each of names, paths inside the image.
func readImage(t *testing.T, image string, inspect func(root string), names ...string) map[string]imageFile {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := diskimage.OpenReadOnly(ctx, image, diskimage.Options{MountFstab: true, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatalf("opening %s: %v", image, err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing %s: %v", image, err)
		}
	}()
	if inspect != nil {
		inspect(s.Root())
	}
	out := map[string]imageFile{}
	for _, name := range names {
		p, err := s.Mounts.ResolvePath(path.Clean(name))
		if err != nil {
			t.Fatalf("resolving %s in %s: %v", name, image, err)
		}
		data, err := os.ReadFile(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			out[name] = imageFile{}
		case err != nil:
			t.Fatalf("reading %s in %s: %v", name, image, err)
		default:
			out[name] = imageFile{exists: true, content: string(data)}
		}
	}
	return out
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
