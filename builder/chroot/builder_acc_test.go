package chroot

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/arch"
	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/packertest"
	"github.com/refit-images/packer-plugin-refit/internal/sbom/sbomtest"
	"github.com/refit-images/packer-plugin-refit/internal/vmtest"
)

// Acceptance tests: the real Packer builds with the plugin installed. They need
// PACKER_ACC=1, root, and the tools of testdata/images/make-images.sh and
// testdata/debian-image/make-image.sh.

// TestAccLayouts builds each small layout image (MBR ext4, GPT with /boot, /var and
// an EFI partition, LVM root and /var, XFS root; raw and qcow2 input) with file
// provisioners writing into /, /boot and /var, and the three mount command lists.
// It checks that each file lands on the filesystem the image's fstab puts there
// (the EFI system partition too, which the kernel here cannot mount: it is staged and
// written back with mtools), that nothing the build copied or mounted in
// remains, the output format and checksum, the unchanged input, and that nothing
// is left on the host.
func TestAccLayouts(t *testing.T) {
	env := packertest.Setup(t)
	images := smallImages(t)
	tests := []struct {
		image, outputFormat, wantFormat string
		compress                        bool
		// separate lists the paths on filesystems of their own: absent from the
		// root filesystem alone, present with the fstab mounted.
		separate []string
		// extra is another provisioner, and want what it writes.
		extra string
		want  map[string]string
	}{
		{image: "mbr-ext4.raw", wantFormat: "raw"},
		{image: "mbr-ext4.qcow2", wantFormat: "qcow2", compress: true},
		{image: "gpt-efi.raw", outputFormat: "qcow2", wantFormat: "qcow2", separate: []string{"/boot/refit-acc", "/var/refit-acc", "/boot/efi/EFI/Refit-Acc.txt"},
			extra: `provisioner "file" {
    content     = "efi\n"
    destination = "/boot/efi/EFI/Refit-Acc.txt"
  }`, want: map[string]string{"/boot/efi/EFI/Refit-Acc.txt": "efi\n"}},
		{image: "lvm.raw", wantFormat: "raw", separate: []string{"/boot/refit-acc", "/var/refit-acc"}},
		{image: "xfs.raw", outputFormat: "qcow2", wantFormat: "qcow2"},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			src := filepath.Join(images, tt.image)
			before := fileDigest(t, src)
			b := newAccBuild(t, env, fmt.Sprintf(`
source "refit-chroot" "layout" {
  source_image          = %q
  source_image_checksum = "sha256:%s"
  output_format         = %q
  output_compress       = %v
  package_manifest      = false
  sbom_formats          = []
  pre_mount_commands    = ["test -b {{.Device}}"]
  post_mount_commands   = ["echo post-mount > {{.MountPath}}/etc/refit-post-mount"]
  pre_unmount_commands  = ["test -s {{.MountPath}}/etc/refit-post-mount", "test -e {{.MountPath}}/proc/self"]
}
build {
  sources = ["source.refit-chroot.layout"]
  provisioner "file" {
    content     = "root\n"
    destination = "/etc/refit-acc"
  }
  provisioner "file" {
    content     = "boot\n"
    destination = "/boot/refit-acc"
  }
  provisioner "file" {
    content     = "var\n"
    destination = "/var/refit-acc"
  }
  %s
}
`, src, before, tt.outputFormat, tt.compress, tt.extra))
			if _, err := b.run(t); err != nil {
				t.Fatalf("packer build failed: %v", err)
			}
			fixture.CheckNoLeftovers(t, []string{b.Dir}, []string{b.Marker})
			if after := fileDigest(t, src); after != before {
				t.Errorf("the source image changed: sha256 %s → %s", before, after)
			}
			out := filepath.Join(b.Dir, "output-layout", "layout."+tt.wantFormat)
			checkOutput(t, out, diskimage.Format(tt.wantFormat))
			entries, _ := os.ReadDir(filepath.Dir(out))
			if len(entries) != 2 {
				t.Errorf("output folder holds %d files, want the image and its checksum: %v", len(entries), entries)
			}

			want := map[string]string{
				"/etc/refit-acc": "root\n", "/boot/refit-acc": "boot\n", "/var/refit-acc": "var\n",
				"/etc/refit-post-mount": "post-mount\n", "/etc/resolv.conf": "<missing>",
				"/etc/refit-image": strings.TrimSuffix(strings.TrimSuffix(tt.image, ".raw"), ".qcow2") + "\n",
			}
			maps.Copy(want, tt.want)
			files := imageFiles(t, out, true, slices.Collect(maps.Keys(want))...)
			for name, w := range want {
				if files[name] != w {
					t.Errorf("%s in the output image: got %q, want %q", name, files[name], w)
				}
			}
			if len(tt.separate) > 0 {
				rootOnly := imageFiles(t, out, false, tt.separate...)
				for _, name := range tt.separate {
					if rootOnly[name] != "<missing>" {
						t.Errorf("%s landed on the root filesystem, not on the filesystem fstab mounts there", name)
					}
				}
			}
			// The images have no /proc, /sys or /dev: the mount points the build made are gone again.
			for name, got := range imageFiles(t, out, false, "/proc", "/sys", "/dev") {
				if got != "<missing>" {
					t.Errorf("%s was left in the output image", name)
				}
			}
		})
	}
}

