package chroot

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	sdkchroot "github.com/hashicorp/packer-plugin-sdk/chroot"
	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
)

// communicator is the SDK's chroot communicator, whose commands run through the
// build's command wrapper and so inside the image's mount namespace. Start is the
// SDK's, without the host's TMPDIR. The SDK reads downloads with this process's own
// file system view, which does not see the image (it is mounted only in its namespace), so Download reads
// through Mounts.ResolvePath and DownloadDir copies inside the namespace; and the
// SDK's uploads drop cp's error message, so Upload and UploadDir keep it and name
// the image's filesystem that could not be mounted when the destination is on one
// (an EFI system partition on a host without vfat).
type communicator struct {
	*sdkchroot.Communicator
	mounts *diskimage.Mounts
}

// Start runs cmd inside the image as the SDK does, without the build host's TMPDIR: the
// plugin inherits Packer's environment, and a TMPDIR naming a host folder (as CI systems
// set it) does not exist in the image, so mktemp and the package scripts that use it
// (apparmor's postinst among them) failed there. Inside, programs fall back to /tmp.
func (c *communicator) Start(ctx context.Context, cmd *packersdk.RemoteCmd) error {
	cmd.Command = "unset TMPDIR; " + cmd.Command
	return c.Communicator.Start(ctx, cmd)
}

// newCommunicator returns the communicator for the image mounted at mounts.
func newCommunicator(mounts *diskimage.Mounts, wrap common.CommandWrapper) *communicator {
	return &communicator{
		Communicator: &sdkchroot.Communicator{Chroot: mounts.Root(), CmdWrapper: wrap},
		mounts:       mounts,
	}
}

// Upload writes r to dst, a path inside the image, with the mode of fi when given.
func (c *communicator) Upload(dst string, r io.Reader, fi *os.FileInfo) error {
	tf, err := os.CreateTemp("", "refit-chroot-upload-")
	if err != nil {
		return fmt.Errorf("uploading %s: %w", dst, err)
	}
	defer os.Remove(tf.Name())
	_, err = io.Copy(tf, r)
	if cerr := tf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("uploading %s: %w", dst, err)
	}
	target := path.Join(c.Chroot, path.Clean("/"+dst))
	cmd := "cp " + shellQuote(tf.Name()) + " " + shellQuote(target)
	if fi != nil && *fi != nil {
		cmd += fmt.Sprintf(" && chmod %o %s", (*fi).Mode().Perm(), shellQuote(target))
	}
	if err := runWrapped(c.CmdWrapper, cmd); err != nil {
		return c.uploadError(dst, err)
	}
	return nil
}

// UploadDir copies the host folder src to dst inside the image as the SDK does: a
// src ending in "/" copies its contents, otherwise the folder itself.
func (c *communicator) UploadDir(dst, src string, exclude []string) error {
	if strings.HasSuffix(src, "/") {
		src += "."
	}
	target := path.Join(c.Chroot, path.Clean("/"+dst))
	if err := runWrapped(c.CmdWrapper, "cp -R "+shellQuote(src)+" "+shellQuote(target)); err != nil {
		return c.uploadError(dst, err)
	}
	return nil
}

// uploadError explains a failed upload, naming the unmounted filesystem when dst
// lies on one.
func (c *communicator) uploadError(dst string, err error) error {
	clean := path.Clean("/" + dst)
	for _, g := range c.mounts.Guarded() {
		if clean == g.Mountpoint || strings.HasPrefix(clean, strings.TrimSuffix(g.Mountpoint, "/")+"/") {
			return fmt.Errorf("uploading %s: %s is the image's filesystem %s, which is not mounted (%s), so nothing can be written there: %w",
				dst, g.Mountpoint, g.Spec, g.Reason, err)
		}
	}
	return fmt.Errorf("uploading %s: %w", dst, err)
}

// Download copies the file src, a path inside the image, to w.
func (c *communicator) Download(src string, w io.Writer) error {
	p, err := c.mounts.ResolvePath(src)
	if err != nil {
		return fmt.Errorf("downloading %s from the image: %w", src, err)
	}
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("downloading %s from the image: %w", src, err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("downloading %s from the image: %w", src, err)
	}
	return nil
}

// DownloadDir copies the contents of the folder src, a path inside the image, into
// the host folder dst (created when missing). exclude is not supported, as in the
// SDK's UploadDir.
func (c *communicator) DownloadDir(src, dst string, exclude []string) error {
	abs, err := filepath.Abs(dst)
	if err != nil {
		return fmt.Errorf("downloading %s from the image: %w", src, err)
	}
	from := path.Join(c.Chroot, path.Clean("/"+src)) + "/."
	cmd := "mkdir -p " + shellQuote(abs) + " && cp -R " + shellQuote(from) + " " + shellQuote(abs)
	if err := runWrapped(c.CmdWrapper, cmd); err != nil {
		return fmt.Errorf("downloading %s from the image: %w", src, err)
	}
	return nil
}
