package firstboot

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// installerRoot is a Debian root in which the installer runs through chroot, as systemd
// would run it in the booted image (same script, same queue), without a booted system.
type installerRoot struct {
	t    *testing.T
	root string
	debs string // host directory of the packages built for the test
}

func newInstallerRoot(t *testing.T) *installerRoot {
	t.Helper()
	fixture.NeedRoot(t)
	fixture.Need(t, "chroot", "dpkg-deb", "mmdebstrap")
	r := &installerRoot{t: t, root: fixture.DebianRoot(t), debs: t.TempDir()}
	for _, n := range []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"urandom", 1, 9}} {
		p := filepath.Join(r.root, "dev", n.name)
		if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			t.Fatalf("creating /dev/%s in the test root: %v", n.name, err)
		}
		os.Chmod(p, 0o666)
	}
	return r
}

// deb builds name_version_all.deb with an optional postinst and returns it as a queue entry.
func (r *installerRoot) deb(name, version, postinst string) Package {
	r.t.Helper()
	tree := filepath.Join(r.t.TempDir(), "tree")
	os.MkdirAll(filepath.Join(tree, "DEBIAN"), 0o755)
	os.MkdirAll(filepath.Join(tree, "usr/share", name), 0o755)
	os.WriteFile(filepath.Join(tree, "usr/share", name, "version"), []byte(version+"\n"), 0o644)
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: refit <t@example.org>\nDescription: refit first-boot test package\n", name, version)
	os.WriteFile(filepath.Join(tree, "DEBIAN/control"), []byte(control), 0o644)
	if postinst != "" {
		os.WriteFile(filepath.Join(tree, "DEBIAN/postinst"), []byte(postinst), 0o755)
	}
	file := filepath.Join(r.debs, fmt.Sprintf("%s_%s_all.deb", name, version))
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", tree, file).CombinedOutput(); err != nil {
		r.t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
	}
	fields, err := exec.Command("dpkg-deb", "--field", file).Output()
	if err != nil {
		r.t.Fatalf("dpkg-deb --field %s: %v", file, err)
	}
	return Package{Path: file, Name: name, Version: version, Arch: "all", Control: string(fields), Reason: "test"}
}

// run runs command in the root with the clean environment a systemd service gets.
func (r *installerRoot) run(command ...string) (string, error) {
	args := append([]string{r.root, "/usr/bin/env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, command...)
	out, err := exec.Command("chroot", args...).CombinedOutput()
	return string(out), err
}

// install installs pkgs with dpkg, as the image had them before the patch.
func (r *installerRoot) install(pkgs ...Package) {
	r.t.Helper()
	args := []string{"dpkg", "-i"}
	for _, p := range pkgs {
		inRoot := filepath.Join("/tmp", filepath.Base(p.Path))
		data, err := os.ReadFile(p.Path)
		if err != nil {
			r.t.Fatal(err)
		}
		os.WriteFile(filepath.Join(r.root, inRoot), data, 0o644)
		args = append(args, inRoot)
	}
	if out, err := r.run(args...); err != nil {
		r.t.Fatalf("dpkg -i: %v\n%s", err, out)
	}
}

func (r *installerRoot) version(name string) string {
	r.t.Helper()
	out, _ := r.run("dpkg-query", "-W", "-f", "${Version} ${db:Status-Abbrev}", name)
	return strings.TrimSpace(out)
}

func (r *installerRoot) exists(name string) bool {
	_, err := os.Lstat(filepath.Join(r.root, name))
	return err == nil
}

// TestInstallerInChroot runs the dpkg installer the way the unit does, in a real Debian root:
// first after a boot that was shut down in the middle of dpkg (apt refuses to run until
// "dpkg --configure -a"), where it must finish that run, install the queue (an upgrade and
// a new package), remove it and disable the unit, without errors from apt and leaving apt's
// own package cache alone; then with a package whose postinst fails, where it must say so,
// exit non-zero and keep the queue and the unit for the next boot.
func TestInstallerInChroot(t *testing.T) {
	r := newInstallerRoot(t)
	old := r.deb("refit-fb-demo", "1.0-1", "")
	r.install(old)
	status, err := os.ReadFile(filepath.Join(r.root, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	// A dpkg run that was killed leaves its status journal in /var/lib/dpkg/updates.
	var journal string
	for _, para := range strings.Split(string(status), "\n\n") {
		if strings.HasPrefix(para, "Package: refit-fb-demo\n") {
			journal = para + "\n\n"
		}
	}
	if err := os.WriteFile(filepath.Join(r.root, "var/lib/dpkg/updates/0000"), []byte(journal), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := r.run("apt-get", "-q", "-y", "install", "--only-upgrade", "refit-fb-demo"); err == nil || !strings.Contains(out, "dpkg was interrupted") {
		t.Fatalf("control: apt-get accepted the interrupted dpkg state (%v):\n%s", err, out)
	}
	upgrade := r.deb("refit-fb-demo", "1.0-2", "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then echo \"$2\" > /var/lib/refit-fb-demo-configured; fi\n")
	// a new package an upgrade needs, as a Debian kernel update needs its new ABI package
	added := r.deb("refit-fb-new", "1.0-1", "")
	if err := Place(r.root, "dpkg", []Package{upgrade, added}); err != nil {
		t.Fatal(err)
	}

	out, err := r.run(ScriptPath)
	t.Logf("installer:\n%s", out)
	if err != nil {
		t.Fatalf("the installer failed: %v", err)
	}
	for name, want := range map[string]string{"refit-fb-demo": "1.0-2 ii", "refit-fb-new": "1.0-1 ii"} {
		if v := r.version(name); v != want {
			t.Errorf("%s is %q after the installer, want %q", name, v, want)
		}
	}
	if data, err := os.ReadFile(filepath.Join(r.root, "var/lib/refit-fb-demo-configured")); err != nil || string(data) != "1.0-1\n" {
		t.Errorf("the postinst did not run as an upgrade from 1.0-1: %q, %v", data, err)
	}
	for _, line := range []string{"refit-firstboot: finishing a dpkg run an earlier boot interrupted",
		"refit-firstboot: installing 2 deferred package(s): refit-fb-demo=1.0-2 refit-fb-new=1.0-1", "refit-firstboot: done"} {
		if !strings.Contains(out, line) {
			t.Errorf("the installer's output lacks %q", line)
		}
	}
	if strings.Contains(out, "\nErr:") {
		t.Errorf("apt reported errors while reading the queue")
	}
	for _, p := range []string{QueueDir, "/var/lib/refit", wantsLink, "/var/cache/apt/pkgcache.bin", "/var/cache/apt/srcpkgcache.bin"} {
		if r.exists(p) {
			t.Errorf("%s exists after a successful run", p)
		}
	}

	broken := r.deb("refit-fb-demo", "1.0-3", "#!/bin/sh\necho 'refit-fb-demo: cannot configure' >&2\nexit 1\n")
	if err := Place(r.root, "dpkg", []Package{broken}); err != nil {
		t.Fatal(err)
	}
	out, err = r.run(ScriptPath)
	t.Logf("installer:\n%s", out)
	if err == nil {
		t.Fatal("the installer succeeded although the postinst failed")
	}
	if !strings.Contains(out, "refit-firstboot: failed (exit ") || strings.Contains(out, "refit-firstboot: done") {
		t.Errorf("the installer's output does not report the failure")
	}
	for _, p := range []string{QueueDir + "/packages", QueueDir + "/" + filepath.Base(broken.Path), wantsLink} {
		if !r.exists(p) {
			t.Errorf("%s is gone after a failed run: the next boot cannot retry", p)
		}
	}
}
