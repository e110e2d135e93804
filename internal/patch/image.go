package patch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/sbom"
)

// The image steps, as passed to Options.Hook around the steps of Run.
const (
	StepCopy     = "copy"
	StepAttach   = "attach"
	StepMount    = "mount"
	StepUnmount  = "unmount"
	StepConvert  = "convert"
	StepManifest = "manifest"
)

// ImageOptions describe the patch of one disk image.
type ImageOptions struct {
	// Input is the qcow2 or raw image. It is only read, unless Output is the same file.
	Input string
	// Output is where the patched image goes, in Input's format. It appears only when the
	// whole run succeeded (written under a temporary name and renamed); it may equal Input
	// (in place), which is then replaced only at that final rename.
	Output string
	// MountPartition chooses the root filesystem (see diskimage.Options).
	MountPartition string
	// Compress writes a compressed qcow2 Output (qemu-img convert -c): a smaller file,
	// slower to write, and slower on first reads of each cluster. nil follows Input:
	// compressed when Input holds compressed clusters. It needs a qcow2 Input.
	Compress *bool
	// CompressionType is the compression of a compressed Output: diskimage.CompressZlib
	// or CompressZstd; empty follows Input's (zlib when Input holds no compressed cluster).
	CompressionType diskimage.Compression
	// SBOMFormats are the SBOMs (sbom.FormatCycloneDX, sbom.FormatSPDX) written beside
	// Output from the patched image's package database; none when empty.
	SBOMFormats []string
	// ToolVersion is the plugin's version, named as the SBOMs' creator.
	ToolVersion string
	// Patch are the options of the package transaction; Patch.Target is set here.
	Patch Options
}

// ImageResult is what PatchImage produced.
type ImageResult struct {
	Report *Report
	// Manifest lists the installed packages of the patched image.
	Manifest *installed.Manifest
	// ManifestPath is where Manifest was written: Output + ".manifest.json".
	ManifestPath string
	// SBOMs are the paths of the SBOMs written, in the order of SBOMFormats.
	SBOMs []string
	// SHA256 is the hex sha256 of Output; set when SBOMs were written.
	SHA256 string
	// Format is the format of Input and Output.
	Format diskimage.Format
	// Sizes are the sizes of Input (before the patch) and Output (also in Report.Image).
	Sizes ImageSizes
}

