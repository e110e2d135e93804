package osrelease

import "github.com/refit-images/packer-plugin-refit/internal/imageroot"

// ResolveInRoot is imageroot.Resolve.
//
// Deprecated: use imageroot.Resolve; this alias goes once its last callers have moved.
func ResolveInRoot(root, name string) (string, error) { return imageroot.Resolve(root, name) }
