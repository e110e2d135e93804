package installed

import (
	"errors"
	"fmt"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/osrelease"
)

// ErrUnsupportedOS is returned by FromRoot for a distribution outside the rhel, fedora, suse
// and debian families.
var ErrUnsupportedOS = errors.New("installed: unsupported distribution")

// FromRoot builds the manifest of the root filesystem at root: the distribution from its
// os-release and the packages from its rpmdb or dpkg status, whichever the distribution
// family uses. It only reads; nothing under root changes.
func FromRoot(root string) (*Manifest, error) {
	info, err := osrelease.Read(root)
	if err != nil {
		return nil, err
	}
	family := info.Family()
	m := &Manifest{
		Format:         ManifestFormat,
		OS:             OS{ID: info.ID, VersionID: info.VersionID, Family: family},
		PackageManager: info.PackageManager(),
	}
	switch m.PackageManager {
	case osrelease.PackageManagerRPM:
		m.Packages, err = ReadRPMDB(root)
	case osrelease.PackageManagerDpkg:
		m.Packages, err = ReadDpkgStatus(root)
	default:
		return nil, fmt.Errorf("%w in %s: ID=%q ID_LIKE=%q; refit supports the rhel, fedora, suse and debian families",
			ErrUnsupportedOS, root, info.ID, strings.Join(info.IDLike, " "))
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}
