package chroot

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/sbom"
	"github.com/refit-images/packer-plugin-refit/version"
)

// StepWriteSBOMs writes the SBOMs of sbom_formats beside the output image, from the
// inventory StepWriteManifest read, with the finished output image (name, sha256,
// format) as their subject.
//
// Uses: ui, inventory, output_image, output_format, sha256. Produces: sbom_paths.
type StepWriteSBOMs struct {
	Formats []string
}

// Run implements multistep.Step.
func (s *StepWriteSBOMs) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	if len(s.Formats) == 0 {
		return multistep.ActionContinue
	}
	inv, ok := state.Get(stateInventory).(*sbom.Inventory)
	if !ok {
		return halt(state, fmt.Errorf("sbom_formats: the image's packages were not read"))
	}
	out := stringOf(state, stateOutputImage)
	format, _ := state.Get(stateOutputFormat).(diskimage.Format)
	inv.Image = sbom.Image{Name: filepath.Base(out), SHA256: stringOf(state, stateSHA256), Format: string(format)}
	inv.ToolName, inv.ToolVersion = "packer-plugin-refit", version.PluginVersion.String()
	paths, err := inv.Write(out, s.Formats)
	if err != nil {
		return halt(state, fmt.Errorf("sbom_formats: %w (set sbom_formats = [] to build without SBOMs)", err))
	}
	for _, p := range paths {
		uiOf(state).Say(fmt.Sprintf("SBOM: %s (%d packages)", p, len(inv.Manifest.Packages)))
	}
	state.Put(stateSBOMs, paths)
	return multistep.ActionContinue
}

// Cleanup implements multistep.Step. A failed build's SBOMs go with the output directory.
func (s *StepWriteSBOMs) Cleanup(multistep.StateBag) {}
