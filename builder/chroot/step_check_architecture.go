package chroot

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/refit-images/packer-plugin-refit/internal/arch"
	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
)

// StepCheckArchitecture finds the image's architecture (arch.Detect: the ELF machine of its
// shell, cross-checked with dpkg and with the architecture of the installed packages) and, for one this host does not run
// natively, stops the build before anything runs in the image unless binfmt_misc has a
// qemu-user handler for it registered with the F flag (so nothing of qemu is copied into the
// image: every command of the build then runs the image's own programs under emulation).
//
// Uses: mounts (else mount_path, in tests), ui. Produces: arch (arch.Arch).
type StepCheckArchitecture struct {
	// BinfmtDir is where binfmt_misc is mounted (arch.BinfmtDir when empty).
	BinfmtDir string
}

// Run implements multistep.Step.
func (s *StepCheckArchitecture) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	// The mount path is a path inside the build's mount namespace (an empty folder on the
	// host): read the image through the namespace's root.
	root := stringOf(state, stateMountPath)
	if m, ok := state.Get(stateMounts).(*diskimage.Mounts); ok {
		root = m.HostRoot()
	}
	a, err := arch.Detect(root)
	if errors.Is(err, arch.ErrNoProgram) {
		// Nothing in the image can run (a data-only filesystem): only files are copied in,
		// so no emulation is needed whatever its architecture.
		uiOf(state).Say(fmt.Sprintf("The image holds no program to tell its architecture by (%v); nothing of it can run, so the build runs as on this host", err))
		a, err = arch.Host(), nil
	}
	if m, merr := installed.FromRoot(root); err == nil && merr == nil {
		err = a.Agrees(m.MachineArch(), "most installed packages") // the rpmdb's view (Detect reads dpkg's)
	}
	if err != nil {
		return halt(state, fmt.Errorf("finding the image's architecture: %w", err))
	}
	dir := s.BinfmtDir
	if dir == "" {
		dir = arch.BinfmtDir
	}
	if err := a.CheckHost(dir); err != nil {
		return halt(state, err)
	}
	if !a.Native() {
		uiOf(state).Say(fmt.Sprintf("The image is %s: its programs run under qemu-%s (binfmt_misc)", a, a.QEMU))
	}
	state.Put(stateArch, a)
	return multistep.ActionContinue
}

// Cleanup implements multistep.Step.
func (s *StepCheckArchitecture) Cleanup(multistep.StateBag) {}
