package outdated

import (
	"errors"
	"fmt"

	"github.com/refit-images/packer-plugin-refit/internal/arch"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
)

// ImageArch is the architecture of the image whose packages m lists: arch.Detect on root
// when there is one (its programs, cross-checked with dpkg and with the architecture most
// of m's packages carry, when m is given), or else (no
// root, or a root without programs) the machine architecture most of m's packages carry.
// ok is false when neither tells.
func ImageArch(root string, m *installed.Manifest) (a arch.Arch, ok bool, err error) {
	if root != "" {
		a, err := arch.Detect(root)
		if err == nil && m != nil {
			err = a.Agrees(m.MachineArch(), "most installed packages")
		}
		if !errors.Is(err, arch.ErrNoProgram) {
			return a, err == nil, err
		}
	}
	if m == nil || m.MachineArch() == "" {
		return arch.Arch{}, false, nil
	}
	a, err = arch.Lookup(m.MachineArch())
	return a, err == nil, err
}

// ForArch returns specs with every deb repository reading the Packages index of a (which
// also lists the packages of architecture all). A deb repository set to another
// architecture is an error: its packages could not run in the image. rpm-md repositories
// list every architecture in one index and are returned as they are (the diff matches the
// installed packages' arch and noarch).
func ForArch(specs []repository.Spec, a arch.Arch) ([]repository.Spec, error) {
	out := make([]repository.Spec, len(specs))
	for i, s := range specs {
		if s.Type == repository.TypeDeb {
			switch {
			case s.Arch == "":
				s.Arch = a.Debian
			case !a.Is(s.Arch):
				return nil, fmt.Errorf("repository %q reads architecture %s, but the image is %s: remove architecture (it defaults to the image's) or set it to %s",
					s.Name, s.Arch, a, a.Debian)
			}
		}
		out[i] = s
	}
	return out, nil
}

// needsArch reports whether a deb repository is among specs.
func needsArch(specs []repository.Spec) bool {
	for _, s := range specs {
		if s.Type == repository.TypeDeb {
			return true
		}
	}
	return false
}
