package hardening

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// choicesSSGRules are the SCAP Security Guide rules the remote logging and root mail alias
// settings answer, by the judged profile that selects them.
var choicesSSGRules = map[string][]string{
	"cis_level1_server":       {"package_systemd-journal-remote_installed", "systemd_journal_upload_url", "systemd_journal_upload_server_tls"},
	"anssi_bp28_intermediary": {"postfix_client_configure_mail_alias"},
}

// TestUserChoicesChroot applies remote logging and root's mail alias, with the baseline catalogue
// (its package installs and AIDE skipped: TestDebianChroot covers them), in a chroot of the
// Debian 12 server root, which lacks systemd-journal-remote: the rule installs it from the
// Debian mirror of this machine's apt configuration. An audit first finds both rules would
// change and changes nothing; the apply run changes them; a second run changes nothing and an
// audit finds them compliant. Outside oracles: this host's dpkg-query and systemctl on the root,
// and OpenSCAP with SSG's rules, tailored with the same values as an auditor's tailoring file
// sets them (the datastream's defaults are placeholders such as "remotelogserver"), which fail on
// the root before and pass after.
func TestUserChoicesChroot(t *testing.T) {
	fixture.Need(t, "dpkg-query", "systemctl")
	root := extractRoot(t, flavourServer)
	// apt inside the root resolves the mirror's name like this host
	if out, err := exec.Command("cp", "-L", "/etc/resolv.conf", filepath.Join(root, "etc/resolv.conf")).CombinedOutput(); err != nil {
		t.Skipf("needs this host's /etc/resolv.conf for apt in the root: %v %s", err, out)
	}
	// SSG's rules apply to a machine, which its CPE tells by the linux-base package (the Debian
	// kernel's helper scripts); this root has no kernel, so it gets linux-base from the mirror
	if out, err := inRoot(t, root, "sh", "-c", "apt-get -q -o Acquire::Retries=3 update && DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends install linux-base"); err != nil {
		t.Fatalf("installing linux-base in the root: %v\n%s", err, lastLines([]byte(out), 20))
	}
	// an /etc/aliases with a root alias spread over a continuation line, and an older upload
	// setting in another drop-in: both are replaced, the other lines kept
	writeFile(t, root, "etc/aliases", "# local aliases\npostmaster: root\nROOT: old@example.test,\n\tother@example.test\nwebmaster: root\n")
	writeFile(t, root, "etc/systemd/journal-upload.conf.d/50-old.conf", "[Upload]\nURL=https://old.example.test\n")

	cfg := DefaultConfig()
	cfg.Skip = []string{"packages.install.*", "integrity.*"}
	cfg.RemoteLogging = RemoteLogging{URL: "https://logs.example.test:19532"}
	cfg.RootMailAlias = "security@example.test"
	ids := []string{"logging.journal-upload", "mail.root-alias"}

	before := judgeChoices(t, root, cfg)
	pre := auditRun(t, root, cfg) // and nothing changes
	for _, id := range ids {
		if got := resultsByID(pre)[id]; got.Status != StatusWouldChange {
			t.Errorf("audit before: %s %s (%s), want would change", id, got.Status, got.Detail)
		}
	}

	first, out := runProgram(t, root, cfg, "/bin/sh")
	if first.Counts.Failed != 0 {
		t.Fatalf("%d rules failed:\n%s", first.Counts.Failed, failures(first))
	}
	for _, id := range ids {
		if got := resultsByID(first)[id]; got.Status != StatusChanged {
			t.Errorf("%s: %s (%s), want changed", id, got.Status, got.Detail)
		}
	}
	if got := resultsByID(first)["live.journal-upload"]; got.Status != StatusSkipped {
		t.Errorf("live.journal-upload offline: %s (%s), want skipped", got.Status, got.Detail)
	}
	second, _ := runProgram(t, root, cfg, "/bin/sh")
	if second.Counts.Changed != 0 || second.Counts.Failed != 0 {
		t.Errorf("second run: %d changed, %d failed:\n%s%s", second.Counts.Changed, second.Counts.Failed, changes(second), failures(second))
	}
	post := auditRun(t, root, cfg)
	for _, id := range ids {
		if got := resultsByID(post)[id]; got.Status != StatusCompliant {
			t.Errorf("audit after: %s %s (%s), want compliant", id, got.Status, got.Detail)
		}
	}
	if t.Failed() {
		t.Logf("first run:\n%s", out)
		return
	}

	t.Run("dpkg and systemd", func(t *testing.T) {
		if out, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f", "${db:Status-Status}", "systemd-journal-remote").CombinedOutput(); err != nil || string(out) != "installed" {
			t.Errorf("dpkg-query says systemd-journal-remote is %q (%v), want installed", out, err)
		}
		for unit, want := range map[string]string{"systemd-journal-upload.service": "enabled", "systemd-journal-remote.socket": "masked", "systemd-journal-remote.service": "masked"} {
			out, _ := exec.Command("systemctl", "--root="+root, "is-enabled", unit).CombinedOutput()
			if got := strings.TrimSpace(string(out)); got != want {
				t.Errorf("systemctl --root is-enabled %s: %q, want %q", unit, got, want)
			}
		}
	})
	t.Run("files", func(t *testing.T) {
		if got, want := readFile(t, root, "etc/aliases"), "# local aliases\npostmaster: root\nroot: security@example.test\nwebmaster: root\n"; got != want {
			t.Errorf("/etc/aliases:\n%s\nwant:\n%s", got, want)
		}
		if got := readFile(t, root, "etc/systemd/journal-upload.conf.d/50-old.conf"); !strings.Contains(got, "\n# URL=https://old.example.test  # replaced by refit-harden") {
			t.Errorf("the older drop-in still sets its URL:\n%s", got)
		}
		if got := readFile(t, root, strings.TrimPrefix(JournalUploadDropIn, "/")); got != journalUploadConf(cfg.withDefaults().RemoteLogging) {
			t.Errorf("%s:\n%s", JournalUploadDropIn, got)
		}
	})
	t.Run("SSG", func(t *testing.T) {
		after := judgeChoices(t, root, cfg)
		for p, rules := range choicesSSGRules {
			for _, r := range rules {
				if before[p].Rules[r] != "fail" || after[p].Rules[r] != "pass" {
					t.Errorf("SSG %s %s: %q before, %q after; want fail, then pass", p, r, before[p].Rules[r], after[p].Rules[r])
				}
			}
		}
	})
}

