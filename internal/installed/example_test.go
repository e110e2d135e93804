package installed_test

import (
	"fmt"
	"path/filepath"

	"github.com/refit-images/packer-plugin-refit/internal/installed"
)

func ExampleReadManifest() {
	m, err := installed.ReadManifest(filepath.Join("testdata", "manifests", "rocky-9.3.json"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.OS.ID, m.OS.VersionID, m.OS.Family, m.PackageManager)
	for _, p := range m.Packages {
		fmt.Println(p.Name, p.EVR(), p.Arch, p.Provides)
	}
	// Output:
	// rocky 9.3 rhel rpm
	// bash 5.1.8-6.el9_1 x86_64 []
	// kernel-core 5.14.0-362.8.1.el9_3 x86_64 [installonlypkg(kernel)]
	// openssl 1:3.0.7-24.el9 x86_64 []
	// tzdata 2023c-1.el9 noarch []
}
