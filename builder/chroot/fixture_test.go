package chroot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/arch"
	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/packertest"
	"github.com/refit-images/packer-plugin-refit/internal/vmtest"
)

// Test images are built by committed scripts and cached under fixture.CacheDir(),
// keyed by a hash of their inputs, so that every test (and later runs) share them.

// smallImageNames are the images of testdata/images/make-images.sh the tests use.
var smallImageNames = []string{"mbr-ext4", "mbr-ext4.qcow2", "gpt-efi", "lvm", "xfs"}

// smallImages returns the folder holding the small layout images (mbr-ext4.raw,
// mbr-ext4.qcow2, gpt-efi.raw, lvm.raw, xfs.raw). Treat them as read-only.
func smallImages(t *testing.T) string {
	t.Helper()
	fixture.NeedRoot(t)
	fixture.Need(t, "sfdisk", "mkfs.ext4", "mkswap", "mkfs.vfat", "mcopy", "mkfs.xfs", "qemu-img", "vgcreate")
	script := filepath.Join(packertest.RepoRoot(), "testdata", "images", "make-images.sh")
	key := inputsKey(t, []string{script}, strings.Join(smallImageNames, ","))
	return cachedBuild(t, "chroot-small-images", key, func(dir string) error {
		return runLogged(exec.Command(script, append([]string{dir}, smallImageNames...)...))
	})
}

// debianImage returns the folder holding the bootable Debian 12 image (see
// fixture.DebianImage). Treat its files as read-only.
func debianImage(t *testing.T) string {
	t.Helper()
	fixture.Need(t, "fstrim", "fsfreeze", "unshare")
	return fixture.DebianImage(t)
}

// debianImageFor returns the folder of the bootable Debian image of architecture debArch
// and the machine that boots it: the BIOS image (debianImage) for the host's architecture,
// else fixture.DebianImageArch's UEFI image.
func debianImageFor(t *testing.T, debArch string) (string, vmtest.Machine) {
	t.Helper()
	if debArch == arch.Host().Debian {
		return debianImage(t), vmtest.BIOS
	}
	fixture.Need(t, "fstrim", "fsfreeze", "unshare")
	return fixture.DebianImageArch(t, debArch), vmtest.UEFIMachine(t, debArch)
}

// qemuFiles lists the paths under root whose name mentions qemu (what binfmt_misc
// emulation would leave if an interpreter were copied into the image).
func qemuFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(strings.ToLower(d.Name()), "qemu") {
			out = append(out, strings.TrimPrefix(p, root))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	return out
}

// cachedBuild returns CacheDir()/<kind>-<key>, building it with build first when
// missing. build writes into a fresh folder that is renamed into place only when it
// succeeds; a lock makes concurrent test processes wait for one builder.
func cachedBuild(t *testing.T, kind, key string, build func(dir string) error) string {
	t.Helper()
	root := fixture.CacheDir()
	final := filepath.Join(root, kind+"-"+key)
	if fi, err := os.Stat(final); err == nil && fi.IsDir() {
		return final
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatalf("creating the fixture cache: %v", err)
	}
	lock, err := os.OpenFile(final+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("locking %s: %v", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if fi, err := os.Stat(final); err == nil && fi.IsDir() {
		return final
	}
	tmp, err := os.MkdirTemp(root, ".build-"+kind+"-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "out")
	if err := build(out); err != nil {
		t.Fatalf("building test fixture %s: %v", kind, err)
	}
	if err := os.Rename(out, final); err != nil {
		t.Fatal(err)
	}
	return final
}

// inputsKey hashes the files and strings that determine a fixture.
func inputsKey(t *testing.T, files []string, extra ...string) string {
	t.Helper()
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "file %s %d\n", filepath.Base(f), len(data))
		h.Write(data)
	}
	for _, s := range extra {
		fmt.Fprintf(h, "extra %d %s\n", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// runLogged runs cmd and returns its output in the error when it fails.
func runLogged(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		tail := string(out)
		if len(tail) > 8000 {
			tail = "…" + tail[len(tail)-8000:]
		}
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, tail)
	}
	return nil
}

// fileDigest returns the sha256 of a file.
func fileDigest(t *testing.T, path string) string {
	t.Helper()
	sum, err := diskimage.FileSHA256(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// imageFiles opens image read-only (with the filesystems of its fstab when
// withFstab) and returns the content of each of names, a path inside the image;
// a missing file maps to "<missing>".
func imageFiles(t *testing.T, image string, withFstab bool, names ...string) map[string]string {
	t.Helper()
	return inspectImage(t, image, withFstab, nil, names...)
}

// inspectImage is imageFiles that also calls inspect with the host path of the image's root.
func inspectImage(t *testing.T, image string, withFstab bool, inspect func(root string), names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, f := range fixture.ReadImage(t, image, withFstab, inspect, names...) {
		out[name] = f.Content
		if !f.Exists {
			out[name] = "<missing>"
		}
	}
	return out
}

// TestDebianImageFixture checks the bootable Debian image the acceptance tests and
// bench/chroot use: a kernel and an initrd, grub.cfg booting the root by UUID
// (never by a loop device), the fstab naming the same UUID, and apt sources.
func TestDebianImageFixture(t *testing.T) {
	dir := debianImage(t)
	t.Logf("image folder: %s", dir) // bench/chroot/run.sh reads this line
	for _, name := range []string{"debian12.raw", "debian12.qcow2"} {
		t.Run(name, func(t *testing.T) {
			files := imageFiles(t, filepath.Join(dir, name), true,
				"/boot/grub/grub.cfg", "/etc/fstab", "/vmlinuz", "/initrd.img", "/etc/apt/sources.list", "/usr/sbin/policy-rc.d")
			fstab := strings.Fields(files["/etc/fstab"])
			if len(fstab) < 2 || !strings.HasPrefix(fstab[0], "UUID=") || fstab[1] != "/" {
				t.Fatalf("fstab %q: want the root by UUID", files["/etc/fstab"])
			}
			grub := files["/boot/grub/grub.cfg"]
			if !strings.Contains(grub, "root="+fstab[0]) || strings.Contains(grub, "/dev/loop") {
				t.Errorf("grub.cfg does not boot root=%s (or names a loop device)", fstab[0])
			}
			for _, name := range []string{"/vmlinuz", "/initrd.img"} {
				if files[name] == "<missing>" || len(files[name]) < 1<<20 {
					t.Errorf("%s is missing or too small (%d bytes)", name, len(files[name]))
				}
			}
			if !strings.Contains(files["/etc/apt/sources.list"], fixture.DebianSuite) {
				t.Errorf("sources.list %q does not name %s", files["/etc/apt/sources.list"], fixture.DebianSuite)
			}
			if files["/usr/sbin/policy-rc.d"] != "<missing>" {
				t.Error("the image build left its policy-rc.d behind")
			}
		})
	}
}
