package patch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/evr"
	"github.com/refit-images/packer-plugin-refit/internal/firstboot"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// rpmInstalled lists "name.arch evr" of every package in a root's rpmdb, sorted.
func rpmInstalled(t *testing.T, root string) []string {
	t.Helper()
	out, err := exec.Command("rpm", "--root", root, "--dbpath", "/var/lib/rpm", "-qa", "--qf",
		`%{NAME}.%{ARCH} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n`).Output()
	if err != nil {
		t.Fatalf("rpm -qa: %v", err)
	}
	var list []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) == 2 && !strings.HasPrefix(f[0], "gpg-pubkey.") {
			list = append(list, f[0]+" "+evr.ParseRPM(f[1]).String())
		}
	}
	sort.Strings(list)
	return list
}

// TestRPMLabMatchesDNFUpgrade is the RPM oracle test. The lab root is not a chroot-able
// system (no /bin/sh), so refit-patch uses the host's rpm --root on its sqlite rpmdb, and
// every package with a script must be deferred (nothing could run it offline). The
// installed set plus the deferred packages at their new versions must equal what
// "dnf upgrade" (scripts off, as they cannot run there either) leaves in a copy.
func TestRPMLabMatchesDNFUpgrade(t *testing.T) {
	fixture.NeedRoot(t)
	fixture.Need(t, "rpm", "rpmbuild", "createrepo_c", "dnf")
	lab := fixture.BuildRPMLab(t)
	var specs []repository.Spec
	for _, r := range lab.Repos {
		specs = append(specs, repository.Spec{Name: r.Name, URL: r.URL, Type: repository.TypeRPM, Priority: r.Priority})
	}
	root := fixture.CopyRoot(t, lab.Root)
	rep, err := Run(context.Background(), Options{Target: Target{HostRoot: root}, Repositories: specs, CacheDir: t.TempDir(),
		Log: func(s string) { t.Log(s) }})
	if err != nil {
		t.Fatal(err)
	}
	got := withDeferred(rpmInstalled(t, root), rep)
	for _, d := range rep.Deferred {
		t.Logf("deferred %s %s: %s", d.Name, d.To, d.Reason)
	}
	for _, u := range rep.Updated {
		t.Logf("updated %s %s -> %s", u.Name, u.From, u.To)
	}

	dnfRoot := fixture.CopyRoot(t, lab.Root)
	cmd, err := fixture.DNFCommand(dnfRoot, filepath.Join(t.TempDir(), "home"), t.TempDir(), lab.Repos, "-y", "--setopt=tsflags=noscripts", "upgrade")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dnf upgrade: %v\n%s", err, out)
	}
	want := rpmInstalled(t, dnfRoot)
	var gotList []string
	for k := range got {
		gotList = append(gotList, k)
	}
	sort.Strings(gotList)
	if strings.Join(gotList, "\n") != strings.Join(want, "\n") {
		t.Fatalf("refit-patch and dnf upgrade differ:\nrefit:\n  %s\ndnf:\n  %s", strings.Join(gotList, "\n  "), strings.Join(want, "\n  "))
	}
	t.Log(fmt.Sprint(rep.Summary()))
}

// withDeferred returns the "name.arch evr" entries of an installed list as they will be
// once the first-boot unit installed the deferred packages: an upgrade replaces the
// installed package of its name and a compatible arch (the same, or noarch on either
// side), an obsoleting package the ones it replaces, and install-only packages (and
// new dependencies) go in beside the rest.
func withDeferred(installed []string, rep *Report) map[string]bool {
	got := map[string]bool{}
	for _, p := range installed {
		got[p] = true
	}
	for _, d := range rep.Deferred {
		for k := range got {
			nameArch := strings.SplitN(k, " ", 2)[0]
			i := strings.LastIndexByte(nameArch, '.')
			name, arch := nameArch[:i], nameArch[i+1:]
			switch {
			case d.Action == "install":
			case d.Action == "obsolete" && slices.Contains(d.Replaces, name):
				delete(got, k)
			case name == d.Name && (arch == d.Arch || arch == "noarch" || d.Arch == "noarch"):
				delete(got, k)
			}
		}
	}
	for _, d := range rep.Deferred {
		got[d.Name+"."+d.Arch+" "+evr.ParseRPM(d.To).String()] = true
	}
	return got
}

