package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/patch"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
)

// runContainerImage prints the path of fixture.DebianContainerImages' OCI layout (the
// Debian base suite's root plus an entrypoint layer), building it first when the cache
// has none. Treat it as read-only.
func runContainerImage(_ context.Context, args []string) error {
	if err := newFlags("container-image").Parse(args); err != nil {
		return err
	}
	var imgs fixture.ContainerImages
	if err := fixtureRun(func(tb testing.TB) { imgs = fixture.DebianContainerImages(tb) }); err != nil {
		return err
	}
	fmt.Println(imgs.OCILayout)
	return nil
}

// runPodmanConfig writes a private podman configuration and storage under the directory
// given (fixture.PodmanConfig) and prints the export lines that select them.
func runPodmanConfig(_ context.Context, args []string) error {
	fs := newFlags("podman-config")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("podman-config takes one directory")
	}
	env, err := fixture.PodmanConfig(fs.Arg(0))
	if err != nil {
		return err
	}
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		fmt.Printf("export %s=%q\n", k, v)
	}
	return nil
}

// runPatchContainer patches a container image with refit-patch's engine against this
// machine's -updates and -security suites (an empty download cache, as a first run) and
// prints the time, the new layer's sizes and the report's summary.
func runPatchContainer(ctx context.Context, args []string) error {
	fs := newFlags("patch-container")
	image := fs.String("image", "", "container image to patch (only read)")
	output := fs.String("output", "", "patched image to write (same format)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of refit-patch's own work (not apt's or dpkg's) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *image == "" || *output == "" {
		fs.Usage()
		return errors.New("-image and -output are needed")
	}
	var specs []repository.Spec
	err := fixtureRun(func(tb testing.TB) {
		for _, r := range fixture.HostDebianRepos(tb, fixture.DebianSuite+"-updates", fixture.DebianSuite+"-security") {
			specs = append(specs, repository.Spec{Name: r.Suite, URL: r.URI, Type: repository.TypeDeb, Suite: r.Suite,
				Components: r.Components, GPGKey: r.Key})
		}
	})
	if err != nil {
		return err
	}
	cache, err := os.MkdirTemp("", "refit-bench-cache-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	logf := func(s string) { fmt.Fprintf(os.Stderr, "  %6.1f s  %s\n", time.Since(start).Seconds(), s) }
	res, err := patch.PatchContainer(ctx, patch.ContainerOptions{Input: *image, Output: *output, Patch: patch.Options{
		Repositories: specs, CacheDir: cache, Log: logf}})
	if err != nil {
		return err
	}
	rep := res.Platforms[0].Report
	l := rep.Container.Layer
	if l == nil {
		return errors.New("nothing was patched: the image is up to date")
	}
	fmt.Printf("refit_seconds=%.1f refit_layer_bytes=%d refit_layer_tar_bytes=%d refit_files_bytes=%d\n",
		time.Since(start).Seconds(), l.Bytes, l.TarBytes, l.ContentBytes)
	fmt.Fprintln(os.Stderr, rep.Summary())
	return nil
}
