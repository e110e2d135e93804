package chroot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
)

// checksumSuffix is appended to the output image's path to name its checksum file.
const checksumSuffix = ".sha256"

// StepWriteChecksum writes `<image>.sha256` beside the output image, in the format
// `sha256sum -c` reads.
//
// Uses: ui, output_image. Produces: checksum_path, sha256.
type StepWriteChecksum struct{}

// Run implements multistep.Step.
func (s *StepWriteChecksum) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	out := stringOf(state, stateOutputImage)
	sum, err := diskimage.FileSHA256(ctx, out)
	if err != nil {
		return halt(state, fmt.Errorf("computing the checksum of %s: %w", out, err))
	}
	path := out + checksumSuffix
	line := fmt.Sprintf("%s  %s\n", sum, filepath.Base(out))
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		return halt(state, fmt.Errorf("writing %s: %w", path, err))
	}
	uiOf(state).Say(fmt.Sprintf("sha256:%s %s", sum, out))
	state.Put(stateChecksum, path)
	state.Put(stateSHA256, sum)
	return multistep.ActionContinue
}

// Cleanup implements multistep.Step.
func (s *StepWriteChecksum) Cleanup(multistep.StateBag) {}
