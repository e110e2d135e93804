package hardening

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// rootFlavour is a Debian 12 root for the integration tests, built by testdata/mkroot.sh.
type rootFlavour struct {
	name     string
	variant  string
	packages []string
}

// serverPackages are what a small Debian server image has, plus busybox to run the program with.
var serverPackages = []string{
	"openssh-server", "sudo", "nftables", "systemd-sysv", "systemd-timesyncd", "auditd",
	"libpam-pwquality", "cron", "iproute2", "procps", "busybox", "apparmor",
}

var (
	flavourServer = rootFlavour{"server", "minbase", serverPackages}
	// flavourRPM adds Debian's rpm, so that a root with a RHEL-family os-release has an rpmdb.
	flavourRPM = rootFlavour{"rpm", "minbase", append(append([]string{}, serverPackages...), "rpm")}
	// flavourFirewalls has firewalld and ufw instead of nftables alone.
	flavourFirewalls = rootFlavour{"firewalls", "minbase", []string{"openssh-server", "sudo", "systemd-sysv", "firewalld", "ufw", "busybox"}}
)

var rootBuildMu sync.Mutex

// rootTarball returns the cached tarball of a flavour, building it with mmdebstrap on first use
// (a few minutes). The cache entry's key covers the generator script, the package list and the
// apt sources read from this machine's configuration.
func rootTarball(t *testing.T, f rootFlavour) string {
	t.Helper()
	fixture.NeedRoot(t)
	fixture.Need(t, "mmdebstrap", "tar", "apt-get")
	script, err := filepath.Abs(filepath.Join("testdata", "mkroot.sh"))
	if err != nil {
		t.Fatal(err)
	}
	sources, err := exec.Command(script, "--sources").Output()
	if err != nil || !strings.Contains(string(sources), " bookworm main") {
		t.Skipf("needs an apt source for bookworm in this machine's apt configuration (mkroot.sh --sources: %v)", err)
	}
	body, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s", body, f.variant, strings.Join(f.packages, ","), sources)
	dir := filepath.Join(fixture.CacheDir(), "harden-"+f.name+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	tarball := filepath.Join(dir, "root.tar")

	rootBuildMu.Lock()
	defer rootBuildMu.Unlock()
	if err := os.MkdirAll(fixture.CacheDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if _, err := os.Stat(tarball); err == nil {
		return tarball
	}
	tmp := dir + ".building"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("building the %s root with mmdebstrap (cached in %s)", f.name, dir)
	out, err := exec.Command(script, filepath.Join(tmp, "root.tar"), f.variant, strings.Join(f.packages, ",")).CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		t.Fatalf("mkroot.sh: %v\n%s", err, lastLines(out, 30))
	}
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	return tarball
}

// extractRoot unpacks a flavour into a new directory and adds the device nodes a chroot needs.
func extractRoot(t *testing.T, f rootFlavour) string {
	t.Helper()
	tarball := rootTarball(t, f)
	root := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-C", root, "-xf", tarball, "--numeric-owner", "--same-owner", "--preserve-permissions").CombinedOutput(); err != nil {
		t.Fatalf("extracting %s: %v\n%s", tarball, err, out)
	}
	addDeviceNodes(t, root)
	return root
}

// addDeviceNodes adds the device nodes a chroot needs to the root's /dev.
func addDeviceNodes(t *testing.T, root string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", "/dev/null", "/dev/zero", "/dev/random", "/dev/urandom", filepath.Join(root, "dev")).CombinedOutput(); err != nil {
		t.Fatalf("device nodes: %v\n%s", err, out)
	}
}

// inRoot runs a command inside the root with chroot and returns its combined output.
func inRoot(t *testing.T, root string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("chroot", append([]string{root}, args...)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "HOME=/root"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// runProgram renders cfg into the root and runs it there with the given shell; it returns the
// parsed report and the raw output.
func runProgram(t *testing.T, root string, cfg Config, shell ...string) (Report, string) {
	t.Helper()
	program, err := Render(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "tmp", "refit-harden.sh"), program, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := inRoot(t, root, append(shell, "/tmp/refit-harden.sh")...)
	rep, perr := ParseReport([]byte(out))
	if perr != nil {
		t.Fatalf("program output (exit %v): %v\n%s", err, perr, lastLines([]byte(out), 40))
	}
	return rep, out
}

// resultsByID indexes a report's results.
func resultsByID(r Report) map[string]Result {
	m := make(map[string]Result, len(r.Results))
	for _, res := range r.Results {
		m[res.ID] = res
	}
	return m
}

// failures lists the failed results, for error messages.
func failures(r Report) string {
	var b strings.Builder
	for _, res := range r.Results {
		if res.Status == StatusFailed {
			fmt.Fprintf(&b, "  %s: %s\n", res.ID, res.Detail)
		}
	}
	return b.String()
}

// changes lists the changed results, for error messages.
func changes(r Report) string {
	var b strings.Builder
	for _, res := range r.Results {
		if res.Status == StatusChanged {
			fmt.Fprintf(&b, "  %s: %s\n", res.ID, res.Detail)
		}
	}
	return b.String()
}
