package container

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// The OCI whiteout names (image-spec layer.md) and the overlayfs attribute of an opaque
// directory.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	opaqueXattr    = "trusted.overlay.opaque"
	xattrPAX       = "SCHILY.xattr."
)

// Unpack extracts the image's layers, each into its own directory under dir (dir/0 is the
// bottom layer), as overlayfs lower directories: OCI whiteouts become overlay whiteouts
// (character devices 0/0) and opaque directories get trusted.overlay.opaque=y. It checks
// every layer against its digest (the manifest's, for blobs stored compressed under it)
// and its diff_id (the config's), and refuses with ErrHostile: paths leaving the root,
// entries written through a symlink (of the same or a lower layer), whiteouts that are not
// plain files, hard links that are absolute, leave the root or point outside their layer,
// device nodes outside /dev, overlay attributes in the layer. It returns the layer
// directories, bottom first.
func Unpack(ctx context.Context, img *Image, dir string) ([]string, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	if len(cf.RootFS.DiffIDs) != len(layers) {
		return nil, fmt.Errorf("%w: the manifest lists %d layers, the config %d diff_ids", ErrHostile, len(layers), len(cf.RootFS.DiffIDs))
	}
	u := &unpacker{merged: map[string]byte{}}
	var dirs []string
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ld := filepath.Join(dir, strconv.Itoa(i))
		if err := os.MkdirAll(ld, 0o755); err != nil {
			return nil, err
		}
		if err := u.layer(l, cf.RootFS.DiffIDs[i], img.compressedChecked, ld); err != nil {
			return nil, fmt.Errorf("layer %d of %d: %w", i+1, len(layers), err)
		}
		dirs = append(dirs, ld)
	}
	return dirs, nil
}

// unpacker tracks the merged view of the layers unpacked so far: the type of every path.
type unpacker struct {
	merged map[string]byte
	// ours are the paths the current layer wrote (whiteouts hide only lower layers' paths).
	ours map[string]bool
	// dirTimes are the directories' times, set after their content is written.
	dirTimes map[string]time.Time
}

func (u *unpacker) layer(l v1.Layer, diffID v1.Hash, checkCompressed bool, dir string) error {
	if checkCompressed {
		if err := checkCompressedDigest(l); err != nil {
			return err
		}
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	tee := io.TeeReader(rc, h)
	tr := tar.NewReader(tee)
	u.ours, u.dirTimes = map[string]bool{}, map[string]time.Time{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the layer: %w", err)
		}
		if err := u.entry(tr, hdr, dir); err != nil {
			return err
		}
	}
	if _, err := io.Copy(io.Discard, tee); err != nil { // the tar's padding counts too
		return err
	}
	if got := "sha256:" + fmt.Sprintf("%x", h.Sum(nil)); got != diffID.String() {
		return fmt.Errorf("%w: its content has digest %s, but the config's diff_id is %s", ErrHostile, got, diffID)
	}
	names := sortedKeys(u.dirTimes)
	for i := len(names) - 1; i >= 0; i-- {
		t := u.dirTimes[names[i]]
		setTimes(filepath.Join(dir, names[i]), t)
	}
	return nil
}

// checkCompressedDigest reads the stored blob and compares it with its manifest digest.
func checkCompressedDigest(l v1.Layer) error {
	want, err := l.Digest()
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	got, _, err := v1.SHA256(rc)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%w: the blob %s has digest %s: it is not what the manifest names", ErrHostile, want, got)
	}
	return nil
}

// cleanName returns the layer path of a tar entry name ("" for the root), or an error
// when it leaves the root.
func cleanName(n string) (string, error) {
	n = strings.TrimPrefix(n, "./")
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: the entry %q leaves the image's root", ErrHostile, n)
		}
	}
	c := path.Clean("/" + n)
	return strings.TrimPrefix(c, "/"), nil
}

// checkParents refuses p when one of its parent directories is not a directory in the
// merged view (a symlink would make the write land elsewhere).
func (u *unpacker) checkParents(p, what string) error {
	for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
		switch t := u.merged[d]; t {
		case 0, tar.TypeDir:
		case tar.TypeSymlink:
			return fmt.Errorf("%w: %s %q would be written through the symlink /%s", ErrHostile, what, p, d)
		default:
			return fmt.Errorf("%w: %s %q is below /%s, which is not a directory", ErrHostile, what, p, d)
		}
	}
	return nil
}

