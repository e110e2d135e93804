package hardening

import (
	"regexp"
	"strings"
	"testing"
)

// The packages the program installs in one batch are those of the rules the profile (and
// extra_rules) selects: a rule outside the profile must not install its package through the batch.
func TestWantedPackagesFollowTheProfile(t *testing.T) {
	re := regexp.MustCompile(`(?m)^REFIT_WANT_PKGS='([^']*)'`)
	for _, c := range []struct {
		profile string
		extra   []string
		want    bool
	}{
		{ProfileBaseline, nil, false},
		{ProfileBaseline, []string{"packages.install.apparmor-utils"}, true},
		{"cis-level1", nil, true},
	} {
		cfg := DefaultConfig()
		cfg.Profile, cfg.Extra = c.profile, c.extra
		prog, err := Render(cfg)
		if err != nil {
			t.Fatalf("%s: %v", c.profile, err)
		}
		m := re.FindSubmatch(prog)
		if m == nil {
			t.Fatalf("%s: no REFIT_WANT_PKGS line in the rendered program", c.profile)
		}
		pkgs := " " + string(m[1]) + " "
		if got := strings.Contains(pkgs, " apparmor-utils:"); got != c.want {
			t.Errorf("profile %s, extra %v: apparmor-utils in the install batch = %v, want %v (%s)", c.profile, c.extra, got, c.want, m[1])
		}
		if c.profile == ProfileBaseline && !strings.Contains(pkgs, " auditd:") {
			t.Errorf("profile %s: auditd missing from the install batch (%s)", c.profile, m[1])
		}
	}
	// remote logging's package joins the batch, unless its rule is skipped
	for _, skip := range [][]string{nil, {"logging.*"}} {
		cfg := DefaultConfig()
		cfg.RemoteLogging.URL, cfg.Skip = "https://logs.example.com", skip
		prog, err := Render(cfg)
		if err != nil {
			t.Fatal(err)
		}
		m := re.FindSubmatch(prog)
		if got := m != nil && strings.Contains(" "+string(m[1])+" ", " "+journalRemotePackages+" "); got != (skip == nil) {
			t.Errorf("skip %v: systemd-journal-remote in the install batch = %v (%s)", skip, got, m)
		}
	}
}
