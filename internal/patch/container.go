package patch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/refit-images/packer-plugin-refit/internal/container"
	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/osrelease"
	"github.com/refit-images/packer-plugin-refit/internal/sbom"
)

// The container steps, as passed to Options.Hook around the steps of Run.
const (
	StepUnpack = "unpack"
	StepLayer  = "layer"
	StepWrite  = "write"
)

// containerForget are what a patch run leaves in a container's root that is no part of
// what it changed, the way a Dockerfile cleans after apt-get: apt's and dpkg's caches and
// logs (which carry the time of the run) and ldconfig's cache of file times. The new layer
// keeps what the input image had there.
var containerForget = []string{
	"var/cache/apt/*.bin", "var/cache/apt/archives/*.deb", "var/cache/apt/archives/partial", "var/cache/apt/archives/lock",
	"var/lib/apt/lists/*", "var/log/apt", "var/log/dpkg.log", "var/log/alternatives.log",
	"var/cache/ldconfig/aux-cache", "var/lib/rpm/.rpm.lock", "var/lib/rpm/rpmdb.sqlite-shm", "var/lib/rpm/rpmdb.sqlite-wal",
}

// ContainerOptions describe the patch of one container image.
type ContainerOptions struct {
	// Input is an OCI image layout directory, an oci-archive or a docker-archive; it is
	// only read.
	Input string
	// Output is where the patched image goes, in Input's format; it appears only when the
	// whole run succeeded.
	Output string
	// Platform ("linux/amd64", "linux/arm64/v8") chooses the image of a multi-arch index;
	// "" patches each.
	Platform string
	// SBOMFormats are the SBOMs written beside Output (sbom.FormatCycloneDX,
	// sbom.FormatSPDX), of the first image patched, with its manifest digest as the
	// subject's SHA-256; none when empty. ToolVersion names the plugin's version in them.
	SBOMFormats []string
	ToolVersion string
	// Patch are the options of the package transaction; Patch.Target is set here and
	// Patch.ContainerScripts defaults to ContainerScriptsHold.
	Patch Options
}

// ContainerResult is what PatchContainer produced: one entry per image patched.
type ContainerResult struct {
	Format    container.Format
	Platforms []*PlatformResult
	// SBOMs are the paths of the SBOMs written, in the order of SBOMFormats.
	SBOMs []string
}

// PlatformResult is the patch of one image of a container source.
type PlatformResult struct {
	Report   *Report
	Manifest *installed.Manifest
}

// ContainerSummary is the container part of a Report.
type ContainerSummary struct {
	Format   string `json:"format"`
	Platform string `json:"platform"`
	// From and To are the image manifests' digests (To equals From when nothing changed).
	From string `json:"from"`
	To   string `json:"to"`
	// Layer describes the new layer (absent when nothing changed): its digest, its
	// compressed size, its tar size, the size of the files it holds, its entries.
	Layer *LayerSummary `json:"layer,omitempty"`
}

// LayerSummary describes the layer a container patch added.
type LayerSummary struct {
	Digest       string `json:"digest"`
	DiffID       string `json:"diff_id"`
	Bytes        int64  `json:"bytes"`
	TarBytes     int64  `json:"tar_bytes"`
	ContentBytes int64  `json:"content_bytes"`
	Entries      int    `json:"entries"`
	Whiteouts    int    `json:"whiteouts"`
}

// PatchContainer patches each chosen image of a container image: its layers are
// unpacked (refusing hostile content), mounted with overlayfs in a private mount
// namespace over an empty upper directory, patched there with Run (no first boot: see
// Options.ContainerScripts), and the upper directory becomes one new layer on top of the
// untouched original ones. On any error nothing is written and nothing stays mounted.
func PatchContainer(ctx context.Context, o ContainerOptions) (res *ContainerResult, err error) {
	opts := &o.Patch
	if o.Input == "" || o.Output == "" {
		return nil, errors.New("both the input and the output image are needed")
	}
	if opts.ContainerScripts == "" {
		opts.ContainerScripts = ContainerScriptsHold
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("patching a container image needs root (overlayfs, device nodes, file owners)")
	}
	outDir := filepath.Dir(o.Output)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the output directory: %w", err)
	}
	work, err := os.MkdirTemp(outDir, ".refit-patch-")
	if err != nil {
		return nil, fmt.Errorf("creating a working directory beside the output: %w", err)
	}
	defer os.RemoveAll(work)
	// what a patched image no longer needs (its unpacked layers …) is removed while the
	// next steps run; all of it is gone before the working directory goes
	var removing sync.WaitGroup
	defer removing.Wait()
	discard := func(paths ...string) {
		removing.Go(func() {
			for _, p := range paths {
				os.RemoveAll(p)
			}
		})
	}
	src, err := container.Open(o.Input, work)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	images, err := src.Select(o.Platform)
	if err != nil {
		return nil, err
	}
	ns, err := diskimage.NewNamespace(ctx, opts.Log)
	if err != nil {
		return nil, err
	}
	defer ns.Close() // before the working directory goes: the overlay goes with it
	res = &ContainerResult{Format: src.Format}
	patched := map[v1.Hash]v1.Image{}
	for i, im := range images {
		dir := filepath.Join(work, strconv.Itoa(i))
		pr, img, err := patchContainerImage(ctx, o, ns, src, im, dir, discard)
		if err != nil {
			if len(images) > 1 {
				err = fmt.Errorf("%s: %w", im.Platform, err)
			}
			return nil, err
		}
		if img != nil {
			patched[im.Digest] = img
		}
		res.Platforms = append(res.Platforms, pr)
		discard(dir)
	}
	if err := opts.step(StepWrite); err != nil {
		return nil, err
	}
	opts.log("writing %s (%s)", o.Output, src.Format)
	if err := src.Write(o.Output, patched); err != nil {
		return nil, err
	}
	if len(o.SBOMFormats) > 0 && len(res.Platforms) > 0 && res.Platforms[0].Report.Container != nil {
		first := res.Platforms[0]
		m := first.Manifest
		inv := &sbom.Inventory{Manifest: m, OS: osrelease.Info{ID: m.OS.ID, VersionID: m.OS.VersionID},
			ToolName: "packer-plugin-refit", ToolVersion: o.ToolVersion,
			Image: sbom.Image{Name: filepath.Base(o.Output), Format: string(src.Format),
				SHA256: strings.TrimPrefix(first.Report.Container.To, "sha256:")}}
		if res.SBOMs, err = inv.Write(o.Output, o.SBOMFormats); err != nil {
			return res, fmt.Errorf("writing the SBOMs (the patched image is complete): %w", err)
		}
	}
	return res, nil
}

