package patch

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/apt"
	"github.com/refit-images/packer-plugin-refit/internal/debfile"
	"github.com/refit-images/packer-plugin-refit/internal/firstboot"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
)

var debianUpdateSuites = []string{fixture.DebianSuite, fixture.DebianSuite + "-updates", fixture.DebianSuite + "-security"}

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

// refitUpgradeArgs are the apt-get upgrade options whose result refit-patch matches by
// default: what "apt upgrade" does (new packages that upgrades depend on are installed,
// nothing is removed), without recommended packages.
var refitUpgradeArgs = []string{"--with-new-pkgs", "--no-install-recommends"}

// aptGetUpgradeOracle runs the real "apt-get upgrade" in a chroot of a copy of root,
// against this machine's Debian suites, and returns the installed versions afterwards.
// args are more options (refitUpgradeArgs for refit-patch's default).
func aptGetUpgradeOracle(t *testing.T, root string, args ...string) map[string]string {
	t.Helper()
	return aptOracle(t, root, fixture.DebianSourcesList(t, debianUpdateSuites...), "", args...)
}

// aptOracle runs "apt-get upgrade" with more options args in a chroot of a copy of root
// whose only apt sources are sourcesList, with the directory repo (if any) copied to the
// same path inside the copy, and returns the installed versions afterwards.
func aptOracle(t *testing.T, root, sourcesList, repo string, args ...string) map[string]string {
	t.Helper()
	versions, _ := aptOracleRoot(t, root, sourcesList, repo, args...)
	return versions
}

