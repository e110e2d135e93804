package patch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/refit-images/packer-plugin-refit/internal/container"
	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/packertest"
	ipatch "github.com/refit-images/packer-plugin-refit/internal/patch"
	"github.com/refit-images/packer-plugin-refit/internal/sbom/sbomtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	packertest.Cleanup()
	os.Exit(code)
}

func sum(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}

// debianRepositories are this machine's Debian -updates and -security entries as repository
// blocks (the mirror address is read at run time).
func debianRepositories(t *testing.T) []map[string]interface{} {
	t.Helper()
	srcs, err := fixture.HostAPTSources()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]interface{}
	for _, s := range srcs {
		for _, uri := range s.URIs {
			for _, suite := range s.Suites {
				if suite != fixture.DebianSuite+"-updates" && suite != fixture.DebianSuite+"-security" && suite != fixture.DebianSuite {
					continue
				}
				out = append(out, map[string]interface{}{"name": fmt.Sprintf("r%d", len(out)), "type": "deb", "url": uri,
					"suite": suite, "components": s.Components, "gpg_key": "/usr/share/keyrings/debian-archive-keyring.gpg"})
			}
		}
	}
	if len(out) == 0 {
		t.Skip("this machine's apt configuration has no Debian bookworm entries")
	}
	return out
}

func debianQcow2(t *testing.T, dir string) string {
	t.Helper()
	fixture.NeedRoot(t)
	fixture.Need(t, "mmdebstrap", "mkfs.ext4", "qemu-img", "losetup", "nsenter", "chroot")
	root := fixture.DebianRoot(t)
	raw := filepath.Join(t.TempDir(), "d.raw")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-d", root, raw, "512M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	img := filepath.Join(dir, "debian.qcow2")
	if out, err := exec.Command("qemu-img", "convert", "-O", "qcow2", raw, img).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	return img
}

// fixtureQcow2 copies the shared bootable Debian 12 image (fixture.DebianImage: MBR, ext4
// root, base suite only) to dir/debian.qcow2.
func fixtureQcow2(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(fixture.DebianImage(t), "debian12.qcow2")
	img := filepath.Join(dir, "debian.qcow2")
	if out, err := exec.Command("cp", "--sparse=always", src, img).CombinedOutput(); err != nil {
		t.Fatalf("copying the fixture image: %v\n%s", err, out)
	}
	return img
}