// entry writes one tar entry into the layer directory.
func (u *unpacker) entry(r io.Reader, hdr *tar.Header, dir string) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "" {
		return nil // the root itself: its metadata is the image's business, not a layer's
	}
	base := path.Base(name)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return u.whiteout(hdr, name, dir)
	}
	if err := u.checkParents(name, "the entry"); err != nil {
		return err
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, xattrPAX+"trusted.overlay.") {
			return fmt.Errorf("%w: the entry %q carries the overlay attribute %s", ErrHostile, name, strings.TrimPrefix(k, xattrPAX))
		}
	}
	target := filepath.Join(dir, name)
	if err := u.mkParents(dir, name); err != nil {
		return err
	}
	if fi, err := os.Lstat(target); err == nil && !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
		if err := os.RemoveAll(target); err != nil {
			return err
		}
	}
	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(target, 0o755); err != nil && !os.IsExist(err) {
			return err
		}
		u.dirTimes[name] = hdr.ModTime
	case tar.TypeReg: // the reader reports TypeRegA as TypeReg
		f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	case tar.TypeSymlink:
		if err := os.Symlink(hdr.Linkname, target); err != nil {
			return err
		}
	case tar.TypeLink:
		return u.hardlink(hdr, name, dir)
	case tar.TypeChar, tar.TypeBlock:
		if hdr.Devmajor == 0 && hdr.Devminor == 0 {
			return fmt.Errorf("%w: the entry %q is a device 0/0, which overlayfs would take for a whiteout", ErrHostile, name)
		}
		if !strings.HasPrefix(name, "dev/") {
			return fmt.Errorf("%w: the device node %q is outside /dev", ErrHostile, name)
		}
		kind := uint32(unix.S_IFCHR)
		if hdr.Typeflag == tar.TypeBlock {
			kind = unix.S_IFBLK
		}
		if err := unix.Mknod(target, kind|mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return fmt.Errorf("creating the device node %s: %w", name, err)
		}
	case tar.TypeFifo:
		if err := unix.Mkfifo(target, mode); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: the entry %q has tar type %q, which no image layer holds", ErrHostile, name, string(hdr.Typeflag))
	}
	if hdr.Typeflag != tar.TypeDir {
		u.hideBelow(name) // a non-directory over a lower directory hides all of it
	}
	u.merged[name] = hdr.Typeflag
	u.ours[name] = true
	return setMetadata(target, hdr)
}

// mkParents creates the parent directories of name missing in the layer directory (the
// checks before made sure none is a symlink in the merged view).
func (u *unpacker) mkParents(dir, name string) error {
	parent := path.Dir(name)
	if parent == "." {
		return nil
	}
	p := filepath.Join(dir, parent)
	if fi, err := os.Lstat(p); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%w: %q is below %q, which this layer made a %s", ErrHostile, name, parent, fi.Mode().Type())
		}
		return nil
	}
	if err := u.mkParents(dir, parent); err != nil {
		return err
	}
	if err := os.Mkdir(p, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	if u.merged[parent] == 0 {
		u.merged[parent] = tar.TypeDir
	}
	return nil
}

