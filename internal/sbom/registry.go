package sbom

import (
	"strconv"
	"strings"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"

	"github.com/refit-images/packer-plugin-refit/internal/installed"
)

// RegistryProvider is the provider name refit's images carry in the HCP Packer registry.
const RegistryProvider = "refit"

// RegistryImage returns the HCP Packer registry metadata of an image artifact, which the
// artifact hands to Packer as State(registryimage.ArtifactStateURI): the image's path as
// its id, source the image it was made from, and labels os_id, os_version_id, os_family,
// package_manager, architecture and package_count from m (when not nil), sbom_cyclonedx
// and sbom_spdx (the SBOM paths, when written), then extra (for example patched_from,
// advisories_fixed), the empty values left out.
func RegistryImage(a packersdk.Artifact, source string, m *installed.Manifest, sboms []string, extra map[string]string) (*registryimage.Image, error) {
	labels := map[string]interface{}{}
	if m != nil {
		labels["os_id"] = m.OS.ID
		labels["os_version_id"] = m.OS.VersionID
		labels["os_family"] = m.OS.Family
		labels["package_manager"] = m.PackageManager
		labels["architecture"] = m.MachineArch()
		labels["package_count"] = strconv.Itoa(len(m.Packages))
	}
	for k, v := range Named(sboms) {
		labels[k] = v
	}
	for k, v := range extra {
		labels[k] = v
	}
	for k, v := range labels {
		if v == "" {
			delete(labels, k)
		}
	}
	return registryimage.FromArtifact(a, registryimage.WithProvider(RegistryProvider), registryimage.WithSourceID(source), registryimage.SetLabels(labels))
}

// Named keys SBOM paths by what they are: "sbom_cyclonedx" and "sbom_spdx", the names
// artifacts and registry labels give them.
func Named(paths []string) map[string]string {
	named := map[string]string{}
	for _, p := range paths {
		switch {
		case strings.HasSuffix(p, suffixes[FormatCycloneDX]):
			named["sbom_cyclonedx"] = p
		case strings.HasSuffix(p, suffixes[FormatSPDX]):
			named["sbom_spdx"] = p
		}
	}
	return named
}
