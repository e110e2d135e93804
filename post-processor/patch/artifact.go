package patch

import (
	"errors"
	"fmt"
	"os"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
)

// Artifact is the output of refit-patch: the patched image, its package manifest and,
// when asked for, the JSON report.
type Artifact struct {
	// Image is the path of the patched image.
	Image string
	// Format is "qcow2" or "raw".
	Format string
	// Manifest is the path of the refit-manifest/v1 file of the patched image.
	Manifest string
	// Report is the path of the JSON report; "" when none was written.
	Report string
	// SBOMs are the paths of the SBOMs written (sbom_formats).
	SBOMs []string
	// Size is the patched image's size; InputSize the input's, before the patch.
	Size, InputSize diskimage.Size
	// StateData holds image, image_format, manifest, os_id, os_version_id, os_family,
	// package_manager, generated_data (updated, deferred, held_back counts), the sizes
	// in bytes (bytes_on_disk, virtual_size, input_bytes_on_disk, input_virtual_size)
	// compressed, the SBOM paths as sbom_cyclonedx and sbom_spdx, and the HCP Packer
	// registry metadata under registryimage.ArtifactStateURI.
	StateData map[string]interface{}
}

// BuilderId implements packersdk.Artifact.
func (a *Artifact) BuilderId() string { return BuilderID } //nolint:revive // the SDK's name

// Files implements packersdk.Artifact: the image first, then the manifest, the report and
// the SBOMs.
func (a *Artifact) Files() []string {
	files := []string{a.Image}
	for _, f := range append([]string{a.Manifest, a.Report}, a.SBOMs...) {
		if f != "" {
			files = append(files, f)
		}
	}
	return files
}

// Id implements packersdk.Artifact: the path of the image.
func (a *Artifact) Id() string { return a.Image } //nolint:revive // the SDK's name

// String implements packersdk.Artifact.
func (a *Artifact) String() string {
	kind := "disk image"
	if a.Format != "qcow2" && a.Format != "raw" {
		kind = "container image"
	}
	s := fmt.Sprintf("patched %s %s: %s", a.Format, kind, a.Image)
	if a.Size.Virtual > 0 {
		s += fmt.Sprintf(" (%s; the input: %s)", a.Size, a.InputSize)
	}
	return s
}

// State implements packersdk.Artifact.
func (a *Artifact) State(name string) interface{} { return a.StateData[name] }

// Destroy implements packersdk.Artifact: it removes the files.
func (a *Artifact) Destroy() error {
	var errs []error
	for _, f := range a.Files() {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