// checkOutput checks the output image's format by content and its checksum file.
func checkOutput(t *testing.T, image string, format diskimage.Format) {
	t.Helper()
	got, err := diskimage.DetectFormat(image)
	if err != nil {
		t.Fatalf("output image: %v", err)
	}
	if got != format {
		t.Errorf("output image is %s, want %s", got, format)
	}
	sum, err := os.ReadFile(image + ".sha256")
	if err != nil {
		t.Fatalf("checksum file: %v", err)
	}
	if want := fileDigest(t, image) + "  " + filepath.Base(image) + "\n"; string(sum) != want {
		t.Errorf("checksum file holds %q, want %q", sum, want)
	}
}

// TestAccDebian builds the bootable Debian image (qcow2 in, compressed qcow2 out)
// with a shell provisioner that writes a file, installs a package from the image's
// own apt sources, adds an SSH key and leaves a daemon running; then checks the
// output's contents and manifest, that copy_files and policy-rc.d left no trace,
// that the daemon was stopped, that the input is unchanged and nothing is left on
// the host, and finally boots the output with qemu and logs in over SSH.
func TestAccDebian(t *testing.T) { accDebian(t, arch.Host().Debian) }

// TestAccDebianArm64 is TestAccDebian on the arm64 UEFI image: every command of the build
// runs the image's own arm64 programs under qemu-user (binfmt_misc, F flag), nothing of qemu
// is left in the output, and the output boots under qemu-system-aarch64 with AAVMF.
func TestAccDebianArm64(t *testing.T) { accDebian(t, "arm64") }