// patchContainerImage patches one image in dir and returns the new image (nil when
// nothing changed); it hands discard what it no longer needs once the layer is written.
func patchContainerImage(ctx context.Context, o ContainerOptions, ns *diskimage.Namespace, src *container.Source, im *container.Image, dir string, discard func(...string)) (*PlatformResult, v1.Image, error) {
	opts := o.Patch
	if err := opts.step(StepUnpack); err != nil {
		return nil, nil, err
	}
	opts.log("unpacking %s (%s)", im.Digest, im.Platform)
	ov, err := container.MountOverlay(ctx, ns, im, dir, true)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", o.Input, err)
	}
	mounted := true
	defer func() {
		if mounted {
			_ = ov.Unmount(context.WithoutCancel(ctx))
		}
	}()
	mountpoint := ov.MountPoint()
	if err := os.Mkdir(filepath.Join(dir, "packages"), 0o755); err != nil {
		return nil, nil, err
	}
	// each command in a network namespace of its own: with container_scripts = "run" the
	// scripts that are unsafe offline run as they are, and must find no network
	prefix := append(ns.CommandPrefix(), "unshare", "--net", "--")
	opts.Target = Target{HostRoot: ns.HostPath(mountpoint), ChrootDir: mountpoint, Prefix: prefix, Scratch: true}
	if opts.WorkDir == "" {
		opts.WorkDir = filepath.Join(dir, "packages")
	}
	since := time.Now().Add(-time.Second)
	rep, err := Run(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	m, err := installed.FromRoot(opts.Target.HostRoot)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the patched image's packages: %w", err)
	}
	if err := ov.Unmount(ctx); err != nil {
		return nil, nil, err
	}
	mounted = false
	summary := &ContainerSummary{Format: string(src.Format), Platform: im.Platform, From: im.Digest.String(), To: im.Digest.String()}
	rep.Container = summary
	pr := &PlatformResult{Report: rep, Manifest: m}
	if len(rep.Updated) == 0 {
		opts.log("%s: nothing applied; the image stays as it is", im.Platform)
		return pr, nil, nil
	}
	if err := opts.step(StepLayer); err != nil {
		return nil, nil, err
	}
	upper, lowers := ov.Upper, ov.Lowers
	if err := container.Forget(upper, containerForget); err != nil {
		return nil, nil, err
	}
	cf, err := im.ConfigFile()
	if err != nil {
		return nil, nil, err
	}
	tarPath := filepath.Join(dir, "layer.tar.gz")
	st, err := container.WriteLayer(upper, lowers, since, cf.Created.Time, tarPath)
	if err != nil {
		return nil, nil, err
	}
	discard(filepath.Join(dir, "l"), upper, filepath.Join(dir, "w"))
	var what []string
	for _, p := range rep.Updated {
		what = append(what, fmt.Sprintf("%s %s -> %s", p.Name, p.From, p.To))
	}
	anns := map[string]string{
		"org.opencontainers.image.base.digest": im.Digest.String(),
		"org.opencontainers.image.created":     st.Time.UTC().Format(time.RFC3339),
		"org.opencontainers.image.description": "patched by refit-patch: " + strings.Join(what, ", "),
	}
	if im.Name != "" {
		anns["org.opencontainers.image.base.name"] = im.Name
	}
	img, err := container.Append(im, container.Addition{LayerTar: tarPath, Time: st.Time,
		CreatedBy: "refit-patch: " + strings.Join(what, ", "), Annotations: anns})
	if err != nil {
		return nil, nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, nil, err
	}
	top := layers[len(layers)-1]
	ls := &LayerSummary{TarBytes: st.TarBytes, ContentBytes: st.ContentBytes, Entries: st.Entries, Whiteouts: st.Whiteouts}
	for _, f := range []func() error{
		func() (err error) { d, err := top.Digest(); ls.Digest = d.String(); return err },
		func() (err error) { d, err := top.DiffID(); ls.DiffID = d.String(); return err },
		func() (err error) { ls.Bytes, err = top.Size(); return err },
		func() (err error) { d, err := img.Digest(); summary.To = d.String(); return err },
	} {
		if err := f(); err != nil {
			return nil, nil, fmt.Errorf("building the new image: %w", err)
		}
	}
	summary.Layer = ls
	opts.log("%s: new layer %s: %d bytes compressed, %d as tar, %d bytes of files, %d entries (%d whiteouts)",
		im.Platform, ls.Digest, ls.Bytes, ls.TarBytes, ls.ContentBytes, ls.Entries, ls.Whiteouts)
	return pr, img, nil
}
