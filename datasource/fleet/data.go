//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Config,Repository,DatasourceOutput,ImageOutput

// Package fleet is the refit-fleet data source: refit-repodiff's answer for many images
// at once, from their records (refit-manifest/v1 files or SBOMs), with each repository loaded once
// for the whole fleet, and a report a person can read (HTML) or a program can (JSON). It
// owns its Config, outputs and Packer wiring; the repository blocks and filters are
// internal/repoconfig's, the fleet's work internal/fleet's, the diff internal/outdated's.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/zclconf/go-cty/cty"

	"github.com/refit-images/packer-plugin-refit/internal/fetch"
	"github.com/refit-images/packer-plugin-refit/internal/fleet"
	"github.com/refit-images/packer-plugin-refit/internal/repoconfig"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
)

// Config is the configuration of the refit-fleet data source.
type Config struct {
	// Paths or globs of the images' records, one per image: `refit-manifest/v1` files,
	// such as the `<image>.manifest.json` refit-chroot writes beside each image, or the
	// SBOMs refit writes (`<image>.cdx.json` CycloneDX, `<image>.spdx.json` SPDX; any
	// CycloneDX 1.x or SPDX 2.x JSON document whose packages have rpm or deb purls). An
	// image is named after its file without the suffixes `.json`, `.manifest`, `.cdx`,
	// `.spdx`, `.sbom`, `.qcow2`, `.raw` and `.img` (`web-01.qcow2.manifest.json` is
	// `web-01`); two files naming the same image are an error.
	Manifests []string `mapstructure:"manifests" required:"true"`
	// One or more repositories, as in refit-repodiff, plus `os_id` and `os_version_id`
	// to say which images each serves. Each repository is loaded once for the whole
	// fleet. An image gets the repositories whose type fits its package manager
	// (`rpm-md` for rpm, `deb` for dpkg) and whose `os_id` and `os_version_id`, when
	// set, match it; an image that gets none is an error.
	Repositories []Repository `mapstructure:"repository" required:"true"`
	// security_only, min_severity, include, exclude: as in refit-repodiff, for every image.
	repoconfig.Filters `mapstructure:",squash"`
	// Where to write the fleet report as one self-contained HTML page (inline CSS and
	// SVG, nothing fetched when viewed): a chart of the images by pending severity, a
	// table of the images, the updates of each, and an index from CVE to the images it
	// affects.
	HTMLReport string `mapstructure:"html_report"`
	// Where to write the same report as JSON (`refit-fleet-report/v1`).
	JSONReport string `mapstructure:"json_report"`
	// Folder for downloaded metadata, kept by checksum between runs. Defaults to
	// `$XDG_CACHE_HOME/packer-plugin-refit/metadata` (or `~/.cache/...`).
	CacheDir string `mapstructure:"cache_dir"`
	// How long the whole data source may take, as a Go duration. Defaults to `30m`.
	Timeout string `mapstructure:"timeout"`

	timeout time.Duration
}

// Repository is one `repository` block: refit-repodiff's fields, and which images the
// repository serves.
type Repository struct {
	repoconfig.Repository `mapstructure:",squash"`
	// Serve only images whose os-release `ID` or family is one of these (for example
	// `["rocky", "almalinux"]`, `["rhel"]`, `["debian"]`). Unset: every image of the
	// repository's type.
	OSID []string `mapstructure:"os_id"`
	// Serve only images whose os-release `VERSION_ID` matches one of these globs (for
	// example `["9*"]`, `["12"]`). Unset: every version.
	OSVersionID []string `mapstructure:"os_version_id"`
}

// ImageOutput is one element of the `images` output.
type ImageOutput struct {
	// The image's name (its record's file name without suffixes).
	Name string `mapstructure:"name" json:"name"`
	// The record's path.
	Path string `mapstructure:"path" json:"path"`
	// The image's os-release ID (for example `rocky`, `debian`).
	OSID string `mapstructure:"os_id" json:"os_id"`
	// The image's os-release VERSION_ID.
	OSVersionID string `mapstructure:"os_version_id" json:"os_version_id"`
	// The image's architecture, by its Debian name (`amd64`, `arm64` …): the one most
	// packages in its record carry, whose APT indexes it was answered from; empty when the
	// record does not say.
	Architecture string `mapstructure:"architecture" json:"architecture"`
	// The number of updates: refit-repodiff's `count` for this image alone.
	Count int `mapstructure:"count" json:"count"`
	// refit-repodiff's `security_count` for this image alone.
	SecurityCount int `mapstructure:"security_count" json:"security_count"`
	// Sorted CVE ids fixed by this image's updates.
	CVEs []string `mapstructure:"cves" json:"cves"`
	// The highest severity among the advisories its updates fix: `Critical`,
	// `Important`, `Moderate`, `Low`, `Unrated` (updates, none fixing a rated
	// advisory) or `Up to date`.
	Severity string `mapstructure:"severity" json:"severity"`
}

// DatasourceOutput is what the data source returns.
type DatasourceOutput struct {
	// One element per image, in the order of the records' paths: `{name, path, os_id,
	// os_version_id, architecture, count, security_count, cves, severity}`.
	Images []ImageOutput `mapstructure:"images" json:"images"`
	// The names of the images with updates (`count > 0`): the ones to rebuild.
	Outdated []string `mapstructure:"outdated" json:"outdated"`
	// The updates of all images added up.
	TotalCount int `mapstructure:"total_count" json:"total_count"`
	// Sorted CVE ids fixed by the updates of any image.
	CVEs []string `mapstructure:"cves" json:"cves"`
}

