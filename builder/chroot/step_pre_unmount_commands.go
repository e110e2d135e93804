package chroot

import (
	"context"

	sdkchroot "github.com/hashicorp/packer-plugin-sdk/chroot"
	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// mountCommandData is the template data of pre_unmount_commands.
type mountCommandData struct {
	Device    string
	MountPath string
}

// StepPreUnmountCommands runs pre_unmount_commands on the host, in the build's
// mount namespace, after provisioning and before anything is unmounted.
//
// Uses: ui, config, device, mount_path, wrappedCommand. Produces nothing.
type StepPreUnmountCommands struct {
	Commands []string
}

// Run implements multistep.Step.
func (s *StepPreUnmountCommands) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	if len(s.Commands) == 0 {
		return multistep.ActionContinue
	}
	ui := uiOf(state)
	c := state.Get(stateConfig).(*Config)
	wrap := state.Get(stateWrappedCommand).(common.CommandWrapper)
	ictx := c.GetContext()
	ictx.Data = &mountCommandData{Device: stringOf(state, stateDevice), MountPath: stringOf(state, stateMountPath)}
	ui.Say("Running pre-unmount commands...")
	if err := sdkchroot.RunLocalCommands(s.Commands, wrap, ictx, ui); err != nil {
		return halt(state, err)
	}
	return multistep.ActionContinue
}

// Cleanup implements multistep.Step.
func (s *StepPreUnmountCommands) Cleanup(multistep.StateBag) {}
