package chroot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/imageroot"
	"github.com/refit-images/packer-plugin-refit/internal/osrelease"
)

// policyRCDPath is where invoke-rc.d looks for a policy.
const policyRCDPath = "/usr/sbin/policy-rc.d"

// policyRCD denies every service start requested through invoke-rc.d (Debian
// policy 9.3.3: exit status 101 means "action forbidden").
const policyRCD = "#!/bin/sh\n# Installed by refit-chroot for the duration of the build: no service starts in the image.\nexit 101\n"

// stopGrace is how long a process left inside the image gets after SIGTERM
// (and again after SIGKILL).
const stopGrace = 5 * time.Second

// StepPreventServiceStart keeps services from starting inside the image: on
// Debian-family images it puts a policy-rc.d that forbids every start in place
// (moving the image's own aside). Its cleanup, which runs before anything is
// unmounted, stops every process still running inside the image, warning with
// their names, then puts the image's policy-rc.d back.
//
// Uses: ui, image, mounts, os_release. Produces: prevent_service_start_cleanup.
type StepPreventServiceStart struct {
	Enabled bool

	image  *diskimage.Image
	mounts *diskimage.Mounts
	policy *imageroot.Replaced // the policy-rc.d written; nil when none
}

// Run implements multistep.Step.
func (s *StepPreventServiceStart) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	if !s.Enabled {
		return multistep.ActionContinue
	}
	s.image = state.Get(stateImage).(*diskimage.Image)
	s.mounts = state.Get(stateMounts).(*diskimage.Mounts)
	state.Put(cleanupPreventServiceStart, s)
	info, _ := state.Get(stateOSRelease).(osrelease.Info)
	if info.Family() != osrelease.FamilyDebian {
		return multistep.ActionContinue
	}
	if err := s.installPolicy(); err != nil {
		return halt(state, fmt.Errorf("prevent_service_start: %w", err))
	}
	if s.policy != nil {
		uiOf(state).Say("Forbidding service starts inside the image (policy-rc.d)...")
	}
	return multistep.ActionContinue
}

// installPolicy writes /usr/sbin/policy-rc.d, moving the image's own aside.
func (s *StepPreventServiceStart) installPolicy() error {
	root := s.mounts.HostRoot()
	if fi, err := os.Stat(filepath.Join(root, "usr/sbin")); err != nil || !fi.IsDir() {
		return nil // no /usr/sbin: nothing would consult policy-rc.d
	}
	policy, err := imageroot.Replace(root, policyRCDPath, []byte(policyRCD), 0o755)
	if err != nil {
		return err
	}
	s.policy = policy
	return nil
}

// Cleanup implements multistep.Step.
func (s *StepPreventServiceStart) Cleanup(state multistep.StateBag) {
	if err := s.CleanupFunc(state); err != nil {
		uiOf(state).Error(err.Error())
	}
}

// CleanupFunc stops the processes still running inside the image and restores
// policy-rc.d. It is idempotent.
func (s *StepPreventServiceStart) CleanupFunc(state multistep.StateBag) error {
	if s.image == nil {
		return nil
	}
	ui := uiOf(state)
	holder, err := namespaceHolder(s.image.CommandPrefix())
	if err == nil {
		var procs []imageProcess
		if procs, err = findImageProcesses(holder, s.rootDevices()); err == nil && len(procs) > 0 {
			ui.Say(fmt.Sprintf("Warning: stopping processes still running inside the image: %s", joinProcesses(procs)))
			if left := stopProcesses(procs, stopGrace); len(left) > 0 {
				return fmt.Errorf("processes inside the image do not end even after SIGKILL: %s", joinProcesses(left))
			}
		}
	}
	if err != nil {
		return fmt.Errorf("looking for processes left inside the image: %w", err)
	}
	if err := s.policy.Restore(); err != nil {
		return err
	}
	s.policy = nil
	s.image = nil
	return nil
}

// rootDevices returns the device numbers of the image's mounted filesystems.
func (s *StepPreventServiceStart) rootDevices() map[uint64]bool {
	devs := map[uint64]bool{}
	for _, f := range s.mounts.Filesystems() {
		var st syscall.Stat_t
		if f.Filesystem.Device != "" && syscall.Stat(f.Filesystem.Device, &st) == nil {
			devs[st.Rdev] = true
		}
	}
	return devs
}

func joinProcesses(procs []imageProcess) string {
	names := make([]string, len(procs))
	for i, p := range procs {
		names[i] = p.String()
	}
	return strings.Join(names, ", ")
}
