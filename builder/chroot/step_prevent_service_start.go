package chroot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/osrelease"
)

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

	image   *diskimage.Image
	mounts  *diskimage.Mounts
	policy  string // host path of the policy-rc.d written; "" when none
	saved   string // host path the image's own policy-rc.d was moved to
	written bool
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
	if s.written {
		uiOf(state).Say("Forbidding service starts inside the image (policy-rc.d)...")
	}
	return multistep.ActionContinue
}

// installPolicy writes /usr/sbin/policy-rc.d, moving the image's own aside.
func (s *StepPreventServiceStart) installPolicy() error {
	dir, err := s.mounts.ResolvePath("/usr/sbin")
	if err != nil {
		return err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil // no /usr/sbin: nothing would consult policy-rc.d
	}
	s.policy = filepath.Join(dir, "policy-rc.d")
	if _, err := os.Lstat(s.policy); err == nil {
		s.saved = s.policy + savedSuffix
		if err := os.Rename(s.policy, s.saved); err != nil {
			s.saved = ""
			return fmt.Errorf("moving the image's policy-rc.d aside: %w", err)
		}
	}
	if err := os.WriteFile(s.policy, []byte(policyRCD), 0o755); err != nil {
		return fmt.Errorf("writing policy-rc.d into the image: %w", err)
	}
	s.written = true
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
	if s.written {
		if err := os.Remove(s.policy); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing policy-rc.d from the image: %w", err)
		}
		s.written = false
	}
	if s.saved != "" {
		if err := os.Rename(s.saved, s.policy); err != nil {
			return fmt.Errorf("restoring the image's policy-rc.d: %w", err)
		}
		s.saved = ""
	}
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