// accDebian builds the Debian image of architecture debArch with refit-chroot through
// Packer (a package installed, a daemon left running, the SSH key written), checks the
// output's contents, manifest and SBOMs, and boots it.
func accDebian(t *testing.T, debArch string) {
	env := packertest.Setup(t)
	a, err := arch.Lookup(debArch)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Native() {
		fixture.Emulate(t, debArch)
	}
	dir, machine := debianImageFor(t, debArch)
	src := filepath.Join(dir, "debian12.qcow2")
	before := fileDigest(t, src)
	key := vmtest.NewKey(t)
	b := newAccBuild(t, env, fmt.Sprintf(`
source "refit-chroot" "debian" {
  source_image    = %q
  output_format   = "qcow2"
  output_compress = true
}
build {
  sources = ["source.refit-chroot.debian"]
  provisioner "shell" {
    inline = [
      "set -e",
      "echo '${build.OSID} ${build.OSVersionID} ${build.OSFamily} ${build.PackageManager}' > /etc/refit-acc",
      "echo \"$(uname -m) $(dpkg --print-architecture)\" > /etc/refit-acc-arch",
      "test -e /proc/self && test -c /dev/null && test -d /sys/class",
      "export DEBIAN_FRONTEND=noninteractive",
      "apt-get -q -o Acquire::Retries=3 update",
      "apt-get -q -y install --no-install-recommends hello",
      "install -d -m 700 /root/.ssh && echo '%s' >> /root/.ssh/authorized_keys",
      "cp /bin/sleep /usr/local/bin/MARKER && setsid /usr/local/bin/MARKER 600 </dev/null >/dev/null 2>&1 &",
    ]
  }
}
`, src, key.Public))
	out, err := b.run(t)
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	if !strings.Contains(out, "stopping processes still running inside the image") || !strings.Contains(out, b.Marker) {
		t.Errorf("the build did not report stopping the daemon %s", b.Marker)
	}
	fixture.CheckNoLeftovers(t, []string{b.Dir}, []string{b.Marker})
	if after := fileDigest(t, src); after != before {
		t.Errorf("the source image changed: sha256 %s → %s", before, after)
	}
	image := filepath.Join(b.Dir, "output-debian", "debian.qcow2")
	checkOutput(t, image, diskimage.FormatQcow2)

	t.Run("contents", func(t *testing.T) {
		names := []string{"/etc/refit-acc", "/etc/refit-acc-arch", "/usr/bin/hello", "/etc/resolv.conf", "/usr/sbin/policy-rc.d", "/root/.ssh/authorized_keys"}
		var qemuIn, qemuOut []string
		got := inspectImage(t, image, true, func(root string) { qemuOut = qemuFiles(t, root) }, names...)
		orig := inspectImage(t, src, true, func(root string) { qemuIn = qemuFiles(t, root) }, "/etc/resolv.conf")
		if !slices.Equal(qemuIn, qemuOut) {
			t.Errorf("files named qemu: %q in the input, %q in the output: the build left qemu in the image", qemuIn, qemuOut)
		}
		if want := a.RPM + " " + a.Debian + "\n"; got["/etc/refit-acc-arch"] != want {
			t.Errorf("uname -m and dpkg's architecture in the build: %q, want %q", got["/etc/refit-acc-arch"], want)
		}
		if got["/etc/refit-acc"] != "debian 12 debian dpkg\n" {
			t.Errorf("/etc/refit-acc = %q: the build variables did not reach the provisioner", got["/etc/refit-acc"])
		}
		if got["/usr/bin/hello"] == "<missing>" {
			t.Error("the package installed by the provisioner is missing")
		}
		if got["/etc/resolv.conf"] != orig["/etc/resolv.conf"] {
			t.Errorf("/etc/resolv.conf = %q, want the image's own %q back", got["/etc/resolv.conf"], orig["/etc/resolv.conf"])
		}
		if got["/usr/sbin/policy-rc.d"] != "<missing>" {
			t.Error("policy-rc.d was left in the image")
		}
		if !strings.Contains(got["/root/.ssh/authorized_keys"], key.Public) {
			t.Error("the SSH key is not in the image")
		}
	})
	t.Run("manifest", func(t *testing.T) {
		m, err := installed.ReadManifest(image + manifestSuffix)
		if err != nil {
			t.Fatal(err)
		}
		if m.OS.ID != "debian" || m.OS.VersionID != "12" || m.OS.Family != "debian" || m.PackageManager != "dpkg" {
			t.Errorf("manifest OS %+v, package manager %q", m.OS, m.PackageManager)
		}
		found := false
		for _, p := range m.Packages {
			found = found || p.Name == "hello"
		}
		if !found || len(m.Packages) < 100 {
			t.Errorf("manifest lists %d packages, hello %v", len(m.Packages), found)
		}
	})
	t.Run("sboms", func(t *testing.T) {
		sum, err := os.ReadFile(image + ".sha256")
		if err != nil {
			t.Fatal(err)
		}
		m, err := installed.ReadManifest(image + manifestSuffix)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range sbomtest.CheckBeside(t, image, strings.Fields(string(sum))[0], "qcow2") {
			if len(rec.Manifest.Packages) != len(m.Packages) || rec.Manifest.OS != m.OS {
				t.Errorf("SBOM: %d packages of %+v; the manifest: %d of %+v", len(rec.Manifest.Packages), rec.Manifest.OS, len(m.Packages), m.OS)
			}
			for i, pkg := range rec.Manifest.Packages {
				if i < len(m.Packages) && pkg.EVR() != m.Packages[i].EVR() {
					t.Errorf("SBOM: %s %s, the manifest %s %s", pkg.Name, pkg.EVR(), m.Packages[i].Name, m.Packages[i].EVR())
				}
			}
		}
	})
	t.Run("boot", func(t *testing.T) {
		out := bootAndLogIn(t, image, machine, key, "cat /etc/refit-acc; hello; echo machine=$(uname -m); systemctl is-system-running --wait; true")
		for _, want := range []string{"debian 12 debian dpkg", "Hello, world!", "machine=" + a.RPM + "\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("the booted image does not print %q", want)
			}
		}
	})
}

