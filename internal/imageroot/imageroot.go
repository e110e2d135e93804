// Package imageroot owns an image's root filesystem as a place on the host. Every path a
// component reads or writes inside an image goes through it:
//
//   - Resolve and Lookup turn a path inside the image into a host path (or the final path
//     inside the image) with every symlink followed as if the root were "/": an absolute link
//     target restarts at the root and ".." never climbs above it.
//   - MkdirAll makes a directory inside the image and RemoveAll removes a path from it,
//     refusing any parent that is a symlink (a hostile image cannot redirect a write to the
//     host).
//   - Replace puts a file of ours in place of the image's own (policy-rc.d, an interpreter
//     wrapper) and Restore puts the image's file back, reporting every error.
//
// Image roots are inspected offline and nothing else writes them meanwhile, so the usual
// check-then-open race of such resolution does not matter here.
package imageroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

var (
	// ErrTooManyLinks is returned for a symlink loop (or a chain longer than the kernel's).
	ErrTooManyLinks = errors.New("too many levels of symbolic links")
	// ErrSymlink is returned when a directory to be written through is a symlink.
	ErrSymlink = errors.New("is a symlink in the image; refusing to write through it")
)

// maxLinks bounds the symlinks followed in one resolution, as the kernel's ELOOP limit does.
const maxLinks = 40

// SavedSuffix names the image's own file while Replace has put another in its place.
const SavedSuffix = ".refit-saved"

// Resolve returns the host path of name (a path inside the root filesystem at root, absolute
// or not) with every symlink resolved inside root, so the result always lies inside root.
// Components that do not exist are kept as they are, so the caller's open reports them.
func Resolve(root, name string) (string, error) {
	p, err := walk(root, name, true, false)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, filepath.FromSlash(p)), nil
}

// Lookup resolves name as the image's own programs would see it and returns the resulting
// absolute path inside the image. Every component must exist (the error wraps
// fs.ErrNotExist otherwise). With followFinal unset a symlink in the last component is kept.
func Lookup(root, name string, followFinal bool) (string, error) {
	p, err := walk(root, name, followFinal, true)
	if err != nil {
		return "", err
	}
	return "/" + p, nil
}

// walk resolves name under root and returns the result relative to root, slash-separated,
// without a leading slash.
func walk(root, name string, followFinal, mustExist bool) (string, error) {
	resolved := ""
	pending := name
	links := 0
	for pending != "" {
		var part string
		part, pending, _ = strings.Cut(pending, "/")
		switch part {
		case "", ".":
			continue
		case "..":
			resolved = parent(resolved)
			continue
		}
		next := path.Join(resolved, part)
		host := filepath.Join(root, filepath.FromSlash(next))
		fi, err := os.Lstat(host)
		if !mustExist && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
			resolved = next
			continue
		}
		if err != nil {
			return "", fmt.Errorf("resolving %s in %s: %w", name, root, err)
		}
		last := strings.Trim(pending, "/") == ""
		if fi.Mode()&fs.ModeSymlink == 0 || (last && !followFinal) {
			resolved = next
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("resolving %s in %s: %w", name, root, ErrTooManyLinks)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", fmt.Errorf("resolving %s in %s: %w", name, root, err)
		}
		if strings.HasPrefix(target, "/") {
			resolved = ""
		}
		if pending != "" {
			target += "/" + pending
		}
		pending = target
	}
	return resolved, nil
}

// parent is path.Dir for a root-relative path, clamped at the root.
func parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

// MkdirAll creates dir (a path inside the image) under root with mode 0755 where it is
// missing (whatever the process's umask: the image must not depend on it), refusing any existing component that is a symlink (the error wraps ErrSymlink)
// or not a directory, and returns its host path.
func MkdirAll(root, dir string) (string, error) {
	cur := root
	for _, c := range strings.Split(strings.Trim(path.Clean("/"+dir), "/"), "/") {
		if c == "" {
			continue
		}
		cur = filepath.Join(cur, c)
		st, err := os.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(cur, 0o755); err != nil {
				return "", fmt.Errorf("creating %s in the image: %w", dir, err)
			}
			if err := os.Chmod(cur, 0o755); err != nil {
				return "", fmt.Errorf("creating %s in the image: %w", dir, err)
			}
		case err != nil:
			return "", fmt.Errorf("checking %s in the image: %w", dir, err)
		case st.Mode()&fs.ModeSymlink != 0:
			return "", fmt.Errorf("%s (%s) %w", dir, strings.TrimPrefix(cur, root), ErrSymlink)
		case !st.IsDir():
			return "", fmt.Errorf("%s in the image is not a directory (%s)", dir, strings.TrimPrefix(cur, root))
		}
	}
	return cur, nil
}

