package chroot

import (
	"context"

	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
)

// StepCreateCommunicator makes the chroot communicator the provisioners use: their
// commands run as `chroot <mount path> /bin/sh -c …` inside the build's mount
// namespace, through command_wrapper.
//
// Uses: mounts, wrappedCommand. Produces: communicator.
type StepCreateCommunicator struct{}

// Run implements multistep.Step.
func (s *StepCreateCommunicator) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	mounts := state.Get(stateMounts).(*diskimage.Mounts)
	wrap := state.Get(stateWrappedCommand).(common.CommandWrapper)
	state.Put(stateCommunicator, newCommunicator(mounts, wrap))
	return multistep.ActionContinue
}

// Cleanup implements multistep.Step.
func (s *StepCreateCommunicator) Cleanup(multistep.StateBag) {}
