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
	return FromRootWithNames(root, nil)
}

// FromRootWithNames is FromRoot that, for an rpm database, first gives names the installed
// package names as soon as they are read, at most once and before it returns: a caller that
// only needs the names to start its own work (refit-repodiff filtering repository metadata
// while it streams) need not wait for every header to be decoded.
func FromRootWithNames(root string, names func([]string)) (*Manifest, error) {
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
		m.Packages, err = readRPMDB(root, names)
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
