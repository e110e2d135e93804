package fleet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/apt"
	"github.com/refit-images/packer-plugin-refit/internal/arch"
	"github.com/refit-images/packer-plugin-refit/internal/fetch"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/outdated"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
	"github.com/refit-images/packer-plugin-refit/internal/sbom"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// oracleImage is one image of the test fleet: its root (where the oracle runs) and what
// the oracle says refit must answer, as sorted "name.arch version" lines.
type oracleImage struct {
	name, root string
	want       []string
}

// writeManifest records root's packages as the image's refit-manifest/v1 file in dir, or
// with format (sbom.FormatCycloneDX, sbom.FormatSPDX) as the SBOM refit writes beside it.
func writeManifest(t *testing.T, dir, name, root string, format ...string) string {
	t.Helper()
	if len(format) > 0 {
		inv, err := sbom.FromRoot(root)
		if err != nil {
			t.Fatal(err)
		}
		inv.Image = sbom.Image{Name: name + ".qcow2", SHA256: strings.Repeat("0", 64), Format: "qcow2"}
		paths, err := inv.Write(filepath.Join(dir, name+".qcow2"), format)
		if err != nil {
			t.Fatal(err)
		}
		return paths[0]
	}
	m, err := installed.FromRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".qcow2.manifest.json")
	if err := m.Write(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// rpmLabStates makes three RPM images from the lab: as built (Rocky 9.3), partly patched
// (demo-lib, demo-unsafe and kernel-core at the updates' versions, recorded with rpm -U
// --justdb) and an "8.9" one that only the base repository serves; dnf check-update on
// each root with that image's repositories is the oracle.
// Without oracle, want stays empty (for tests of the report).
func rpmLabStates(t *testing.T, lab *fixture.RPMLab, oracle bool) (images []oracleImage, repos []Repository) {
	t.Helper()
	patched := fixture.CopyRoot(t, lab.Root)
	var rpms []string
	for _, p := range []string{"demo-lib-1.1-1.x86_64.rpm", "demo-unsafe-1.0-2.noarch.rpm", "kernel-core-5.14.0-503.14.1.el9_5.x86_64.rpm"} {
		rpms = append(rpms, filepath.Join(lab.Dir, "rpms", "updates", p))
	}
	cmd := exec.Command("rpm", append([]string{"--root", patched, "--dbpath", "/var/lib/rpm", "-U", "--justdb", "--nodeps",
		"--noscripts", "--notriggers", "--nosignature", "--nodigest"}, rpms...)...)
	cmd.Env = append(os.Environ(), "HOME="+lab.Home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rpm -U --justdb: %v\n%s", err, out)
	}
	el8 := fixture.CopyRoot(t, lab.Root)
	osr := filepath.Join(el8, "etc", "os-release")
	b, err := os.ReadFile(osr)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(osr) // may be a hard link into the cache
	if err := os.WriteFile(osr, []byte(strings.ReplaceAll(string(b), `VERSION_ID="9.3"`, `VERSION_ID="8.9"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	el9 := []string{"9*"}
	for _, r := range lab.Repos {
		repo := Repository{Spec: repository.Spec{Name: r.Name, URL: r.URL, Type: repository.TypeRPM, Priority: r.Priority}}
		if r.Name != "base" {
			repo.OSIDs, repo.OSVersionIDs = []string{"rhel"}, el9 // rocky's family
		}
		repos = append(repos, repo)
	}
	for _, im := range []struct {
		name, root string
		repos      []fixture.RPMRepo
	}{
		{"rocky-9-lab", lab.Root, lab.Repos},
		{"rocky-9-patched", patched, lab.Repos},
		{"rocky-8-base", el8, []fixture.RPMRepo{lab.Repo(t, "base")}},
	} {
		var want []string
		if !oracle {
			images = append(images, oracleImage{name: im.name, root: im.root})
			continue
		}
		for _, u := range fixture.DNFCheckUpdate(t, im.root, im.repos) {
			want = append(want, u.Name+"."+u.Arch+" "+u.EVR)
		}
		for _, o := range fixture.DNFObsoletes(t, im.root, im.repos) {
			want = append(want, o.Name+"."+o.Arch+" "+o.EVR)
		}
		sort.Strings(want)
		images = append(images, oracleImage{name: im.name, root: im.root, want: want})
	}
	return images, repos
}

// debianRecordRoot extracts the dpkg status and os-release of the fixture's Debian root of
// architecture debArch (DebianRootTarballArch) into dir/name and returns that folder.
func debianRecordRoot(t *testing.T, dir, name, debArch string) string {
	t.Helper()
	root := filepath.Join(dir, name)
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	tarball := fixture.DebianRootTarballArch(t, debArch)
	if out, err := exec.Command("tar", "-C", root, "-xf", tarball, "./var/lib/dpkg/status", "./etc/os-release", "./usr/lib/os-release").CombinedOutput(); err != nil {
		t.Fatalf("extracting the Debian %s root's status: %v\n%s", debArch, err, out)
	}
	return root
}

// debianStates makes three Debian 12 images from the fixture's Debian roots (built from the
// base suite alone): the host architecture's dpkg status as built, the same without half of
// the packages apt would upgrade, and the arm64 root's status (apt reads the arm64 indexes
// for it: APT::Architecture=arm64); apt list --upgradable over the real suites is the oracle
// for each.
func debianStates(t *testing.T, dir string) (images []oracleImage, repos []Repository) {
	t.Helper()
	suites := []string{fixture.DebianSuite, fixture.DebianSuite + "-updates", fixture.DebianSuite + "-security"}
	hostRepos := fixture.HostDebianRepos(t, suites...)
	sources := fixture.DebianSourcesList(t, suites...)
	base := debianRecordRoot(t, dir, "debian-root", arch.Host().Debian)
	foreign := "arm64"
	if arch.Host().Debian == foreign {
		foreign = "amd64"
	}
	other := debianRecordRoot(t, dir, "debian-root-"+foreign, foreign)
	for i, r := range hostRepos {
		repos = append(repos, Repository{Spec: repository.Spec{Name: fmt.Sprintf("%s-%d", r.Suite, i), URL: r.URI,
			Type: repository.TypeDeb, Suite: r.Suite, Components: r.Components, GPGKey: r.Key}, OSIDs: []string{"debian"}})
	}
	upgradable := fixture.APTUpgradable(t, base, sources)
	if len(upgradable) < 2 {
		t.Skip("apt offers fewer than 2 updates for the base suite today: nothing to compare")
	}
	// The partial image lacks every other upgradable package.
	drop := map[string]bool{}
	for i, u := range upgradable {
		if i%2 == 0 {
			drop[u.Name] = true
		}
	}
	status, err := os.ReadFile(filepath.Join(base, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	var kept bytes.Buffer
	for _, stanza := range strings.SplitAfter(string(status), "\n\n") {
		f, err := apt.ParseStatus(strings.NewReader(stanza))
		if err == nil && len(f) == 1 && drop[f[0].Package] {
			continue
		}
		kept.WriteString(stanza)
	}
	partial := filepath.Join(dir, "debian-partial")
	if out, err := exec.Command("cp", "-a", base, partial).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(partial, "var/lib/dpkg/status"), kept.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, im := range []struct{ name, root string }{{"debian-12-base", base}, {"debian-12-partial", partial}, {"debian-12-" + foreign, other}} {
		ups := upgradable
		if im.root != base {
			ups = fixture.APTUpgradable(t, im.root, sources)
		}
		var want []string
		for _, u := range ups {
			want = append(want, u.Name+"."+u.Arch+" "+u.EVR)
		}
		sort.Strings(want)
		images = append(images, oracleImage{name: im.name, root: im.root, want: want})
	}
	return images, repos
}

// TestFleetMatchesOracles builds a fleet of mixed images — three RPM lab images at
// different states and releases, three Debian 12 images (two amd64, one arm64: each reads
// its own architecture's indexes), three of the six recorded as SBOMs — and checks that each image's
// answer is what dnf check-update or apt list --upgradable says for that image alone,
// and what refit-repodiff's job (outdated.Run) answers for it alone, to the advisory.
func TestFleetMatchesOracles(t *testing.T) {
	fixture.Need(t, "dnf", "rpm", "rpmbuild", "createrepo_c", "mmdebstrap", "apt-get")
	lab := fixture.BuildRPMLab(t)
	dir := t.TempDir()
	rpmImages, repos := rpmLabStates(t, lab, true)
	debImages, debRepos := debianStates(t, dir)
	repos = append(repos, debRepos...)
	images := append(rpmImages, debImages...)

	records := filepath.Join(dir, "records")
	if err := os.Mkdir(records, 0o755); err != nil {
		t.Fatal(err)
	}
	// Three of the records are the SBOMs refit writes (CycloneDX, SPDX) instead of manifests.
	formats := map[string][]string{"rocky-9-patched": {sbom.FormatCycloneDX}, "debian-12-partial": {sbom.FormatSPDX}, "debian-12-arm64": {sbom.FormatCycloneDX}}
	for _, im := range images {
		writeManifest(t, records, im.name, im.root, formats[im.name]...)
	}
	paths, err := Expand([]string{filepath.Join(records, "*.json")})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := ReadRecords(context.Background(), paths, 0)
	if err != nil {
		t.Fatal(err)
	}
	var loads []string
	cache := t.TempDir() // metadata by checksum, shared by the fleet and the runs alone
	loader := &repository.Loader{Fetch: fetch.New(cache), Log: func(s string) {
		if strings.Contains(s, ": reading ") {
			loads = append(loads, s)
		}
	}}
	res, err := Run(context.Background(), Job{Records: recs, Repositories: repos, Loader: loader})
	if err != nil {
		t.Fatal(err)
	}
	// Each repository was read once for the fleet: one primary (rpm-md) or one Packages
	// index per component and architecture of the images it serves (deb).
	perRepo := map[string]int{}
	for _, l := range loads {
		perRepo[l[:strings.Index(l, ":")]]++
	}
	for _, r := range repos {
		want := 1
		if r.Spec.Type == repository.TypeDeb {
			arches := map[string]bool{}
			for _, rec := range recs {
				if r.AppliesTo(rec) {
					arches[rec.Arch] = true
				}
			}
			want = len(r.Spec.Components) * len(arches)
		}
		if perRepo[r.Spec.Name] != want {
			t.Errorf("repository %s was read %d times for the fleet, want %d: %q", r.Spec.Name, perRepo[r.Spec.Name], want, loads)
		}
	}

	byName := map[string]Image{}
	for _, im := range res.Images {
		byName[im.Record.Name] = im
	}
	for _, want := range images {
		t.Run(want.name, func(t *testing.T) {
			im, ok := byName[want.name]
			if !ok {
				t.Fatalf("no answer for %s (records: %v)", want.name, paths)
			}
			var got []string
			for _, u := range im.Result.Updates {
				got = append(got, u.Name+"."+u.Arch+" "+u.Available.String())
			}
			sort.Strings(got)
			if strings.HasSuffix(want.name, "-arm64") && !slices.ContainsFunc(got, func(u string) bool { return strings.Contains(u, ".arm64 ") }) {
				t.Errorf("the arm64 image's answer holds no arm64 package: %q", got)
			}
			if !reflect.DeepEqual(got, want.want) {
				t.Errorf("fleet and the package manager differ for %s\nrefit: %q\noracle: %q", want.name, got, want.want)
			}
			// refit-repodiff's job for this image alone, with the repositories it got.
			var specs []repository.Spec
			for _, r := range repos {
				if r.AppliesTo(im.Record) {
					specs = append(specs, r.Spec)
				}
			}
			m, err := readRecord(im.Record.Path)
			if err != nil {
				t.Fatal(err)
			}
			alone, err := outdated.Run(context.Background(), outdated.Job{Manifest: m, Repositories: specs,
				Loader: &repository.Loader{Fetch: fetch.New(cache)}, Filter: updates.Filter{}})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(im.Result, alone) {
				t.Errorf("the fleet's answer for %s differs from refit-repodiff's for it alone:\nfleet: %+v\nalone: %+v", want.name, im.Result, alone)
			}
			t.Logf("%s: %d updates (%d security, %d advisories), as the oracle says", want.name, len(got), im.Result.SecurityCount, len(im.Result.Advisories))
		})
	}
	rep := NewReport(res)
	sev := map[string]string{}
	for _, im := range rep.Images {
		sev[im.Name] = im.Severity
		want := arch.Host().Debian // the lab's and the host's Debian images
		if a, ok := strings.CutPrefix(im.Name, "debian-12-"); ok && (a == "arm64" || a == "amd64") {
			want = a // the other architecture's image
		}
		if im.Architecture != want {
			t.Errorf("%s: architecture %q in the report, want %q", im.Name, im.Architecture, want)
		}
	}
	// dnf updateinfo: the lab offers Critical fixes (kernel-core, demo-unsafe); the patched
	// image has them and demo-lib's Important one, leaving Moderate (demo-kernel); base
	// carries no updateinfo; Debian suites publish no severities.
	for name, want := range map[string]string{"rocky-9-lab": "Critical", "rocky-9-patched": "Moderate", "rocky-8-base": Unrated, "debian-12-base": Unrated} {
		if sev[name] != want {
			t.Errorf("%s: pending severity %q, want %q", name, sev[name], want)
		}
	}
}
