package firstboot

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestScript(t *testing.T) {
	cases := []struct {
		pm   string
		want []string
		err  error
	}{
		{pm: "dpkg", want: []string{"apt-get $apt_opts install -y --no-remove --no-install-recommends $(cat \"$Q/packages\")", "dpkg --force-confdef --force-confold -i", `rm -rf "$Q"`, "rm -f " + wantsLink + " " + unitPath + " " + ScriptPath}},
		{pm: "rpm", want: []string{`rpm -U --replacepkgs --oldpackage "$Q"/*.rpm`, `rm -rf "$Q"`}},
		{pm: "pacman", err: ErrPackageManager},
	}
	for _, c := range cases {
		t.Run(c.pm, func(t *testing.T) {
			s, err := Script(c.pm)
			if !errors.Is(err, c.err) {
				t.Fatalf("Script = %v, want %v", err, c.err)
			}
			for _, w := range c.want {
				if !strings.Contains(s, w) {
					t.Errorf("script lacks %q:\n%s", w, s)
				}
			}
			if c.err == nil {
				if sh, err := exec.LookPath("sh"); err == nil {
					if out, err := exec.Command(sh, "-n", "-c", s).CombinedOutput(); err != nil {
						t.Errorf("sh -n: %v\n%s", err, out)
					}
				}
			}
		})
	}
}

// TestUnitVerifies checks the unit with systemd's own parser.
func TestUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("needs systemd-analyze (apt-get install systemd)")
	}
	dir := t.TempDir()
	unit := filepath.Join(dir, UnitName)
	os.WriteFile(unit, []byte(strings.ReplaceAll(Unit(), ScriptPath, "/bin/true")), 0o644)
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", unit).CombinedOutput()
	if err != nil && strings.Contains(string(out), UnitName) {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// parseUnit reads a systemd unit into "Section.Key" → the words of all its values.
func parseUnit(text string) map[string][]string {
	out := map[string][]string{}
	section := ""
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		case strings.Contains(line, "="):
			k, v, _ := strings.Cut(line, "=")
			out[section+"."+k] = append(out[section+"."+k], strings.Fields(v)...)
		}
	}
	return out
}

// TestUnitOrdering pins where the unit runs in the boot. Each rule names the failure it
// prevents; the deadlock was reproduced in a booted Debian 12 VM with the earlier unit
// (Before=ssh.service): "deb-systemd-invoke restart" of an enabled service ordered after a
// running oneshot waits until the oneshot's start timeout.
func TestUnitOrdering(t *testing.T) {
	u := parseUnit(Unit())
	// static services started by timers: deb-systemd-invoke never restarts those
	staticBefore := map[string]bool{"apt-daily.service": true, "apt-daily-upgrade.service": true, "dnf-makecache.service": true}
	var restartable []string
	for _, b := range u["Unit.Before"] {
		if !strings.HasSuffix(b, ".target") && !staticBefore[b] {
			restartable = append(restartable, b)
		}
	}
	rules := []struct {
		rule string
		ok   bool
		why  string
	}{
		{"After= and Wants= network-online.target", slices.Contains(u["Unit.After"], "network-online.target") && slices.Contains(u["Unit.Wants"], "network-online.target"),
			"the deferred scripts are those that need the live system, often the network"},
		{"Before=multi-user.target", slices.Contains(u["Unit.Before"], "multi-user.target"),
			"systemctl is-system-running --wait must mean the deferred packages are installed"},
		{"Before= names no service a maintainer script may restart", len(restartable) == 0,
			fmt.Sprintf("restarting %v from the installer would wait for the installer itself", restartable)},
		{"default dependencies", !slices.Contains(u["Unit.DefaultDependencies"], "no"),
			"maintainer scripts need sysinit.target and basic.target done, and a stop in order at shutdown"},
		{"ConditionPathExists= the queue", slices.Equal(u["Unit.ConditionPathExists"], []string{QueueDir}),
			"the unit must not run once the installer removed the queue"},
		{"WantedBy=multi-user.target", slices.Equal(u["Install.WantedBy"], []string{"multi-user.target"}), "wantsLink enables it there"},
	}
	for _, r := range rules {
		if !r.ok {
			t.Errorf("%s: not so in the unit (%s):\n%s", r.rule, r.why, Unit())
		}
	}
	if !strings.HasSuffix(wantsLink, "/multi-user.target.wants/"+UnitName) {
		t.Errorf("wantsLink %s does not match WantedBy=multi-user.target", wantsLink)
	}
}