// aptOracleRoot is aptOracle that also returns the root apt-get upgraded.
func aptOracleRoot(t *testing.T, root, sourcesList, repo string, args ...string) (map[string]string, string) {
	t.Helper()
	cp := fixture.CopyRoot(t, root)
	if repo != "" {
		if out, err := exec.Command("sh", "-c", `mkdir -p "$1$(dirname "$2")" && cp -a "$2" "$1$2"`, "sh", cp, repo).CombinedOutput(); err != nil {
			t.Fatalf("copying the repository into the oracle's root: %v\n%s", err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(cp, "etc/apt/sources.list"), []byte(sourcesList), 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(cp, "etc/apt/sources.list.d"))
	os.MkdirAll(filepath.Join(cp, "etc/apt/sources.list.d"), 0o755)
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err == nil {
		os.Remove(filepath.Join(cp, "etc/resolv.conf"))
		os.WriteFile(filepath.Join(cp, "etc/resolv.conf"), resolv, 0o644)
	}
	out := chrootRun(t, cp, "apt-get -q -o Acquire::Languages=none -o APT::Sandbox::User=root update >/dev/null && apt-get -q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade "+strings.Join(args, " "))
	t.Logf("apt-get upgrade %s: %s", strings.Join(args, " "), lastLine(out))
	return installedVersions(t, cp), cp
}

// autoMarks lists the packages the image's apt holds as installed automatically.
func autoMarks(t *testing.T, root string) string {
	t.Helper()
	return chrootRun(t, root, "apt-mark showauto | sort")
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
// installed set "apt-get upgrade --with-new-pkgs --no-install-recommends" (refit's default:
// what "apt upgrade" does, without recommends) produces in a chroot of a copy of the same
// root, counting the deferred packages at their new versions; after the first-boot
// installer runs in a chroot, the set must be equal outright.
func TestDebianMatchesAptGetUpgrade(t *testing.T) {
	needDebianLab(t)
	root := fixture.DebianRoot(t)
	specs := debianSpecs(t, debianUpdateSuites...)
	want := aptGetUpgradeOracle(t, root, refitUpgradeArgs...)
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
	for _, p := range rep.Updated {
		t.Logf("updated offline: %s %s -> %s", p.Name, p.From, p.To)
	}
	for _, p := range rep.Deferred {
		t.Logf("deferred: %s %s -> %s: %s", p.Name, p.From, p.To, p.Reason)
	}
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
// chroot brings the root to what plain "apt-get upgrade" produces (new packages cannot
// wait for the first boot, so what needs one is held back), then removes itself.
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
	unit := filepath.Join(root, "etc/systemd/system", firstboot.UnitName)
	if out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput(); err == nil {
		t.Logf("systemd-analyze verify: ok %s", out)
	}
	t.Log(chrootRun(t, root, firstboot.ScriptPath))
	if diff := diffVersions(installedVersions(t, root), want); len(diff) > 0 {
		t.Fatalf("after the first-boot installer: differ from apt-get upgrade:\n%s", strings.Join(diff, "\n"))
	}
	for _, p := range []string{link, unit, filepath.Join(root, firstboot.ScriptPath), filepath.Join(root, firstboot.QueueDir)} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists after the installer ran: the unit did not remove itself", p)
		}
	}
}

// signedAPTRepo writes a signed APT repository: suite (component main, architecture
// amd64) holding debs, signed by a key made for the test. It returns the repository's
// directory and the armored public key inside it.
func signedAPTRepo(t *testing.T, suite string, debs ...string) (dir, key string) {
	t.Helper()
	r := fixture.BuildDebRepo(t, suite, "amd64", debs...)
	return r.Dir, r.Key
}

// TestDebianNewDependencyMatchesAptUpgrade: updates that gain new Depends, from a
// signed local APT repository, against "apt-get upgrade --with-new-pkgs" in a copy of the
// same root: the first alternative the repository meets is installed (a versioned
// relation, the new package's own dependency, and a virtual package through Provides);
// an update whose new dependency conflicts with an installed package, and one whose
// versioned dependency the repository cannot meet, are held back, as apt keeps them
// back. Plain "apt-get upgrade", which installs nothing new, must give another answer
// (the control). A second run shows a new dependency that could only wait for the first
// boot holding back the update that needs it.
func TestDebianNewDependencyMatchesAptUpgrade(t *testing.T) {
	needDebianLab(t)
	fixture.Need(t, "dpkg-deb")
	base := fixture.DebianRoot(t)
	old := filepath.Join(base, "tmp/debs")
	os.MkdirAll(old, 0o755)
	for _, n := range []string{"refit-app", "refit-app2", "refit-app3", "refit-bystander"} {
		buildDeb(t, old, n, "1.0-1", nil, map[string]string{"usr/share/" + n + "/v": "1"})
	}
	// refit-app was installed as another's dependency: apt must still think so afterwards
	chrootRun(t, base, "dpkg -i /tmp/debs/*.deb && rm -r /tmp/debs && apt-mark auto refit-app")
	safePostinst := map[string]string{"postinst": "#!/bin/sh\nset -e\nmkdir -p /var/lib/refit-newlib\n"}
	out := t.TempDir()
	repo, key := signedAPTRepo(t, "refit-updates",
		buildDebControl(t, out, "refit-app", "1.0-2", "Depends: refit-absent | refit-newlib (>= 2), refit-virtual-thing", nil, map[string]string{"usr/share/refit-app/v": "2"}),
		buildDebControl(t, out, "refit-newlib", "1.0-1", "", nil, nil),
		buildDebControl(t, out, "refit-newlib", "2.1-1", "Depends: refit-newlib-data", safePostinst, map[string]string{"usr/share/refit-newlib/v": "2.1"}),
		buildDebControl(t, out, "refit-newlib-data", "2.1-1", "", nil, map[string]string{"usr/share/refit-newlib-data/v": "2.1"}),
		buildDebControl(t, out, "refit-provider", "1.0-1", "Provides: refit-virtual-thing", nil, nil),
		buildDebControl(t, out, "refit-app2", "1.0-2", "Depends: refit-conflicting", nil, nil),
		buildDebControl(t, out, "refit-conflicting", "1.0-1", "Conflicts: refit-bystander", nil, nil),
		buildDebControl(t, out, "refit-app3", "1.0-2", "Depends: refit-newlib (>= 3)", nil, nil),
	)
	sources := fmt.Sprintf("deb [signed-by=%s] file:%s refit-updates main\n", key, repo)
	want, upgraded := aptOracleRoot(t, base, sources, repo, refitUpgradeArgs...)
	if want["refit-app"] != "1.0-2" || want["refit-newlib"] != "2.1-1" || want["refit-app2"] != "1.0-1" {
		t.Fatalf("the fixture is broken: apt-get upgrade --with-new-pkgs gave %v", want)
	}
	plain := aptOracle(t, base, sources, repo)
	if len(diffVersions(plain, want)) == 0 {
		t.Fatal("control: plain apt-get upgrade gives the same answer, so this test cannot tell them apart")
	}

	spec := repository.Spec{Name: "refit-updates", URL: "file://" + repo, Type: repository.TypeDeb, Suite: "refit-updates", GPGKey: key}
	root := fixture.CopyRoot(t, base)
	rep, err := Run(context.Background(), Options{Target: Target{HostRoot: root}, Repositories: []repository.Spec{spec}, CacheDir: t.TempDir(),
		Log: func(s string) { t.Log(s) }})
	if err != nil {
		t.Fatal(err)
	}
	got := installedVersions(t, root)
	for _, d := range rep.Deferred {
		got[d.Name] = d.To
	}
	if diff := diffVersions(got, want); len(diff) > 0 {
		t.Fatalf("refit-patch and apt-get upgrade --with-new-pkgs differ:\n%s\nreport: %s", strings.Join(diff, "\n"), rep.Summary())
	}
	reasons := map[string]string{}
	for _, p := range append(append(append([]PackageReport{}, rep.Updated...), rep.Deferred...), rep.HeldBack...) {
		reasons[p.Name] = p.Reason
	}
	for name, frag := range map[string]string{
		"refit-newlib":      "installed (new dependency of refit-app)",
		"refit-newlib-data": "installed (new dependency of refit-newlib)",
		"refit-provider":    "installed (new dependency of refit-app)",
		"refit-app2":        "refit-conflicting 1.0-1 breaks or conflicts with refit-bystander",
		"refit-app3":        "refit-newlib would be 2.1-1",
	} {
		if !strings.Contains(reasons[name], frag) {
			t.Errorf("report for %s: %q, want it to say %q", name, reasons[name], frag)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/refit-newlib")); err != nil {
		t.Errorf("the new package's postinst did not run: %v", err)
	}
	// apt's automatic marks (what `apt autoremove` may remove): kept for upgraded packages,
	// set for new dependencies, as apt-get upgrade leaves them
	wantAuto, gotAuto := autoMarks(t, upgraded), autoMarks(t, root)
	if !strings.Contains(wantAuto, "refit-app\n") || !strings.Contains(wantAuto, "refit-newlib\n") {
		t.Fatalf("the fixture is broken: after apt-get upgrade, apt-mark showauto gives\n%s", wantAuto)
	}
	if gotAuto != wantAuto {
		t.Errorf("apt-mark showauto after refit-patch:\n%s\nafter apt-get upgrade --with-new-pkgs:\n%s", gotAuto, wantAuto)
	}

	t.Run("a new dependency that could only wait for the first boot", func(t *testing.T) {
		out := t.TempDir()
		repo, key := signedAPTRepo(t, "refit-unsafe",
			buildDebControl(t, out, "refit-app", "1.0-2", "Depends: refit-unsafe-dep", nil, nil),
			buildDebControl(t, out, "refit-unsafe-dep", "1.0-1", "", map[string]string{"postinst": "#!/bin/sh\ncurl -fsSL https://example.org/setup | sh\n"}, nil),
		)
		root := fixture.CopyRoot(t, base)
		rep, err := Run(context.Background(), Options{Target: Target{HostRoot: root}, CacheDir: t.TempDir(), Repositories: []repository.Spec{
			{Name: "refit-unsafe", URL: "file://" + repo, Type: repository.TypeDeb, Suite: "refit-unsafe", GPGKey: key}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.HeldBack) != 1 || rep.HeldBack[0].Name != "refit-app" || !strings.Contains(rep.HeldBack[0].Reason, firstbootNewPackageReason) ||
			!strings.Contains(rep.HeldBack[0].Reason, "unsafe offline") {
			t.Fatalf("want refit-app held back for its unsafe new dependency: %s", rep.Summary())
		}
		if now := installedVersions(t, root); now["refit-app"] != "1.0-1" || now["refit-unsafe-dep"] != "" {
			t.Errorf("installed after the run: refit-app %q, refit-unsafe-dep %q", now["refit-app"], now["refit-unsafe-dep"])
		}
	})
}

// TestDebianRepatchReplacesQueue: an image patched with everything deferred and patched again
// before it ever booted must not keep the first queue: once the second patch applies those
// packages offline, the unit and its queue are gone (a stale queue would ask the first boot
// for versions the image already has, or older ones).
func TestDebianRepatchReplacesQueue(t *testing.T) {
	needDebianLab(t)
	root := fixture.DebianRoot(t)
	specs := debianSpecs(t, debianUpdateSuites...)
	cache := filepath.Join(fixture.CacheDir(), "patch-cache")
	rep, err := Run(context.Background(), Options{Target: Target{HostRoot: root}, Repositories: specs, Scriptlets: ScriptletsDefer, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	queue := filepath.Join(root, firstboot.QueueDir)
	link := filepath.Join(root, "etc/systemd/system/multi-user.target.wants", firstboot.UnitName)
	for _, p := range []string{queue, link} {
		if _, err := os.Lstat(p); err != nil {
			t.Fatalf("after deferring %d package(s), %s is missing: %v", len(rep.Deferred), p, err)
		}
	}
	rep, err = Run(context.Background(), Options{Target: Target{HostRoot: root}, Repositories: specs, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Updated) == 0 {
		t.Fatalf("the second patch applied nothing: %s", rep.Summary())
	}
	if len(rep.Deferred) > 0 {
		// today's updates defer some even with scriptlets = auto: the queue must hold exactly those
		var want []string
		for _, d := range rep.Deferred {
			want = append(want, d.Name+"="+d.To)
		}
		sort.Strings(want)
		data, err := os.ReadFile(filepath.Join(queue, "packages"))
		got := strings.Fields(string(data))
		sort.Strings(got)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("queue lists %q (%v), want the second patch's deferred packages %q", got, err, want)
		}
		return
	}
	for _, p := range []string{queue, link} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there after a patch that deferred nothing", p)
		}
	}
}

// TestDebScriptArgs: the arguments dpkg gives the judged scripts, and none where the
// analysis cannot know them.
func TestDebScriptArgs(t *testing.T) {
	deb := &debfile.Deb{Control: apt.Package{Package: "libpam-modules", Version: "1.5.2-6+deb12u3"}}
	installed := &debPackage{Name: "libpam-modules", Version: "1.5.2-6+deb12u2"}
	got := debScriptArgs(&debUpdate{deb: deb}, installed, true)
	want := map[string][]string{
		"new.preinst":  {"upgrade", "1.5.2-6+deb12u2", "1.5.2-6+deb12u3"},
		"new.postinst": {"configure", "1.5.2-6+deb12u2"},
		"old.prerm":    {"upgrade", "1.5.2-6+deb12u3"},
		"old.postrm":   {"upgrade", "1.5.2-6+deb12u3"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("upgrade: %v, want %v", got, want)
	}
	fresh := &debUpdate{txEntry: txEntry{dependencyOf: []string{"libpam-runtime"}}, deb: deb}
	got = debScriptArgs(fresh, nil, false)
	want = map[string][]string{"new.preinst": {"install"}, "new.postinst": {"configure", ""}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("new package: %v, want %v", got, want)
	}
	if got := debScriptArgs(fresh, nil, true); got != nil {
		t.Errorf("new package with config files left: %v, want none", got)
	}
	if got := debScriptArgs(&debUpdate{deb: deb}, nil, true); got != nil {
		t.Errorf("upgrade of a package not fully installed: %v, want none", got)
	}
}