// TestPostProcessDebianQcow2 runs the post-processor as Packer would, on an incoming
// artifact holding the shared Debian 12 qcow2 (base suite, patched from the suites of this
// machine): the result is a new qcow2 beside it with manifest and report, the input keeps
// its bytes, the report is valid JSON naming what was updated, and the output is compact:
// at most the input's allocated size plus the installed size of what the patch added,
// plus 5 %.
func TestPostProcessDebianQcow2(t *testing.T) {
	dir := t.TempDir()
	img := fixtureQcow2(t, dir)
	inSize, err := diskimage.ImageSize(img)
	if err != nil {
		t.Fatal(err)
	}
	before := sum(t, img)
	report := filepath.Join(dir, "report.json")
	var p PostProcessor
	if err := p.Configure(map[string]interface{}{
		"repository": debianRepositories(t), "report": report, "cache_dir": filepath.Join(fixture.CacheDir(), "patch-cache"),
	}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ui := &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: &out, ErrorWriter: &out}
	art, keep, force, err := p.PostProcess(context.Background(), ui, fileArtifact{files: []string{img + ".manifest.json", img}})
	if err != nil {
		t.Fatalf("PostProcess: %v\n%s", err, out.String())
	}
	if !keep || force {
		t.Errorf("keep, force = %v, %v; want the input artifact kept", keep, force)
	}
	want := filepath.Join(dir, "debian-patched.qcow2")
	if art.Id() != want || art.State("image_format") != "qcow2" {
		t.Errorf("artifact %s (%v)", art.Id(), art.State("image_format"))
	}
	if f, _ := exec.Command("qemu-img", "info", "--output=json", want).Output(); !strings.Contains(string(f), `"format": "qcow2"`) {
		t.Errorf("output is not a qcow2: %s", f)
	}
	if sum(t, img) != before {
		t.Error("the input image changed")
	}
	var rep ipatch.Report
	data, err := os.ReadFile(report)
	if err != nil || json.Unmarshal(data, &rep) != nil || rep.Format != ipatch.ReportFormat {
		t.Fatalf("report: %v\n%s", err, data)
	}
	if len(rep.Updated)+len(rep.Deferred) == 0 {
		t.Errorf("report lists nothing: %s", data)
	}
	if _, err := os.Stat(want + ".manifest.json"); err != nil {
		t.Error(err)
	}
	checkSBOMs(t, art, want, img, &rep)
	if !strings.Contains(out.String(), "updated offline") {
		t.Errorf("no summary in the UI:\n%s", out.String())
	}
	outSize, err := diskimage.ImageSize(want)
	if err != nil {
		t.Fatal(err)
	}
	added := addedSize(t, want, rep)
	limit := (inSize.OnDisk + added) * 105 / 100
	t.Logf("input %s; output %s; added by the patch %d KiB; limit %d KiB on disk", inSize, outSize, added>>10, limit>>10)
	if outSize.OnDisk > limit {
		t.Errorf("the output takes %d KiB on disk, more than the input's %d KiB plus the %d KiB the patch added, plus 5 %%: freed blocks were carried into it",
			outSize.OnDisk>>10, inSize.OnDisk>>10, added>>10)
	}
	if outSize.Virtual != inSize.Virtual {
		t.Errorf("virtual size %d, want the input's %d", outSize.Virtual, inSize.Virtual)
	}
	// The input is a compressed qcow2: by default the output is compressed too, the same
	// way, as qemu-img tells of both
	inType, outType := qcow2CompressionType(t, img), qcow2CompressionType(t, want)
	if rep.Image == nil || rep.Image.Input != inSize || rep.Image.Output != outSize || !rep.Image.Compressed ||
		outType != inType || string(rep.Image.Compression) != outType || art.State("compression") != outType {
		t.Errorf("report image sizes %+v, artifact compression %v, qemu-img: output %s; want input %+v, output %+v, compressed as the input (%s)",
			rep.Image, art.State("compression"), outType, inSize, outSize, inType)
	}
	if art.State("bytes_on_disk") != outSize.OnDisk || art.State("virtual_size") != outSize.Virtual ||
		art.State("input_bytes_on_disk") != inSize.OnDisk || art.State("input_virtual_size") != inSize.Virtual {
		t.Errorf("artifact sizes %v %v %v %v; want %+v and the input's %+v", art.State("bytes_on_disk"), art.State("virtual_size"),
			art.State("input_bytes_on_disk"), art.State("input_virtual_size"), outSize, inSize)
	}
	if !strings.Contains(art.String(), "MiB on disk") {
		t.Errorf("artifact %q does not give the sizes", art.String())
	}
}

// addedSize is what a patch put into the image at img: the Installed-Size of each updated
// package (read from the patched image's dpkg status) and the files queued for the first
// boot (deferred packages).
func addedSize(t *testing.T, img string, rep ipatch.Report) int64 {
	t.Helper()
	s, err := diskimage.OpenReadOnly(context.Background(), img, diskimage.Options{MountFstab: true, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	status, err := s.Mounts.ResolvePath("/var/lib/dpkg/status")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(status)
	if err != nil {
		t.Fatal(err)
	}
	kib := map[string]int64{} // package:arch → Installed-Size
	for _, para := range strings.Split(string(data), "\n\n") {
		var name, arch string
		var size int64
		for _, line := range strings.Split(para, "\n") {
			k, v, _ := strings.Cut(line, ": ")
			switch k {
			case "Package":
				name = v
			case "Architecture":
				arch = v
			case "Installed-Size":
				fmt.Sscan(v, &size)
			}
		}
		kib[name+":"+arch] = size
	}
	var added int64
	for _, u := range rep.Updated {
		size, ok := kib[u.Name+":"+u.Arch]
		if !ok {
			t.Errorf("updated package %s:%s is not in the patched image's dpkg status", u.Name, u.Arch)
		}
		added += size << 10
	}
	queue, err := s.Mounts.ResolvePath("/var/lib/refit/firstboot")
	if err != nil {
		t.Fatal(err)
	}
	filepath.Walk(queue, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			added += fi.Size()
		}
		return nil
	})
	return added
}

