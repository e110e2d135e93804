package chroot

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
)

// StepAttachImage attaches the working copy to loop devices (partitions, and each
// linear LVM logical volume through a loop device of its own) inside a private
// mount namespace of this build, and sets up the command wrapper that runs
// commands in that namespace.
//
// Uses: ui, work_image. Produces: image, device (the whole disk's loop device),
// wrappedCommand, attach_cleanup, and the generated data Device.
type StepAttachImage struct {
	Options       diskimage.Options
	Wrap          func(prefix []string) common.CommandWrapper
	GeneratedData *packerbuilderdata.GeneratedData

	image *diskimage.Image
}

// Run implements multistep.Step.
func (s *StepAttachImage) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := uiOf(state)
	work := stringOf(state, stateWorkImage)
	ui.Say("Attaching the working copy to loop devices...")
	opts := s.Options
	opts.Log = func(line string) {
		log.Printf("diskimage: %s", line)
		ui.Say(line)
	}
	img, err := diskimage.Attach(ctx, work, opts)
	if err != nil {
		return halt(state, fmt.Errorf("attaching the image: %w", err))
	}
	s.image = img
	device := diskDevice(img)
	state.Put(stateImage, img)
	state.Put(stateDevice, device)
	state.Put(stateWrappedCommand, s.Wrap(img.CommandPrefix()))
	state.Put(cleanupAttach, s)
	s.GeneratedData.Put("Device", device)
	return multistep.ActionContinue
}

// Cleanup implements multistep.Step.
func (s *StepAttachImage) Cleanup(state multistep.StateBag) {
	if err := s.CleanupFunc(state); err != nil {
		uiOf(state).Error(err.Error())
	}
}

// CleanupFunc detaches the image: whatever is still mounted is unmounted, the
// namespace ends, and every loop device the build attached is detached. It is
// idempotent.
func (s *StepAttachImage) CleanupFunc(state multistep.StateBag) error {
	if s.image == nil {
		return nil
	}
	uiOf(state).Say("Detaching the image...")
	if err := s.image.Detach(context.Background()); err != nil {
		return fmt.Errorf("detaching the image: %w", err)
	}
	s.image = nil
	return nil
}

// diskDevice returns the loop device of the whole disk: the device of the first
// filesystem without its partition suffix ("/dev/loop3p1" → "/dev/loop3").
func diskDevice(img *diskimage.Image) string {
	for _, f := range img.Filesystems() {
		if f.Device == "" || f.LogicalVolume != "" {
			continue
		}
		if f.Partition > 0 {
			return strings.TrimSuffix(f.Device, fmt.Sprintf("p%d", f.Partition))
		}
		return f.Device
	}
	return ""
}