// RemoveAll removes name (a path inside the image) and everything below it, refusing a
// symlink among its parent directories (the error wraps ErrSymlink); a symlink at name
// itself is removed, not followed. A name that does not exist is not an error.
func RemoveAll(root, name string) error {
	parts := strings.Split(strings.Trim(path.Clean("/"+name), "/"), "/")
	cur := root
	for i, c := range parts {
		cur = filepath.Join(cur, c)
		st, err := os.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil
		case err != nil:
			return fmt.Errorf("checking %s in the image: %w", name, err)
		case i < len(parts)-1 && st.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%s (%s) %w", name, strings.TrimPrefix(cur, root), ErrSymlink)
		}
	}
	return os.RemoveAll(cur)
}

// Replaced is a file of the image that Replace has put another file in place of.
type Replaced struct {
	name  string // path inside the image
	host  string // host path of the file written
	saved string // host path the image's own file was moved to; "" when it had none
	data  []byte // what was written, to tell whether something replaced it meanwhile
}

// Replace writes data with mode at name (a path inside the image; its directory is made
// with MkdirAll) and moves the image's own file, if any, aside to name+SavedSuffix in the
// same directory. Restore undoes it.
func Replace(root, name string, data []byte, mode fs.FileMode) (*Replaced, error) {
	dir, err := MkdirAll(root, path.Dir(path.Clean("/"+name)))
	if err != nil {
		return nil, err
	}
	r := &Replaced{name: name, host: filepath.Join(dir, path.Base(name)), data: data}
	if _, err := os.Lstat(r.host); err == nil {
		r.saved = r.host + SavedSuffix
		if err := os.Rename(r.host, r.saved); err != nil {
			return nil, fmt.Errorf("moving the image's %s aside: %w", name, err)
		}
	}
	err = os.WriteFile(r.host, data, mode)
	if err == nil {
		err = os.Chmod(r.host, mode) // the mode asked for, whatever the umask
	}
	if err != nil {
		os.Remove(r.host)
		if r.saved != "" {
			if rerr := os.Rename(r.saved, r.host); rerr != nil {
				err = errors.Join(err, fmt.Errorf("restoring the image's %s: %w", name, rerr))
			}
		}
		return nil, fmt.Errorf("writing %s into the image: %w", name, err)
	}
	return r, nil
}

// Name returns the replaced path inside the image.
func (r *Replaced) Name() string { return r.name }

// Saved returns the host path the image's own file was moved to ("" when it had none).
func (r *Replaced) Saved() string { return r.saved }

// Intact reports whether the file written is still in place, unchanged (a package of a
// transaction may have installed its own version meanwhile).
func (r *Replaced) Intact() bool {
	if fi, err := os.Lstat(r.host); err != nil || !fi.Mode().IsRegular() {
		return false
	}
	data, err := os.ReadFile(r.host)
	return err == nil && string(data) == string(r.data)
}

// Restore removes the file written and puts the image's own back. When something replaced
// the written file meanwhile, that newer file is kept and the saved original dropped. It
// is idempotent and reports every failure.
func (r *Replaced) Restore() error {
	if r == nil || r.host == "" {
		return nil
	}
	var errs []error
	if r.Intact() {
		if err := os.Remove(r.host); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing %s from the image: %w", r.name, err))
		} else if r.saved != "" {
			if err := os.Rename(r.saved, r.host); err != nil {
				errs = append(errs, fmt.Errorf("restoring the image's %s: %w", r.name, err))
			}
		}
	} else if r.saved != "" {
		if err := os.Remove(r.saved); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing the saved %s: %w", r.name, err))
		}
	}
	if len(errs) == 0 {
		r.host, r.saved = "", ""
	}
	return errors.Join(errs...)
}
