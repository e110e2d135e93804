package hardening

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// renderConfigs are configurations that together produce every kind of rule.
func renderConfigs(t *testing.T) map[string]Config {
	t.Helper()
	noHardening := DefaultConfig()
	noHardening.Hardening = false
	noHardening.Bootloader.PasswordHash = fixture.GrubPasswordHash // applies without hardening too
	skips := DefaultConfig()
	skips.Skip = []string{"sysctl.net.ipv6.*", "modules.udf", "ssh.moduli"}
	hostile := documentationConfig()
	hostile.SSH.Banner = `it's "quoted" $(touch /tmp/refit-pwned) ` + "`id` \\ tab\there\nsecond line"
	hostile.Users[0].SSHAuthorizedKeys = []string{readKey(t, "options.pub"), readKey(t, "rsa.pub")}
	hostile.Users[0].Shell = "/usr/bin/zsh"
	hostile.Firewall.AllowTCP = []int{443, 80, 443}
	hostile.Firewall.AllowUDP = []int{53}
	hostile.Firewall.AllowSources = []string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"}
	hostile.Firewall.DefaultInbound = PolicyReject
	hostile.SSH.AllowUsers = []string{"username", "ops@10.0.0.*"}
	return map[string]Config{
		"defaults":       DefaultConfig(),
		"no hardening":   noHardening,
		"skips":          skips,
		"every setting":  documentationConfig(),
		"hostile values": hostile,
	}
}