// judgeChoices evaluates choicesSSGRules on root with OpenSCAP, tailored with cfg's values.
func judgeChoices(t *testing.T, root string, cfg Config) map[string]fixture.SSGResult {
	t.Helper()
	r := cfg.withDefaults().RemoteLogging
	values := map[string]string{
		"var_journal_upload_url":                             r.URL,
		"var_journal_upload_server_key_file":                 r.ServerKeyFile,
		"var_journal_upload_server_certificate_file":         r.ServerCertificateFile,
		"var_journal_upload_server_trusted_certificate_file": r.TrustedCertificateFile,
		"var_postfix_root_mail_alias":                        cfg.RootMailAlias,
	}
	res := map[string]fixture.SSGResult{}
	for p, rules := range choicesSSGRules {
		res[p] = fixture.JudgeSSGTailored(t, root, fixture.SSGTailoring{Values: values, Rules: rules}, p)[p]
	}
	return res
}

// TestUserChoicesUnset: without the settings, the rules are not in the catalogue
// (TestDebianChroot checks that a run leaves their files unwritten).
func TestUserChoicesUnset(t *testing.T) {
	rules, err := Catalogue(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Group == GroupLogging || r.Group == GroupMail || r.ID == "live.journal-upload" {
			t.Errorf("rule %s without remote_logging or root_mail_alias", r.ID)
		}
	}
}
