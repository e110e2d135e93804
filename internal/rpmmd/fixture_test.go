package rpmmd

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/decompress"
)

// fixtureRepo is the committed repository made by testdata/gen.sh.
const fixtureRepo = "testdata/repo"

// openFixture opens the decompressed metadata file of type typ of the
// repository rooted at repo.
func openFixture(t testing.TB, repo, typ string) io.ReadCloser {
	t.Helper()
	f, err := os.Open(filepath.Join(repo, "repodata", "repomd.xml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	md, err := ParseRepomd(f)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := md.Find(typ)
	if !ok {
		t.Fatalf("%s: no %s in repomd.xml", repo, typ)
	}
	data, err := os.Open(filepath.Join(repo, d.Location))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := decompress.Reader(data, d.Location, 64<<20)
	if err != nil {
		data.Close()
		t.Fatal(err)
	}
	return struct {
		io.Reader
		io.Closer
	}{rc, closers{rc, data}}
}

type closers []io.Closer

func (c closers) Close() error {
	for _, x := range c {
		x.Close()
	}
	return nil
}

// needTools skips the test unless every named command is installed.
func needTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (Debian: apt-get install rpm createrepo-c coreutils): %v", tool, err)
		}
	}
}

var built struct {
	once sync.Once
	dir  string
	err  error
	out  []byte
}

// builtRepo runs testdata/gen.sh once per test binary into a temporary
// directory and returns the repository it made, .rpm files included.
func builtRepo(t testing.TB) string {
	t.Helper()
	needTools(t, "bash", "rpmbuild", "rpm", "createrepo_c", "modifyrepo_c", "sha256sum")
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "rpmmd-repo-")
		if built.err != nil {
			return
		}
		built.out, built.err = exec.Command("bash", "testdata/gen.sh", built.dir).CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("testdata/gen.sh: %v\n%s", built.err, built.out)
	}
	return filepath.Join(built.dir, "repo")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}
