// Command bigrepo writes the benchmark data set: a Fedora-sized rpm-md repository and
// an image root whose rpmdb holds the installed packages (see fixture.BuildBigRPMRepoAt).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

func main() {
	packages := flag.Int("packages", 70000, "packages in the repository")
	installed := flag.Int("installed", 1000, "packages installed in the root")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: bigrepo [-packages N] [-installed N] DIR")
		os.Exit(2)
	}
	if err := fixture.BuildBigRPMRepoAt(flag.Arg(0), *packages, *installed); err != nil {
		fmt.Fprintln(os.Stderr, "bigrepo:", err)
		os.Exit(1)
	}
}
