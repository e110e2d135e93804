package chroot

import (
	"context"
	"fmt"
	"os"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
)

// StepConvertImage turns the detached working copy into the output image: a raw
// output is the working copy itself, renamed; a qcow2 output is converted from it
// (sparse, compressed with output_compress: as output_compression_type says, or like
// the source image, else zlib), and the working copy is removed.
//
// Uses: ui, work_image, output_image, output_format. Produces nothing.
type StepConvertImage struct {
	Compress bool
	// Type is output_compression_type; Source is source_image, whose compression an
	// empty Type follows.
	Type, Source string
}

// Run implements multistep.Step.
func (s *StepConvertImage) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := uiOf(state)
	work, out := stringOf(state, stateWorkImage), stringOf(state, stateOutputImage)
	format, _ := state.Get(stateOutputFormat).(diskimage.Format)
	if format == diskimage.FormatRaw {
		if err := os.Rename(work, out); err != nil {
			return halt(state, fmt.Errorf("moving the working copy to %s: %w", out, err))
		}
		return multistep.ActionContinue
	}
	what, compression := "qcow2", diskimage.NoCompression
	if s.Compress {
		compression = diskimage.Compression(s.Type)
		if compression == diskimage.NoCompression {
			source, err := diskimage.CompressionOf(ctx, s.Source)
			if err != nil {
				return halt(state, fmt.Errorf("reading how source_image is compressed: %w", err))
			}
			compression = source
			if compression == diskimage.NoCompression {
				compression = diskimage.CompressZlib
			}
		}
		what = string(compression) + "-compressed qcow2"
	}
	ui.Say(fmt.Sprintf("Converting the image to %s: %s...", what, out))
	if err := diskimage.Convert(ctx, work, out, format, compression); err != nil {
		return halt(state, fmt.Errorf("writing the output image: %w", err))
	}
	if err := os.Remove(work); err != nil {
		return halt(state, fmt.Errorf("removing the working copy: %w", err))
	}
	return multistep.ActionContinue
}

// Cleanup implements multistep.Step.
func (s *StepConvertImage) Cleanup(multistep.StateBag) {}
