package chroot

import (
	"path/filepath"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/packertest"
	"github.com/refit-images/packer-plugin-refit/internal/sbom"
)

// TestArtifactRegistryMetadata checks the HCP Packer registry metadata a finished build's
// artifact hands to Packer, read across the plugin RPC and decoded as Packer does.
func TestArtifactRegistryMetadata(t *testing.T) {
	inv, err := sbom.FromRoot(filepath.Join("..", "..", "internal", "installed", "testdata", "roots", "debian-12"))
	if err != nil {
		t.Fatal(err)
	}
	state := new(multistep.BasicStateBag)
	state.Put(stateConfig, &Config{SourceImage: "in/debian.qcow2"})
	state.Put(stateOutputImage, "out/golden.qcow2")
	state.Put(stateOutputFormat, diskimage.FormatQcow2)
	state.Put(stateInventory, inv)
	state.Put(stateSHA256, "ab12")
	state.Put(stateSBOMs, []string{"out/golden.qcow2.cdx.json", "out/golden.qcow2.spdx.json"})
	a := newArtifact(state)
	images := packertest.RegistryImages(t, a)
	if len(images) != 1 {
		t.Fatalf("%d registry images, want 1", len(images))
	}
	img := images[0]
	if img.ImageID != "out/golden.qcow2" || img.ProviderName != "refit" || img.SourceImageID != "in/debian.qcow2" {
		t.Errorf("registry image %+v", img)
	}
	for k, want := range map[string]string{
		"os_id": "debian", "os_version_id": "12", "os_family": "debian", "package_manager": "dpkg",
		"architecture": "amd64", "package_count": "10", "image_format": "qcow2", "sha256": "ab12",
		"sbom_cyclonedx": "out/golden.qcow2.cdx.json", "sbom_spdx": "out/golden.qcow2.spdx.json",
	} {
		if img.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, img.Labels[k], want)
		}
	}
	if got := a.Files(); len(got) != 3 || got[1] != "out/golden.qcow2.cdx.json" {
		t.Errorf("Files() = %q, want the image and both SBOMs", got)
	}
}