// Datasource is the refit-fleet data source.
type Datasource struct {
	config Config
}

// ConfigSpec returns the HCL spec of Config.
func (d *Datasource) ConfigSpec() hcldec.ObjectSpec { return d.config.FlatMapstructure().HCL2Spec() }

// OutputSpec returns the HCL spec of DatasourceOutput.
func (d *Datasource) OutputSpec() hcldec.ObjectSpec {
	return (&DatasourceOutput{}).FlatMapstructure().HCL2Spec()
}

// Configure decodes and validates the configuration.
func (d *Datasource) Configure(raws ...interface{}) error {
	if err := config.Decode(&d.config, nil, raws...); err != nil {
		return err
	}
	return d.config.prepare()
}

func (c *Config) prepare() error {
	var errs *packersdk.MultiError
	add := func(format string, args ...any) { errs = packersdk.MultiErrorAppend(errs, fmt.Errorf(format, args...)) }
	if len(c.Manifests) == 0 {
		add("manifests is required: paths or globs of the images' refit-manifest/v1 files")
	}
	for i, m := range c.Manifests {
		if m == "" {
			add("manifests[%d] is empty", i)
		} else if _, err := filepath.Match(m, ""); err != nil {
			add("manifests[%d]: bad glob %q: %v", i, m, err)
		}
	}
	if len(c.Repositories) == 0 {
		add("at least one repository block is required")
	}
	blocks := make([]repoconfig.Repository, len(c.Repositories))
	for i, r := range c.Repositories {
		blocks[i] = r.Repository
		if err := fleet.ValidateGlobs(r.OSVersionID); err != nil {
			add("%s: %v", r.Where(i), err)
		}
	}
	errs = packersdk.MultiErrorAppend(errs, repoconfig.ValidateRepositories(blocks)...)
	errs = packersdk.MultiErrorAppend(errs, c.Filters.Validate()...)
	var err error
	if c.timeout, err = repoconfig.ParseTimeout(c.Timeout, 30*time.Minute); err != nil {
		errs = packersdk.MultiErrorAppend(errs, err)
	}
	if c.CacheDir == "" {
		if dir, err := os.UserCacheDir(); err == nil {
			c.CacheDir = filepath.Join(dir, "packer-plugin-refit", "metadata")
		}
	}
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}

// Execute diffs the fleet and returns DatasourceOutput as a cty value.
func (d *Datasource) Execute() (cty.Value, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.config.timeout)
	defer cancel()
	out, _, err := Run(ctx, &d.config, func(msg string) { fmt.Fprintln(os.Stderr, "refit-fleet: "+msg) })
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (raise timeout, currently %s)", err, d.config.timeout)
		}
		return cty.NullVal(cty.EmptyObject), err
	}
	return hcl2helper.HCL2ValueFromConfig(out, d.OutputSpec()), nil
}

// Run does the data source's work outside Packer (also used by tests and benchmarks):
// it returns the output and the report, and writes the report files the config names.
func Run(ctx context.Context, c *Config, log func(string)) (*DatasourceOutput, *fleet.Report, error) {
	paths, err := fleet.Expand(c.Manifests)
	if err != nil {
		return nil, nil, err
	}
	recs, err := fleet.ReadRecords(ctx, paths, 0)
	if err != nil {
		return nil, nil, err
	}
	log(fmt.Sprintf("%d image records", len(recs)))
	client := fetch.New(c.CacheDir)
	client.Progress = log
	job := fleet.Job{
		Records: recs,
		Filter:  c.Filters.UpdatesFilter(),
		Loader:  &repository.Loader{Fetch: client, Log: log},
	}
	for _, r := range c.Repositories {
		if !r.IsEnabled() {
			continue
		}
		spec := repoconfig.Specs([]repoconfig.Repository{r.Repository}, "")[0]
		job.Repositories = append(job.Repositories, fleet.Repository{Spec: spec, OSIDs: r.OSID, OSVersionIDs: r.OSVersionID})
	}
	if len(job.Repositories) == 0 {
		return nil, nil, errors.New("every repository block is disabled (enabled = false): enable at least one")
	}
	res, err := fleet.Run(ctx, job)
	if err != nil {
		return nil, nil, err
	}
	rep := fleet.NewReport(res)
	if c.JSONReport != "" {
		if err := rep.WriteJSON(c.JSONReport); err != nil {
			return nil, nil, fmt.Errorf("json_report: %w", err)
		}
	}
	if c.HTMLReport != "" {
		if err := rep.WriteHTML(c.HTMLReport); err != nil {
			return nil, nil, fmt.Errorf("html_report: %w", err)
		}
	}
	out := &DatasourceOutput{Images: []ImageOutput{}, Outdated: rep.Outdated, TotalCount: rep.TotalCount, CVEs: rep.CVEList()}
	for _, im := range rep.Images {
		out.Images = append(out.Images, ImageOutput{Name: im.Name, Path: im.Path, OSID: im.OSID, OSVersionID: im.OSVersionID, Architecture: im.Architecture,
			Count: im.Count, SecurityCount: im.SecurityCount, CVEs: im.CVEs, Severity: im.Severity})
	}
	return out, rep, nil
}
