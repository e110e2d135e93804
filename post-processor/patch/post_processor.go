// Package patch is the refit-patch post-processor: it patches the disk image of the
// incoming artifact (or `image`) offline — updates computed as refit-repodiff does,
// packages verified, their scripts analysed, applied with the image's own package manager
// in a chroot or deferred to a one-shot first-boot unit — and returns the patched image as
// a new artifact. The work is done by internal/patch; this package owns the Config and
// the Packer wiring, with the `repository` blocks, filters and `updates` elements it
// shares with refit-repodiff taken from internal/repoconfig.
package patch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"

	"github.com/refit-images/packer-plugin-refit/internal/container"
	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	ipatch "github.com/refit-images/packer-plugin-refit/internal/patch"
	"github.com/refit-images/packer-plugin-refit/internal/repoconfig"
	"github.com/refit-images/packer-plugin-refit/internal/sbom"
	"github.com/refit-images/packer-plugin-refit/version"
)

// BuilderID identifies artifacts made by refit-patch.
const BuilderID = "refit.post-processor.patch"

// PostProcessor is the refit-patch post-processor.
type PostProcessor struct {
	config Config
}

// ConfigSpec returns the HCL spec of Config.
func (p *PostProcessor) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

// Configure decodes and validates the configuration.
func (p *PostProcessor) Configure(raws ...interface{}) error { return p.config.Prepare(raws...) }

// imageExtensions are the file name endings taken as disk images in an incoming artifact.
var imageExtensions = []string{".qcow2", ".raw", ".img"}

// inputImage returns the image to patch: `image`, else the artifact's first image file.
func inputImage(c *Config, a packersdk.Artifact) (string, error) {
	if c.Image != "" {
		return c.Image, nil
	}
	if a != nil {
		for _, f := range a.Files() {
			for _, ext := range imageExtensions {
				if strings.HasSuffix(strings.ToLower(f), ext) {
					return f, nil
				}
			}
		}
	}
	if a != nil {
		for _, f := range a.Files() {
			if _, err := container.Detect(f); err == nil {
				return f, nil
			}
		}
	}
	if a != nil {
		if why, ok := dockerArtifacts[a.BuilderId()]; ok {
			return "", fmt.Errorf("refit-patch: the incoming artifact is %s, not a container image refit can read: "+
				"build with the docker builder's commit = true and add the docker-save post-processor (it writes a docker-archive) "+
				"before refit-patch, or set image to a saved image (podman save, docker save, skopeo copy)", why)
		}
	}
	return "", errors.New("refit-patch: the incoming artifact has no .qcow2, .raw or .img file and no container image (OCI layout, oci-archive, docker-archive; for Packer's docker builder, add the docker-save post-processor before refit-patch); set image")
}

// dockerArtifacts are the builder ids of the artifacts of Packer's docker builder and its
// post-processors that hold no image file refit can read, with what they hold instead.
var dockerArtifacts = map[string]string{
	"packer.docker":                       "the docker builder's export (export_path: the container's file system flattened, without layers or config)",
	"packer.post-processor.docker-import": "an image in the Docker daemon's store (the docker builder's commit, or docker-import)",
	"packer.post-processor.docker-tag":    "an image tag in the Docker daemon's store (docker-tag)",
	"packer.post-processor.docker-push":   "an image pushed to a registry (docker-push)",
}

// outputImage returns where the patched image goes.
func outputImage(c *Config, input string) string {
	switch {
	case c.InPlace:
		return input
	case c.Output != "":
		return c.Output
	}
	ext := filepath.Ext(input)
	return strings.TrimSuffix(input, ext) + "-patched" + ext
}

// options turns the configuration into the internal job.
func options(c *Config, input, output string, log func(string)) ipatch.ImageOptions {
	o := ipatch.ImageOptions{Input: input, Output: output, MountPartition: c.MountPartition, Compress: c.OutputCompress, CompressionType: diskimage.Compression(c.OutputCompressionType),
		SBOMFormats: c.SBOMFormats, ToolVersion: version.PluginVersion.String(), Patch: ipatch.Options{
			Filter:     c.Filters.UpdatesFilter(),
			Scriptlets: c.Scriptlets, Kernel: c.Kernel, CacheDir: c.CacheDir, Log: log,
		}}
	for _, u := range c.Updates {
		o.Patch.Updates = append(o.Patch.Updates, u.Update())
	}
	key := ""
	if len(c.GPGKeys) > 0 {
		key = c.GPGKeys[0]
	}
	o.Patch.Repositories = repoconfig.Specs(c.Repositories, key)
	return o
}

