package chroot

import (
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/vmtest"
)

// bootAndLogIn boots image on machine (through a throw-away overlay, so the image is not
// changed) with qemu TCG, waits until SSH lets root in with key (which the image must
// already authorize), runs command and returns its output.
func bootAndLogIn(t *testing.T, image string, machine vmtest.Machine, key vmtest.Key, command string) string {
	t.Helper()
	vm := vmtest.Boot(t, image, key, vmtest.Options{Machine: machine})
	return vm.Run(command)
}
