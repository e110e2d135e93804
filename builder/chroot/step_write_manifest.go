package chroot

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
)

// manifestSuffix is appended to the output image's path to name its manifest.
const manifestSuffix = ".manifest.json"

// StepWriteManifest writes the refit-manifest/v1 package manifest of the finished
// image beside the output image. It reads the working copy after teardown, opened
// read-only (nothing is written to it), with the filesystems of its fstab, so
// /var on a partition of its own is read too.
//
// Uses: ui, work_image, output_image. Produces: manifest_path.
type StepWriteManifest struct {
	Enabled        bool
	MountPartition string
}

// Run implements multistep.Step.
func (s *StepWriteManifest) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	if !s.Enabled {
		return multistep.ActionContinue
	}
	ui := uiOf(state)
	ui.Say("Writing the package manifest of the finished image...")
	path := stringOf(state, stateOutputImage) + manifestSuffix
	m, err := s.readManifest(ctx, stringOf(state, stateWorkImage))
	if err == nil {
		err = m.Write(path)
	}
	if err != nil {
		return halt(state, fmt.Errorf("package_manifest: %w (set package_manifest = false to build without one)", err))
	}
	ui.Say(fmt.Sprintf("%s: %d packages (%s)", path, len(m.Packages), m.PackageManager))
	state.Put(stateManifest, path)
	return multistep.ActionContinue
}

func (s *StepWriteManifest) readManifest(ctx context.Context, work string) (m *installed.Manifest, err error) {
	session, err := diskimage.OpenReadOnly(ctx, work, diskimage.Options{MountPartition: s.MountPartition, MountFstab: true})
	if err != nil {
		return nil, fmt.Errorf("opening the finished image: %w", err)
	}
	defer func() {
		if cerr := session.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing the finished image: %w", cerr))
		}
	}()
	m, err = installed.FromRoot(session.Root())
	if err != nil {
		return nil, fmt.Errorf("reading the installed packages: %w", err)
	}
	return m, nil
}

// Cleanup implements multistep.Step. A failed build's manifest goes with the
// output directory.
func (s *StepWriteManifest) Cleanup(multistep.StateBag) {}
