package chroot

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/packertest"
	"github.com/refit-images/packer-plugin-refit/internal/vmtest"
)

// TestAccUEFI builds the UEFI Debian image (an ESP this kernel cannot mount) with a shell
// provisioner that deletes the boot loader from the ESP and reinstalls it with grub-install
// --removable --no-nvram (with more modules in its core image than the input's, so the loader
// changes) and update-grub. From outside, with mtools on the output, the new
// EFI/BOOT/BOOTX64.EFI must differ from the input's and equal the core image grub-install left in
// /boot/grub, and the provisioner's marker file must be there; fsck.fat must be happy; the input must be unchanged
// and nothing left on the host; and the output must boot on OVMF (no boot entries: the loader
// at the removable path is what the firmware finds) with the guest's kernel mounting the ESP.
func TestAccUEFI(t *testing.T) {
	env := packertest.Setup(t)
	fixture.Need(t, "mcopy", "fsck.fat")
	dir := fixture.DebianUEFIImage(t)
	src := filepath.Join(dir, "debian12.qcow2")
	before := fileDigest(t, src)
	key := vmtest.NewKey(t)
	b := newAccBuild(t, env, fmt.Sprintf(`
source "refit-chroot" "uefi" {
  source_image     = %q
  output_format    = "qcow2"
  package_manifest = false
  sbom_formats     = []
}
build {
  sources = ["source.refit-chroot.uefi"]
  provisioner "shell" {
    inline = [
      "set -e",
      "test -f /boot/efi/EFI/BOOT/BOOTX64.EFI",
      "rm -r /boot/efi/EFI/BOOT",
      "grub-install --target=x86_64-efi --removable --no-nvram --modules='part_gpt fat ext2 serial'",
      "update-grub",
      # No udev on the build host: grub-mkconfig names the loop device; boot the root by UUID.
      "sed -i -E \"s#root=/dev/loop[0-9]+p[0-9]+#root=$(awk '$2 == \"/\" {print $1}' /etc/fstab)#g\" /boot/grub/grub.cfg",
      "echo 'Written by refit-chroot' > '/boot/efi/EFI/Refit Marker.txt'",
      "install -d -m 700 /root/.ssh && echo '%s' >> /root/.ssh/authorized_keys",
    ]
  }
}
`, src, key.Public))
	out, err := b.run(t)
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	if !strings.Contains(out, "this kernel has no vfat driver") {
		t.Error("the build did not say that the ESP is staged")
	}
	fixture.CheckNoLeftovers(t, []string{b.Dir}, nil)
	if after := fileDigest(t, src); after != before {
		t.Errorf("the source image changed: sha256 %s → %s", before, after)
	}
	image := filepath.Join(b.Dir, "output-uefi", "uefi.qcow2")
	checkOutput(t, image, diskimage.FormatQcow2)

	// From outside: the ESP of the output, read with mtools and checked with fsck.fat.
	raw := filepath.Join(t.TempDir(), "out.raw")
	part := filepath.Join(t.TempDir(), "esp.img")
	for _, c := range [][]string{
		{"qemu-img", "convert", "-O", "raw", image, raw},
		{"dd", "if=" + raw, "of=" + part, "bs=1M", "skip=1", "count=64", "status=none"}, // partition 1: 64 MiB at 1 MiB
		{"fsck.fat", "-n", part},
	} {
		if o, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", c, err, o)
		}
	}
	espFile := func(part, name string) string {
		cmd := exec.Command("mtype", "-i", part, "::/"+name)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C.UTF-8")
		o, err := cmd.Output()
		if err != nil {
			t.Fatalf("mtype %s on the output's ESP: %v", name, err)
		}
		return string(o)
	}
	loader := espFile(part, "EFI/BOOT/BOOTX64.EFI")
	if old := espFile(filepath.Join(dir, "debian12.raw")+"@@1M", "EFI/BOOT/BOOTX64.EFI"); old == loader {
		t.Error("EFI/BOOT/BOOTX64.EFI on the output's ESP is the input's: grub-install's loader did not reach the partition")
	}
	core := imageFiles(t, image, false, "/boot/grub/x86_64-efi/core.efi")["/boot/grub/x86_64-efi/core.efi"]
	if core == "<missing>" || len(loader) < 100000 || sha256.Sum256([]byte(loader)) != sha256.Sum256([]byte(core)) {
		t.Errorf("EFI/BOOT/BOOTX64.EFI on the ESP (%d bytes, sha256 %x) is not grub-install's core.efi (%d bytes, sha256 %x)",
			len(loader), sha256.Sum256([]byte(loader)), len(core), sha256.Sum256([]byte(core)))
	}
	if got := espFile(part, "EFI/Refit Marker.txt"); !strings.Contains(got, "Written by refit-chroot") {
		t.Errorf("the marker on the ESP holds %q", got)
	}
	_ = os.Remove(raw)

	vm := vmtest.Boot(t, image, key, vmtest.Options{Machine: vmtest.OVMF})
	guest := vm.Run("test -d /sys/firmware/efi && echo uefi; findmnt -n -o FSTYPE /boot/efi; sha256sum /boot/efi/EFI/BOOT/BOOTX64.EFI; cat '/boot/efi/EFI/Refit Marker.txt'")
	for _, want := range []string{"uefi\n", "vfat\n", fmt.Sprintf("%x", sha256.Sum256([]byte(loader))), "Written by refit-chroot"} {
		if !strings.Contains(guest, want) {
			t.Errorf("the booted output lacks %q", want)
		}
	}
}
