package rpmmd_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/refit-images/packer-plugin-refit/internal/decompress"
	"github.com/refit-images/packer-plugin-refit/internal/rpmmd"
)

// Find primary.xml through repomd.xml, decompress it and stream its
// packages.
func ExampleParsePrimary() {
	repo := "testdata/repo"
	f, err := os.Open(filepath.Join(repo, "repodata", "repomd.xml"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	md, err := rpmmd.ParseRepomd(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	primary, ok := md.Find("primary")
	if !ok {
		fmt.Println("repository has no primary.xml")
		return
	}
	data, err := os.Open(filepath.Join(repo, primary.Location))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer data.Close()
	xml, err := decompress.Reader(data, primary.Location, primary.OpenSize)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer xml.Close()
	err = rpmmd.ParsePrimary(xml, func(p *rpmmd.Package) error {
		if p.Arch == "noarch" {
			fmt.Printf("%s-%d:%s-%s.%s obsoletes %d\n", p.Name, p.Epoch, p.Version, p.Release, p.Arch, len(p.Obsoletes))
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// rmd-data-2:1.0-3.noarch obsoletes 2
	// rmd-kernel-0:6.1.0-3.el9.noarch obsoletes 0
	// rmd-snap-0:2.0^git20240101.abc-1.noarch obsoletes 0
	// rmd-tool-0:3.1~rc1-1.noarch obsoletes 0
}

func ExampleParseUpdateinfo() {
	f, err := os.Open("testdata/updateinfo.xml")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	advisories, err := rpmmd.ParseUpdateinfo(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range advisories {
		if a.Type == "security" {
			fmt.Println(a.ID, a.Severity, a.CVEs, a.RebootSuggested)
		}
	}
	// Output:
	// RMD-2024:0101 Important [CVE-2099-1001 CVE-2099-1002] false
	// RMD-2024:0102 Moderate [CVE-2099-1003] true
}

func ExampleParseNEVRA() {
	name, epoch, version, release, arch, err := rpmmd.ParseNEVRA("nodejs-1:20.11.0-1.module+el9.3.0+200+bbbb0020.x86_64")
	fmt.Println(name, epoch, version, release, arch, err)
	// Output:
	// nodejs 1 20.11.0 1.module+el9.3.0+200+bbbb0020 x86_64 <nil>
}
