package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/patch"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
)

// runPatch patches one image with refit-patch's engine against one APT repository (the
// benchmark's local mirror) and prints how long it took and the report's summary. The
// download cache starts empty, so the packages are fetched as in a first run.
func runPatch(ctx context.Context, args []string) error {
	fs := newFlags("patch")
	image := fs.String("image", "", "qcow2 or raw image to patch (only read)")
	output := fs.String("output", "", "patched image to write")
	repo := fs.String("repo", "", "base URL of the APT repository (the folder holding dists/)")
	suite := fs.String("suite", "", "APT suite of the repository")
	components := fs.String("components", "main", "comma-separated APT components")
	key := fs.String("gpg-key", "", "public key (armored or binary) that signs the repository's Release")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *image == "" || *output == "" || *repo == "" || *suite == "" || *key == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("-image, -output, -repo, -suite and -gpg-key are all needed")
	}
	cache, err := os.MkdirTemp("", "refit-bench-cache-")
	if err != nil {
		return fmt.Errorf("creating the download cache: %w", err)
	}
	defer os.RemoveAll(cache)
	spec := repository.Spec{Name: "bench-mirror", URL: *repo, Type: repository.TypeDeb, Suite: *suite,
		Components: strings.Split(*components, ","), GPGKey: *key}
	start := time.Now()
	logf := func(s string) { fmt.Fprintf(os.Stderr, "  %6.1f s  %s\n", time.Since(start).Seconds(), s) }
	res, err := patch.PatchImage(ctx, patch.ImageOptions{Input: *image, Output: *output, Patch: patch.Options{
		Repositories: []repository.Spec{spec}, CacheDir: cache, Log: logf,
	}})
	if err != nil {
		return err
	}
	fmt.Printf("refit-patch: %.1f s; %s\n", time.Since(start).Seconds(), res.Report.Summary())
	return nil
}
