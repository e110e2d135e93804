package repository

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fetch"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/signature"
)

func loader(t *testing.T) *Loader {
	c := fetch.New(t.TempDir())
	c.Retries = 0
	return &Loader{Fetch: c}
}

func all(string) bool { return true }

// copyTree copies a read-only fixture so a test can damage it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return dst
}

func aptRepo(t *testing.T) (dir, key string) {
	dir, err := filepath.Abs("../apt/testdata/aptrepo")
	if err != nil {
		t.Fatal(err)
	}
	return dir, filepath.Join(dir, "refit-archive-key.asc")
}

func TestLoadRPMSigned(t *testing.T) {
	fixture.Need(t, "rpmbuild", "createrepo_c")
	lab := fixture.BuildRPMLab(t)
	updates := lab.Repo(t, "updates")
	base := lab.Repo(t, "base")
	_, aptKey := aptRepo(t)
	cases := []struct {
		name    string
		spec    Spec
		wantErr string
		is      error
	}{
		{name: "signed, right key", spec: Spec{Name: "updates", URL: updates.URL, GPGKey: lab.GPGKeyFile}},
		{name: "signed, unknown key", spec: Spec{Name: "updates", URL: updates.URL, GPGKey: aptKey}, wantErr: "repomd.xml.asc", is: signature.ErrUnknownKey},
		{name: "unsigned with a key", spec: Spec{Name: "base", URL: base.URL, GPGKey: lab.GPGKeyFile}, wantErr: "has no repodata/repomd.xml.asc"},
		{name: "no key: signature not needed", spec: Spec{Name: "base", URL: base.URL}},
		{name: "not a repository", spec: Spec{Name: "x", URL: "file://" + t.TempDir()}, wantErr: "the url must be the folder that holds repodata/", is: fetch.ErrNotFound},
		{name: "missing key file", spec: Spec{Name: "base", URL: base.URL, GPGKey: "/nonexistent.asc"}, wantErr: "loading gpg_key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := loader(t).Load(context.Background(), tc.spec, all)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(out.Candidates) == 0 {
					t.Fatal("no candidates loaded")
				}
				if tc.spec.GPGKey != "" && out.Signer == "" {
					t.Fatal("signed repository loaded without a signer")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), tc.spec.Name) {
				t.Fatalf("err = %v; want one naming the repository and mentioning %q", err, tc.wantErr)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("err = %v; want errors.Is %v", err, tc.is)
			}
		})
	}
}

// TestLoadRPMDamaged damages a copy of a repository in the ways mirrors break.
func TestLoadRPMDamaged(t *testing.T) {
	fixture.Need(t, "rpmbuild", "createrepo_c")
	lab := fixture.BuildRPMLab(t)
	primaryOf := func(t *testing.T, dir string) string {
		m, err := filepath.Glob(filepath.Join(dir, "repodata", "*primary.xml.*"))
		if err != nil || len(m) == 0 {
			t.Fatalf("no primary in %s", dir)
		}
		for _, p := range m {
			if !strings.HasSuffix(p, ".sqlite.bz2") && !strings.Contains(p, "sqlite") {
				return p
			}
		}
		return m[0]
	}
	cases := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		wantErr string
		is      error
	}{
		{"primary changed", func(t *testing.T, dir string) {
			p := primaryOf(t, dir)
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0xff
			os.WriteFile(p, b, 0o644)
		}, "metadata says", fetch.ErrChecksum},
		{"primary truncated", func(t *testing.T, dir string) {
			p := primaryOf(t, dir)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		}, "bytes, metadata says", fetch.ErrChecksum},
		{"primary missing", func(t *testing.T, dir string) { os.Remove(primaryOf(t, dir)) }, "not found", fetch.ErrNotFound},
		{"repomd.xml truncated", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "repodata", "repomd.xml")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/3], 0o644)
		}, "parsing", nil},
		{"repomd.xml not XML", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "repodata", "repomd.xml"), []byte("<html>mirror error page"), 0o644)
		}, "parsing", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyTree(t, lab.Repo(t, "base").Dir)
			tc.damage(t, dir)
			_, err := loader(t).Load(context.Background(), Spec{Name: "base", URL: "file://" + dir}, all)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v; want one mentioning %q", err, tc.wantErr)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("err = %v; want errors.Is %v", err, tc.is)
			}
		})
	}
}

