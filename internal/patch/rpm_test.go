package patch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	got := map[string]bool{}
	for _, p := range rpmInstalled(t, root) {
		got[p] = true
	}
	for _, d := range rep.Deferred {
		for k := range got {
			name := strings.SplitN(k, " ", 2)[0]
			switch {
			case d.Action == "install": // install-only: beside the old ones
			case name == d.Name+"."+d.Arch:
				delete(got, k) // an upgrade replaces the installed version
			case d.Action == "obsolete" && contains(d.Replaces, strings.SplitN(name, ".", 2)[0]):
				delete(got, k)
			}
		}
		got[d.Name+"."+d.Arch+" "+evr.ParseRPM(d.To).String()] = true
	}
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
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
	got := map[string]bool{}
	for _, p := range rpmInstalledChroot(t, root) {
		got[p] = true
	}
	for _, d := range rep.Deferred {
		for k := range got {
			name := strings.SplitN(k, " ", 2)[0]
			switch {
			case d.Action == "install":
			case name == d.Name+"."+d.Arch:
				delete(got, k)
			case d.Action == "obsolete" && contains(d.Replaces, strings.SplitN(name, ".", 2)[0]):
				delete(got, k)
			}
		}
		got[d.Name+"."+d.Arch+" "+evr.ParseRPM(d.To).String()] = true
	}
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
	top := t.TempDir()
	spec := fmt.Sprintf("Name: %s\nVersion: %s\nRelease: %s\nSummary: refit test\nLicense: MIT\nBuildArch: noarch\n%s\n%%description\nrefit test\n%s\n%%files\n", name, version, release, extra, scripts)
	specFile := filepath.Join(top, name+".spec")
	os.WriteFile(specFile, []byte(spec), 0o644)
	out, err := exec.Command("rpmbuild", "-bb", "--define", "_topdir "+top, "--define", "_build_id_links none", specFile).CombinedOutput()
	if err != nil {
		t.Fatalf("rpmbuild: %v\n%s", err, out)
	}
	return filepath.Join(top, "RPMS/noarch", fmt.Sprintf("%s-%s-%s.noarch.rpm", name, version, release))
}

// TestRPMDependencies: an update needing a capability nothing provides fails before any
// change; one needing the new version of a deferred package is deferred with it.
func TestRPMDependencies(t *testing.T) {
	fixture.NeedRoot(t)
	fixture.Need(t, "rpm", "rpmbuild", "createrepo_c")
	lab := fixture.BuildRPMLab(t)
	rpmUpdate := func(file, name, from, to string) updates.Update {
		u := updateFor(t, file, name, from, to)
		u.Arch = "noarch"
		u.Available = evr.ParseRPM(to)
		return u
	}
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
		base := buildRPM(t, "demo-base", "1.0", "2", "Requires: demo-unsafe-api >= 3", "")
		rep, err := Run(context.Background(), Options{Target: Target{HostRoot: root}, CacheDir: t.TempDir(), Updates: []updates.Update{
			rpmUpdate(unsafe, "demo-unsafe", "1.0-1", "1.0-3"), rpmUpdate(base, "demo-base", "1.0-1", "1.0-2")}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Deferred) != 2 || len(rep.Updated) != 0 {
			t.Fatalf("want both deferred: %s", rep.Summary())
		}
		for _, d := range rep.Deferred {
			if d.Name == "demo-base" && !strings.Contains(d.Reason, "deferred with it") {
				t.Errorf("demo-base's reason: %s", d.Reason)
			}
		}
	})
}
