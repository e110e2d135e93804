package hardening

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"
)

// posixConfigs are the configurations whose programs TestRenderedProgramsArePOSIX parses:
// renderConfigs, every profile with and without hardening, users with odd names, groups, shells,
// keys and each sudo level, the network settings, and the firewall with every backend and policy.
func posixConfigs(t *testing.T) map[string]Config {
	t.Helper()
	configs := renderConfigs(t)
	for _, profile := range []string{ProfileBaseline} {
		for _, hardening := range []bool{true, false} {
			for _, verify := range []bool{true, false} {
				c := DefaultConfig()
				c.Profile, c.Hardening, c.Verify, c.InstallPackages = profile, hardening, verify, !verify
				configs[fmt.Sprintf("profile %s hardening=%v verify=%v", profile, hardening, verify)] = c
			}
		}
	}

	// Users: names at the edges of what useradd takes, keys with options and quotes in the
	// comment, every sudo level, kept and locked passwords.
	keyed := readKey(t, "ed25519.pub")
	odd := NewUser("_x-1")
	odd.Groups = []string{"wheel", "_g-2", "docker"}
	odd.Shell = "/usr/local/bin/my-shell+2"
	odd.HomeMode = "700"
	odd.SSHAuthorizedKeys = []string{
		readKey(t, "options.pub"),
		`command="echo 'it''s' \"$(id)\" ` + "`id`" + `",no-pty ` + keyed + ` it's a "comment" $HOME \ ;`,
		"  " + readKey(t, "rsa.pub") + "  ",
		readKey(t, "ecdsa.pub"),
	}
	odd.Sudo = SudoNoPasswd
	long := NewUser(strings.Repeat("a", 31) + "-")
	long.Sudo = SudoPassword
	long.KeepPassword = true
	plain := NewUser("u")
	plain.Groups = []string{"u"}
	users := DefaultConfig()
	users.Users = []User{odd, long, plain}
	users.RemoveUsers = []string{"old_user-1", "_"}
	users.SSH.AllowUsers = []string{"_x-1", "u@192.0.2.*"}
	users.SSH.AllowGroups = []string{"wheel"}
	configs["odd users"] = users

	network := DefaultConfig()
	network.Network = Network{Hostname: "h-1", Domain: "a.example.test", DNSServers: []string{"192.0.2.53", "2001:db8::53"},
		DNSSearch: []string{"example.test", "b.example.test"}, NTPServers: []string{"ntp.example.test", "192.0.2.123"},
		DisableIPv6: true, DisableIPv6Kernel: true}
	configs["network"] = network
	onlyHost := DefaultConfig()
	onlyHost.Hardening = false
	onlyHost.Network = Network{Hostname: "solo"}
	configs["network hostname only"] = onlyHost

	for _, backend := range []string{BackendAuto, BackendNftables, BackendFirewalld, BackendUFW} {
		for _, policy := range []string{PolicyDrop, PolicyReject} {
			c := DefaultConfig()
			c.Firewall = Firewall{Enabled: true, Backend: backend, DefaultInbound: policy, DefaultForward: PolicyAccept,
				AllowTCP: []int{22, 443, 8080}, AllowUDP: []int{53, 123}, AllowSources: []string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"}}
			configs["firewall "+backend+" "+policy] = c
		}
		c := DefaultConfig()
		c.Firewall = Firewall{Enabled: true, Backend: backend, DefaultInbound: PolicyDrop, DefaultForward: PolicyDrop}
		configs["firewall "+backend+" nothing allowed"] = c
	}
	return configs
}

// TestRenderedProgramsArePOSIX parses every program of posixConfigs as POSIX sh (mvdan.cc/sh in
// LangPOSIX mode): bash-only syntax or broken quoting in the prelude or a rule fails here, before
// any shell runs it. `make lint` runs this test.
func TestRenderedProgramsArePOSIX(t *testing.T) {
	parser := syntax.NewParser(syntax.Variant(syntax.LangPOSIX))
	for name, cfg := range posixConfigs(t) {
		t.Run(name, func(t *testing.T) {
			program, err := Render(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := parser.Parse(bytes.NewReader(program), "program.sh"); err != nil {
				t.Fatalf("not POSIX sh: %v", err)
			}
		})
	}
}
