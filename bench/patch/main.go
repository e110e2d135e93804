// Command patch runs refit-patch's engine (internal/patch) on one disk image outside
// Packer, against this machine's Debian apt sources, and prints how long it took. It is
// the refit side of bench/patch/compare.sh.
//
//	go run ./bench/patch -image debian.qcow2 -output debian-patched.qcow2
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/patch"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
)

func main() {
	image := flag.String("image", "", "qcow2 or raw image to patch")
	output := flag.String("output", "", "patched image to write")
	cache := flag.String("cache", "", "download cache (default: a fresh temporary directory)")
	suites := flag.String("suites", "bookworm,bookworm-updates,bookworm-security", "apt suites to update from")
	flag.Parse()
	if *image == "" || *output == "" {
		flag.Usage()
		os.Exit(2)
	}
	if *cache == "" {
		dir, err := os.MkdirTemp("", "refit-bench-cache-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(dir)
		*cache = dir
	}
	specs, err := hostSpecs(strings.Split(*suites, ","))
	if err != nil {
		fail(err)
	}
	start := time.Now()
	res, err := patch.PatchImage(context.Background(), patch.ImageOptions{Input: *image, Output: *output, Patch: patch.Options{
		Repositories: specs, CacheDir: *cache, Log: func(s string) { fmt.Fprintln(os.Stderr, "  "+s) },
	}})
	if err != nil {
		fail(err)
	}
	fmt.Printf("refit-patch: %.1f s; %s\n", time.Since(start).Seconds(), res.Report.Summary())
}

// hostSpecs reads this machine's apt sources for the suites (the mirror is never written
// into the project).
func hostSpecs(suites []string) ([]repository.Spec, error) {
	srcs, err := fixture.HostAPTSources()
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, s := range suites {
		want[s] = true
	}
	var specs []repository.Spec
	for _, s := range srcs {
		for _, uri := range s.URIs {
			for _, suite := range s.Suites {
				if !want[suite] {
					continue
				}
				key := s.Options["signed-by"]
				if key == "" || strings.Contains(key, "BEGIN PGP") {
					key = "/usr/share/keyrings/debian-archive-keyring.gpg"
				}
				specs = append(specs, repository.Spec{Name: fmt.Sprintf("%s-%d", suite, len(specs)), URL: uri,
					Type: repository.TypeDeb, Suite: suite, Components: s.Components, GPGKey: key})
			}
		}
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("this machine's apt configuration has no deb entries for %v", suites)
	}
	return specs, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "patch:", err)
	os.Exit(1)
}
