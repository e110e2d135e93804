// Command gen writes the fleet benchmark's image records: N refit-manifest/v1 files of
// Rocky 9.3 images whose packages are those of the big benchmark repository
// (fixture.BuildBigRPMRepoAt: bigpkg00000 … at 1.0-1, about 30% of the first INSTALLED of
// them at 1.1-1 in the repository). Image k has SIZE packages starting at an offset below
// INSTALLED, so that images overlap as a real fleet's do, and every third image is patched
// (its packages at the repository's versions).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/refit-images/packer-plugin-refit/internal/installed"
)

func main() {
	images := flag.Int("images", 1000, "image records to write")
	size := flag.Int("size", 1000, "packages per image")
	updated := flag.Int("installed", 1000, "the big repository's -installed: package i < this with i%10 < 3 has 1.1-1")
	packages := flag.Int("packages", 70000, "the big repository's -packages")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gen [-images N] [-size N] DIR")
		os.Exit(2)
	}
	dir := flag.Arg(0)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	for k := range *images {
		m := &installed.Manifest{Format: installed.ManifestFormat, PackageManager: "rpm",
			OS: installed.OS{ID: "rocky", VersionID: "9.3", Family: "rhel"}}
		start := (k * 7) % max(1, min(*updated, *packages-*size))
		for j := start; j < start+*size && j < *packages; j++ {
			p := installed.Package{Name: fmt.Sprintf("bigpkg%05d", j), Version: "1.0", Release: "1", Arch: "x86_64"}
			if j%5 == 4 {
				p.Arch = "noarch"
			}
			if k%3 == 0 && j < *updated && j%10 < 3 {
				p.Version = "1.1"
			}
			p.SourceRPM = p.Name + "-" + p.Version + "-1.src.rpm"
			m.Packages = append(m.Packages, p)
		}
		if err := m.Write(filepath.Join(dir, fmt.Sprintf("image-%04d.qcow2.manifest.json", k))); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}
