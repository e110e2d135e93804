package packertest

import (
	"strings"
	"testing"
)

// TestHardenChoicesHCL checks the rendered block: dns_search only when given, lists quoted.
func TestHardenChoicesHCL(t *testing.T) {
	c := HardenChoices{PublicKey: "ssh-ed25519 AAAA test", LogURL: "https://logs.example.test:19532", MailAlias: "a@example.test",
		Hostname: "h", Domain: "example.test", DNS: []string{"10.0.2.3", "10.0.2.4"}, NTP: []string{"ntp.example.test"}, Port: 8443}
	hcl := c.HCL()
	for _, want := range []string{`ssh_authorized_keys = ["ssh-ed25519 AAAA test"]`, `dns_servers = ["10.0.2.3", "10.0.2.4"]`,
		`ntp_servers = ["ntp.example.test"]`, `allow_tcp = [8443]`, `root_mail_alias = "a@example.test"`, `password_hash = "grub.pbkdf2.sha512.`} {
		if !strings.Contains(hcl, want) {
			t.Errorf("the block lacks %q:\n%s", want, hcl)
		}
	}
	if strings.Contains(hcl, "dns_search") {
		t.Errorf("dns_search without DNSSearch:\n%s", hcl)
	}
	c.DNSSearch = []string{"example.test"}
	if hcl := c.HCL(); !strings.Contains(hcl, `dns_servers = ["10.0.2.3", "10.0.2.4"]`+"\n      dns_search  = [\"example.test\"]\n") {
		t.Errorf("dns_search is not after dns_servers:\n%s", hcl)
	}
}