// PostProcess patches the image and returns the patched one as a new artifact. The
// input artifact is kept unless the patch was in place.
func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, a packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	c := &p.config
	input, err := inputImage(c, a)
	if err != nil {
		return nil, false, false, err
	}
	output := outputImage(c, input)
	if !c.InPlace {
		if _, err := os.Stat(output); err == nil && !c.PackerForce {
			return nil, false, false, fmt.Errorf("refit-patch: %s already exists; remove it, choose another output, or run packer build -force", output)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if format, err := container.Detect(input); err == nil {
		return p.patchContainer(ctx, ui, input, output, format)
	}
	ui.Say(fmt.Sprintf("refit-patch: patching %s offline into %s", input, output))
	res, err := ipatch.PatchImage(ctx, options(c, input, output, func(s string) { ui.Say(s) }))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (raise timeout, currently %s)", err, c.timeout)
		}
		return nil, false, false, fmt.Errorf("refit-patch: %w (the input image is unchanged)", err)
	}
	if c.Report != "" {
		if err := res.Report.Write(c.Report); err != nil {
			return nil, false, false, fmt.Errorf("refit-patch: %w", err)
		}
		ui.Say("report written to " + c.Report)
	}
	ui.Say("refit-patch: " + res.Report.Summary())
	for _, n := range res.Report.Notes {
		ui.Say("note: " + n)
	}
	ui.Say(fmt.Sprintf("refit-patch: %s: %s (the input: %s)", output, res.Sizes.Output, res.Sizes.Input))
	art := &Artifact{Image: output, Format: string(res.Format), Manifest: res.ManifestPath, Report: c.Report, SBOMs: res.SBOMs,
		Size: res.Sizes.Output, InputSize: res.Sizes.Input,
		StateData: map[string]interface{}{
			"image": output, "image_format": string(res.Format), "manifest": res.ManifestPath,
			"bytes_on_disk": res.Sizes.Output.OnDisk, "virtual_size": res.Sizes.Output.Virtual,
			"input_bytes_on_disk": res.Sizes.Input.OnDisk, "input_virtual_size": res.Sizes.Input.Virtual,
			"compressed": res.Sizes.Compressed, "compression": string(res.Sizes.Compression),
			"os_id": res.Manifest.OS.ID, "os_version_id": res.Manifest.OS.VersionID, "os_family": res.Manifest.OS.Family,
			"package_manager": res.Manifest.PackageManager,
			"generated_data": map[string]interface{}{
				"updated": len(res.Report.Updated), "deferred": len(res.Report.Deferred), "held_back": len(res.Report.HeldBack),
			},
		}}
	for k, p := range sbom.Named(res.SBOMs) {
		art.StateData[k] = p
	}
	// Only fails for a nil artifact.
	art.StateData[registryimage.ArtifactStateURI], _ = sbom.RegistryImage(art, input, res.Manifest, res.SBOMs, map[string]string{
		"image_format": string(res.Format), "sha256": res.SHA256, "patched_from": input,
		"updated_count": strconv.Itoa(len(res.Report.Updated)), "deferred_count": strconv.Itoa(len(res.Report.Deferred)),
		"advisories_fixed": strings.Join(advisoryIDs(res.Report), ","), "cves_fixed": strings.Join(res.Report.CVEs, ","),
	})
	// keep the input artifact unless it was patched in place (then it is the output)
	return art, true, c.InPlace, nil
}

// advisoryIDs lists the ids of the advisories the patch's updates fix.
func advisoryIDs(r *ipatch.Report) []string {
	var ids []string
	for _, a := range r.Advisories {
		ids = append(ids, a.ID)
	}
	return ids
}
