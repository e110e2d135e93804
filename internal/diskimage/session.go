package diskimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Session is an image opened by OpenReadOnly: its raw working copy (for qcow2), the
// attached image and its mounts. Close undoes all of it.
type Session struct {
	// Image is the attached image.
	Image *Image
	// Mounts are its mounted filesystems.
	Mounts *Mounts
	// Format is the format of the input image.
	Format  Format
	workDir string
}

// OpenReadOnly attaches and mounts the image at path (qcow2 or raw, judged by
// content) read-only: a raw image is attached with losetup --read-only and its
// filesystems mounted without journal replay, so the file is never written; a
// qcow2 image is first converted to a sparse raw copy in opts.WorkDir. opts.ReadOnly
// is forced; set opts.MountFstab to also get /var, /usr... of images that have
// them. Read the image's files under Session.Mounts.HostRoot (via ResolvePath).
func OpenReadOnly(ctx context.Context, path string, opts Options) (*Session, error) {
	opts.ReadOnly = true
	workDir, err := os.MkdirTemp(opts.WorkDir, "refit-image-")
	if err != nil {
		return nil, fmt.Errorf("opening %s: creating a work directory: %w", path, err)
	}
	s := &Session{workDir: workDir}
	if err := s.open(ctx, path, opts); err != nil {
		if cerr := s.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	return s, nil
}

func (s *Session) open(ctx context.Context, path string, opts Options) error {
	var err error
	if s.Format, err = DetectFormat(path); err != nil {
		return err
	}
	raw := path
	if s.Format == FormatQcow2 {
		raw = filepath.Join(s.workDir, "image.raw")
		if _, err := MakeWorkingCopy(ctx, path, raw); err != nil {
			return err
		}
	}
	if s.Image, err = Attach(ctx, raw, opts); err != nil {
		return err
	}
	s.Mounts, err = s.Image.MountRoot(ctx, filepath.Join(s.workDir, "root"))
	return err
}

// Root returns the path through which this process reads the image's root
// filesystem; see Mounts.HostRoot and Mounts.ResolvePath.
func (s *Session) Root() string {
	if s.Mounts == nil {
		return ""
	}
	return s.Mounts.HostRoot()
}

// Close unmounts, detaches, and removes the working copy. It is idempotent.
func (s *Session) Close() error {
	if s.Image != nil {
		if err := s.Image.Close(); err != nil {
			return err // keep the work directory: something may still be mounted on it
		}
	}
	if s.workDir != "" {
		if err := os.RemoveAll(s.workDir); err != nil {
			return fmt.Errorf("removing %s: %w", s.workDir, err)
		}
		s.workDir = ""
	}
	return nil
}
