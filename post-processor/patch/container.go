package patch

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"

	"github.com/refit-images/packer-plugin-refit/internal/container"
	ipatch "github.com/refit-images/packer-plugin-refit/internal/patch"
	"github.com/refit-images/packer-plugin-refit/internal/sbom"
)

// patchContainer patches a container image (see internal/patch.PatchContainer) and
// returns the patched image as the artifact: the same format, one new layer per platform.
func (p *PostProcessor) patchContainer(ctx context.Context, ui packersdk.Ui, input, output string, format container.Format) (packersdk.Artifact, bool, bool, error) {
	c := &p.config
	if c.MountPartition != "" || c.OutputCompress != nil || c.OutputCompressionType != "" {
		return nil, false, false, errors.New("refit-patch: mount_partition, output_compress and output_compression_type are for disk images; the input is a container image")
	}
	ui.Say(fmt.Sprintf("refit-patch: patching the %s %s offline into %s", format, input, output))
	o := options(c, input, output, func(s string) { ui.Say(s) })
	o.Patch.ContainerScripts = c.ContainerScripts
	res, err := ipatch.PatchContainer(ctx, ipatch.ContainerOptions{Input: input, Output: output, Platform: c.Platform,
		SBOMFormats: c.SBOMFormats, ToolVersion: o.ToolVersion, Patch: o.Patch})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (raise timeout, currently %s)", err, c.timeout)
		}
		return nil, false, false, fmt.Errorf("refit-patch: %w (the input image is unchanged)", err)
	}
	updated, held := 0, 0
	var reports []string
	for _, pr := range res.Platforms {
		rep := pr.Report
		updated += len(rep.Updated)
		held += len(rep.HeldBack)
		ui.Say(fmt.Sprintf("refit-patch: %s: %s", rep.Container.Platform, rep.Summary()))
		for _, n := range rep.Notes {
			ui.Say("note: " + n)
		}
		if l := rep.Container.Layer; l != nil {
			ui.Say(fmt.Sprintf("refit-patch: %s: %s → %s, new layer %s (%d bytes compressed, %d bytes of files)",
				rep.Container.Platform, rep.Container.From, rep.Container.To, l.Digest, l.Bytes, l.ContentBytes))
		}
		if c.Report == "" {
			continue
		}
		path := reportPath(c.Report, rep.Container.Platform, len(res.Platforms))
		if err := rep.Write(path); err != nil {
			return nil, false, false, fmt.Errorf("refit-patch: %w", err)
		}
		reports = append(reports, path)
		ui.Say("report written to " + path)
	}
	first := res.Platforms[0]
	manifest := output + ".manifest.json"
	if err := first.Manifest.Write(manifest); err != nil {
		return nil, false, false, fmt.Errorf("refit-patch: writing the manifest (the patched image is complete): %w", err)
	}
	report := ""
	if len(reports) > 0 {
		report = reports[0] // the others are beside it
	}
	art := &Artifact{Image: output, Format: string(res.Format), Manifest: manifest, Report: report, SBOMs: res.SBOMs,
		StateData: map[string]interface{}{
			"image": output, "image_format": string(res.Format), "manifest": manifest,
			"image_digest": first.Report.Container.To, "input_digest": first.Report.Container.From,
			"os_id": first.Manifest.OS.ID, "os_version_id": first.Manifest.OS.VersionID, "os_family": first.Manifest.OS.Family,
			"package_manager": first.Manifest.PackageManager,
			"generated_data": map[string]interface{}{
				"updated": updated, "deferred": 0, "held_back": held,
			},
		}}
	for k, p := range sbom.Named(res.SBOMs) {
		art.StateData[k] = p
	}
	// Only fails for a nil artifact.
	art.StateData[registryimage.ArtifactStateURI], _ = sbom.RegistryImage(art, input, first.Manifest, res.SBOMs, map[string]string{
		"image_format": string(res.Format), "image_digest": first.Report.Container.To, "patched_from": input,
		"updated_count": strconv.Itoa(updated), "held_back_count": strconv.Itoa(held),
	})
	return art, true, c.InPlace, nil
}

// reportPath is where the report of one platform goes: `report` itself, or with several
// platforms `report` with the platform before its extension (report-linux-arm64-v8.json).
func reportPath(report, platform string, platforms int) string {
	if platforms == 1 {
		return report
	}
	ext := filepath.Ext(report)
	return strings.TrimSuffix(report, ext) + "-" + strings.ReplaceAll(platform, "/", "-") + ext
}
