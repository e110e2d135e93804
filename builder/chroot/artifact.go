package chroot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
)

// Artifact is the output of a refit-chroot build: the image, its package manifest
// (unless package_manifest is false) and its checksum file.
type Artifact struct {
	// Image is the path of the output image.
	Image string
	// Format is "qcow2" or "raw".
	Format string
	// Manifest is the path of the refit-manifest/v1 file; "" when none was written.
	Manifest string
	// Checksum is the path of the sha256sum-style checksum file.
	Checksum string
	// SBOMs are the paths of the SBOMs written (sbom_formats), in that order.
	SBOMs []string
	// Size is the output image's size; InputSize the source image's.
	Size, InputSize diskimage.Size
	// StateData holds os_id, os_version_id, os_family, package_manager and
	// generated_data, the paths above as image, image_format, manifest and
	// checksum, and the sizes in bytes as bytes_on_disk, virtual_size,
	// input_bytes_on_disk and input_virtual_size, the SBOM paths as sbom_cyclonedx and
	// sbom_spdx, and the HCP Packer registry metadata under registryimage.ArtifactStateURI.
	StateData map[string]interface{}
}

// BuilderId implements packersdk.Artifact.
func (a *Artifact) BuilderId() string { return BuilderID } //nolint:revive // the SDK's name

// Files implements packersdk.Artifact: the image first, then the manifest, the
// checksum file and the SBOMs.
func (a *Artifact) Files() []string {
	files := []string{a.Image}
	for _, f := range append([]string{a.Manifest, a.Checksum}, a.SBOMs...) {
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
	s := fmt.Sprintf("%s disk image: %s", a.Format, a.Image)
	if a.Size.Virtual > 0 {
		s += fmt.Sprintf(" (%s; the source: %s)", a.Size, a.InputSize)
	}
	return s
}

// State implements packersdk.Artifact.
func (a *Artifact) State(name string) interface{} { return a.StateData[name] }

// Destroy implements packersdk.Artifact: it removes the files and then their
// folder when nothing else is left in it.
func (a *Artifact) Destroy() error {
	var errs []error
	for _, f := range a.Files() {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		_ = os.Remove(filepath.Dir(a.Image)) // fails, as wanted, unless empty
	}
	return errors.Join(errs...)
}