// TestAccFailure checks that a failing provisioner fails the build and leaves
// nothing: no output folder, no loop device, mount or process, and an unchanged
// input. The Debian case also leaves a daemon running when it fails; the EFI case
// writes a name FAT cannot hold into the EFI system partition the kernel cannot mount
// (staged, so the write succeeds and the write-back at the end fails).
func TestAccFailure(t *testing.T) {
	env := packertest.Setup(t)
	tests := []struct {
		name, image, provisioner, wantErr string
	}{
		{
			name:  "shell exit status",
			image: filepath.Join(debianImage(t), "debian12.raw"),
			provisioner: `provisioner "shell" {
    inline = ["cp /bin/sleep /usr/local/bin/MARKER", "setsid /usr/local/bin/MARKER 600 </dev/null >/dev/null 2>&1 &", "exit 3"]
  }`,
			wantErr: "non-zero exit status: 3",
		},
		{
			name:  "a name FAT cannot hold on the EFI partition",
			image: filepath.Join(smallImages(t), "gpt-efi.raw"),
			provisioner: `provisioner "file" {
    content     = "x"
    destination = "/boot/efi/EFI/bad:name"
  }`,
			wantErr: "EFI/bad:name: the name contains ':'",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fs, _ := kernelFilesystems(); strings.Contains(tt.name, "EFI") && fs["vfat"] {
				t.Skip("the host kernel mounts vfat, so the EFI partition is mounted rather than staged")
			}
			before := fileDigest(t, tt.image)
			b := newAccBuild(t, env, fmt.Sprintf(`
source "refit-chroot" "fail" {
  source_image = %q
}
build {
  sources = ["source.refit-chroot.fail"]
  %s
}
`, tt.image, tt.provisioner))
			out, err := b.run(t)
			if err == nil {
				t.Fatal("packer build succeeded, want a failure")
			}
			if !strings.Contains(out, tt.wantErr) {
				t.Errorf("packer's output does not mention %q", tt.wantErr)
			}
			fixture.CheckNoLeftovers(t, []string{b.Dir}, []string{b.Marker})
			if _, err := os.Stat(filepath.Join(b.Dir, "output-fail")); !os.IsNotExist(err) {
				t.Errorf("the output folder of the failed build remains (%v)", err)
			}
			if after := fileDigest(t, tt.image); after != before {
				t.Errorf("the source image changed: sha256 %s → %s", before, after)
			}
		})
	}
}

