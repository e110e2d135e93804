package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
)

// Overlay is an image's layers mounted with overlayfs inside a diskimage.Namespace.
type Overlay struct {
	ns *diskimage.Namespace
	// Dir holds the layers (l/0 …), the upper and work directories (u, w) and the mount
	// point (m).
	Dir string
	// Lowers are the layer directories, bottom first (Unpack's result).
	Lowers []string
	// Upper is the upper directory ("" for a read-only overlay).
	Upper string
}

// MountPoint is the root as commands in the namespace see it.
func (o *Overlay) MountPoint() string { return filepath.Join(o.Dir, "m") }

// HostRoot is the root as this process reaches it.
func (o *Overlay) HostRoot() string { return o.ns.HostPath(o.MountPoint()) }

// MountOverlay unpacks im's layers under dir (Unpack) and mounts them at dir/m in ns:
// writable over the empty upper directory dir/u, or read-only.
func MountOverlay(ctx context.Context, ns *diskimage.Namespace, im *Image, dir string, writable bool) (*Overlay, error) {
	lowers, err := Unpack(ctx, im, filepath.Join(dir, "l"))
	if err != nil {
		return nil, err
	}
	o := &Overlay{ns: ns, Dir: dir, Lowers: lowers}
	lower := make([]string, len(lowers))
	for i := range lowers {
		lower[i] = "l/" + strconv.Itoa(len(lowers)-1-i) // the top layer first
	}
	dirs := []string{"m"}
	// relative paths keep the mount options under the kernel's page-size limit
	opts := "lowerdir=" + strings.Join(lower, ":")
	switch {
	case writable:
		dirs = append(dirs, "u", "w")
		opts += ",upperdir=u,workdir=w,redirect_dir=off,index=off,metacopy=off"
		o.Upper = filepath.Join(dir, "u")
	case len(lowers) == 1:
		dirs = append(dirs, "e")
		opts += ":e" // overlayfs wants two lower directories without an upper one: an empty one
	}
	for _, d := range dirs {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if _, err := ns.Run(ctx, "sh", "-c", `cd "$1" && exec mount -t overlay -o "$2" refit-container m`, "sh", dir, opts); err != nil {
		return nil, fmt.Errorf("mounting the image's layers with overlayfs: %w", err)
	}
	return o, nil
}

// Unmount unmounts the overlay; the upper directory then holds what changed.
func (o *Overlay) Unmount(ctx context.Context) error {
	if _, err := o.ns.Run(ctx, "umount", o.MountPoint()); err != nil {
		return fmt.Errorf("unmounting the overlay: %w", err)
	}
	return nil
}

// ReadOnlyRoot is a container image's root, mounted read-only for reading (refit-repodiff).
type ReadOnlyRoot struct {
	// Path is the root, as this process reaches it.
	Path string
	ns   *diskimage.Namespace
	src  *Source
	work string
}

// OpenReadOnly mounts the image at path (of platform, or its only one) read-only in a
// private mount namespace, its layers unpacked under a temporary directory. Close
// releases all of it.
func OpenReadOnly(ctx context.Context, path, platform string, log func(string)) (*ReadOnlyRoot, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("reading the container image %s needs root (overlayfs, file owners)", path)
	}
	work, err := os.MkdirTemp("", "refit-container-")
	if err != nil {
		return nil, err
	}
	r := &ReadOnlyRoot{work: work}
	if r.src, err = Open(path, work); err != nil {
		r.Close()
		return nil, err
	}
	images, err := r.src.Select(platform)
	if err == nil && len(images) > 1 {
		err = fmt.Errorf("%s holds several platforms (%s): name one", path, platformList(images))
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	if r.ns, err = diskimage.NewNamespace(ctx, log); err != nil {
		r.Close()
		return nil, err
	}
	o, err := MountOverlay(ctx, r.ns, images[0], filepath.Join(work, "root"), false)
	if err != nil {
		r.Close()
		return nil, err
	}
	r.Path = o.HostRoot()
	return r, nil
}

// Close ends the namespace (and the mount with it) and removes the unpacked layers.
func (r *ReadOnlyRoot) Close() {
	if r.ns != nil {
		r.ns.Close()
	}
	if r.src != nil {
		r.src.Close()
	}
	os.RemoveAll(r.work)
}

func platformList(images []*Image) string {
	var p []string
	for _, im := range images {
		p = append(p, im.Platform)
	}
	return strings.Join(p, ", ")
}
