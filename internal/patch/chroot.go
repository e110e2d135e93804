package patch

import (
	"errors"
	"fmt"

	"github.com/refit-images/packer-plugin-refit/internal/imageroot"
)

// mkdirInImage makes dir inside the root (imageroot.MkdirAll) and returns its host path;
// a symlink on the way is refused (ErrRefused).
func mkdirInImage(root, dir string) (string, error) {
	p, err := imageroot.MkdirAll(root, dir)
	return p, refuseSymlink(err)
}

// refuseSymlink makes an imageroot error about a symlinked directory a refusal: an image
// pointing a directory refit writes into elsewhere is hostile.
func refuseSymlink(err error) error {
	if errors.Is(err, imageroot.ErrSymlink) {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return err
}