// TestAccInterrupt sends SIGINT to packer's process group (what Ctrl-C does) while
// a provisioner's command that ignores SIGINT runs inside the Debian image, and
// checks that the build ends, removes its output, and leaves no
// loop device, mount or process (the provisioner's command included).
func TestAccInterrupt(t *testing.T) {
	env := packertest.Setup(t)
	src := filepath.Join(debianImage(t), "debian12.raw")
	before := fileDigest(t, src)
	b := newAccBuild(t, env, fmt.Sprintf(`
source "refit-chroot" "interrupted" {
  source_image = %q
}
build {
  sources = ["source.refit-chroot.interrupted"]
  provisioner "shell" {
    # The command ignores SIGINT, as a stubborn daemon would: the build's cleanup must end it.
    inline = ["cp /bin/sleep /usr/local/bin/MARKER", "trap '' INT", "echo MARKER-ready", "/usr/local/bin/MARKER 600"]
  }
}
`, src))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ready := b.waitFor(b.Marker + "-ready")
	cmd, wait := b.start(t, ctx)
	select {
	case <-ready:
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		_ = wait()
		t.Fatalf("the provisioner never started:\n%s", b.Output())
	}
	time.Sleep(time.Second)
	if err := interrupt(cmd); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ended := make(chan error, 1)
	go func() { ended <- wait() }()
	var err error
	select {
	case err = <-ended:
	case <-time.After(3 * time.Minute):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-ended
		t.Fatalf("packer did not end within 3 minutes of SIGINT:\n%s", b.Output())
	}
	t.Logf("packer ended %v after SIGINT (%v):\n%s", time.Since(start).Round(time.Millisecond), err, b.Output())
	if err == nil {
		t.Error("packer build succeeded after SIGINT")
	}
	fixture.CheckNoLeftovers(t, []string{b.Dir}, []string{b.Marker})
	if _, err := os.Stat(filepath.Join(b.Dir, "output-interrupted")); !os.IsNotExist(err) {
		t.Errorf("the output folder of the interrupted build remains (%v)", err)
	}
	if after := fileDigest(t, src); after != before {
		t.Errorf("the source image changed: sha256 %s → %s", before, after)
	}
}

// TestAccConcurrent runs two builds of different images at the same time (a
// shell-local handshake proves they overlap while both images are mounted) and
// checks both results and that neither left anything behind.
func TestAccConcurrent(t *testing.T) {
	env := packertest.Setup(t)
	images := smallImages(t)
	b := newAccBuild(t, env, fmt.Sprintf(`
source "refit-chroot" "lvm" {
  source_image     = %q
  package_manifest = false
  sbom_formats     = []
}
source "refit-chroot" "qcow2" {
  source_image     = %q
  package_manifest = false
  sbom_formats     = []
}
build {
  sources = ["source.refit-chroot.lvm", "source.refit-chroot.qcow2"]
  provisioner "file" {
    content     = "${source.name}\n"
    destination = "/etc/refit-acc"
  }
  provisioner "shell-local" {
    inline = [
      "touch ready-${source.name}",
      "for i in $(seq 1 600); do [ $(ls ready-* | wc -l) = 2 ] && exit 0; sleep 0.1; done; echo the other build never got here; exit 1",
    ]
  }
}
`, filepath.Join(images, "lvm.raw"), filepath.Join(images, "mbr-ext4.qcow2")))
	if _, err := b.run(t); err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	fixture.CheckNoLeftovers(t, []string{b.Dir}, nil)
	for name, format := range map[string]string{"lvm": "raw", "qcow2": "qcow2"} {
		out := filepath.Join(b.Dir, "output-"+name, name+"."+format)
		checkOutput(t, out, diskimage.Format(format))
		if got := imageFiles(t, out, false, "/etc/refit-acc")["/etc/refit-acc"]; got != name+"\n" {
			t.Errorf("%s: /etc/refit-acc = %q, want %q", out, got, name+"\n")
		}
	}
}

// TestAccExample checks that the example template validates.
func TestAccExample(t *testing.T) {
	env := packertest.Setup(t)
	dir := filepath.Join(packertest.RepoRoot(), "example", "chroot")
	b := &accBuild{env: env, Dir: dir}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := b.command(ctx, "validate", ".")
	cmd.Env = append(cmd.Env, "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("$ packer validate .\n%s", out)
	if err != nil {
		t.Fatalf("packer validate %s: %v", dir, err)
	}
}
