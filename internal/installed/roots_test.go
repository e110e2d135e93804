package installed

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// snapshotTree records every entry under dir, directory mtimes included (a sqlite -shm or a
// lock file created and deleted again shows).
func snapshotTree(t *testing.T, dir string) map[string]string {
	return fixture.SnapshotTree(t, dir, true)
}

// requireUnchanged fails the test for every difference between two snapshots.
func requireUnchanged(t *testing.T, before, after map[string]string) {
	t.Helper()
	fixture.RequireUnchanged(t, before, after)
}

// copyFile copies src to dst (creating dst's directory) with the given permissions.
func copyFile(t *testing.T, src, dst string, perm fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, perm); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies the regular files and symlinks of a tree.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		default:
			copyFile(t, p, target, 0o644)
			return nil
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readRPMDBUnchanged runs ReadRPMDB on root, fails the test on an error or on any change to
// the root, and returns the packages.
func readRPMDBUnchanged(t *testing.T, root string) []Package {
	t.Helper()
	before := snapshotTree(t, root)
	pkgs, err := ReadRPMDB(root)
	if err != nil {
		t.Fatalf("ReadRPMDB: %v", err)
	}
	requireUnchanged(t, before, snapshotTree(t, root))
	return pkgs
}

// goRPMDBTestdata returns go-rpmdb's directory of real rpmdbs in the module cache.
func goRPMDBTestdata(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/knqyf263/go-rpmdb").Output()
	if err != nil {
		t.Skipf("needs the go command and the go-rpmdb module to find its real rpmdb fixtures: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "pkg", "testdata")
}

// nevra is the comparable identity of a package in the oracle checks.
func nevra(p Package) string {
	return fmt.Sprintf("%s %d %s %s %s", p.Name, p.Epoch, p.Version, p.Release, p.Arch)
}

func nevras(pkgs []Package) []string {
	out := make([]string, 0, len(pkgs))
	for _, p := range pkgs {
		out = append(out, nevra(p))
	}
	slices.Sort(out)
	return out
}

// rpmQueryAll asks Debian's rpm for the NEVRAs in the rpm database directory dbDir. rpm may
// write to a database it opens, so it reads a copy.
func rpmQueryAll(t *testing.T, dbDir string) []string {
	t.Helper()
	rpm, err := exec.LookPath("rpm")
	if err != nil {
		t.Skipf("needs rpm (Debian package rpm) as oracle: %v", err)
	}
	work := t.TempDir()
	copyDir(t, dbDir, filepath.Join(work, "db"))
	cmd := exec.Command(rpm, "--dbpath", filepath.Join(work, "db"), "-qa",
		"--qf", `%{NAME} %{EPOCHNUM} %{VERSION} %{RELEASE} %{ARCH}\n`)
	cmd.Env = append(os.Environ(), "HOME="+work)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rpm -qa on a copy of %s: %v", dbDir, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "(none)") // gpg-pubkey has no arch
	}
	slices.Sort(lines)
	return lines
}

var generatedRPMRoot struct {
	once sync.Once
	dir  string
	err  error
}

// rpmRoot returns a root filesystem with a sqlite rpmdb made by testdata/mkrpmroot.sh, built
// once per test binary; callers must not modify it.
func rpmRoot(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"rpm", "rpmbuild", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s to build the test rpmdb (Debian: apt-get install rpm): %v", tool, err)
		}
	}
	g := &generatedRPMRoot
	g.once.Do(func() {
		g.dir, g.err = os.MkdirTemp("", "refit-installed-test-")
		if g.err != nil {
			return
		}
		script, _ := filepath.Abs(filepath.Join("testdata", "mkrpmroot.sh"))
		out, err := exec.Command("bash", script, g.dir).CombinedOutput()
		if err != nil {
			g.err = fmt.Errorf("mkrpmroot.sh: %v\n%s", err, out)
		}
	})
	if g.err != nil {
		t.Fatal(g.err)
	}
	return filepath.Join(g.dir, "root")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if generatedRPMRoot.dir != "" {
		os.RemoveAll(generatedRPMRoot.dir)
	}
	os.Exit(code)
}

// requireSameSet fails with the entries only one side has.
func requireSameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	var extra, missing []string
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	t.Errorf("%s: got %d entries, want %d; only got: %q; only wanted: %q", what, len(got), len(want), extra, missing)
}