// patchTemplate writes a template whose build runs post-processor "refit-patch" on img
// (source "file" makes a marker in dir) against repos (debianRepositories' shape), with
// the shared package cache and the settings lines extra, and returns its path.
func patchTemplate(t *testing.T, dir, img, report string, repos []map[string]interface{}, extra ...string) string {
	t.Helper()
	return packertest.Template(t, fmt.Sprintf(`
source "file" "marker" {
  content = "x"
  target  = %q
}
build {
  sources = ["source.file.marker"]
  post-processor "refit-patch" {
    image     = %q
    report    = %q
    cache_dir = %q
%s
%s  }
}
`, filepath.Join(dir, "marker.txt"), img, report, filepath.Join(fixture.CacheDir(), "patch-cache"), strings.Join(extra, "\n"), repositoryBlocks(repos)))
}

// repositoryBlocks are the HCL repository blocks of repos (debianRepositories).
func repositoryBlocks(repos []map[string]interface{}) string {
	var blocks strings.Builder
	for _, r := range repos {
		comps, _ := json.Marshal(r["components"])
		fmt.Fprintf(&blocks, "    repository {\n      name = %q\n      type = \"deb\"\n      url = %q\n      suite = %q\n      components = %s\n      gpg_key = %q\n    }\n",
			r["name"], r["url"], r["suite"], comps, r["gpg_key"])
	}
	return blocks.String()
}

// TestPackerAcceptanceContainer runs refit-patch through the real Packer binary on a
// container image that the file builder hands on (the Debian oci-archive, copied): with
// no image set, refit-patch finds the container image among the artifact's files and
// writes the patched oci-archive beside it; podman loads and runs the result, which holds
// the version the report names, and the builder's copy is unchanged.
func TestPackerAcceptanceContainer(t *testing.T) {
	env := packertest.Setup(t)
	fixture.NeedRoot(t)
	fixture.Need(t, "podman", "runc")
	imgs := fixture.DebianContainerImages(t)
	dir := t.TempDir()
	copied, report := filepath.Join(dir, "app.oci.tar"), filepath.Join(dir, "report.json")
	tpl := packertest.Template(t, fmt.Sprintf(`
source "file" "image" {
  source = %q
  target = %q
}
build {
  sources = ["source.file.image"]
  post-processor "refit-patch" {
    include   = ["zlib1g"]
    report    = %q
    cache_dir = %q
%s  }
}
`, imgs.OCIArchive, copied, report, filepath.Join(fixture.CacheDir(), "patch-cache"), repositoryBlocks(debianRepositories(t))))
	out, err := env.Run(t, dir, "build", tpl)
	if err != nil {
		t.Fatalf("packer build: %v\n%s", err, out)
	}
	patched := filepath.Join(dir, "app.oci-patched.tar")
	if f, err := container.Detect(patched); err != nil || f != container.FormatOCIArchive {
		t.Fatalf("%s: %s, %v; want an oci-archive\n%s", patched, f, err, out)
	}
	if sum(t, copied) != sum(t, imgs.OCIArchive) {
		t.Error("the file builder's copy of the input changed")
	}
	var rep ipatch.Report
	data, err := os.ReadFile(report)
	if err == nil {
		err = json.Unmarshal(data, &rep)
	}
	if err != nil {
		t.Fatalf("the report: %v\n%s", err, out)
	}
	if len(rep.Updated) != 1 || rep.Updated[0].Name != "zlib1g" || rep.Container == nil || rep.Container.Layer == nil {
		t.Fatalf("the report: updated %v, container %+v\n%s", rep.Updated, rep.Container, out)
	}
	if !strings.Contains(out, rep.Container.To) {
		t.Errorf("Packer's output does not name the patched image %s:\n%s", rep.Container.To, out)
	}
	pm := fixture.NewPodman(t)
	id := pm.Load(t, patched)
	if got := strings.TrimSpace(pm.Run(t, "run", "--rm", "--entrypoint", "dpkg-query", id, "-W", "-f", "${Version}", "zlib1g")); got != rep.Updated[0].To {
		t.Errorf("zlib1g is %q in the patched image, the report says %s", got, rep.Updated[0].To)
	}
}

