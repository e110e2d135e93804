//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Repository,UpdateOutput

// Package repoconfig holds the HCL types that refit's components share — `repository`
// blocks, the update filters (`security_only`, `min_severity`, `include`, `exclude`) and
// the elements of refit-repodiff's `updates` output, which refit-patch takes back — with
// their validation and their conversion into package repository's specs and package
// updates' types. Components import it (as packer-plugin-amazon's builders import
// builder/common); no component imports another.
package repoconfig

import (
	"fmt"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/evr"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// Repository is one `repository` block: a yum/dnf (rpm-md) or APT repository.
type Repository struct {
	// A name for the repository, shown in the `repository` field of each update.
	Name string `mapstructure:"name" required:"true"`
	// The repository's base URL (http, https or file): the folder that holds
	// `repodata/` for rpm-md, or `dists/` for deb.
	URL string `mapstructure:"url" required:"true"`
	// `rpm-md` (the default) or `deb`. It must match the image's package manager.
	Type string `mapstructure:"type"`
	// The APT suite (distribution) to read, for example `bookworm-security`. Required for deb.
	Suite string `mapstructure:"suite"`
	// The APT components to read. Defaults to `["main"]`.
	Components []string `mapstructure:"components"`
	// The Debian architecture whose `Packages` index is read (it lists the packages of
	// architecture `all` too). refit-repodiff and refit-patch default it to the image's own
	// architecture, found from its programs, and refuse a different one (its packages could
	// not run in the image). refit-fleet defaults it to each image's own architecture, the
	// one most packages in the image's record carry (`amd64` when the record does not say),
	// loading the repository once per architecture of the images it serves; when set,
	// refit-fleet reads this architecture for every image the repository serves.
	Architecture string `mapstructure:"architecture"`
	// Path to an armored (or binary) OpenPGP public key. When set, the repository's
	// metadata signature (`repomd.xml.asc`, `InRelease` or `Release.gpg`) must verify
	// against it, or the run fails.
	GPGKey string `mapstructure:"gpg_key"`
	// dnf's repository priority: when several repositories offer a package, only
	// those with the lowest number are considered. Defaults to 99.
	Priority int `mapstructure:"priority"`
	// Set to false to keep the block but skip the repository. Defaults to true.
	Enabled *bool `mapstructure:"enabled"`
}

// ValidateRepositories checks repository blocks (names unique and present, url, type and
// its fields, priority) and returns one error per problem.
func ValidateRepositories(repos []Repository) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	names := map[string]bool{}
	for i, r := range repos {
		where := r.Where(i)
		if r.Name == "" {
			add("repository %d: name is required", i+1)
		} else if names[r.Name] {
			add("%s: the name is used twice; repository names must be unique", where)
		}
		names[r.Name] = true
		if r.URL == "" {
			add("%s: url is required", where)
		}
		switch r.Type {
		case "", repository.TypeRPM:
			if r.Suite != "" || len(r.Components) > 0 {
				add("%s: suite and components apply to type = \"deb\" only", where)
			}
		case repository.TypeDeb:
			if r.Suite == "" {
				add("%s: suite is required for type = \"deb\" (for example \"bookworm-security\")", where)
			}
		default:
			add("%s: type must be \"rpm-md\" or \"deb\", not %q", where, r.Type)
		}
		if r.Priority < 0 {
			add("%s: priority must be positive (lower numbers win; default 99)", where)
		}
	}
	return errs
}

// Where names the i-th (from 0) block in messages: `repository 2 ("updates")`.
func (r Repository) Where(i int) string { return fmt.Sprintf("repository %d (%q)", i+1, r.Name) }

// IsEnabled tells whether the block is in use (`enabled` unset or true).
func (r Repository) IsEnabled() bool { return r.Enabled == nil || *r.Enabled }

// Specs converts the enabled repository blocks into the specs package repository loads;
// a block without `gpg_key` gets defaultKey (may be empty).
func Specs(repos []Repository, defaultKey string) []repository.Spec {
	var out []repository.Spec
	for _, r := range repos {
		if !r.IsEnabled() {
			continue
		}
		key := r.GPGKey
		if key == "" {
			key = defaultKey
		}
		out = append(out, repository.Spec{
			Name: r.Name, URL: r.URL, Type: r.Type, Suite: r.Suite, Components: r.Components,
			Arch: r.Architecture, GPGKey: key, Priority: r.Priority,
		})
	}
	return out
}