// rpmChrootRoot makes an RPM-family root whose own rpm runs in a chroot: the Debian
// fixture root with Debian's rpm installed (from this machine's Debian mirror), a Rocky
// os-release, %_dbpath /var/lib/rpm, and the lab's old packages in its rpmdb.
func rpmChrootRoot(t *testing.T, lab *fixture.RPMLab) string {
	t.Helper()
	root := fixture.DebianRoot(t)
	list := fixture.DebianSourcesList(t, fixture.DebianSuite)
	os.WriteFile(filepath.Join(root, "etc/apt/sources.list"), []byte(list), 0o644)
	if resolv, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		os.Remove(filepath.Join(root, "etc/resolv.conf"))
		os.WriteFile(filepath.Join(root, "etc/resolv.conf"), resolv, 0o644)
	}
	chrootRun(t, root, "apt-get -q -o APT::Sandbox::User=root -o Acquire::Languages=none update >/dev/null && apt-get -q -y -o DPkg::Lock::Timeout=300 install --no-install-recommends rpm >/dev/null")
	os.WriteFile(filepath.Join(root, "root/.rpmmacros"), []byte("%_dbpath /var/lib/rpm\n"), 0o644)
	os.Remove(filepath.Join(root, "etc/os-release"))
	for _, f := range []string{"etc/os-release", "etc/dnf"} {
		if out, err := exec.Command("cp", "-a", filepath.Join(lab.Root, f), filepath.Join(root, f)).CombinedOutput(); err != nil {
			t.Fatalf("cp %s: %v %s", f, err, out)
		}
	}
	os.MkdirAll(filepath.Join(root, "tmp/rpms"), 0o755)
	if out, err := exec.Command("sh", "-c", "cp "+filepath.Join(lab.Packages, "installed")+"/*.rpm "+filepath.Join(root, "tmp/rpms")).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	chrootRun(t, root, "rpm --initdb && rpm -i --nodeps --noscripts --notriggers --ignorearch /tmp/rpms/*.rpm && rm -rf /tmp/rpms")
	return root
}

