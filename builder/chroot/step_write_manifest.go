package chroot

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/sbom"
)

// manifestSuffix is appended to the output image's path to name its manifest.
const manifestSuffix = ".manifest.json"

// StepWriteManifest reads the inventory of the finished image (os-release and package
// database) once, for the package manifest and the SBOMs, and writes the
// refit-manifest/v1 package manifest beside the output image. It reads the working
// copy after teardown, opened read-only (nothing is written to it), with the
// filesystems of its fstab, so /var on a partition of its own is read too.
//
// Uses: ui, work_image, output_image. Produces: manifest_path, inventory.
type StepWriteManifest struct {
	// Enabled writes the manifest; SBOMs needs the inventory for StepWriteSBOMs.
	Enabled, SBOMs bool
	MountPartition string
}

// Run implements multistep.Step.
func (s *StepWriteManifest) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	if !s.Enabled && !s.SBOMs {
		return multistep.ActionContinue
	}
	ui := uiOf(state)
	ui.Say("Reading the packages of the finished image...")
	inv, err := s.readInventory(ctx, stringOf(state, stateWorkImage))
	if err != nil {
		return halt(state, fmt.Errorf("%w (set package_manifest = false and sbom_formats = [] to build without a package list)", err))
	}
	state.Put(stateInventory, inv)
	if !s.Enabled {
		return multistep.ActionContinue
	}
	m := inv.Manifest
	path := stringOf(state, stateOutputImage) + manifestSuffix
	if err := m.Write(path); err != nil {
		return halt(state, fmt.Errorf("package_manifest: %w (set package_manifest = false to build without one)", err))
	}
	ui.Say(fmt.Sprintf("%s: %d packages (%s)", path, len(m.Packages), m.PackageManager))
	state.Put(stateManifest, path)
	return multistep.ActionContinue
}

func (s *StepWriteManifest) readInventory(ctx context.Context, work string) (inv *sbom.Inventory, err error) {
	session, err := diskimage.OpenReadOnly(ctx, work, diskimage.Options{MountPartition: s.MountPartition, MountFstab: true})
	if err != nil {
		return nil, fmt.Errorf("opening the finished image: %w", err)
	}
	defer func() {
		if cerr := session.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing the finished image: %w", cerr))
		}
	}()
	inv, err = sbom.FromRoot(session.Root())
	if err != nil {
		return nil, fmt.Errorf("reading the installed packages: %w", err)
	}
	return inv, nil
}

// Cleanup implements multistep.Step. A failed build's manifest goes with the
// output directory.
func (s *StepWriteManifest) Cleanup(multistep.StateBag) {}
