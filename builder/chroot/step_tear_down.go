package chroot

import (
	"context"
	"fmt"
	"log"

	sdkchroot "github.com/hashicorp/packer-plugin-sdk/chroot"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// StepTearDown undoes, after a successful provisioning, everything the earlier
// steps set up, in reverse order, and stops the build if any of it fails: it stops
// processes left in the image and removes policy-rc.d, restores copy_files,
// unmounts chroot_mounts, unmounts the image's filesystems (discarding their freed
// blocks with fstrim so the output holds only used ones, flushing them, waiting until
// the kernel has released them, checking them read-only: diskimage.Mounts.Unmount)
// and detaches the loop devices.
// The same cleanups run again, as no-ops, when the build ends.
//
// Uses: ui, mounts, wrappedCommand and the *_cleanup keys. Produces nothing.
type StepTearDown struct{}

// Run implements multistep.Step.
func (s *StepTearDown) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	if err := runCleanups(state, cleanupPreventServiceStart, cleanupCopyFiles, cleanupMountExtra); err != nil {
		return halt(state, err)
	}
	if err := runCleanups(state, cleanupMountRoot, cleanupAttach); err != nil {
		return halt(state, err)
	}
	return multistep.ActionContinue
}

// runCleanups runs the early cleanups stored under keys, in order, stopping at
// the first error.
func runCleanups(state multistep.StateBag, keys ...string) error {
	for _, key := range keys {
		c, ok := state.Get(key).(sdkchroot.Cleanup)
		if !ok {
			continue
		}
		log.Printf("refit-chroot: running %s", key)
		if err := c.CleanupFunc(state); err != nil {
			return fmt.Errorf("tearing down: %w", err)
		}
	}
	return nil
}

// Cleanup implements multistep.Step.
func (s *StepTearDown) Cleanup(multistep.StateBag) {}