// TestRPMChrootMatchesDNFUpgrade patches an RPM root whose own rpm runs in a chroot (so
// safe scripts really run, at rpm's own points): the result, with the deferred packages at
// their new versions, equals "dnf upgrade" in a copy; the unsafe package never ran offline;
// and running the first-boot installer in a chroot installs the deferred packages.
func TestRPMChrootMatchesDNFUpgrade(t *testing.T) {
	needDebianLab(t)
	fixture.Need(t, "rpm", "rpmbuild", "createrepo_c", "dnf")
	lab := fixture.BuildRPMLab(t)
	root := rpmChrootRoot(t, lab)
	dnfRoot := fixture.CopyRoot(t, root)
	// a %config(noreplace) file the image's owner edited must survive the upgrade
	conf := filepath.Join(root, "etc/demo-svc/demo-svc.conf")
	os.MkdirAll(filepath.Dir(conf), 0o755)
	os.WriteFile(conf, []byte("# edited in the image\nlisten = 0.0.0.0:8443\n"), 0o644)
	var specs []repository.Spec
	for _, r := range lab.Repos {
		specs = append(specs, repository.Spec{Name: r.Name, URL: r.URL, Type: repository.TypeRPM, Priority: r.Priority})
	}
	rep, err := Run(context.Background(), Options{Target: Target{HostRoot: root}, Repositories: specs, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	verdicts := map[string]string{}
	for _, p := range append(append([]PackageReport{}, rep.Updated...), rep.Deferred...) {
		for _, s := range p.Scripts {
			verdicts[p.Name+" "+s.Side+" "+string(s.Kind)] = s.Verdict.String()
		}
	}
	t.Logf("verdicts: %v", verdicts)
	deferred := map[string]bool{}
	for _, d := range rep.Deferred {
		deferred[d.Name] = true
		t.Logf("deferred %s: %s", d.Name, d.Reason)
	}
	if !deferred["demo-unsafe"] {
		t.Error("demo-unsafe (curl | sh in its post scriptlet) was not deferred")
	}
	applied := map[string]bool{}
	for _, u := range rep.Updated {
		applied[u.Name] = true
	}
	if !applied["demo-svc"] {
		t.Errorf("demo-svc (old %%preun/%%postun rewritable) was not applied offline: %s", rep.Summary())
	}
	if data, err := os.ReadFile(filepath.Join(root, "etc/passwd")); err != nil || !strings.Contains(string(data), "demosvc:") {
		t.Errorf("demo-svc's %%pre (useradd) did not run offline: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/refit/apply")); !os.IsNotExist(err) {
		t.Errorf("the apply directory was left in the root: %v", err)
	}
	if data, _ := os.ReadFile(conf); !strings.Contains(string(data), "edited in the image") {
		t.Errorf("the edited %%config(noreplace) file was replaced:\n%s", data)
	}
	if _, err := os.Stat(conf + ".rpmnew"); err != nil {
		t.Errorf("no .rpmnew beside the edited %%config(noreplace) file: %v", err)
	}
	if !applied["demo-lib"] {
		t.Errorf("demo-lib (%%post -p /sbin/ldconfig, safe) was not applied offline: %s", rep.Summary())
	}
	got := withDeferred(rpmInstalledChroot(t, root), rep)
	cmd, err := fixture.DNFCommand(dnfRoot, filepath.Join(t.TempDir(), "home"), t.TempDir(), lab.Repos, "-y", "--setopt=tsflags=noscripts", "upgrade")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dnf upgrade: %v\n%s", err, out)
	}
	want := rpmInstalled(t, dnfRoot)
	var gotList []string
	for k := range got {
		gotList = append(gotList, k)
	}
	sort.Strings(gotList)
	if strings.Join(gotList, "\n") != strings.Join(want, "\n") {
		t.Fatalf("refit-patch and dnf upgrade differ:\nrefit:\n  %s\ndnf:\n  %s", strings.Join(gotList, "\n  "), strings.Join(want, "\n  "))
	}
	if len(rep.Deferred) > 0 {
		t.Log(chrootRun(t, root, firstboot.ScriptPath))
		after := strings.Join(rpmInstalledChroot(t, root), "\n")
		if after != strings.Join(want, "\n") {
			t.Fatalf("after the first-boot installer:\n  %s\nwant (dnf):\n  %s", strings.ReplaceAll(after, "\n", "\n  "), strings.Join(want, "\n  "))
		}
	}
	t.Log(rep.Summary())
}

// rpmInstalledChroot is rpmInstalled through the root's own rpm.
func rpmInstalledChroot(t *testing.T, root string) []string {
	t.Helper()
	out := chrootRun(t, root, `rpm -qa --qf '%{NAME}.%{ARCH} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n'`)
	var list []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 && !strings.HasPrefix(f[0], "gpg-pubkey.") {
			list = append(list, f[0]+" "+evr.ParseRPM(f[1]).String())
		}
	}
	sort.Strings(list)
	return list
}

// buildRPM builds a noarch RPM without files with rpmbuild; extra is added to the preamble.
func buildRPM(t *testing.T, name, version, release, extra, scripts string) string {
	t.Helper()
	return buildRPMWithFiles(t, name, version, release, extra, scripts, nil)
}

// buildRPMWithFiles builds a noarch RPM holding files (absolute path → content).
func buildRPMWithFiles(t *testing.T, name, version, release, extra, scripts string, files map[string]string) string {
	t.Helper()
	top := t.TempDir()
	var install, list strings.Builder
	for _, p := range sortedKeys(files) {
		fmt.Fprintf(&install, "mkdir -p %%{buildroot}%s\nprintf '%%s' '%s' > %%{buildroot}%s\n", filepath.Dir(p), files[p], p)
		list.WriteString(p + "\n")
	}
	spec := fmt.Sprintf("Name: %s\nVersion: %s\nRelease: %s\nSummary: refit test\nLicense: MIT\nBuildArch: noarch\n%s\n%%description\nrefit test\n%%install\n%s\n%s\n%%files\n%s",
		name, version, release, extra, install.String(), scripts, list.String())
	specFile := filepath.Join(top, name+".spec")
	os.WriteFile(specFile, []byte(spec), 0o644)
	out, err := exec.Command("rpmbuild", "-bb", "--define", "_topdir "+top, "--define", "_build_id_links none", specFile).CombinedOutput()
	if err != nil {
		t.Fatalf("rpmbuild: %v\n%s", err, out)
	}
	return filepath.Join(top, "RPMS/noarch", fmt.Sprintf("%s-%s-%s.noarch.rpm", name, version, release))
}

