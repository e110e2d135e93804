//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Config

package patch

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	ipatch "github.com/refit-images/packer-plugin-refit/internal/patch"
	"github.com/refit-images/packer-plugin-refit/internal/repoconfig"
	"github.com/refit-images/packer-plugin-refit/internal/sbom"
)

// Config is the configuration of the refit-patch post-processor.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// Path to the image to patch: a qcow2 or raw disk image, or a container image (an OCI
	// image layout directory, an `oci-archive` or a `docker-archive` tarball, told apart by
	// their content). Defaults to the incoming artifact's first file ending in `.qcow2`,
	// `.raw` or `.img`, else its first file that is a container image (what Packer's
	// docker-save post-processor or `podman save` write).
	Image string `mapstructure:"image"`
	// Container images only: what becomes of a package whose scripts are unsafe offline,
	// since a container has no first boot to run them. `hold` (default) holds it back and
	// names it in the report with the reason; `run` installs it at patch time and runs those
	// scripts as they are, in the image's root (in a network namespace of their own, so
	// without network; services kept from starting).
	ContainerScripts string `mapstructure:"container_scripts"`
	// Container images only: the platform of a multi-arch index to patch, as
	// `os/arch[/variant]` (`linux/amd64`, `linux/arm64/v8`). Defaults to every platform of
	// the index (each with its own package manager: a foreign architecture needs its
	// qemu-user handler); the other entries are carried over unchanged.
	Platform string `mapstructure:"platform"`
	// With several filesystems holding `/etc/os-release`: which one is the root — a
	// partition number (`"3"`), `UUID=…`, `LABEL=…` or an LVM volume (`"vg/root"`).
	MountPartition string `mapstructure:"mount_partition"`
	// Repositories to update from, exactly as in the refit-repodiff data source: `name`,
	// `url`, `type` (`rpm-md` or `deb`), `suite`, `components`, `architecture`, `gpg_key`,
	// `priority`, `enabled`.
	Repositories []repoconfig.Repository `mapstructure:"repository"`
	// The `updates` output of a refit-repodiff data source: apply exactly these. With
	// `repository` blocks too, each must still be offered at the same version (else the
	// run fails, asking for a fresh diff); without them the checksums they carry are
	// trusted as the data source verified them.
	Updates []repoconfig.UpdateOutput `mapstructure:"updates"`
	// The same as `updates`, as one JSON string: `updates_json =
	// jsonencode(data.refit-repodiff.NAME.updates)` passes the data source's output
	// without a `dynamic "updates"` block.
	UpdatesJSON string `mapstructure:"updates_json"`
	// security_only, min_severity, include, exclude, as in refit-repodiff.
	repoconfig.Filters `mapstructure:",squash"`
	// Armored or binary OpenPGP public key files. A `repository` block without its own
	// `gpg_key` uses the first of them to verify its metadata signature.
	GPGKeys []string `mapstructure:"gpg_keys"`
	// Refuse to apply anything whose signature chain cannot be verified: every enabled
	// repository needs a `gpg_key` (or `gpg_keys`). Downloads are always checked
	// against the checksums of the (signed) metadata.
	RequireSignatures bool `mapstructure:"require_signatures"`
	// What to do with package scripts: `analyze` (default: run offline only what is
	// proven safe, rewrite what can be made safe, defer the rest to the first boot),
	// `defer` (defer every package to the first boot) or `fail` (fail instead of
	// deferring anything).
	Scriptlets string `mapstructure:"scriptlets"`
	// Kernel packages: `offline` (default: install them offline; the initramfs is built
	// in the image), `firstboot` (defer them, and anything rebuilding the initramfs, to
	// the first boot) or `skip` (leave them as they are).
	Kernel string `mapstructure:"kernel"`
	// Path of the patched image. Defaults to `<input without extension>-patched.<ext>`
	// beside the input. It appears only when everything succeeded.
	Output string `mapstructure:"output"`
	// Compress the patched qcow2 image (qemu-img convert -c, with `output_compression_type`): a smaller file, but
	// slower to write, and the first read of each cluster is slower for whatever boots or
	// copies it (a converted copy, or the blocks rewritten later, are uncompressed). By
	// default the output is compressed when the input is (most cloud images are); `true`
	// or `false` decides. Only for qcow2 images: the output keeps the input's format.
	// Either way, the blocks the patch freed are discarded, so the output holds only what
	// the filesystems use.
	OutputCompress *bool `mapstructure:"output_compress"`
	// How a compressed output is compressed: `zlib`, which every qcow2 reader reads, or
	// `zstd`, several times faster to write and a little smaller, which QEMU 5.1 and later
	// read. Defaults to the input's (a zstd-compressed input stays zstd), else `zlib`.
	OutputCompressionType string `mapstructure:"output_compression_type"`
	// Replace the input image with the patched one (only at the very end, by a rename:
	// after a failure the input is unchanged). Cannot be combined with `output`.
	InPlace bool `mapstructure:"in_place"`
	// Path of the JSON report to write: what was updated, deferred (with the reason
	// for each script) or held back, CVEs and advisories fixed.
	Report string `mapstructure:"report"`
	// The SBOMs written beside the patched image, read from its package database after
	// the patch (its new package set): `"cyclonedx-json"` writes `<image>.cdx.json`
	// (CycloneDX 1.6), `"spdx-json"` writes `<image>.spdx.json` (SPDX 2.3). Each
	// installed package is a component with its purl, source package, licenses and
	// supplier; the operating system is a component of its own; the patched image (name,
	// sha256, format) is the document's subject. `[]` writes none. Defaults to
	// `["cyclonedx-json", "spdx-json"]`.
	SBOMFormats []string `mapstructure:"sbom_formats"`
	// Folder for downloaded metadata and packages, kept by checksum between runs.
	// Defaults to `$XDG_CACHE_HOME/packer-plugin-refit` (or `~/.cache/...`).
	CacheDir string `mapstructure:"cache_dir"`
	// How long the whole patch may take, as a Go duration. Defaults to `1h`.
	Timeout string `mapstructure:"timeout"`

	timeout time.Duration
	ctx     interpolate.Context
}

