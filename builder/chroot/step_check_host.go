package chroot

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// StepCheckHost stops the build early, with one message naming every fix, when
// this host cannot attach and mount images: not Linux, not root, no loop devices,
// a missing tool. Prepare only warns about the same problems, because a template
// is often validated on a machine (a CI lint stage, a laptop) that never builds it.
//
// Uses: ui. Produces nothing.
type StepCheckHost struct{}

// Run implements multistep.Step.
func (s *StepCheckHost) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	var err error
	if runtime.GOOS != "linux" {
		err = errors.New("refit-chroot only runs on Linux hosts")
	} else if herr := checkHost(); herr != nil {
		err = fmt.Errorf("refit-chroot cannot run on this host: %w", herr)
	}
	if err != nil {
		return halt(state, err)
	}
	return multistep.ActionContinue
}

// Cleanup implements multistep.Step.
func (s *StepCheckHost) Cleanup(multistep.StateBag) {}