// TestRenderSyntax checks every rendered program with each shell's parser (sh -n).
func TestRenderSyntax(t *testing.T) {
	for name, cfg := range renderConfigs(t) {
		program, err := Render(cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, sh := range shells(t) {
			t.Run(name+"/"+sh.name, func(t *testing.T) {
				f := filepath.Join(t.TempDir(), "program.sh")
				if err := os.WriteFile(f, program, 0o644); err != nil {
					t.Fatal(err)
				}
				args := append(append([]string{}, sh.argv[1:]...), "-n", f)
				if out, err := exec.Command(sh.argv[0], args...).CombinedOutput(); err != nil {
					t.Fatalf("%s -n: %v\n%s", sh.name, err, out)
				}
			})
		}
	}
}

// TestRenderRules checks what the program runs: every rule of the catalogue once, in order,
// skipped ones reported without their code.
func TestRenderRules(t *testing.T) {
	for name, cfg := range renderConfigs(t) {
		t.Run(name, func(t *testing.T) {
			program, err := Render(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rules, err := Catalogue(cfg)
			if err != nil {
				t.Fatal(err)
			}
			calls := regexp.MustCompile(`(?m)^\trefit_(rule|skip) '([^']+)'`).FindAllStringSubmatch(string(program), -1)
			if len(calls) != len(rules) {
				t.Fatalf("%d rule calls, %d rules", len(calls), len(rules))
			}
			for i, r := range rules {
				wantSkip := cfg.withDefaults().skipped(r.ID)
				if calls[i][2] != r.ID || (calls[i][1] == "skip") != wantSkip {
					t.Errorf("call %d is %s %s, want %s (skipped %v)", i, calls[i][1], calls[i][2], r.ID, wantSkip)
				}
			}
		})
	}
}

// TestShellQuoting passes hostile strings through shq and a real shell.
func TestShellQuoting(t *testing.T) {
	values := []string{"", "plain", "it's", `"$(touch /tmp/refit-pwned)"`, "`id`", "a\nb", `back\slash`, "'''", "$HOME ${PATH} $((1+1))"}
	for _, sh := range shells(t) {
		for _, v := range values {
			t.Run(sh.name+"/"+v, func(t *testing.T) {
				out, code := runScript(t, sh, "printf '%s' "+shq(v))
				if code != 0 || out != v {
					t.Errorf("printf of shq(%q) = %q (exit %d)", v, out, code)
				}
			})
		}
	}
	if _, err := os.Stat("/tmp/refit-pwned"); err == nil {
		t.Fatal("a quoted value was executed")
	}
}

// TestRenderRejectsInvalid makes sure nothing is rendered from a configuration Validate rejects.
func TestRenderRejectsInvalid(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Users = []User{{Name: "x y"}}
	if program, err := Render(cfg); err == nil || program != nil {
		t.Fatalf("Render accepted an invalid user: %v", err)
	}
}

// TestNftablesTable checks the ruleset the nftables backend installs.
func TestNftablesTable(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Firewall.Enabled = true
	cfg.Firewall.AllowTCP = []int{443, 80}
	cfg.Firewall.AllowUDP = []int{123}
	cfg.Firewall.AllowSources = []string{"192.0.2.7", "2001:db8::/32", "10.1.2.3/8"}
	cases := []struct {
		name    string
		mod     func(*Config)
		want    []string
		notWant []string
	}{
		{"defaults", nil, []string{
			"type filter hook input priority 0; policy drop;", `iif "lo" accept`, "ct state established,related accept",
			"tcp dport { 22, 80, 443 } accept", "udp dport { 123 } accept",
			"ip saddr { 10.0.0.0/8, 192.0.2.7/32 } accept", "ip6 saddr { 2001:db8::/32 } accept",
			"hook forward priority 0; policy drop;", "hook output priority 0; policy accept;",
		}, []string{"reject"}},
		{"ssh closed, other port", func(c *Config) { c.Firewall.DenySSH = true; c.SSH.Port = 2222 }, []string{"tcp dport { 80, 443 } accept"}, []string{"2222", " 22,"}},
		{"ssh on 2222", func(c *Config) { c.SSH.Port = 2222 }, []string{"tcp dport { 80, 443, 2222 } accept"}, nil},
		{"reject, forward accept", func(c *Config) {
			c.Firewall.DefaultInbound = PolicyReject
			c.Firewall.DefaultForward = PolicyAccept
		}, []string{"reject with icmpx type admin-prohibited", "hook forward priority 0; policy accept;"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			if tc.mod != nil {
				tc.mod(&c)
			}
			table := NftablesTable(c)
			for _, w := range tc.want {
				if !strings.Contains(table, w) {
					t.Errorf("table lacks %q:\n%s", w, table)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(table, w) {
					t.Errorf("table has %q:\n%s", w, table)
				}
			}
			if strings.Count(table, "{") != strings.Count(table, "}") {
				t.Errorf("unbalanced braces:\n%s", table)
			}
		})
	}
}

// TestCatalogue checks the catalogue's ids and texts.
func TestCatalogue(t *testing.T) {
	idRE := regexp.MustCompile(`^[a-z]+(\.[A-Za-z0-9_-]+)+$`)
	rules, err := Catalogue(documentationConfig())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rules {
		t.Run(r.ID, func(t *testing.T) {
			if !idRE.MatchString(r.ID) {
				t.Errorf("id %q does not look like group.name", r.ID)
			}
			if r.Title == "" || r.Changes == "" || strings.TrimSpace(r.check) == "" || strings.TrimSpace(r.apply) == "" {
				t.Errorf("rule %s lacks a title, a description or code", r.ID)
			}
			if !strings.HasSuffix(r.Changes, ".") {
				t.Errorf("description of %s is not a sentence: %q", r.ID, r.Changes)
			}
		})
		seen[r.ID] = true
	}
	for _, id := range []string{"sysctl.net.ipv4.conf.all.accept_redirects", "ssh.ciphers", "fs.perm.shadow", "user.username.authorized-keys",
		"firewall.rules", "network.ntp", "audit.rules", "pam.faillock.enabled", "live.sshd", "boot.grub-password"} {
		if !seen[id] {
			t.Errorf("the catalogue has no rule %s", id)
		}
	}
	if ids := RuleIDs(); len(ids) < 150 {
		t.Errorf("the baseline has only %d rules", len(ids))
	}
}

// TestDocsRuleTable keeps docs/provisioners/harden.mdx in step with the catalogue (regenerate
// with `go generate ./provisioner/harden`).
func TestDocsRuleTable(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "provisioners", "harden.mdx")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the documentation: %v", err)
	}
	updated, err := ReplaceRuleTable(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(doc, updated) {
		t.Errorf("%s lists other rules than the catalogue: run `go generate ./provisioner/harden`", path)
	}
}

func BenchmarkRender(b *testing.B) {
	cfg := documentationConfig()
	for b.Loop() {
		if _, err := Render(cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDNSAfterInstalls: the DNS rule writes resolv.conf with servers the build host may not
// reach, so every rule that can install packages (directly or through a prelude helper) must
// come before it.
func TestDNSAfterInstalls(t *testing.T) {
	// the prelude functions that reach refit_pkg_install, by a fixpoint over their bodies
	funcRE := regexp.MustCompile(`(?m)^(refit_[a-z0-9_]+)\(\) \{\n((?:.*\n)*?)\}\n`)
	bodies := map[string]string{}
	for _, m := range funcRE.FindAllStringSubmatch(prelude, -1) {
		bodies[m[1]] = m[2]
	}
	if len(bodies) < 20 {
		t.Fatalf("found only %d prelude functions: the pattern no longer matches prelude.sh", len(bodies))
	}
	installs := map[string]bool{"refit_pkg_install": true}
	for changed := true; changed; {
		changed = false
		for name, body := range bodies {
			for callee := range installs {
				if !installs[name] && regexp.MustCompile(`\b`+callee+`\b`).MatchString(body) {
					installs[name], changed = true, true
				}
			}
		}
	}
	rules, err := Catalogue(documentationConfig())
	if err != nil {
		t.Fatal(err)
	}
	dns := -1
	var installers []string
	for i, r := range rules {
		if r.ID == "network.dns" {
			dns = i
			continue
		}
		for fn := range installs {
			if regexp.MustCompile(`\b` + fn + `\b`).MatchString(r.apply) {
				installers = append(installers, r.ID)
				if dns >= 0 {
					t.Errorf("%s may install packages (%s) but runs after network.dns", r.ID, fn)
				}
				break
			}
		}
	}
	if dns < 0 || len(installers) < 3 {
		t.Fatalf("network.dns at %d, %d rules that install packages (%v): the test sees nothing", dns, len(installers), installers)
	}
}
