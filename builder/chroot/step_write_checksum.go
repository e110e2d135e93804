package chroot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// checksumSuffix is appended to the output image's path to name its checksum file.
const checksumSuffix = ".sha256"

// StepWriteChecksum writes `<image>.sha256` beside the output image, in the format
// `sha256sum -c` reads.
//
// Uses: ui, output_image. Produces: checksum_path.
type StepWriteChecksum struct{}

// Run implements multistep.Step.
func (s *StepWriteChecksum) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	out := stringOf(state, stateOutputImage)
	sum, err := fileSHA256(ctx, out)
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
	return multistep.ActionContinue
}

// Cleanup implements multistep.Step.
func (s *StepWriteChecksum) Cleanup(multistep.StateBag) {}

// fileSHA256 returns the hex SHA-256 of the file at path; cancelling ctx stops it.
func fileSHA256(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
