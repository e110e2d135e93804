package patch

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/apt"
	"github.com/refit-images/packer-plugin-refit/internal/firstboot"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
)

var debianUpdateSuites = []string{fixture.DebianSuite, fixture.DebianSuite + "-updates", fixture.DebianSuite + "-security"}

// debianSpecs turns this machine's apt entries for suites into deb repositories, verified
// with the keys apt itself uses (Signed-By, else the Debian archive keyring).
func debianSpecs(t *testing.T, suites ...string) []repository.Spec {
	t.Helper()
	srcs, err := fixture.HostAPTSources()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, s := range suites {
		want[s] = true
	}
	var specs []repository.Spec
	for _, s := range srcs {
		isDeb := false
		for _, ty := range s.Types {
			isDeb = isDeb || ty == "deb"
		}
		if !isDeb {
			continue
		}
		for _, uri := range s.URIs {
			for _, suite := range s.Suites {
				if !want[suite] {
					continue
				}
				key := s.Options["signed-by"]
				if key == "" || strings.Contains(key, "BEGIN PGP") {
					key = "/usr/share/keyrings/debian-archive-keyring.gpg"
				}
				specs = append(specs, repository.Spec{
					Name: fmt.Sprintf("%s-%d", suite, len(specs)), URL: uri, Type: repository.TypeDeb,
					Suite: suite, Components: s.Components, GPGKey: key,
				})
			}
		}
	}
	if len(specs) == 0 {
		t.Skipf("this machine's apt configuration has no deb entries for %v", suites)
	}
	return specs
}

// installedVersions reads name → version of the installed packages of a root.
func installedVersions(t *testing.T, root string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, err := apt.ParseStatus(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if e.Installed() {
			out[e.Package] = e.Version
		}
	}
	return out
}

// chrootRun runs a shell command in root as the offline patch does (policy-rc.d, /dev nodes).
func chrootRun(t *testing.T, root string, script string) string {
	t.Helper()
	undo, err := preventServiceStart(root)
	if err != nil {
		t.Fatal(err)
	}
	defer undo()
	undoDev, err := ensureDeviceNodes(root)
	if err != nil {
		t.Fatal(err)
	}
	defer undoDev()
	cmd := Target{HostRoot: root}.command(context.Background(), "/bin/sh", "-c", script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in the chroot: %s: %v\n%s", script, err, out)
	}
	return string(out)
}

// aptGetUpgradeOracle runs the real "apt-get upgrade" in a chroot of a copy of root,
// against this machine's Debian suites, and returns the installed versions afterwards.
func aptGetUpgradeOracle(t *testing.T, root string) map[string]string {
	t.Helper()
	cp := fixture.CopyRoot(t, root)
	list := fixture.DebianSourcesList(t, debianUpdateSuites...)
	if err := os.WriteFile(filepath.Join(cp, "etc/apt/sources.list"), []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(cp, "etc/apt/sources.list.d"))
	os.MkdirAll(filepath.Join(cp, "etc/apt/sources.list.d"), 0o755)
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err == nil {
		os.Remove(filepath.Join(cp, "etc/resolv.conf"))
		os.WriteFile(filepath.Join(cp, "etc/resolv.conf"), resolv, 0o644)
	}
	out := chrootRun(t, cp, "apt-get -q -o Acquire::Languages=none -o APT::Sandbox::User=root update >/dev/null && apt-get -q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade")
	t.Logf("apt-get upgrade: %s", lastLine(out))
	return installedVersions(t, cp)
}

func diffVersions(got, want map[string]string) []string {
	var diff []string
	for k, v := range want {
		if got[k] != v {
			diff = append(diff, fmt.Sprintf("%s: apt-get upgrade %q, refit %q", k, v, got[k]))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			diff = append(diff, fmt.Sprintf("%s: apt-get upgrade -, refit %q", k, v))
		}
	}
	sort.Strings(diff)
	return diff
}

func needDebianLab(t *testing.T) {
	t.Helper()
	fixture.NeedRoot(t)
	fixture.Need(t, "mmdebstrap", "apt-get", "chroot")
	if _, err := os.Stat("/usr/share/keyrings/debian-archive-keyring.gpg"); err != nil {
		t.Skip("needs the Debian archive keyring (apt-get install debian-archive-keyring)")
	}
}