func TestLoadDeb(t *testing.T) {
	dir, key := aptRepo(t)
	lab := ""
	if _, err := exec.LookPath("rpmbuild"); err == nil {
		lab = fixture.BuildRPMLab(t).GPGKeyFile
	}
	t.Run("signed suites", func(t *testing.T) {
		for _, suite := range []string{"demo", "demo-security"} {
			out, err := loader(t).Load(context.Background(), Spec{Name: suite, URL: "file://" + dir, Type: TypeDeb, Suite: suite, GPGKey: key}, all)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Candidates) == 0 || out.Signer == "" {
				t.Fatalf("%s: %d candidates, signer %q", suite, len(out.Candidates), out.Signer)
			}
			for _, c := range out.Candidates {
				if c.Security != (suite == "demo-security") {
					t.Errorf("%s: %s security = %v", suite, c.Name, c.Security)
				}
				if !strings.HasPrefix(c.Checksum, "sha256:") || !strings.HasPrefix(c.Location, "file://"+dir+"/pool/") {
					t.Errorf("%s: bad checksum or location: %+v", suite, c)
				}
			}
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		if lab == "" {
			t.Skip("needs rpmbuild (rpm) for a second key from the RPM lab")
		}
		_, err := loader(t).Load(context.Background(), Spec{Name: "demo", URL: "file://" + dir, Type: TypeDeb, Suite: "demo", GPGKey: lab}, all)
		if !errors.Is(err, signature.ErrUnknownKey) {
			t.Fatalf("err = %v; want ErrUnknownKey", err)
		}
	})
	t.Run("tampered InRelease", func(t *testing.T) {
		d := copyTree(t, dir)
		p := filepath.Join(d, "dists", "demo", "InRelease")
		b, _ := os.ReadFile(p)
		os.WriteFile(p, []byte(strings.Replace(string(b), "Suite: demo", "Suite: dem0", 1)), 0o644)
		_, err := loader(t).Load(context.Background(), Spec{Name: "demo", URL: "file://" + d, Type: TypeDeb, Suite: "demo", GPGKey: key}, all)
		if !errors.Is(err, signature.ErrBadSignature) {
			t.Fatalf("err = %v; want ErrBadSignature", err)
		}
	})
	t.Run("tampered Packages", func(t *testing.T) {
		d := copyTree(t, dir)
		files, _ := filepath.Glob(filepath.Join(d, "dists", "demo", "main", "binary-amd64", "*"))
		files2, _ := filepath.Glob(filepath.Join(d, "dists", "demo", "main", "binary-amd64", "by-hash", "SHA256", "*"))
		for _, f := range append(files, files2...) {
			if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
				b, _ := os.ReadFile(f)
				if len(b) > 10 {
					b[10] ^= 0xff
					os.WriteFile(f, b, 0o644)
				}
			}
		}
		_, err := loader(t).Load(context.Background(), Spec{Name: "demo", URL: "file://" + d, Type: TypeDeb, Suite: "demo", GPGKey: key}, all)
		if !errors.Is(err, fetch.ErrChecksum) {
			t.Fatalf("err = %v; want ErrChecksum", err)
		}
	})
	t.Run("unknown suite and component", func(t *testing.T) {
		_, err := loader(t).Load(context.Background(), Spec{Name: "x", URL: "file://" + dir, Type: TypeDeb, Suite: "nope"}, all)
		if err == nil || !strings.Contains(err.Error(), "neither InRelease nor Release") {
			t.Fatalf("err = %v", err)
		}
		_, err = loader(t).Load(context.Background(), Spec{Name: "x", URL: "file://" + dir, Type: TypeDeb, Suite: "demo", Components: []string{"contrib"}}, all)
		if err == nil || !strings.Contains(err.Error(), `component "contrib"`) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestLoadUnreachable(t *testing.T) {
	_, err := loader(t).Load(context.Background(), Spec{Name: "gone", URL: "http://127.0.0.1:1/repo"}, all)
	if err == nil || !strings.Contains(err.Error(), "reachable") || !strings.Contains(err.Error(), `"gone"`) {
		t.Fatalf("err = %v; want a message naming the repository and reachability", err)
	}
}

// TestLoadIndex reads whole repositories in the index mode: every package with its
// metadata entry, verified exactly as Load verifies them.
func TestLoadIndex(t *testing.T) {
	dir, key := aptRepo(t)
	t.Run("deb", func(t *testing.T) {
		out, err := loader(t).LoadIndex(context.Background(), Spec{Name: "demo", URL: "file://" + dir, Type: TypeDeb, Suite: "demo-security", GPGKey: key})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Packages) == 0 || len(out.Candidates) != 0 || out.Signer == "" {
			t.Fatalf("%d packages, %d candidates, signer %q", len(out.Packages), len(out.Candidates), out.Signer)
		}
		provides := false
		for _, p := range out.Packages {
			if p.Deb == nil || p.RPM != nil || p.Priority != DefaultPriority || !strings.HasPrefix(p.Checksum, "sha256:") ||
				!strings.HasPrefix(p.Location, "file://"+dir+"/pool/") {
				t.Errorf("package %+v", p)
			}
			if p.Name == "refit-demo" && strings.Contains(p.Deb.Provides, "refit-demo-api") {
				provides = true
			}
		}
		if !provides {
			t.Error("refit-demo's Provides field is not kept")
		}
	})
	t.Run("tampered InRelease does not fall back to Release", func(t *testing.T) {
		d := copyTree(t, dir)
		p := filepath.Join(d, "dists", "demo", "InRelease")
		b, _ := os.ReadFile(p)
		os.WriteFile(p, []byte(strings.Replace(string(b), "Suite: demo", "Suite: dem0", 1)), 0o644)
		_, err := loader(t).LoadIndex(context.Background(), Spec{Name: "demo", URL: "file://" + d, Type: TypeDeb, Suite: "demo", GPGKey: key})
		if !errors.Is(err, signature.ErrBadSignature) {
			t.Fatalf("err = %v; want ErrBadSignature", err)
		}
	})
	t.Run("rpm-md", func(t *testing.T) {
		fixture.Need(t, "rpmbuild", "createrepo_c")
		lab := fixture.BuildRPMLab(t)
		out, err := loader(t).LoadIndex(context.Background(), Spec{Name: "updates", URL: lab.Repo(t, "updates").URL, GPGKey: lab.GPGKeyFile})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Packages) == 0 || len(out.Advisories) != 0 || out.Signer == "" {
			t.Fatalf("%d packages, %d advisories, signer %q", len(out.Packages), len(out.Advisories), out.Signer)
		}
		for _, p := range out.Packages {
			if p.RPM == nil || p.Deb != nil || len(p.RPM.Provides) == 0 || p.Arch == "src" || p.Checksum == "" {
				t.Errorf("package %+v", p)
			}
		}
		_, err = loader(t).LoadIndex(context.Background(), Spec{Name: "base", URL: lab.Repo(t, "base").URL, GPGKey: lab.GPGKeyFile})
		if err == nil || !strings.Contains(err.Error(), "has no repodata/repomd.xml.asc") {
			t.Fatalf("unsigned repository with a key: %v", err)
		}
	})
}
