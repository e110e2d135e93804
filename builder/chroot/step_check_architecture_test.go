package chroot

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/refit-images/packer-plugin-refit/internal/arch"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// TestStepCheckArchitecture runs the step on a real arm64 Debian root: without a binfmt_misc
// handler (an empty binfmt_misc folder) the build stops with the fix; with the host's handler
// it goes on, and the architecture it found is what the image's own dpkg and uname say when
// run under that handler.
func TestStepCheckArchitecture(t *testing.T) {
	fixture.NeedRoot(t)
	root := fixture.DebianRootArch(t, "arm64")
	run := func(dir string) (multistep.StepAction, multistep.StateBag, string) {
		var ui bytes.Buffer
		state := new(multistep.BasicStateBag)
		state.Put(stateUI, &packersdk.BasicUi{Writer: &ui, ErrorWriter: &ui})
		state.Put(stateMountPath, root)
		return (&StepCheckArchitecture{BinfmtDir: dir}).Run(context.Background(), state), state, ui.String()
	}
	if action, state, ui := run(t.TempDir()); action != multistep.ActionHalt {
		t.Errorf("no handler: the build went on (%s)", ui)
	} else if err, _ := state.Get("error").(error); !errors.Is(err, arch.ErrNoEmulation) ||
		!strings.Contains(err.Error(), "update-binfmts --enable qemu-aarch64") {
		t.Errorf("no handler: error %v; want ErrNoEmulation with the fix", err)
	}

	fixture.Emulate(t, "arm64")
	action, state, ui := run("")
	if action != multistep.ActionContinue {
		t.Fatalf("with the handler the build stopped: %v (%s)", state.Get("error"), ui)
	}
	a := state.Get(stateArch).(arch.Arch)
	for _, tc := range []struct {
		args []string
		want string
	}{{[]string{"dpkg", "--print-architecture"}, a.Debian}, {[]string{"uname", "-m"}, a.RPM}} {
		out, err := exec.Command("chroot", append([]string{root}, tc.args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s in the arm64 root: %v: %s", tc.args, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("%s in the image says %q; the step found %q", tc.args, got, tc.want)
		}
	}
	if !strings.Contains(ui, "qemu-aarch64") {
		t.Errorf("the build output does not say the image runs under emulation: %q", ui)
	}
}
