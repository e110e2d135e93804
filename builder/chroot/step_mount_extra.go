package chroot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
)

// StepMountExtra mounts chroot_mounts (proc, sysfs, /dev, devpts, binfmt_misc by
// default) inside the image, in the build's mount namespace. It differs from the
// SDK's step of the same name in that it creates missing mount points inside the
// image (the SDK creates them in this process's view, where the image is not
// mounted) and removes them again afterwards, so the output image keeps its shape.
//
// Uses: ui, mounts, wrappedCommand. Produces: mount_extra_cleanup.
type StepMountExtra struct {
	ChrootMounts [][]string

	mounted []string // namespace paths, in mount order
	created []string // host paths of folders created inside the image, in creation order
}

// Run implements multistep.Step.
func (s *StepMountExtra) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	ui := uiOf(state)
	mounts := state.Get(stateMounts).(*diskimage.Mounts)
	wrap := state.Get(stateWrappedCommand).(common.CommandWrapper)
	state.Put(cleanupMountExtra, s)
	if len(s.ChrootMounts) == 0 {
		return multistep.ActionContinue
	}
	kernelFS, err := kernelFilesystems()
	if err != nil {
		return halt(state, err)
	}
	ui.Say("Mounting additional filesystems inside the image...")
	for _, m := range s.ChrootMounts {
		fstype, device, target := m[0], m[1], m[2]
		if fstype == "binfmt_misc" && !kernelFS[fstype] {
			ui.Say(fmt.Sprintf("Skipping %s: the host kernel has no binfmt_misc", target))
			continue
		}
		nsPath, err := s.mountPoint(mounts, target)
		if err != nil {
			return halt(state, err)
		}
		args := []string{"mount", "-t", fstype, device, nsPath}
		if fstype == "bind" {
			args = []string{"mount", "--bind", device, nsPath}
		}
		ui.Say(fmt.Sprintf("Mounting %s on %s", device, target))
		if err := runWrapped(wrap, shellJoin(args)); err != nil {
			return halt(state, fmt.Errorf("mounting %s inside the image: %w", target, err))
		}
		s.mounted = append(s.mounted, nsPath)
	}
	return multistep.ActionContinue
}

// mountPoint returns the namespace path of target inside the image, creating the
// folder (and recording what it created) when it is missing.
func (s *StepMountExtra) mountPoint(mounts *diskimage.Mounts, target string) (string, error) {
	host, err := mounts.ResolvePath(target)
	if err != nil {
		return "", fmt.Errorf("mount point %s inside the image: %w", target, err)
	}
	rel, ok := strings.CutPrefix(host, mounts.HostRoot())
	if !ok {
		return "", fmt.Errorf("mount point %s resolves outside the image", target)
	}
	fi, err := os.Stat(host)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Record the topmost missing folder, then create the whole path.
		top := host
		for {
			parent := filepath.Dir(top)
			if _, err := os.Stat(parent); err == nil || parent == top {
				break
			}
			top = parent
		}
		if err := os.MkdirAll(host, 0o755); err != nil {
			return "", fmt.Errorf("creating mount point %s inside the image: %w", target, err)
		}
		s.created = append(s.created, top)
	case err != nil:
		return "", fmt.Errorf("mount point %s inside the image: %w", target, err)
	case !fi.IsDir():
		return "", fmt.Errorf("mount point %s inside the image is not a folder", target)
	}
	return filepath.Join(mounts.Root(), rel), nil
}

// Cleanup implements multistep.Step.
func (s *StepMountExtra) Cleanup(state multistep.StateBag) {
	if err := s.CleanupFunc(state); err != nil {
		uiOf(state).Error(err.Error())
	}
}

// CleanupFunc unmounts what Run mounted, in reverse order, retrying for a while
// when a mount is busy, then removes the mount points it created. It is
// idempotent.
func (s *StepMountExtra) CleanupFunc(state multistep.StateBag) error {
	wrap, _ := state.Get(stateWrappedCommand).(common.CommandWrapper)
	for len(s.mounted) > 0 {
		last := s.mounted[len(s.mounted)-1]
		if err := umountRetrying(wrap, last); err != nil {
			return fmt.Errorf("unmounting %s: %w", last, err)
		}
		s.mounted = s.mounted[:len(s.mounted)-1]
	}
	for len(s.created) > 0 {
		last := s.created[len(s.created)-1]
		// Remove only empty folders, deepest first: never anything a provisioner put there.
		removeEmptyTree(last)
		s.created = s.created[:len(s.created)-1]
	}
	return nil
}

// umountRetrying unmounts path (a namespace path), treating "not mounted" as done
// and retrying for up to ten seconds while it is busy.
func umountRetrying(wrap common.CommandWrapper, path string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := runWrapped(wrap, shellJoin([]string{"umount", path}))
		if err == nil || strings.Contains(err.Error(), "not mounted") || strings.Contains(err.Error(), "no mount point") {
			return nil
		}
		if !strings.Contains(err.Error(), "busy") || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// removeEmptyTree removes dir and its subfolders when they hold nothing else.
func removeEmptyTree(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			removeEmptyTree(filepath.Join(dir, e.Name()))
		}
	}
	_ = os.Remove(dir) // fails, as wanted, when something is left in it
}

// kernelFilesystems returns the filesystem types the running kernel supports.
func kernelFilesystems() (map[string]bool, error) {
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return nil, fmt.Errorf("reading the kernel's filesystems: %w", err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			out[f[len(f)-1]] = true
		}
	}
	return out, nil
}
