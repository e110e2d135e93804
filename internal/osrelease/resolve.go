package osrelease

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

// ErrTooManyLinks is returned by ResolveInRoot for a symlink loop.
var ErrTooManyLinks = errors.New("osrelease: too many levels of symbolic links")

// maxLinks bounds the symlinks followed in one resolution, as the kernel's ELOOP limit does.
const maxLinks = 40

// ResolveInRoot returns the host path of name (a path inside the root filesystem at root,
// absolute or not) with every symlink resolved as if root were "/": an absolute link target
// restarts at root and ".." never climbs above it, so the result always lies inside root.
// Components that do not exist are kept as they are, so the caller's open reports them.
// Image roots are inspected offline and nothing else writes them meanwhile, so the usual
// check-then-open race of such resolution does not matter here.
func ResolveInRoot(root, name string) (string, error) {
	resolved := "" // path below root, slash-separated, no leading slash
	pending := name
	links := 0
	for pending != "" {
		var part string
		part, pending, _ = strings.Cut(pending, "/")
		switch part {
		case "", ".":
			continue
		case "..":
			resolved = parentInRoot(resolved)
			continue
		}
		next := path.Join(resolved, part)
		host := filepath.Join(root, filepath.FromSlash(next))
		fi, err := os.Lstat(host)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			resolved = next
			continue
		}
		if err != nil {
			return "", fmt.Errorf("resolving %s in %s: %w", name, root, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		links++
		if links > maxLinks {
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
	return filepath.Join(root, filepath.FromSlash(resolved)), nil
}

// parentInRoot is path.Dir for a root-relative path, clamped at the root.
func parentInRoot(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}