// Filters are the fields that narrow the updates, squashed into a component's Config.
type Filters struct {
	// Only updates that fix a security advisory (rpm-md updateinfo), or, for deb
	// repositories, updates offered by a security suite (`*-security`): refit-repodiff
	// reports only these, refit-patch applies only these.
	SecurityOnly bool `mapstructure:"security_only"`
	// Only updates fixing an advisory of at least this severity: `Low`, `Moderate`,
	// `Important` or `Critical`.
	MinSeverity string `mapstructure:"min_severity"`
	// Only updates to packages whose names match one of these globs (`kernel*`).
	Include []string `mapstructure:"include"`
	// Never updates to packages whose names match one of these globs.
	Exclude []string `mapstructure:"exclude"`
}

// Validate checks min_severity and the globs, returning one error per problem.
func (f *Filters) Validate() []error {
	var errs []error
	if f.MinSeverity != "" && !updates.ValidSeverity(f.MinSeverity) {
		errs = append(errs, fmt.Errorf("min_severity must be one of Low, Moderate, Important, Critical; got %q", f.MinSeverity))
	}
	if err := updates.ValidateGlobs(append(append([]string{}, f.Include...), f.Exclude...)); err != nil {
		errs = append(errs, fmt.Errorf("include/exclude: %v", err))
	}
	return errs
}

// UpdatesFilter is f as package updates applies it.
func (f *Filters) UpdatesFilter() updates.Filter {
	return updates.Filter{SecurityOnly: f.SecurityOnly, MinSeverity: f.MinSeverity, Include: f.Include, Exclude: f.Exclude}
}

// ParseTimeout parses a `timeout` field: a positive Go duration, def when empty.
func ParseTimeout(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	t, err := time.ParseDuration(s)
	if err != nil || t <= 0 {
		return def, fmt.Errorf("timeout: %q is not a positive duration such as \"30m\"", s)
	}
	return t, nil
}

// UpdateOutput is one element of refit-repodiff's `updates` output, and of refit-patch's
// `updates` input.
type UpdateOutput struct {
	Name       string   `mapstructure:"name" json:"name"`
	Arch       string   `mapstructure:"arch" json:"arch"`
	Action     string   `mapstructure:"action" json:"action"`
	Installed  string   `mapstructure:"installed" json:"installed"`
	Available  string   `mapstructure:"available" json:"available"`
	Epoch      int      `mapstructure:"epoch" json:"epoch"`
	Version    string   `mapstructure:"version" json:"version"`
	Release    string   `mapstructure:"release" json:"release"`
	Repository string   `mapstructure:"repository" json:"repository"`
	Location   string   `mapstructure:"location" json:"location"`
	Checksum   string   `mapstructure:"checksum" json:"checksum"`
	Size       int64    `mapstructure:"size" json:"size"`
	Advisories []string `mapstructure:"advisories" json:"advisories"`
	Severity   string   `mapstructure:"severity" json:"severity"`
	Replaces   []string `mapstructure:"replaces" json:"replaces"`
}

// NewUpdateOutput is u as the data source outputs it (lists never null).
func NewUpdateOutput(u updates.Update) UpdateOutput {
	return UpdateOutput{
		Name: u.Name, Arch: u.Arch, Action: u.Action,
		Installed: u.Installed, Available: u.Available.String(),
		Epoch: u.Available.Epoch, Version: u.Available.Version, Release: u.Available.Release,
		Repository: u.Repository, Location: u.Location, Checksum: u.Checksum, Size: u.Size,
		Advisories: NonNil(u.Advisories), Severity: u.Severity, Replaces: NonNil(u.Replaces),
	}
}

// Update converts an element of the data source's output back into an update; Available
// is read as a Debian version, else as an RPM one.
func (u UpdateOutput) Update() updates.Update {
	v, err := evr.ParseDeb(u.Available)
	if err != nil {
		v = evr.ParseRPM(u.Available)
	}
	return updates.Update{Name: u.Name, Arch: u.Arch, Action: u.Action, Installed: u.Installed,
		Available: v, Repository: u.Repository, Location: u.Location, Checksum: u.Checksum, Size: u.Size,
		Advisories: u.Advisories, Severity: u.Severity, Replaces: u.Replaces}
}

// NonNil returns s, or an empty list for nil (HCL outputs lists, never null).
func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