// TestDebianMatchesAptGetUpgrade is the oracle test: a Debian 12 root made from the base
// suite, patched offline against the real -updates and -security suites, must end with the
// installed set "apt-get upgrade" produces in a chroot of a copy of the same root, counting
// the deferred packages at their new versions; after the first-boot installer runs in a
// chroot, the set must be equal outright.
func TestDebianMatchesAptGetUpgrade(t *testing.T) {
	needDebianLab(t)
	root := fixture.DebianRoot(t)
	specs := debianSpecs(t, debianUpdateSuites...)
	want := aptGetUpgradeOracle(t, root)
	before := installedVersions(t, root)
	if len(diffVersions(before, want)) == 0 {
		t.Skip("apt-get upgrade changes nothing today: nothing to compare")
	}
	rep, err := Run(context.Background(), Options{
		Target: Target{HostRoot: root}, Repositories: specs,
		CacheDir: filepath.Join(fixture.CacheDir(), "patch-cache"), Log: func(s string) { t.Log(s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	got := installedVersions(t, root)
	for _, d := range rep.Deferred {
		got[d.Name] = d.To
	}
	if diff := diffVersions(got, want); len(diff) > 0 {
		t.Fatalf("refit-patch and apt-get upgrade differ (%d):\n%s\nreport: %s", len(diff), strings.Join(diff, "\n"), rep.Summary())
	}
	t.Logf("%s; verified: %s", rep.Summary(), rep.Verified)
	if _, err := os.Stat(filepath.Join(root, "var/lib/refit/apply")); !os.IsNotExist(err) {
		t.Errorf("the run left its apply directory in the image: %v", err)
	}
	if len(rep.Deferred) > 0 {
		t.Log(chrootRun(t, root, firstboot.ScriptPath))
		if diff := diffVersions(installedVersions(t, root), want); len(diff) > 0 {
			t.Fatalf("after the first-boot installer: differ from apt-get upgrade:\n%s", strings.Join(diff, "\n"))
		}
	}
}

// TestDebianDeferAllFirstboot: with scriptlets = "defer" nothing is applied offline; the
// packages wait in the queue with an enabled unit, and running that unit's installer in a
// chroot brings the root to what apt-get upgrade produces, then disables itself.
func TestDebianDeferAllFirstboot(t *testing.T) {
	needDebianLab(t)
	root := fixture.DebianRoot(t)
	specs := debianSpecs(t, debianUpdateSuites...)
	want := aptGetUpgradeOracle(t, root)
	before := installedVersions(t, root)
	rep, err := Run(context.Background(), Options{
		Target: Target{HostRoot: root}, Repositories: specs, Scriptlets: ScriptletsDefer,
		CacheDir: filepath.Join(fixture.CacheDir(), "patch-cache"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Updated) != 0 || len(rep.Deferred) == 0 {
		t.Fatalf("want everything deferred: %s", rep.Summary())
	}
	if diff := diffVersions(installedVersions(t, root), before); len(diff) > 0 {
		t.Fatalf("scriptlets = defer changed installed packages:\n%s", strings.Join(diff, "\n"))
	}
	link := filepath.Join(root, "etc/systemd/system/multi-user.target.wants", firstboot.UnitName)
	if _, err := os.Lstat(link); err != nil {
		t.Fatalf("unit not enabled: %v", err)
	}
	t.Log(chrootRun(t, root, firstboot.ScriptPath))
	if diff := diffVersions(installedVersions(t, root), want); len(diff) > 0 {
		t.Fatalf("after the first-boot installer: differ from apt-get upgrade:\n%s", strings.Join(diff, "\n"))
	}
	for _, p := range []string{link, filepath.Join(root, firstboot.QueueDir)} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists after the installer ran: the unit did not disable itself", p)
		}
	}
	if out, err := exec.Command("systemd-analyze", "verify", filepath.Join(root, "etc/systemd/system", firstboot.UnitName)).CombinedOutput(); err == nil {
		t.Logf("systemd-analyze verify: ok %s", out)
	}
}
