package vmtest_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/vmtest"
)

// TestBootUEFI boots the UEFI test image on OVMF with a fresh variable store (no boot entries: the
// firmware must find EFI/BOOT/BOOTX64.EFI on the ESP) and checks, inside the guest, that it came up
// through UEFI and that its own kernel mounted the ESP (vfat) at /boot/efi from the fstab.
func TestBootUEFI(t *testing.T) {
	image := filepath.Join(fixture.DebianUEFIImage(t), "debian12.qcow2")
	key := vmtest.NewKey(t)
	vm := vmtest.Boot(t, image, key, vmtest.Options{AuthorizeKey: true, Machine: vmtest.OVMF})
	out := vm.Run("test -d /sys/firmware/efi && echo uefi; findmnt -n -o FSTYPE /boot/efi; ls /boot/efi/EFI/BOOT")
	for _, want := range []string{"uefi\n", "vfat\n", "BOOTX64.EFI"} {
		if !strings.Contains(out, want) {
			t.Errorf("guest output lacks %q:\n%s", want, out)
		}
	}
}
