//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Config,DatasourceOutput,AdvisoryOutput

// Package repodiff is the refit-repodiff data source: which installed packages of an
// image, root filesystem or manifest are outdated against yum/dnf and APT repositories.
// It owns its Config (the input) and its outputs and Packer wiring; the `repository`
// blocks, filters and `updates` elements it shares with refit-patch are
// internal/repoconfig's, and the diff is internal/outdated's.
package repodiff

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

	"github.com/refit-images/packer-plugin-refit/internal/container"
	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/fetch"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/outdated"
	"github.com/refit-images/packer-plugin-refit/internal/repoconfig"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// Config is the configuration of the refit-repodiff data source. Exactly one of
// `manifest`, `rootfs` and `image` names what is installed.
type Config struct {
	// Path to a `refit-manifest/v1` package manifest, such as the
	// `<image>.manifest.json` that refit-chroot writes beside each image.
	Manifest string `mapstructure:"manifest"`
	// Path to a root filesystem directory. Installed packages are read from its rpmdb
	// (`var/lib/rpm` or `usr/lib/sysimage/rpm`; sqlite, bdb or ndb) or from
	// `var/lib/dpkg/status`. Nothing under it is modified.
	Rootfs string `mapstructure:"rootfs"`
	// Path to a qcow2 or raw disk image. It is opened read-only (a qcow2 is first
	// converted to a temporary raw copy): the root filesystem — the one holding
	// `/etc/os-release`, on a partition or an LVM logical volume — and the filesystems
	// of its fstab are mounted read-only without journal replay in a private mount
	// namespace, and released afterwards. Needs root and loop devices. It may also be a
	// container image — an OCI image layout directory, an `oci-archive` or a
	// `docker-archive` tarball, told apart by their content: its layers are unpacked
	// into a temporary directory (refusing hostile layers, as refit-patch does) and
	// mounted read-only with overlayfs in a private mount namespace. Needs root.
	Image string `mapstructure:"image"`
	// With a container `image` holding several platforms (a multi-arch index): the one
	// to read, as `os/arch[/variant]` (`linux/arm64/v8`).
	Platform string `mapstructure:"platform"`
	// With `image`: which filesystem is the root, when automatic detection is not
	// wanted — a partition number (`"3"`), `UUID=…`, `LABEL=…` or an LVM volume
	// (`"vg/root"`).
	MountPartition string `mapstructure:"mount_partition"`
	// One or more repositories to compare against.
	Repositories []repoconfig.Repository `mapstructure:"repository" required:"true"`
	// security_only, min_severity, include, exclude.
	repoconfig.Filters `mapstructure:",squash"`
	// Folder for downloaded metadata, kept by checksum between runs. Defaults to
	// `$XDG_CACHE_HOME/packer-plugin-refit/metadata` (or `~/.cache/...`).
	CacheDir string `mapstructure:"cache_dir"`
	// How long the whole data source may take, as a Go duration. Defaults to `30m`.
	Timeout string `mapstructure:"timeout"`

	timeout time.Duration
}

// AdvisoryOutput is one element of the `advisories` output.
type AdvisoryOutput struct {
	ID       string   `mapstructure:"id" json:"id"`
	Type     string   `mapstructure:"type" json:"type"`
	Severity string   `mapstructure:"severity" json:"severity"`
	Title    string   `mapstructure:"title" json:"title"`
	CVEs     []string `mapstructure:"cves" json:"cves"`
}

// DatasourceOutput is what the data source returns.
type DatasourceOutput struct {
	// The outdated packages: `{name, arch, action, installed, available, epoch,
	// version, release, repository, location, checksum, size, advisories, severity,
	// replaces}`. `action` is `upgrade`, `install` (an install-only package such as a
	// kernel, installed beside the old ones) or `obsolete` (a new package replacing
	// the installed ones named in `replaces`).
	Updates []repoconfig.UpdateOutput `mapstructure:"updates" json:"updates"`
	// The number of updates.
	Count int `mapstructure:"count" json:"count"`
	// The number of updates that fix a security advisory (or come from a security suite).
	SecurityCount int `mapstructure:"security_count" json:"security_count"`
	// The advisories fixed by the updates: `{id, type, severity, title, cves}`.
	Advisories []AdvisoryOutput `mapstructure:"advisories" json:"advisories"`
	// Sorted CVE ids fixed by the updates.
	CVEs []string `mapstructure:"cves" json:"cves"`
	// The os-release ID of what was inspected (for example `rocky`, `debian`).
	OSID string `mapstructure:"os_id" json:"os_id"`
	// The os-release VERSION_ID.
	OSVersionID string `mapstructure:"os_version_id" json:"os_version_id"`
	// `rhel`, `fedora`, `suse` or `debian`.
	OSFamily string `mapstructure:"os_family" json:"os_family"`
	// `rpm` or `dpkg`.
	PackageManager string `mapstructure:"package_manager" json:"package_manager"`
	// How many packages are installed.
	InstalledCount int `mapstructure:"installed_count" json:"installed_count"`
}

