package chroot_test

import (
	"fmt"

	"github.com/refit-images/packer-plugin-refit/builder/chroot"
)

// A post-processor finds the image first among the artifact's files, and the
// distribution in its state.
func ExampleArtifact() {
	a := &chroot.Artifact{
		Image:     "output-debian/debian.qcow2",
		Format:    "qcow2",
		Manifest:  "output-debian/debian.qcow2.manifest.json",
		Checksum:  "output-debian/debian.qcow2.sha256",
		StateData: map[string]interface{}{"os_id": "debian", "os_family": "debian", "package_manager": "dpkg"},
	}
	fmt.Println(a)
	for _, f := range a.Files() {
		fmt.Println(f)
	}
	fmt.Println(a.State("os_family"), a.State("package_manager"))
	// Output:
	// qcow2 disk image: output-debian/debian.qcow2
	// output-debian/debian.qcow2
	// output-debian/debian.qcow2.manifest.json
	// output-debian/debian.qcow2.sha256
	// debian dpkg
}
