package patch

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
)

// debianImage makes a whole-disk ext4 raw image of the fixture's Debian root.
func debianImage(t *testing.T) string {
	t.Helper()
	fixture.Need(t, "mkfs.ext4", "qemu-img", "losetup", "nsenter")
	root := fixture.DebianRoot(t)
	img := filepath.Join(t.TempDir(), "debian.raw")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-d", root, img, "512M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 -d: %v\n%s", err, out)
	}
	return img
}

// leftovers lists what a run left behind: files beside the input, loop devices on files
// under dir, and host mounts under dir.
func leftovers(t *testing.T, dir string, keep ...string) []string {
	t.Helper()
	var out []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		kept := false
		for _, k := range keep {
			kept = kept || e.Name() == k
		}
		if !kept {
			out = append(out, "file "+e.Name())
		}
	}
	loops, _ := exec.Command("losetup", "-a").Output()
	for _, l := range strings.Split(string(loops), "\n") {
		if strings.Contains(l, dir) {
			out = append(out, "loop "+l)
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, dir) {
			out = append(out, "mount "+l)
		}
	}
	return out
}

// TestPatchImageDebian patches a real Debian 12 image (ext4, no partition table) to a new
// file: the input keeps its bytes, the output's manifest has every update at its new
// version, and nothing is left attached or mounted.
func TestPatchImageDebian(t *testing.T) {
	needDebianLab(t)
	in := debianImage(t)
	dir := filepath.Dir(in)
	sum := fixture.FileSHA256(t, in)
	out := filepath.Join(dir, "patched.raw")
	res, err := PatchImage(context.Background(), ImageOptions{Input: in, Output: out, Patch: Options{
		Repositories: debianSpecs(t, debianUpdateSuites...), CacheDir: filepath.Join(fixture.CacheDir(), "patch-cache"),
		Log: func(s string) { t.Log(s) },
	}})
	if err != nil {
		t.Fatal(err)
	}
	if fixture.FileSHA256(t, in) != sum {
		t.Error("the input image changed")
	}
	got := map[string]string{}
	for _, p := range res.Manifest.Packages {
		got[p.Name] = p.EVR()
	}
	for _, u := range res.Report.Updated {
		if got[u.Name] != u.To {
			t.Errorf("%s: manifest has %s, report says updated to %s", u.Name, got[u.Name], u.To)
		}
	}
	if len(res.Report.Updated) == 0 {
		t.Errorf("nothing updated: %s", res.Report.Summary())
	}
	if left := leftovers(t, dir, "debian.raw", "patched.raw", "patched.raw.manifest.json"); len(left) > 0 {
		t.Errorf("left behind: %q", left)
	}
	t.Log(res.Report.Summary())
}

// TestPatchImageFaultInjection stops the run at every step, once by an error and once by
// cancelling the context (Ctrl-C): each time the input keeps its bytes and nothing else
// remains — no output, no working file, no loop device, no mount.
func TestPatchImageFaultInjection(t *testing.T) {
	needDebianLab(t)
	in := debianImage(t)
	dir := filepath.Dir(in)
	sum := fixture.FileSHA256(t, in)
	specs := debianSpecs(t, debianUpdateSuites...)
	steps := []string{StepCopy, StepAttach, StepMount, StepInventory, StepUpdates, StepDownload, StepAnalyse,
		StepApply, StepVerify, StepManifest, StepUnmount, StepConvert}
	injected := errors.New("injected fault")
	for _, mode := range []string{"error", "cancel"} {
		for _, step := range steps {
			t.Run(mode+"/"+step, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				reached := false
				hook := func(s string) error {
					if s != step {
						return nil
					}
					reached = true
					if mode == "cancel" {
						cancel()
						return nil
					}
					return injected
				}
				_, err := PatchImage(ctx, ImageOptions{Input: in, Output: filepath.Join(dir, "out.raw"), Patch: Options{
					Repositories: specs, CacheDir: filepath.Join(fixture.CacheDir(), "patch-cache"), Hook: hook,
				}})
				if !reached {
					t.Fatalf("step %s was never reached (err %v)", step, err)
				}
				if err == nil {
					t.Fatal("the run succeeded despite the fault")
				}
				if mode == "error" && !errors.Is(err, injected) {
					t.Errorf("error %v does not wrap the injected fault", err)
				}
				if fixture.FileSHA256(t, in) != sum {
					t.Fatal("the input image changed")
				}
				if left := leftovers(t, dir, "debian.raw"); len(left) > 0 {
					t.Fatalf("left behind: %q", left)
				}
			})
		}
	}
}

// TestPatchImageInPlace: with Output = Input the image is replaced only at the end; the
// result holds the updates and nothing else is left beside it.
func TestPatchImageInPlace(t *testing.T) {
	needDebianLab(t)
	in := debianImage(t)
	before := fixture.FileSHA256(t, in)
	res, err := PatchImage(context.Background(), ImageOptions{Input: in, Output: in, Patch: Options{
		Repositories: debianSpecs(t, debianUpdateSuites...), CacheDir: filepath.Join(fixture.CacheDir(), "patch-cache"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Report.Updated) > 0 && fixture.FileSHA256(t, in) == before {
		t.Error("updates were applied but the image file did not change")
	}
	if left := leftovers(t, filepath.Dir(in), "debian.raw", "debian.raw.manifest.json"); len(left) > 0 {
		t.Errorf("left behind: %q", left)
	}
}

// TestPatchImageRPM patches an ext4 image of an RPM root whose own rpm runs in the chroot
// (through the image's mount namespace): the manifest shows the applied updates.
func TestPatchImageRPM(t *testing.T) {
	needDebianLab(t)
	fixture.Need(t, "rpm", "rpmbuild", "createrepo_c", "mkfs.ext4", "qemu-img")
	lab := fixture.BuildRPMLab(t)
	root := rpmChrootRoot(t, lab)
	img := filepath.Join(t.TempDir(), "rpm.raw")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-d", root, img, "768M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 -d: %v\n%s", err, out)
	}
	var specs []repository.Spec
	for _, r := range lab.Repos {
		specs = append(specs, repository.Spec{Name: r.Name, URL: r.URL, Type: repository.TypeRPM, Priority: r.Priority})
	}
	out := filepath.Join(filepath.Dir(img), "rpm-patched.raw")
	res, err := PatchImage(context.Background(), ImageOptions{Input: img, Output: out, Patch: Options{Repositories: specs, CacheDir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, p := range res.Manifest.Packages {
		got[p.Name+" "+p.EVR()] = true
	}
	for _, u := range res.Report.Updated {
		if !got[u.Name+" "+u.To] {
			t.Errorf("%s %s not in the patched image's manifest", u.Name, u.To)
		}
	}
	if len(res.Report.Updated) < 10 {
		t.Errorf("too little applied: %s", res.Report.Summary())
	}
	if left := leftovers(t, filepath.Dir(img), "rpm.raw", "rpm-patched.raw", "rpm-patched.raw.manifest.json"); len(left) > 0 {
		t.Errorf("left behind: %q", left)
	}
	t.Log(res.Report.Summary())
}