// rpmUpdateFor describes a local noarch RPM as the update metadata would.
func rpmUpdateFor(t *testing.T, file, name, from, to string) updates.Update {
	t.Helper()
	u := updateFor(t, file, name, from, to)
	u.Arch = "noarch"
	u.Available = evr.ParseRPM(to)
	return u
}

// TestRPMDependencies: an update needing a capability nothing provides fails before any
// change; one needing the new version of a deferred package is deferred with it.
func TestRPMDependencies(t *testing.T) {
	fixture.NeedRoot(t)
	fixture.Need(t, "rpm", "rpmbuild", "createrepo_c")
	lab := fixture.BuildRPMLab(t)
	rpmUpdate := func(file, name, from, to string) updates.Update { return rpmUpdateFor(t, file, name, from, to) }
	t.Run("unresolvable", func(t *testing.T) {
		root := fixture.CopyRoot(t, lab.Root)
		before := rpmInstalled(t, root)
		file := buildRPM(t, "demo-base", "1.0", "2", "Requires: refit-missing-capability >= 2", "")
		_, err := Run(context.Background(), Options{Target: Target{HostRoot: root}, CacheDir: t.TempDir(),
			Updates: []updates.Update{rpmUpdate(file, "demo-base", "1.0-1", "1.0-2")}})
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "refit-missing-capability") {
			t.Fatalf("Run = %v, want ErrRefused naming the missing capability", err)
		}
		if after := rpmInstalled(t, root); strings.Join(after, "\n") != strings.Join(before, "\n") {
			t.Fatal("the rpmdb changed")
		}
	})
	t.Run("needs a deferred package", func(t *testing.T) {
		root := fixture.CopyRoot(t, lab.Root)
		unsafe := buildRPM(t, "demo-unsafe", "1.0", "3", "Provides: demo-unsafe-api = 3", "%post\ncurl -fsSL https://example.org/x | sh\n")
		same := buildRPM(t, "demo-same", "1.0", "2", "Requires: demo-unsafe-api >= 3", "")
		rep, err := Run(context.Background(), Options{Target: Target{HostRoot: root}, CacheDir: t.TempDir(), Updates: []updates.Update{
			rpmUpdate(unsafe, "demo-unsafe", "1.0-1", "1.0-3"), rpmUpdate(same, "demo-same", "1.0-1", "1.0-2")}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Deferred) != 2 || len(rep.Updated) != 0 {
			t.Fatalf("want both deferred: %s", rep.Summary())
		}
		for _, d := range rep.Deferred {
			if d.Name == "demo-same" && !strings.Contains(d.Reason, "deferred with it") {
				t.Errorf("demo-same's reason: %s", d.Reason)
			}
		}
	})
}

// createRepo makes an rpm-md repository of the given package files with createrepo_c.
func createRepo(t *testing.T, name string, priority int, files ...string) fixture.RPMRepo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	os.MkdirAll(dir, 0o755)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644)
	}
	if out, err := exec.Command("createrepo_c", "--quiet", dir).CombinedOutput(); err != nil {
		t.Fatalf("createrepo_c: %v\n%s", err, out)
	}
	return fixture.RPMRepo{Name: name, Dir: dir, URL: "file://" + dir, Priority: priority}
}

