package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/packertest"
	"github.com/refit-images/packer-plugin-refit/internal/repoconfig"
)

func TestMain(m *testing.M) {
	code := m.Run()
	packertest.Cleanup()
	os.Exit(code)
}

// labFleet writes two image records of the RPM lab into dir: the lab root as it is
// (Rocky 9.3) and the same packages recorded as an 8.9 image.
func labFleet(t *testing.T, lab *fixture.RPMLab, dir string) {
	t.Helper()
	m, err := installed.FromRoot(lab.Root)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Write(filepath.Join(dir, "rocky-9.qcow2.manifest.json")); err != nil {
		t.Fatal(err)
	}
	m.OS.VersionID = "8.9"
	if err := m.Write(filepath.Join(dir, "rocky-8.qcow2.manifest.json")); err != nil {
		t.Fatal(err)
	}
}

// TestAccFleet runs the data source through the real Packer: the output a template gets
// equals what Run computes, the reports are written, the 8.9 image gets only the
// repository that serves it, and a glob naming nothing fails the build saying so.
func TestAccFleet(t *testing.T) {
	env := packertest.Setup(t)
	fixture.Need(t, "rpmbuild", "createrepo_c")
	lab := fixture.BuildRPMLab(t)
	records := t.TempDir()
	labFleet(t, lab, records)
	var repos strings.Builder
	cfg := &Config{Manifests: []string{filepath.Join(records, "*.manifest.json")}, CacheDir: t.TempDir()}
	for _, r := range lab.Repos {
		block := Repository{Repository: repoconfig.Repository{Name: r.Name, URL: r.URL, Priority: r.Priority}}
		fmt.Fprintf(&repos, "  repository {\n    name = %q\n    url = %q\n    priority = %d\n", r.Name, r.URL, r.Priority)
		if r.Name != "base" {
			block.OSVersionID = []string{"9*"}
			repos.WriteString("    os_version_id = [\"9*\"]\n")
		}
		repos.WriteString("  }\n")
		cfg.Repositories = append(cfg.Repositories, block)
	}
	dir := packertest.Template(t, fmt.Sprintf(`
data "refit-fleet" "lab" {
  manifests   = [%q]
  cache_dir   = %q
  html_report = "fleet.html"
  json_report = "fleet.json"
%s
}

source "file" "out" {
  content = jsonencode(data.refit-fleet.lab)
  target  = "out.json"
}

build {
  sources = ["source.file.out"]
}
`, filepath.Join(records, "*.manifest.json"), t.TempDir(), repos.String()))
	if out, err := env.Run(t, dir, "build", "."); err != nil {
		t.Fatalf("packer build failed: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "out.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got DatasourceOutput
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("decoding the template's output: %v\n%s", err, raw)
	}
	want, rep, err := Run(context.Background(), cfg, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	var wantBack DatasourceOutput
	json.Unmarshal(wantJSON, &wantBack)
	if !reflect.DeepEqual(got, wantBack) {
		t.Errorf("packer output differs from Run:\npacker: %+v\nrun:    %+v", got, wantBack)
	}
	if len(got.Images) != 2 || got.Images[0].Name != "rocky-8" || got.Images[1].Name != "rocky-9" {
		t.Fatalf("images: %+v", got.Images)
	}
	el8, el9 := got.Images[0], got.Images[1]
	if el9.Count <= el8.Count || el8.Count == 0 || el8.SecurityCount != 0 || len(el9.CVEs) == 0 ||
		got.TotalCount != el8.Count+el9.Count || !reflect.DeepEqual(got.Outdated, []string{"rocky-8", "rocky-9"}) {
		t.Errorf("implausible fleet answer (8.9 gets base only, without advisories): %+v", got)
	}
	var written struct {
		Images []struct {
			Name         string   `json:"name"`
			Repositories []string `json:"repositories"`
		} `json:"images"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "fleet.json"))
	if err != nil {
		t.Fatalf("json_report: %v", err)
	}
	if err := json.Unmarshal(b, &written); err != nil {
		t.Fatal(err)
	}
	if len(written.Images) != 2 || !reflect.DeepEqual(written.Images[0].Repositories, []string{"base"}) ||
		!reflect.DeepEqual(written.Images[1].Repositories, []string{"base", "updates", "pinned"}) {
		t.Errorf("json_report's repositories per image: %+v", written.Images)
	}
	if page, err := os.ReadFile(filepath.Join(dir, "fleet.html")); err != nil || !strings.Contains(string(page), rep.Images[1].Name) {
		t.Errorf("html_report missing or without the images (%v)", err)
	}

	bad := packertest.Template(t, fmt.Sprintf(`
data "refit-fleet" "none" {
  manifests = [%q]
  repository {
    name = "base"
    url  = %q
  }
}
source "file" "out" {
  content = jsonencode(data.refit-fleet.none)
  target  = "out.json"
}
build { sources = ["source.file.out"] }
`, filepath.Join(records, "*.nothing.json"), lab.Repos[0].URL))
	out, err := env.Run(t, bad, "build", ".")
	if err == nil {
		t.Fatal("packer build with a glob naming no file succeeded")
	}
	if !strings.Contains(out, "names no file") {
		t.Errorf("the error does not say the glob names no file:\n%s", out)
	}
}
