package chroot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/osrelease"
)

// StepMountRoot mounts the image's root filesystem (and, with mount_fstab, the
// filesystems of its fstab) in the build's mount namespace, under a new folder of
// the host's temporary directory, and reads the image's os-release.
//
// Uses: ui, image. Produces: mounts, mount_path, os_release, mount_root_cleanup,
// and the generated data MountPath, OSID, OSVersionID, OSFamily and
// PackageManager.
type StepMountRoot struct {
	GeneratedData *packerbuilderdata.GeneratedData

	dir    string
	mounts *diskimage.Mounts
}

// Run implements multistep.Step.
func (s *StepMountRoot) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := uiOf(state)
	img := state.Get(stateImage).(*diskimage.Image)
	dir, err := os.MkdirTemp("", "refit-chroot-")
	if err != nil {
		return halt(state, fmt.Errorf("creating the mount folder: %w", err))
	}
	s.dir = dir
	state.Put(cleanupMountRoot, s)
	ui.Say("Mounting the image's filesystems...")
	mounts, err := img.MountRoot(ctx, filepath.Join(dir, "root"))
	if err != nil {
		return halt(state, fmt.Errorf("mounting the image: %w", err))
	}
	s.mounts = mounts
	for _, f := range mounts.Filesystems() {
		if f.Staged {
			ui.Say(fmt.Sprintf("%s (%s) is FAT and this kernel has no vfat driver: its files are copied to a tmpfs there, and what the build changes is written back with mtools at the end.", f.Mountpoint, f.Filesystem))
		}
	}
	for _, g := range mounts.Guarded() {
		if g.Guarded {
			ui.Say(fmt.Sprintf("Warning: %s (%s) is not mounted: %s. It is covered with an empty read-only folder, so writing there fails.", g.Mountpoint, g.Spec, g.Reason))
		} else {
			ui.Say(fmt.Sprintf("Warning: %s (%s) is not mounted: %s.", g.Mountpoint, g.Spec, g.Reason))
		}
	}
	info, err := osrelease.Read(mounts.HostRoot())
	if err != nil {
		return halt(state, fmt.Errorf("reading the image's os-release: %w", err))
	}
	ui.Say(fmt.Sprintf("The image holds %s (family %q)", nonEmpty(info.PrettyName, info.ID), info.Family()))
	state.Put(stateMounts, mounts)
	state.Put(stateMountPath, mounts.Root())
	state.Put(stateOSRelease, info)
	s.GeneratedData.Put("MountPath", mounts.Root())
	s.GeneratedData.Put("OSID", info.ID)
	s.GeneratedData.Put("OSVersionID", info.VersionID)
	s.GeneratedData.Put("OSFamily", info.Family())
	s.GeneratedData.Put("PackageManager", info.PackageManager())
	return multistep.ActionContinue
}

// Cleanup implements multistep.Step.
func (s *StepMountRoot) Cleanup(state multistep.StateBag) {
	if err := s.CleanupFunc(state); err != nil {
		uiOf(state).Error(err.Error())
	}
}

// CleanupFunc trims, flushes and unmounts the image's filesystems (waiting until
// the kernel has released them and checking them read-only), then removes the mount
// folder. A failed or cancelled build skips the trim: its image is thrown away. It
// is idempotent.
func (s *StepMountRoot) CleanupFunc(state multistep.StateBag) error {
	if s.mounts != nil {
		uiOf(state).Say("Unmounting the image's filesystems...")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, cancelled := state.GetOk(multistep.StateCancelled)
		_, halted := state.GetOk(multistep.StateHalted)
		if cancelled || halted {
			cancel() // Unmount skips fstrim for a context already done
		}
		if err := s.mounts.Unmount(ctx); err != nil {
			return fmt.Errorf("unmounting the image: %w", err)
		}
		s.mounts = nil
	}
	if s.dir != "" {
		// Only empty folders are removed: the mounts live in the build's namespace,
		// so on the host these are plain empty directories.
		_ = os.Remove(filepath.Join(s.dir, "root"))
		if err := os.Remove(s.dir); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("removing the mount folder: %w", err)
		}
		s.dir = ""
	}
	return nil
}

func nonEmpty(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}
