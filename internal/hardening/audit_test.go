package hardening

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// auditRun runs cfg in audit mode in the root with sh and checks that not one byte, mode, owner
// or time of the root changed (the program file itself aside).
func auditRun(t *testing.T, root string, cfg Config) Report {
	t.Helper()
	cfg.Audit = true
	if err := os.Remove(filepath.Join(root, "tmp", "refit-harden.sh")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err) // an earlier run's program
	}
	// directory times aside: the program's own folder in /tmp comes and goes
	before := fixture.SnapshotTree(t, root, false)
	rep, out := runProgram(t, root, cfg, "/bin/sh")
	if err := os.Remove(filepath.Join(root, "tmp", "refit-harden.sh")); err != nil {
		t.Fatal(err)
	}
	fixture.RequireUnchanged(t, before, fixture.SnapshotTree(t, root, false))
	if !rep.Audit || rep.Profile != cfg.withDefaults().Profile {
		t.Errorf("report: audit %v, profile %q; want an audit of %q", rep.Audit, rep.Profile, cfg.withDefaults().Profile)
	}
	for _, r := range rep.Results {
		switch r.Status {
		case StatusCompliant, StatusWouldChange, StatusNotApplicable, StatusSkipped:
		default:
			t.Errorf("audit: rule %s: status %q: %s\n%s", r.ID, r.Status, r.Detail, lastLines([]byte(out), 20))
		}
	}
	return rep
}

// TestAuditChroot audits a Debian 12 server root in a chroot, for every profile: nothing in the
// root changes (digests of every file before and after), and the verdicts agree with what the
// apply run then does: each rule it changes was "would change", each it finds in effect was
// "compliant". After the apply run, an audit finds every rule compliant or not applicable.
func TestAuditChroot(t *testing.T) {
	root := extractRoot(t, flavourServer)
	if out, err := inRoot(t, root, "useradd", "-m", "olduser"); err != nil {
		t.Fatalf("useradd olduser: %v\n%s", err, out)
	}
	cfg := integrationConfig(t)
	for _, p := range Profiles[1:] {
		c := cfg
		c.Profile = p
		rep := auditRun(t, root, c)
		t.Logf("pristine, %s: %d compliant, %d would change, %d not applicable: pass rate %.1f %%",
			p, rep.Counts.Compliant, rep.Counts.WouldChange, rep.Counts.NotApplicable, rep.Counts.PassRate())
	}
	audit := auditRun(t, root, cfg)
	if audit.Counts.WouldChange == 0 || audit.Counts.Compliant == 0 {
		t.Errorf("audit of a fresh root: counts %+v, want some compliant and some would change", audit.Counts)
	}
	verdict := resultsByID(audit)

	applied, _ := runProgram(t, root, cfg, "/bin/sh")
	if applied.Counts.Failed != 0 {
		t.Fatalf("apply run: %d rules failed:\n%s", applied.Counts.Failed, failures(applied))
	}
	agree := 0
	for _, r := range applied.Results {
		if r.ID == "ssh.validate" || strings.HasPrefix(r.ID, "live.") {
			continue // ssh.validate checks the files the ssh rules write; live steps are not audited
		}
		want := map[Status]Status{StatusChanged: StatusWouldChange, StatusOK: StatusCompliant, StatusSkipped: StatusNotApplicable}[r.Status]
		got := verdict[r.ID].Status
		// A rule about a user account is in effect by the time it runs when an earlier rule of the
		// same run created (or removed) the account; the audit rightly found it not in effect.
		dependent := r.Status == StatusOK && got == StatusWouldChange && (strings.HasPrefix(r.ID, "user.") || r.ID == "fs.perm.home")
		if dependent {
			t.Logf("rule %s: audit %q (%s); in effect after the earlier user rules of the apply run", r.ID, got, verdict[r.ID].Detail)
			continue
		}
		if got != want {
			t.Errorf("rule %s: audit said %q (%s), the apply run %s it (%s)", r.ID, got, verdict[r.ID].Detail, r.Status, r.Detail)
		} else {
			agree++
		}
	}
	t.Logf("audit and apply agree on %d rules", agree)

	after := auditRun(t, root, cfg)
	if after.Counts.WouldChange != 0 || after.Counts.PassRate() != 100 {
		t.Errorf("audit after the apply run: %+v, want every rule compliant or not applicable", after.Counts)
		for _, r := range after.Results {
			if r.Status == StatusWouldChange {
				t.Errorf("  %s: %s", r.ID, r.Detail)
			}
		}
	}
}
