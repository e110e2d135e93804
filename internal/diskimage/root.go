package diskimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/imageroot"
)

// rootCandidateTypes are the filesystem types a root may have.
var rootCandidateTypes = map[string]bool{"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true}

// findRoot returns the root filesystem (and btrfs subvolume) to mount.
func (img *Image) findRoot(ctx context.Context) (*Filesystem, string, error) {
	if spec := img.opts.MountPartition; spec != "" && spec != "auto" {
		f := findFilesystem(img.filesystems, spec)
		switch {
		case f == nil:
			return nil, "", fmt.Errorf("%w: mount_partition %q names none of: %s", ErrNoRoot, spec, img.describeFilesystems())
		case f.Unusable != nil:
			return nil, "", fmt.Errorf("mounting %s as root: %w", f, f.Unusable)
		case f.Type == "":
			return nil, "", fmt.Errorf("%w: mount_partition %q is %s", ErrNoRoot, spec, f)
		}
		return f, "", nil
	}
	type found struct {
		fs     *Filesystem
		subvol string
	}
	var roots []found
	var unusable []string
	for i := range img.filesystems {
		f := &img.filesystems[i]
		if f.Unusable != nil {
			unusable = append(unusable, f.String())
			continue
		}
		if !rootCandidateTypes[f.Type] || !img.kernelFS[f.Type] {
			continue
		}
		subvols, err := img.probeRoot(ctx, *f)
		if err != nil {
			return nil, "", err
		}
		for _, sv := range subvols {
			roots = append(roots, found{f, sv})
		}
	}
	switch len(roots) {
	case 1:
		img.logf("the root filesystem is %s%s", roots[0].fs, subvolSuffix(roots[0].subvol))
		return roots[0].fs, roots[0].subvol, nil
	case 0:
		hint := "set mount_partition"
		if len(unusable) > 0 {
			hint = "the root may be on a logical volume refit cannot map, or set mount_partition"
		}
		return nil, "", fmt.Errorf("%w: no filesystem holds etc/os-release; found %s; %s", ErrNoRoot, img.describeFilesystems(), hint)
	}
	var names []string
	for _, r := range roots {
		names = append(names, r.fs.String()+subvolSuffix(r.subvol))
	}
	return nil, "", fmt.Errorf("%w: %s all hold etc/os-release; set mount_partition to the one to use", ErrAmbiguousRoot, strings.Join(names, ", "))
}

func subvolSuffix(sv string) string {
	if sv == "" {
		return ""
	}
	return " subvolume " + sv
}

func (img *Image) describeFilesystems() string {
	var parts []string
	for _, f := range img.filesystems {
		parts = append(parts, f.String())
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

// probeRoot mounts f read-only at a scratch directory and returns where in it
// etc/os-release is: [""] for its top level, btrfs subvolume names otherwise.
func (img *Image) probeRoot(ctx context.Context, f Filesystem) (subvols []string, err error) {
	dir, err := os.MkdirTemp("", "refit-probe-")
	if err != nil {
		return nil, fmt.Errorf("creating a probe directory: %w", err)
	}
	defer os.Remove(dir)
	opts := mountOptions(f.Type, true)
	if _, err := img.ns.run(ctx, "mount", "-t", f.Type, "-o", strings.Join(opts, ","), "--", f.Device, dir); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("probing %s: %w", f, ctx.Err())
		}
		img.logf("cannot probe %s: %v", f, err)
		return nil, nil
	}
	defer func() {
		if _, uerr := img.ns.run(context.WithoutCancel(ctx), "umount", "--", dir); uerr != nil {
			err = errors.Join(err, fmt.Errorf("unmounting the probe of %s: %w", f, uerr))
		}
	}()
	host := img.ns.hostPath(dir)
	if hasOSRelease(host) {
		return []string{""}, nil
	}
	if f.Type != "btrfs" {
		return nil, nil
	}
	entries, err := os.ReadDir(host)
	if err != nil {
		return nil, nil
	}
	for _, e := range entries {
		if e.IsDir() && hasOSRelease(filepath.Join(host, e.Name())) {
			subvols = append(subvols, e.Name())
		}
	}
	return subvols, nil
}

// hasOSRelease reports whether root/etc/os-release exists (a dangling symlink to
// a separate /usr counts).
func hasOSRelease(root string) bool {
	etc, err := imageroot.Resolve(root, "etc")
	if err != nil {
		return false
	}
	_, err = os.Lstat(filepath.Join(etc, "os-release"))
	return err == nil
}