// whiteout turns an OCI whiteout into an overlay one.
func (u *unpacker) whiteout(hdr *tar.Header, name, dir string) error {
	if hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("%w: the whiteout %q is a %s, not an empty file", ErrHostile, name, typeName(hdr.Typeflag))
	}
	if err := u.checkParents(name, "the whiteout"); err != nil {
		return err
	}
	if err := u.mkParents(dir, name); err != nil {
		return err
	}
	parent := path.Dir(name)
	if path.Base(name) == whiteoutOpaque {
		if err := unix.Lsetxattr(filepath.Join(dir, parent), opaqueXattr, []byte("y"), 0); err != nil {
			return fmt.Errorf("marking %s opaque (needs root and a filesystem with trusted xattrs): %w", parent, err)
		}
		u.hideBelow(parent)
		return nil
	}
	hidden := path.Join(parent, strings.TrimPrefix(path.Base(name), whiteoutPrefix))
	if hidden == parent || strings.HasPrefix(path.Base(hidden), whiteoutPrefix) {
		return fmt.Errorf("%w: the whiteout %q names nothing", ErrHostile, name)
	}
	if u.ours[hidden] {
		return fmt.Errorf("%w: the layer both writes and whites out %q", ErrHostile, hidden)
	}
	if err := unix.Mknod(filepath.Join(dir, hidden), unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("creating the overlay whiteout of %s (needs root): %w", hidden, err)
	}
	delete(u.merged, hidden)
	u.hideBelow(hidden)
	return nil
}

// hideBelow removes from the merged view what lower layers had under p.
func (u *unpacker) hideBelow(p string) {
	prefix := p + "/"
	if p == "." {
		prefix = ""
	}
	for k := range u.merged {
		if strings.HasPrefix(k, prefix) && !u.ours[k] {
			delete(u.merged, k)
		}
	}
}

// hardlink links name to an earlier entry of the same layer.
func (u *unpacker) hardlink(hdr *tar.Header, name, dir string) error {
	if strings.HasPrefix(hdr.Linkname, "/") {
		return fmt.Errorf("%w: the hard link %q points to the absolute path %q", ErrHostile, name, hdr.Linkname)
	}
	target, err := cleanName(hdr.Linkname)
	if err != nil || target == "" {
		return fmt.Errorf("%w: the hard link %q points to %q, outside the image's root", ErrHostile, name, hdr.Linkname)
	}
	if err := u.checkParents(target, "the hard link target"); err != nil {
		return err
	}
	if !u.ours[target] || u.merged[target] == tar.TypeDir || u.merged[target] == tar.TypeSymlink {
		return fmt.Errorf("%w: the hard link %q points to %q, which is no file of the same layer", ErrHostile, name, hdr.Linkname)
	}
	if err := os.Link(filepath.Join(dir, target), filepath.Join(dir, name)); err != nil {
		return err
	}
	u.merged[name] = u.merged[target]
	u.ours[name] = true
	return nil
}

// setMetadata sets owner, mode, extended attributes and (for non-directories) times.
func setMetadata(p string, hdr *tar.Header) error {
	if err := os.Lchown(p, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("setting the owner of %s (needs root): %w", hdr.Name, err)
	}
	keys := sortedKeys(hdr.PAXRecords)
	for _, k := range keys {
		if !strings.HasPrefix(k, xattrPAX) {
			continue
		}
		if err := unix.Lsetxattr(p, strings.TrimPrefix(k, xattrPAX), []byte(hdr.PAXRecords[k]), 0); err != nil {
			return fmt.Errorf("setting the attribute %s of %s: %w", strings.TrimPrefix(k, xattrPAX), hdr.Name, err)
		}
	}
	if hdr.Typeflag == tar.TypeSymlink {
		setTimes(p, hdr.ModTime)
		return nil
	}
	// after chown, which clears set-id bits
	if err := unix.Fchmodat(unix.AT_FDCWD, p, uint32(hdr.Mode&0o7777), 0); err != nil {
		return fmt.Errorf("setting the mode of %s: %w", hdr.Name, err)
	}
	if hdr.Typeflag != tar.TypeDir {
		setTimes(p, hdr.ModTime)
	}
	return nil
}

func setTimes(p string, t time.Time) {
	ts := unix.NsecToTimespec(t.UnixNano())
	_ = unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

func typeName(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeDir:
		return "directory"
	case tar.TypeChar, tar.TypeBlock:
		return "device node"
	}
	return fmt.Sprintf("tar entry of type %q", string(t))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// untarPlain unpacks an oci-archive (an OCI layout: directories and regular files only)
// into dir.
func untarPlain(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue
		}
		target := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg: // the reader reports TypeRegA as TypeReg
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: the oci-archive entry %q is a %s; an OCI layout holds only files and directories", ErrHostile, name, typeName(hdr.Typeflag))
		}
	}
}