// TestPackerAcceptance runs refit-patch through the real Packer binary on a qcow2 (PACKER_ACC=1).
func TestPackerAcceptance(t *testing.T) {
	env := packertest.Setup(t)
	dir := t.TempDir()
	img := debianQcow2(t, dir)
	if out, _ := env.Run(t, dir, "plugins", "installed"); !strings.Contains(out, "refit") {
		t.Skipf("the refit plugin is not installed: %s", out)
	}
	tpl := patchTemplate(t, dir, img, filepath.Join(dir, "report.json"), debianRepositories(t))
	out, err := env.Run(t, filepath.Dir(tpl), "validate", tpl)
	if err != nil && strings.Contains(out, "refit-patch") && strings.Contains(out, "nknown post-processor") {
		t.Skip("this plugin build does not register refit-patch yet (main.go: pps.RegisterPostProcessor(\"patch\", new(patch.PostProcessor)))")
	}
	if err != nil {
		t.Fatalf("packer validate: %v\n%s", err, out)
	}
	if out, err = env.Run(t, filepath.Dir(tpl), "build", tpl); err != nil {
		t.Fatalf("packer build: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "debian-patched.qcow2")); err != nil {
		t.Fatalf("no patched image: %v\n%s", err, out)
	}
	t.Log(out)
}

// checkSBOMs checks the patched image's SBOMs (schema-valid, the patched image as subject,
// the updated versions as components) and the registry metadata the artifact hands Packer.
func checkSBOMs(t *testing.T, art packersdk.Artifact, image, input string, rep *ipatch.Report) {
	t.Helper()
	outSum := sum(t, image)
	for _, rec := range sbomtest.CheckBeside(t, image, outSum, "qcow2") {
		got := map[string]string{}
		for _, pkg := range rec.Manifest.Packages {
			got[pkg.Name] = pkg.EVR()
		}
		for _, u := range rep.Updated {
			if got[u.Name] != u.To {
				t.Errorf("SBOM: %s is %q, the patch updated it to %s", u.Name, got[u.Name], u.To)
			}
		}
	}
	images := packertest.RegistryImages(t, art)
	if len(images) != 1 {
		t.Fatalf("%d registry images", len(images))
	}
	l := images[0].Labels
	if images[0].SourceImageID != input || l["patched_from"] != input || l["sha256"] != outSum ||
		l["updated_count"] != strconv.Itoa(len(rep.Updated)) || l["sbom_cyclonedx"] != image+".cdx.json" ||
		l["os_id"] != "debian" || l["architecture"] != "amd64" || l["package_count"] == "" {
		t.Errorf("registry metadata %+v", images[0])
	}
	if len(rep.CVEs) > 0 && l["cves_fixed"] != strings.Join(rep.CVEs, ",") {
		t.Errorf("cves_fixed label %q, report %q", l["cves_fixed"], rep.CVEs)
	}
}

// qcow2CompressionType is qemu-img info's compression type of the qcow2 image at path.
func qcow2CompressionType(t *testing.T, path string) string {
	t.Helper()
	b, err := exec.Command("qemu-img", "info", "--output=json", path).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	var info any // {"format-specific": {"data": {"compression-type": "zstd"}}}
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"format-specific", "data", "compression-type"} {
		m, _ := info.(map[string]any)
		info = m[key]
	}
	typ, _ := info.(string)
	return typ
}