// TestRPMNewDependencyMatchesDNF: an update that gains requirements nothing installed
// provides pulls in new packages, chosen as dnf chooses them: for a versioned
// requirement, among the providers of the best-priority repository that meet it (not
// one from a worse repository, whatever it offers) the package providing the highest
// version of the capability, which here is not the package named as the capability;
// then a file requirement, and the new package's own requirement. The oracle is
// "dnf upgrade" in a copy of the same root with the same repositories.
func TestRPMNewDependencyMatchesDNF(t *testing.T) {
	fixture.NeedRoot(t)
	fixture.Need(t, "rpm", "rpmbuild", "createrepo_c", "dnf")
	lab := fixture.BuildRPMLab(t)
	extra := createRepo(t, "extra", 99,
		buildRPM(t, "demo-same", "1.0", "2", "Requires: refit-newdep >= 1.0\nRequires: /usr/bin/refit-helper", ""),
		buildRPM(t, "refit-newdep", "0.9", "1", "", ""),
		buildRPM(t, "refit-newdep", "1.0", "1", "", ""),
		buildRPM(t, "refit-newdep", "1.1", "1", "", ""),
		buildRPM(t, "refit-newdep-fork", "1.0", "1", "Provides: refit-newdep = 5.0\nRequires: refit-newdep-lib", ""),
		buildRPM(t, "refit-newdep-lib", "1.0", "1", "", ""),
		buildRPMWithFiles(t, "refit-helper-tools", "1.0", "1", "", "", map[string]string{"/usr/bin/refit-helper": "#!/bin/sh\n"}),
	)
	worse := createRepo(t, "extra-worse", 100, buildRPM(t, "refit-newdep-best", "1.0", "1", "Provides: refit-newdep = 9.0", ""))
	repos := append(append([]fixture.RPMRepo{}, lab.Repos...), extra, worse)
	var specs []repository.Spec
	for _, r := range repos {
		specs = append(specs, repository.Spec{Name: r.Name, URL: r.URL, Type: repository.TypeRPM, Priority: r.Priority})
	}
	root := fixture.CopyRoot(t, lab.Root)
	var logged []string
	rep, err := Run(context.Background(), Options{Target: Target{HostRoot: root}, Repositories: specs, CacheDir: t.TempDir(),
		Log: func(s string) { logged = append(logged, s) }})
	if err != nil {
		t.Fatal(err)
	}
	got := withDeferred(rpmInstalled(t, root), rep)

	dnfRoot := fixture.CopyRoot(t, lab.Root)
	cmd, err := fixture.DNFCommand(dnfRoot, filepath.Join(t.TempDir(), "home"), t.TempDir(), repos, "-y", "--setopt=tsflags=noscripts", "upgrade")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dnf upgrade: %v\n%s", err, out)
	}
	want := rpmInstalled(t, dnfRoot)
	for _, p := range []string{"refit-newdep-fork.noarch 1.0-1", "refit-newdep-lib.noarch 1.0-1", "refit-helper-tools.noarch 1.0-1"} {
		if !slices.Contains(want, p) {
			t.Fatalf("the fixture is broken: dnf did not install %s:\n  %s", p, strings.Join(want, "\n  "))
		}
	}
	var gotList []string
	for k := range got {
		gotList = append(gotList, k)
	}
	sort.Strings(gotList)
	if strings.Join(gotList, "\n") != strings.Join(want, "\n") {
		t.Fatalf("refit-patch and dnf upgrade differ:\nrefit:\n  %s\ndnf:\n  %s", strings.Join(gotList, "\n  "), strings.Join(want, "\n  "))
	}
	reasons := map[string]string{}
	for _, p := range append(append([]PackageReport{}, rep.Updated...), rep.Deferred...) {
		reasons[p.Name] = p.Action + ": " + p.Reason
	}
	for name, want := range map[string]string{
		"refit-newdep-fork":  "install: installed (new dependency of demo-same)",
		"refit-helper-tools": "install: installed (new dependency of demo-same)",
		"refit-newdep-lib":   "install: installed (new dependency of refit-newdep-fork)",
	} {
		if reasons[name] != want {
			t.Errorf("report for %s: %q, want %q", name, reasons[name], want)
		}
	}
	if !slices.Contains(logged, "installing refit-newdep-fork 1.0-1 (new dependency of demo-same)") {
		t.Errorf("the log does not say refit-newdep-fork is installed as a new dependency:\n%s", strings.Join(logged, "\n"))
	}
}
