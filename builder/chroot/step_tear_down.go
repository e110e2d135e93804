package chroot

import (
	"context"
	"fmt"
	"log"
	"os/exec"

	sdkchroot "github.com/hashicorp/packer-plugin-sdk/chroot"
	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
)

// StepTearDown undoes, after a successful provisioning, everything the earlier
// steps set up, in reverse order, and stops the build if any of it fails: it stops
// processes left in the image and removes policy-rc.d, restores copy_files,
// unmounts chroot_mounts, discards the image's free blocks (fstrim, so the output
// stays sparse), unmounts the image's filesystems (flushing them, waiting until the
// kernel has released them, checking them read-only) and detaches the loop devices.
// The same cleanups run again, as no-ops, when the build ends.
//
// Uses: ui, mounts, wrappedCommand and the *_cleanup keys. Produces nothing.
type StepTearDown struct{}

// Run implements multistep.Step.
func (s *StepTearDown) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	if err := runCleanups(state, cleanupPreventServiceStart, cleanupCopyFiles, cleanupMountExtra); err != nil {
		return halt(state, err)
	}
	trimFilesystems(state)
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

// trimFilesystems discards the free blocks of the image's writable filesystems, so
// blocks freed during the build (downloaded packages, for one) become holes in the
// working copy. Failures only cost space, so they are logged, not fatal.
func trimFilesystems(state multistep.StateBag) {
	mounts, ok := state.Get(stateMounts).(*diskimage.Mounts)
	wrap, wok := state.Get(stateWrappedCommand).(common.CommandWrapper)
	if !ok || !wok {
		return
	}
	if _, err := exec.LookPath("fstrim"); err != nil {
		log.Printf("refit-chroot: fstrim not found; the output image keeps the blocks freed during the build")
		return
	}
	for _, f := range mounts.Filesystems() {
		switch f.Filesystem.Type {
		case "ext2", "ext3", "ext4", "xfs", "btrfs":
		default:
			continue
		}
		if err := runWrapped(wrap, shellJoin([]string{"fstrim", f.Target})); err != nil {
			log.Printf("refit-chroot: fstrim %s: %v", f.Mountpoint, err)
		}
	}
}
