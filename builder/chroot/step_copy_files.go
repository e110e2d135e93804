package chroot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/refit-images/packer-plugin-refit/internal/imageroot"
)

// savedSuffix names the image's own file while a host file takes its place.
const savedSuffix = imageroot.SavedSuffix

// StepCopyFiles copies copy_files from the host into the image, at the same paths.
// Unlike the SDK's step, which deletes the copies afterwards, it first moves the
// image's own file (or symlink) aside and puts it back afterwards, so the output
// image keeps its /etc/resolv.conf. When the build changed a copy (rewrote it,
// replaced it with a symlink, deleted it), the build's version is kept instead and
// the image's original is discarded: a provisioner that configures DNS wins.
//
// Uses: ui, mounts. Produces: copy_files_cleanup.
type StepCopyFiles struct {
	Files []string

	placed []placedFile
}

// placedFile is a host file copied into the image.
type placedFile struct {
	name   string   // the path inside the image, as listed in copy_files
	target string   // host path of the copy inside the image
	saved  string   // host path the image's own file was moved to; "" when it had none
	size   int64    // size of the copy as placed
	sum    [32]byte // SHA-256 of the copy as placed
	change *string  // what the build did to the copy ("": nothing, restore); nil until the cleanup looks
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
	p := placedFile{name: clean, target: filepath.Join(dir, path.Base(clean))}
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
	// Until the copy is complete, the cleanup puts the original back whatever it finds.
	restore := ""
	p.change = &restore
	s.placed = append(s.placed, p)
	placed := &s.placed[len(s.placed)-1]
	dst, err := os.OpenFile(p.target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return fmt.Errorf("writing %s into the image: %w", name, err)
	}
	h := sha256.New()
	placed.size, err = io.Copy(io.MultiWriter(dst, h), src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s into the image: %w", name, err)
	}
	h.Sum(placed.sum[:0])
	placed.change = nil // from now on the cleanup looks at what the build did
	return nil
}

// Cleanup implements multistep.Step.
func (s *StepCopyFiles) Cleanup(state multistep.StateBag) {
	if err := s.CleanupFunc(state); err != nil {
		uiOf(state).Error(err.Error())
	}
}

// CleanupFunc undoes the copies in reverse order. A copy the build left as it was
// placed (a regular file with the same bytes) is removed and the image's own file
// put back. A copy the build rewrote, replaced (with a symlink, say) or deleted is
// the build's work: it stays, the image's original is deleted, and the Ui says so.
// It is idempotent, and a retry after an error finishes what the first call chose.
func (s *StepCopyFiles) CleanupFunc(state multistep.StateBag) error {
	for len(s.placed) > 0 {
		p := &s.placed[len(s.placed)-1]
		if p.change == nil {
			change, err := p.changedBy()
			if err != nil {
				return fmt.Errorf("checking whether the build changed the copied %s: %w", p.name, err)
			}
			p.change = &change
			// a copy deleted where the image had no file leaves the image as it was: nothing to say
			if change != "" && (change != "deleted" || p.saved != "") {
				if ui, ok := state.Get(stateUI).(packersdk.Ui); ok {
					ui.Say(fmt.Sprintf("copy_files: the build %s %s: keeping the build's version, not the image's original", *p.change, p.name))
				}
			}
		}
		if *p.change == "" {
			if err := p.restore(); err != nil {
				return err
			}
		} else if p.saved != "" {
			if err := os.Remove(p.saved); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing the image's original %s (%s), replaced by the build: %w", p.name, p.saved, err)
			}
		}
		s.placed = s.placed[:len(s.placed)-1]
	}
	return nil
}

// changedBy says what the build did to the copy: "" when it is still the regular
// file with the bytes placed (only then does the image's own file come back), else
// "deleted", "replaced" or "changed".
func (p *placedFile) changedBy() (string, error) {
	fi, err := os.Lstat(p.target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "deleted", nil
	case err != nil:
		return "", err
	case !fi.Mode().IsRegular():
		return "replaced", nil
	case fi.Size() != p.size:
		return "changed", nil
	}
	f, err := os.Open(p.target)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	if !bytes.Equal(h.Sum(nil), p.sum[:]) {
		return "changed", nil
	}
	return "", nil
}

// restore removes the copy and moves the image's own file back.
func (p *placedFile) restore() error {
	if err := os.Remove(p.target); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the copied %s from the image: %w", p.name, err)
	}
	if p.saved != "" {
		if err := os.Rename(p.saved, p.target); err != nil {
			return fmt.Errorf("restoring the image's own %s: %w", p.name, err)
		}
	}
	return nil
}