// PatchImage copies Input to a working raw file next to Output, attaches and mounts it,
// patches it with Run, unmounts and detaches it, and converts it to Output. On any error or
// cancellation, nothing is left: no mount, no loop device, no working file, no Output (and
// Input untouched).
func PatchImage(ctx context.Context, o ImageOptions) (res *ImageResult, err error) {
	opts := &o.Patch
	if o.Input == "" || o.Output == "" {
		return nil, errors.New("both the input and the output image are needed")
	}
	if err := diskimage.CheckHost(); err != nil {
		return nil, err
	}
	inSize, err := diskimage.ImageSize(o.Input)
	if err != nil {
		return nil, err
	}
	compress, err := outputCompression(ctx, o)
	if err != nil {
		return nil, err
	}
	outDir := filepath.Dir(o.Output)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the output directory: %w", err)
	}
	work, err := os.MkdirTemp(outDir, ".refit-patch-")
	if err != nil {
		return nil, fmt.Errorf("creating a working directory beside the output: %w", err)
	}
	defer os.RemoveAll(work)
	if err := opts.step(StepCopy); err != nil {
		return nil, err
	}
	opts.log("copying %s to a working image", o.Input)
	raw := filepath.Join(work, "work.raw")
	format, err := diskimage.MakeWorkingCopy(ctx, o.Input, raw)
	if err != nil {
		return nil, fmt.Errorf("copying %s: %w", o.Input, err)
	}
	if err := opts.step(StepAttach); err != nil {
		return nil, err
	}
	img, err := diskimage.Attach(ctx, raw, diskimage.Options{MountPartition: o.MountPartition, MountFstab: true, Log: opts.Log})
	if err != nil {
		return nil, fmt.Errorf("attaching %s: %w", o.Input, err)
	}
	detached := false
	defer func() {
		if !detached {
			// A done context: the working image is thrown away, so a staged EFI
			// system partition is not written back.
			discard, cancel := context.WithCancel(context.Background())
			cancel()
			if derr := img.Detach(discard); derr != nil {
				err = errors.Join(err, fmt.Errorf("releasing the working image: %w", derr))
			}
		}
	}()
	if err := opts.step(StepMount); err != nil {
		return nil, err
	}
	mounts, err := img.MountRoot(ctx, filepath.Join(work, "root"))
	if err != nil {
		return nil, fmt.Errorf("mounting %s: %w", o.Input, err)
	}
	opts.Target = Target{HostRoot: mounts.HostRoot(), ChrootDir: mounts.Root(), Prefix: mounts.CommandPrefix()}
	if opts.WorkDir == "" {
		opts.WorkDir = filepath.Join(work, "packages")
		if err := os.MkdirAll(opts.WorkDir, 0o755); err != nil {
			return nil, err
		}
	}
	rep, err := Run(ctx, *opts)
	if err != nil {
		return nil, err
	}
	if err := opts.step(StepManifest); err != nil {
		return nil, err
	}
	inv, err := sbom.FromRoot(mounts.HostRoot())
	if err != nil {
		return nil, fmt.Errorf("reading the patched image's packages: %w", err)
	}
	m := inv.Manifest
	if err := opts.step(StepUnmount); err != nil {
		return nil, err
	}
	if err := mounts.Unmount(ctx); err != nil {
		return nil, fmt.Errorf("unmounting the patched image: %w", err)
	}
	if err := img.Detach(ctx); err != nil {
		return nil, fmt.Errorf("detaching the patched image: %w", err)
	}
	detached = true
	if err := opts.step(StepConvert); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	what := string(format)
	if compress != diskimage.NoCompression {
		what = string(compress) + "-compressed " + what
	}
	opts.log("writing %s (%s)", o.Output, what)
	if err := diskimage.Convert(ctx, raw, o.Output, format, compress); err != nil {
		return nil, fmt.Errorf("writing %s: %w", o.Output, err)
	}
	outSize, err := diskimage.ImageSize(o.Output)
	if err != nil {
		return nil, err
	}
	rep.Image = &ImageSizes{Input: inSize, Output: outSize, Compressed: compress != diskimage.NoCompression, Compression: compress}
	opts.log("%s: %s (the input: %s)", o.Output, outSize, inSize)
	res = &ImageResult{Report: rep, Manifest: m, ManifestPath: o.Output + ".manifest.json", Format: format, Sizes: *rep.Image}
	if err := m.Write(res.ManifestPath); err != nil {
		return res, fmt.Errorf("writing the manifest (the patched image is complete): %w", err)
	}
	if len(o.SBOMFormats) > 0 {
		if res.SHA256, err = diskimage.FileSHA256(ctx, o.Output); err != nil {
			return res, fmt.Errorf("hashing %s for its SBOMs: %w", o.Output, err)
		}
		inv.Image = sbom.Image{Name: filepath.Base(o.Output), SHA256: res.SHA256, Format: string(format)}
		inv.ToolName, inv.ToolVersion = "packer-plugin-refit", o.ToolVersion
		if res.SBOMs, err = inv.Write(o.Output, o.SBOMFormats); err != nil {
			return res, fmt.Errorf("writing the SBOMs (the patched image is complete): %w", err)
		}
		for _, p := range res.SBOMs {
			opts.log("SBOM: %s (%d packages)", p, len(m.Packages))
		}
	}
	return res, nil
}

// outputCompression decides how Output is compressed: as asked, or like Input.
func outputCompression(ctx context.Context, o ImageOptions) (diskimage.Compression, error) {
	if o.Compress != nil && !*o.Compress {
		return diskimage.NoCompression, nil
	}
	format, err := diskimage.DetectFormat(o.Input)
	if err != nil {
		return diskimage.NoCompression, err
	}
	if o.Compress != nil && format != diskimage.FormatQcow2 {
		return diskimage.NoCompression, fmt.Errorf("%w: compressing the output needs a qcow2 image; %s is %s (the output keeps the input's format)", diskimage.ErrUnsupportedFormat, o.Input, format)
	}
	input, err := diskimage.CompressionOf(ctx, o.Input)
	switch {
	case err != nil:
		return diskimage.NoCompression, err
	case o.Compress == nil && input == diskimage.NoCompression:
		return diskimage.NoCompression, nil
	case o.CompressionType != "":
		return o.CompressionType, nil
	case input != diskimage.NoCompression:
		return input, nil
	}
	return diskimage.CompressZlib, nil
}
