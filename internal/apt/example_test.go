package apt_test

import (
	"fmt"
	"log"
	"os"

	"github.com/refit-images/packer-plugin-refit/internal/apt"
)

// Pick the Packages index a Release file offers for main/amd64, then stream
// the index.
func Example() {
	f, err := os.Open("testdata/aptrepo/dists/demo-security/Release")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	release, err := apt.ParseRelease(f)
	if err != nil {
		log.Fatal(err)
	}
	path, index, ok := release.IndexPath("main", "amd64")
	if !ok {
		log.Fatal("no Packages index for main/amd64")
	}
	fmt.Println(release.Suite, path, len(index.SHA256))
	if release.AcquireByHash {
		fmt.Println(apt.ByHashPath(path, index.SHA256)[:len("main/binary-amd64/by-hash/SHA256/")])
	}

	packages, err := os.Open("testdata/aptrepo/dists/demo-security/main/binary-amd64/Packages")
	if err != nil {
		log.Fatal(err)
	}
	defer packages.Close()
	err = apt.ParsePackages(packages, func(p *apt.Package) error {
		fmt.Println(p.Package, p.Version, p.Filename)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// demo-security main/binary-amd64/Packages.xz 64
	// main/binary-amd64/by-hash/SHA256/
	// refit-demo 1.0-2 pool/updates/main/r/refit-demo/refit-demo_1.0-2_amd64.deb
	// refit-tilde 2.0-1 pool/updates/main/r/refit-tilde/refit-tilde_2.0-1_amd64.deb
}

// Count the installed packages in a dpkg status database.
func ExampleParseStatus() {
	f, err := os.Open("testdata/status")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	entries, err := apt.ParseStatus(f)
	if err != nil {
		log.Fatal(err)
	}
	installed := 0
	for _, e := range entries {
		if e.Installed() {
			installed++
		}
	}
	fmt.Printf("%d entries, %d installed\n", len(entries), installed)
	// Output:
	// 11 entries, 7 installed
}
