package hardening

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// emulatedNft is nft as qemu-user runs it: netfilter's netlink socket cannot be opened (the
// message is the one Debian 12's arm64 nft prints under qemu-aarch64).
const emulatedNft = "#!/bin/sh\necho 'mnl.c:60: Unable to initialize Netlink socket: Protocol not supported' >&2\nexit 1\n"

// nftRulesRun runs the program's firewall.rules apply (refit_nft_rules fix, through refit_rule)
// with nftScript as the image's nft and the ruleset file redirected into the test's REFIT_TMP;
// it returns the program's output and the path of the file it wrote.
func nftRulesRun(t *testing.T, sh testShell, nftScript string, live bool, table string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nft"), []byte(nftScript), 0o755); err != nil {
		t.Fatal(err)
	}
	written := filepath.Join(dir, "nftables.conf")
	liveFlag := "0"
	if live {
		liveFlag = "1"
	}
	// refit_put writes the test's file instead of /etc/nftables.conf; the check says "needs a change".
	body := "PATH=" + shq(dir) + ":$PATH REFIT_LIVE=" + liveFlag + " REFIT_VERIFY=0 REFIT_AUDIT=0\nREFIT_NFT_TABLE=" + shq(table) + "\n" +
		"refit_put() { printf '%s' \"$4\" >" + shq(written) + "; }\n" +
		"refit_nft_rules_check() { return 1; }\nrefit_nft_rules_apply() { refit_nft_rules fix; }\n" +
		"refit_rule firewall.rules 'inbound traffic is dropped' refit_nft_rules\n" +
		`printf 'REFIT-DONE\t%d\t%d\t%d\t%d\n' "$REFIT_N_CHANGED" "$REFIT_N_OK" "$REFIT_N_SKIPPED" "$REFIT_N_FAILED"` + "\n"
	out, code := runScript(t, sh, withPrelude(t, sh, body))
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	return out, written
}

// readFrom is a download function reading the one file the program wrote, whatever path the
// image gives it.
func readFrom(file string) func(string, io.Writer) error {
	return func(_ string, w io.Writer) error {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	}
}

// TestNftRulesetHostCheck is the firewall rule on an image whose nft runs under qemu-user: the
// program writes the ruleset and names it, and this host's nft -c -f of that same file decides:
// a valid ruleset is reported checked, an invalid one fails the rule with nft's message, and
// without a host nft the rule says the ruleset is unchecked and why.
func TestNftRulesetHostCheck(t *testing.T) {
	fixture.NeedRoot(t) // nft -c opens a netlink socket: CAP_NET_ADMIN
	fixture.Need(t, "nft")
	cfg := DefaultConfig()
	cfg.Firewall.Enabled = true
	cfg.Firewall.AllowTCP = []int{443}
	valid := NftablesTable(cfg)
	invalid := strings.Replace(valid, "policy drop;", "policy maybe;", 1)
	sh := shells(t)[0]
	for _, c := range []struct {
		name, table, path string // path: PATH for the host check ("" keeps this host's)
		status            Status
		want              []string
	}{
		{"valid", valid, "", StatusChanged, []string{"wrote /etc/nftables.conf (the image's nft -c cannot reach nf_tables: mnl.c:60: Unable to initialize Netlink socket: Protocol not supported)",
			"; checked with the build host's nft -c -f (nftables v", "): valid"}},
		{"invalid", invalid, "", StatusFailed, []string{"the build host's nft -c -f (nftables v", ") rejects the ruleset written to /etc/nftables.conf: ", "/etc/nftables.conf:", "policy maybe"}},
		{"no host nft", valid, t.TempDir(), StatusChanged, []string{"wrote /etc/nftables.conf (", "; written but NOT checked: the build host has no nft to check /etc/nftables.conf with (apt-get install nftables on the build host)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, written := nftRulesRun(t, sh, emulatedNft, false, c.table)
			rep, err := ParseReport([]byte(out))
			if err != nil {
				t.Fatalf("ParseReport: %v\n%s", err, out)
			}
			if len(rep.HostChecks) != 1 || rep.HostChecks[0] != "/etc/nftables.conf" {
				t.Fatalf("host checks %q, want [/etc/nftables.conf]\n%s", rep.HostChecks, out)
			}
			if c.path != "" {
				t.Setenv("PATH", c.path)
			}
			changed := CheckRulesetsOnHost(context.Background(), &rep, readFrom(written))
			if len(changed) != 1 || len(rep.Results) != 1 || changed[0] != rep.Results[0] {
				t.Fatalf("changed %+v, results %+v", changed, rep.Results)
			}
			r := rep.Results[0]
			if r.Status != c.status {
				t.Errorf("status %q, want %q: %s", r.Status, c.status, r.Detail)
			}
			for _, w := range c.want {
				if !strings.Contains(r.Detail, w) {
					t.Errorf("detail lacks %q:\n%s", w, r.Detail)
				}
			}
			if strings.Contains(r.Detail, "refit-nft-") {
				t.Errorf("detail names the host's temporary file instead of the image's:\n%s", r.Detail)
			}
			if got := CountResults(rep.Results); rep.Counts != got {
				t.Errorf("counts %+v, results total %+v", rep.Counts, got)
			}
		})
	}
}

// TestNftRulesetNoHostCheck: a working nft in the image, an nft that rejects the ruleset, and
// the netlink error on a running system (not emulation: there the rule fails as before) leave
// nothing for the host to check.
func TestNftRulesetNoHostCheck(t *testing.T) {
	sh := shells(t)[0]
	table := NftablesTable(DefaultConfig())
	for _, c := range []struct {
		name, nft string
		live      bool
		status    Status
		detail    string
	}{
		{"nft works", "#!/bin/sh\nexit 0\n", false, StatusChanged, "wrote /etc/nftables.conf"},
		{"nft rejects", "#!/bin/sh\necho 'Error: syntax error' >&2\nexit 1\n", false, StatusFailed, "nft -c rejects the ruleset: Error: syntax error"},
		{"live, no nf_tables", emulatedNft, true, StatusFailed, "nft -c rejects the ruleset: mnl.c:60"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, _ := nftRulesRun(t, sh, c.nft, c.live, table)
			rep, err := ParseReport([]byte(out))
			if err != nil {
				t.Fatalf("ParseReport: %v\n%s", err, out)
			}
			if len(rep.HostChecks) != 0 {
				t.Errorf("host checks %q, want none", rep.HostChecks)
			}
			if len(rep.Results) != 1 || rep.Results[0].Status != c.status || !strings.HasPrefix(rep.Results[0].Detail, c.detail) {
				t.Errorf("results %s, want one %s starting %q", fmt.Sprint(rep.Results), c.status, c.detail)
			}
			if changed := CheckRulesetsOnHost(context.Background(), &rep, readFrom("/nonexistent")); len(changed) != 0 {
				t.Errorf("CheckRulesetsOnHost changed %+v", changed)
			}
		})
	}
}
