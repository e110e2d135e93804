package chroot

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
)

// StepCopySource verifies source_image against its checksum, decides the output
// format and file name, and writes a sparse raw working copy of the source into the
// output directory. The source is only ever opened for reading.
//
// Uses: ui. Produces: source_format, output_format, output_image, work_image, and
// the generated data SourceImage, SourceFormat and OutputImage.
type StepCopySource struct {
	Config        *Config
	GeneratedData *packerbuilderdata.GeneratedData
}

// Run implements multistep.Step.
func (s *StepCopySource) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := uiOf(state)
	c := s.Config
	if c.SourceImageChecksum != "" {
		ui.Say("Verifying the source image's checksum...")
		if err := diskimage.VerifyChecksum(c.SourceImage, c.SourceImageChecksum); err != nil {
			return halt(state, fmt.Errorf("source_image_checksum: %w", err))
		}
	}
	format, err := diskimage.DetectFormat(c.SourceImage)
	if err != nil {
		return halt(state, fmt.Errorf("source_image: %w", err))
	}
	outFormat := diskimage.Format(c.OutputFormat)
	if outFormat == "" {
		outFormat = format
	}
	if outFormat == diskimage.FormatRaw && c.OutputCompress {
		return halt(state, fmt.Errorf(`output_compress: the source image is raw, and so is the output unless output_format = "qcow2" is set: raw images cannot be compressed`))
	}
	name := c.outputImageName(outFormat)
	output := filepath.Join(c.OutputDir, name)
	work := filepath.Join(c.OutputDir, name+".work.raw")

	ui.Say(fmt.Sprintf("Copying the %s source image %s to a raw working copy...", format, c.SourceImage))
	if _, err := diskimage.MakeWorkingCopy(ctx, c.SourceImage, work); err != nil {
		return halt(state, fmt.Errorf("copying the source image: %w", err))
	}
	state.Put(stateSourceFormat, format)
	state.Put(stateOutputFormat, outFormat)
	state.Put(stateOutputImage, output)
	state.Put(stateWorkImage, work)
	s.GeneratedData.Put("SourceImage", c.SourceImage)
	s.GeneratedData.Put("SourceFormat", string(format))
	s.GeneratedData.Put("OutputImage", output)
	return multistep.ActionContinue
}

// Cleanup implements multistep.Step. A failed build's working copy goes with the
// output directory (commonsteps.StepOutputDir).
func (s *StepCopySource) Cleanup(multistep.StateBag) {}
