package repodiff

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/packertest"
	"github.com/refit-images/packer-plugin-refit/internal/repoconfig"
)

func TestMain(m *testing.M) {
	code := m.Run()
	packertest.Cleanup()
	os.Exit(code)
}

func labConfig(lab *fixture.RPMLab) *Config {
	c := &Config{}
	for _, r := range lab.Repos {
		c.Repositories = append(c.Repositories, repoconfig.Repository{Name: r.Name, URL: r.URL, Priority: r.Priority})
	}
	return c
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestRunImageMatchesRootfs: reading a qcow2 or raw image of the lab root gives the same
// answer as reading the root directory, and leaves the image file untouched.
func TestRunImageMatchesRootfs(t *testing.T) {
	fixture.NeedRoot(t)
	fixture.Need(t, "mkfs.ext4", "qemu-img", "losetup", "partx", "rpmbuild", "createrepo_c")
	lab := fixture.BuildRPMLab(t)
	c := labConfig(lab)
	c.Rootfs = lab.Root
	c.CacheDir = t.TempDir()
	want, err := Run(context.Background(), c, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	if want.Count == 0 {
		t.Fatal("the lab root has no updates")
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "lab.raw")
	if out, err := exec.Command("mkfs.ext4", "-q", "-d", lab.Root, raw, "256M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	qcow := filepath.Join(dir, "lab.qcow2")
	if out, err := exec.Command("qemu-img", "convert", "-O", "qcow2", raw, qcow).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	for _, img := range []string{raw, qcow} {
		t.Run(filepath.Ext(img), func(t *testing.T) {
			before := fileSHA256(t, img)
			ic := labConfig(lab)
			ic.Image = img
			ic.CacheDir = t.TempDir()
			got, err := Run(context.Background(), ic, func(s string) { t.Log(s) })
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("image result differs from rootfs result:\nimage:  %+v\nrootfs: %+v", got, want)
			}
			if after := fileSHA256(t, img); after != before {
				t.Errorf("the image changed: sha256 %s -> %s", before, after)
			}
			if out, _ := exec.Command("losetup", "-j", img).Output(); len(out) > 0 {
				t.Errorf("loop device left on the image: %s", out)
			}
		})
	}
}

func hclRepos(lab *fixture.RPMLab) string {
	var b strings.Builder
	for _, r := range lab.Repos {
		fmt.Fprintf(&b, "  repository {\n    name = %q\n    url = %q\n    priority = %d\n  }\n", r.Name, r.URL, r.Priority)
	}
	return b.String()
}

// TestAccRepodiff runs the data source through the real Packer: the JSON it hands to a
// template equals what Run computes, and a wrong signature key fails the build.
func TestAccRepodiff(t *testing.T) {
	env := packertest.Setup(t)
	fixture.Need(t, "rpmbuild", "createrepo_c")
	lab := fixture.BuildRPMLab(t)
	dir := packertest.Template(t, fmt.Sprintf(`
data "refit-repodiff" "lab" {
  rootfs    = %q
  cache_dir = %q
%s
}

data "refit-repodiff" "security" {
  rootfs        = %q
  security_only = true
  include       = ["demo-*", "kernel*"]
%s
}

source "file" "out" {
  content = jsonencode({ all = data.refit-repodiff.lab, security = data.refit-repodiff.security })
  target  = "out.json"
}

build {
  sources = ["source.file.out"]
}
`, lab.Root, t.TempDir(), hclRepos(lab), lab.Root, hclRepos(lab)))
	if out, err := env.Run(t, dir, "build", "."); err != nil {
		t.Fatalf("packer build failed: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "out.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ All, Security DatasourceOutput }
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("decoding the template's output: %v\n%s", err, raw)
	}
	for name, cfg := range map[string]*Config{"all": labConfig(lab), "security": labConfig(lab)} {
		cfg.Rootfs = lab.Root
		cfg.CacheDir = t.TempDir()
		if name == "security" {
			cfg.SecurityOnly = true
			cfg.Include = []string{"demo-*", "kernel*"}
		}
		want, err := Run(context.Background(), cfg, func(s string) { t.Log(s) })
		if err != nil {
			t.Fatal(err)
		}
		// JSON numbers and empty lists come back through cty: compare through JSON.
		wantJSON, _ := json.Marshal(want)
		var wantBack DatasourceOutput
		json.Unmarshal(wantJSON, &wantBack)
		g := got.All
		if name == "security" {
			g = got.Security
		}
		if !reflect.DeepEqual(g, wantBack) {
			t.Errorf("%s: packer output differs from Run:\npacker: %+v\nrun:    %+v", name, g, wantBack)
		}
	}
	if got.All.Count == 0 || got.Security.Count == 0 || got.Security.Count >= got.All.Count || len(got.All.CVEs) == 0 {
		t.Errorf("implausible counts: all %d (cves %v), security %d", got.All.Count, got.All.CVEs, got.Security.Count)
	}

	bad := packertest.Template(t, fmt.Sprintf(`
data "refit-repodiff" "lab" {
  rootfs = %q
  repository {
    name    = "updates"
    url     = %q
    gpg_key = %q
  }
}
source "file" "out" {
  content = jsonencode(data.refit-repodiff.lab)
  target  = "out.json"
}
build { sources = ["source.file.out"] }
`, lab.Root, lab.Repo(t, "updates").URL, filepath.Join(packertest.RepoRoot(), "internal/apt/testdata/aptrepo/refit-archive-key.asc")))
	out, err := env.Run(t, bad, "build", ".")
	if err == nil {
		t.Fatal("packer build with the wrong gpg_key succeeded")
	}
	if !strings.Contains(out, "repomd.xml.asc") || !strings.Contains(out, `"updates"`) {
		t.Errorf("the error does not name the repository and the signature file:\n%s", out)
	}
}
