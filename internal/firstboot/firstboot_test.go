package firstboot

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestScript(t *testing.T) {
	cases := []struct {
		pm   string
		want []string
		err  error
	}{
		{pm: "dpkg", want: []string{"apt-get $apt_opts install -y --no-remove --only-upgrade", "dpkg --force-confdef --force-confold -i", `rm -rf "$Q"`, "rm -f " + wantsLink}},
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
	if st, err := os.Stat(filepath.Join(root, ScriptPath)); err != nil || st.Mode()&0o111 == 0 {
		t.Errorf("installer script: %v", err)
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
}

func ExampleScript() {
	s, _ := Script("rpm")
	fmt.Println(strings.Split(s, "\n")[0])
	fmt.Println(strings.Contains(s, "rpm -U"))
	// Output:
	// #!/bin/sh
	// true
}