// unknownValue is what Packer passes for a value only known at build time (a data
// source's output during packer validate).
const unknownValue = "<unknown>"

// Prepare decodes raws into c, applies defaults and validates every field, returning all
// problems at once.
func (c *Config) Prepare(raws ...interface{}) error {
	if err := config.Decode(c, &config.DecodeOpts{
		PluginType: BuilderID, Interpolate: true, InterpolateContext: &c.ctx,
	}, raws...); err != nil {
		return err
	}
	var errs *packersdk.MultiError
	add := func(format string, args ...any) { errs = packersdk.MultiErrorAppend(errs, fmt.Errorf(format, args...)) }
	if c.Scriptlets == "" {
		c.Scriptlets = ipatch.ScriptletsAnalyze
	}
	switch c.Scriptlets {
	case ipatch.ScriptletsAnalyze, ipatch.ScriptletsDefer, ipatch.ScriptletsFail:
	default:
		add("scriptlets must be \"analyze\", \"defer\" or \"fail\", not %q", c.Scriptlets)
	}
	if c.Kernel == "" {
		c.Kernel = ipatch.KernelOffline
	}
	switch c.Kernel {
	case ipatch.KernelOffline, ipatch.KernelFirstboot, ipatch.KernelSkip:
	default:
		add("kernel must be \"offline\", \"firstboot\" or \"skip\", not %q", c.Kernel)
	}
	if c.ContainerScripts == "" {
		c.ContainerScripts = ipatch.ContainerScriptsHold
	}
	if c.ContainerScripts != ipatch.ContainerScriptsHold && c.ContainerScripts != ipatch.ContainerScriptsRun {
		add("container_scripts must be \"hold\" or \"run\", not %q", c.ContainerScripts)
	}
	if err := diskimage.CheckCompression(c.OutputCompressionType); err != nil {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("output_compression_type: %w", err))
	}
	if c.SBOMFormats == nil {
		c.SBOMFormats = sbom.DefaultFormats
	}
	if err := sbom.CheckFormats(c.SBOMFormats); err != nil {
		errs = packersdk.MultiErrorAppend(errs, err)
	}
	if c.InPlace && c.Output != "" {
		add("output and in_place cannot both be set: in_place replaces the input image")
	}
	// packer validate does not run data sources: their outputs arrive as "<unknown>".
	if c.UpdatesJSON != "" && c.UpdatesJSON != unknownValue {
		var more []repoconfig.UpdateOutput
		if err := json.Unmarshal([]byte(c.UpdatesJSON), &more); err != nil {
			add("updates_json: %v (pass jsonencode(data.refit-repodiff.NAME.updates))", err)
		}
		c.Updates = append(c.Updates, more...)
	}
	if len(c.Repositories) == 0 && len(c.Updates) == 0 && c.UpdatesJSON != unknownValue {
		add("at least one repository block, or updates (from a refit-repodiff data source), is required")
	}
	errs = packersdk.MultiErrorAppend(errs, repoconfig.ValidateRepositories(c.Repositories)...)
	enabled := 0
	for i, r := range c.Repositories {
		where := r.Where(i)
		if !r.IsEnabled() {
			continue
		}
		enabled++
		if c.RequireSignatures && r.GPGKey == "" && len(c.GPGKeys) == 0 {
			add("%s: require_signatures is set, so it needs gpg_key (or set gpg_keys)", where)
		}
		if r.GPGKey != "" {
			if _, err := os.Stat(r.GPGKey); err != nil {
				add("%s: gpg_key: %v", where, err)
			}
		}
	}
	if c.RequireSignatures && len(c.Updates) > 0 && enabled == 0 {
		add("require_signatures with updates needs the repository blocks they came from, to verify them again")
	}
	for _, k := range c.GPGKeys {
		if _, err := os.Stat(k); err != nil {
			add("gpg_keys: %v", err)
		}
	}
	for i, u := range c.Updates {
		if u.Name == "" || u.Location == "" || u.Checksum == "" {
			add("updates[%d] (%q): name, location and checksum are required (pass the refit-repodiff data source's updates output)", i, u.Name)
		}
	}
	errs = packersdk.MultiErrorAppend(errs, c.Filters.Validate()...)
	var err error
	if c.timeout, err = repoconfig.ParseTimeout(c.Timeout, time.Hour); err != nil {
		errs = packersdk.MultiErrorAppend(errs, err)
	}
	if c.CacheDir == "" {
		if dir, err := os.UserCacheDir(); err == nil {
			c.CacheDir = filepath.Join(dir, "packer-plugin-refit")
		}
	}
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}
