package chroot_test

import (
	"fmt"

	"github.com/refit-images/packer-plugin-refit/builder/chroot"
	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
)

// A post-processor finds the image first among the artifact's files, and the
// distribution in its state.
func ExampleArtifact() {
	a := &chroot.Artifact{
		Image:     "output-debian/debian.qcow2",
		Format:    "qcow2",
		Manifest:  "output-debian/debian.qcow2.manifest.json",
		Checksum:  "output-debian/debian.qcow2.sha256",
		Size:      diskimage.Size{OnDisk: 760 << 20, Virtual: 1500 << 20},
		InputSize: diskimage.Size{OnDisk: 236 << 20, Virtual: 1500 << 20},
		StateData: map[string]interface{}{"os_id": "debian", "os_family": "debian", "package_manager": "dpkg"},
	}
	fmt.Println(a)
	for _, f := range a.Files() {
		fmt.Println(f)
	}
	fmt.Println(a.State("os_family"), a.State("package_manager"))
	// Output:
	// qcow2 disk image: output-debian/debian.qcow2 (760 MiB on disk, 1500 MiB virtual; the source: 236 MiB on disk, 1500 MiB virtual)
	// output-debian/debian.qcow2
	// output-debian/debian.qcow2.manifest.json
	// output-debian/debian.qcow2.sha256
	// debian dpkg
}
