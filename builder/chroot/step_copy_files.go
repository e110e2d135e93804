package chroot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// savedSuffix names the image's own file while a host file takes its place.
const savedSuffix = ".refit-saved"

// StepCopyFiles copies copy_files from the host into the image, at the same paths.
// Unlike the SDK's step, which deletes the copies afterwards, it first moves the
// image's own file (or symlink) aside and puts it back afterwards, so the output
// image keeps its /etc/resolv.conf.
//
// Uses: ui, mounts. Produces: copy_files_cleanup.
type StepCopyFiles struct {
	Files []string

	placed []placedFile
}

// placedFile is a host file copied into the image.
type placedFile struct {
	target string // host path of the copy inside the image
	saved  string // host path the image's own file was moved to; "" when it had none
}

// Run implements multistep.Step.
func (s *StepCopyFiles) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	ui := uiOf(state)
	mounts := state.Get(stateMounts).(pathResolver)
	state.Put(cleanupCopyFiles, s)
	if len(s.Files) == 0 {
		return multistep.ActionContinue
	}
	ui.Say("Copying files from the host into the image...")
	for _, name := range s.Files {
		ui.Say(name)
		if err := s.place(mounts, name); err != nil {
			return halt(state, fmt.Errorf("copy_files: %w", err))
		}
	}
	return multistep.ActionContinue
}

// pathResolver maps a path inside the image to the host path that reaches it
// (diskimage.Mounts.ResolvePath), resolving symlinks inside the image.
type pathResolver interface {
	ResolvePath(name string) (string, error)
}

// place copies the host file name into the image.
func (s *StepCopyFiles) place(mounts pathResolver, name string) error {
	clean := path.Clean("/" + name)
	// Resolve the folder only: a symlink at the path itself is replaced, not followed.
	dir, err := mounts.ResolvePath(path.Dir(clean))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s: the image has no folder %s", name, path.Dir(clean))
	}
	src, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("reading %s on the host: %w", name, err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return fmt.Errorf("reading %s on the host: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s on the host is not a regular file", name)
	}
	p := placedFile{target: filepath.Join(dir, path.Base(clean))}
	if existing, err := os.Lstat(p.target); err == nil {
		if existing.IsDir() {
			return fmt.Errorf("%s is a folder in the image", name)
		}
		p.saved = p.target + savedSuffix
		if _, err := os.Lstat(p.saved); err == nil {
			return fmt.Errorf("%s: %s already exists in the image; remove it from the source image", name, path.Base(p.saved))
		}
		if err := os.Rename(p.target, p.saved); err != nil {
			return fmt.Errorf("moving the image's %s aside: %w", name, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s in the image: %w", name, err)
	}
	s.placed = append(s.placed, p)
	dst, err := os.OpenFile(p.target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return fmt.Errorf("writing %s into the image: %w", name, err)
	}
	_, err = io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s into the image: %w", name, err)
	}
	return nil
}

// Cleanup implements multistep.Step.
func (s *StepCopyFiles) Cleanup(state multistep.StateBag) {
	if err := s.CleanupFunc(state); err != nil {
		uiOf(state).Error(err.Error())
	}
}

// CleanupFunc removes the copies and puts the image's own files back, in reverse
// order. It is idempotent.
func (s *StepCopyFiles) CleanupFunc(multistep.StateBag) error {
	for len(s.placed) > 0 {
		p := s.placed[len(s.placed)-1]
		if err := os.Remove(p.target); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the copied %s from the image: %w", p.target, err)
		}
		if p.saved != "" {
			if err := os.Rename(p.saved, p.target); err != nil {
				return fmt.Errorf("restoring the image's own %s: %w", p.target, err)
			}
		}
		s.placed = s.placed[:len(s.placed)-1]
	}
	return nil
}