// Datasource is the refit-repodiff data source.
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
	inputs := 0
	for _, s := range []string{c.Manifest, c.Rootfs, c.Image} {
		if s != "" {
			inputs++
		}
	}
	if inputs != 1 {
		add("exactly one of manifest, rootfs and image must be set (got %d)", inputs)
	}
	if c.Platform != "" && c.Image == "" {
		add("platform applies to a container image only")
	}
	if c.MountPartition != "" && c.Image == "" {
		add("mount_partition applies to image only")
	}
	if len(c.Repositories) == 0 {
		add("at least one repository block is required")
	}
	errs = packersdk.MultiErrorAppend(errs, repoconfig.ValidateRepositories(c.Repositories)...)
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

// Execute computes the diff and returns DatasourceOutput as a cty value.
func (d *Datasource) Execute() (cty.Value, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.config.timeout)
	defer cancel()
	out, err := Run(ctx, &d.config, func(msg string) { fmt.Fprintln(os.Stderr, "refit-repodiff: "+msg) })
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (raise timeout, currently %s)", err, d.config.timeout)
		}
		return cty.NullVal(cty.EmptyObject), err
	}
	return hcl2helper.HCL2ValueFromConfig(out, d.OutputSpec()), nil
}

// Run does the data source's work outside Packer (also used by tests and benchmarks).
func Run(ctx context.Context, c *Config, log func(string)) (*DatasourceOutput, error) {
	var (
		read func(names func([]string)) (*installed.Manifest, error)
		root = c.Rootfs
	)
	switch {
	case c.Image != "":
		var release func()
		var err error
		root, release, err = openImage(ctx, c, log)
		if err != nil {
			return nil, err
		}
		defer release()
		read = func(names func([]string)) (*installed.Manifest, error) {
			return installed.FromRootWithNames(root, names)
		}
	case c.Manifest != "":
		read = func(func([]string)) (*installed.Manifest, error) { return installed.ReadManifest(c.Manifest) }
	case c.Rootfs != "":
		if st, serr := os.Stat(c.Rootfs); serr != nil {
			return nil, fmt.Errorf("rootfs: %w", serr)
		} else if !st.IsDir() {
			return nil, fmt.Errorf("rootfs: %s is not a directory", c.Rootfs)
		}
		read = func(names func([]string)) (*installed.Manifest, error) {
			return installed.FromRootWithNames(c.Rootfs, names)
		}
	default:
		return nil, errors.New("no manifest or rootfs given")
	}
	var m *installed.Manifest
	client := fetch.New(c.CacheDir)
	client.Progress = log
	job := outdated.Job{
		// the rpmdb or dpkg status is read while the repositories load
		ReadManifest: func(names func([]string)) (*installed.Manifest, error) {
			var err error
			m, err = read(names)
			return m, err
		},
		Root:         root,
		Filter:       c.Filters.UpdatesFilter(),
		Loader:       &repository.Loader{Fetch: client, Log: log},
		Repositories: repoconfig.Specs(c.Repositories, ""),
	}
	res, err := outdated.Run(ctx, job)
	if err != nil {
		return nil, err
	}
	return toOutput(m, res), nil
}

// openImage attaches and mounts c.Image read-only and returns its root and the function
// that releases it.
func openImage(ctx context.Context, c *Config, log func(string)) (string, func(), error) {
	if _, err := container.Detect(c.Image); err == nil {
		log("opening the container image " + c.Image + " read-only")
		r, err := container.OpenReadOnly(ctx, c.Image, c.Platform, log)
		if err != nil {
			return "", nil, fmt.Errorf("image %s: %w", c.Image, err)
		}
		return r.Path, r.Close, nil
	}
	if err := diskimage.CheckHost(); err != nil {
		return "", nil, fmt.Errorf("image: %w", err)
	}
	work, err := os.MkdirTemp("", "refit-repodiff-")
	if err != nil {
		return "", nil, err
	}
	log("opening " + c.Image + " read-only")
	sess, err := diskimage.OpenReadOnly(ctx, c.Image, diskimage.Options{
		MountPartition: c.MountPartition, MountFstab: true, WorkDir: work,
	})
	if err != nil {
		os.RemoveAll(work)
		return "", nil, fmt.Errorf("image %s: %w", c.Image, err)
	}
	release := func() {
		if err := sess.Close(); err != nil {
			log("releasing " + c.Image + ": " + err.Error())
		}
		os.RemoveAll(work)
	}
	return sess.Root(), release, nil
}

func toOutput(m *installed.Manifest, res *updates.Result) *DatasourceOutput {
	out := &DatasourceOutput{
		Count: len(res.Updates), SecurityCount: res.SecurityCount,
		CVEs: repoconfig.NonNil(res.CVEs), Updates: []repoconfig.UpdateOutput{}, Advisories: []AdvisoryOutput{},
		OSID: m.OS.ID, OSVersionID: m.OS.VersionID, OSFamily: m.OS.Family,
		PackageManager: m.PackageManager, InstalledCount: len(m.Packages),
	}
	for _, u := range res.Updates {
		out.Updates = append(out.Updates, repoconfig.NewUpdateOutput(u))
	}
	for _, a := range res.Advisories {
		out.Advisories = append(out.Advisories, AdvisoryOutput{ID: a.ID, Type: a.Type, Severity: a.Severity, Title: a.Title, CVEs: repoconfig.NonNil(a.CVEs)})
	}
	return out
}