func TestPlace(t *testing.T) {
	root := t.TempDir()
	deb := filepath.Join(t.TempDir(), "hello_2.0-1_amd64.deb")
	os.WriteFile(deb, []byte("not really a deb"), 0o644)
	pkgs := []Package{{Path: deb, Name: "hello", Version: "2.0-1", Arch: "amd64", Control: "Package: hello\nVersion: 2.0-1\n", Reason: "postinst is unsafe"}}
	if err := Place(root, "dpkg", pkgs); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		QueueDir + "/packages":              "hello=2.0-1\n",
		QueueDir + "/sources.list":          "deb [trusted=yes] file:" + QueueDir + " ./\n",
		QueueDir + "/hello_2.0-1_amd64.deb": "not really a deb",
	} {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	idx, _ := os.ReadFile(filepath.Join(root, QueueDir, "Packages"))
	if !strings.Contains(string(idx), "Filename: ./hello_2.0-1_amd64.deb\nSize: 16\nSHA256: ") {
		t.Errorf("Packages index:\n%s", idx)
	}
	if target, err := os.Readlink(filepath.Join(root, wantsLink)); err != nil || target != unitPath {
		t.Errorf("enable link = %q, %v", target, err)
	}
	// systemd warns about an executable unit file; the installer must be executable
	for name, want := range map[string]os.FileMode{ScriptPath: 0o755, unitPath: 0o644} {
		if st, err := os.Stat(filepath.Join(root, name)); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: %v, %v; want mode %v", name, st.Mode(), err, want)
		}
	}
	release, _ := os.ReadFile(filepath.Join(root, QueueDir, "Release"))
	sum := sha256.Sum256(idx)
	if want := fmt.Sprintf("SHA256:\n %x %d Packages\n", sum, len(idx)); !strings.Contains(string(release), want) {
		t.Errorf("Release does not list Packages as %q:\n%s", want, release)
	}
}

// TestPlaceReplacesQueue: a second patch of the same image supersedes the queue of the
// first, leaving none of its files behind.
func TestPlaceReplacesQueue(t *testing.T) {
	root := t.TempDir()
	src := t.TempDir()
	for _, p := range []struct{ name, version string }{{"old", "1"}, {"new", "2"}} {
		deb := filepath.Join(src, p.name+".deb")
		os.WriteFile(deb, []byte(p.name), 0o644)
		if err := Place(root, "dpkg", []Package{{Path: deb, Name: p.name, Version: p.version}}); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(filepath.Join(root, QueueDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"Packages", "README", "Release", "new.deb", "packages", "sources.list"}; !slices.Equal(names, want) {
		t.Errorf("queue after the second Place = %v, want %v", names, want)
	}
}

// TestPlaceNothingClearsQueue: when a later patch of the image defers nothing, the queue of
// an earlier one is removed with the unit, its link and the installer; with no queue, nothing is created.
func TestPlaceNothingClearsQueue(t *testing.T) {
	root := t.TempDir()
	deb := filepath.Join(t.TempDir(), "a.deb")
	os.WriteFile(deb, []byte("a"), 0o644)
	if err := Place(root, "dpkg", []Package{{Path: deb, Name: "a", Version: "2"}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range append([]string{QueueDir}, placed...) {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			t.Fatalf("control: %s was not placed: %v", p, err)
		}
	}
	if err := Place(root, "dpkg", nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range append([]string{QueueDir}, placed...) {
		if _, err := os.Lstat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("%s is still there after a patch that deferred nothing (%v)", p, err)
		}
	}
	empty := t.TempDir()
	if err := Place(empty, "dpkg", nil); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("Place with nothing to defer created %v", entries)
	}
}

// TestPlaceRefusesSymlinks: a hostile image cannot redirect the queue out of its root.
func TestPlaceRefusesSymlinks(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(root, "var/lib"), 0o755)
	os.Symlink(outside, filepath.Join(root, "var/lib/refit"))
	deb := filepath.Join(t.TempDir(), "x.deb")
	os.WriteFile(deb, []byte("x"), 0o644)
	err := Place(root, "dpkg", []Package{{Path: deb, Name: "x", Version: "1"}})
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("Place = %v, want a symlink refusal", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("wrote outside the root: %v", entries)
	}
	// nor can it have a patch that defers nothing remove the host's files
	os.MkdirAll(filepath.Join(outside, "firstboot"), 0o755)
	if err := Place(root, "dpkg", nil); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("Place(nothing) = %v, want a symlink refusal", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "firstboot")); err != nil {
		t.Errorf("removed outside the root: %v", err)
	}
}

func ExampleScript() {
	s, _ := Script("rpm")
	fmt.Println(strings.Split(s, "\n")[0])
	fmt.Println(strings.Contains(s, "rpm -U"))
	// Output:
	// #!/bin/sh
	// true
}
