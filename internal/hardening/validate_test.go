package hardening

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// readKey returns the single line of a public key file in testdata/keys (made by gen.sh).
func readKey(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "keys", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func TestValidate(t *testing.T) {
	key := readKey(t, "ed25519.pub")
	user := func(mod func(*User)) Config {
		c := DefaultConfig()
		u := NewUser("deploy")
		u.SSHAuthorizedKeys = []string{key}
		if mod != nil {
			mod(&u)
		}
		c.Users = []User{u}
		return c
	}
	cases := []struct {
		name    string
		cfg     Config
		wantErr []string // substrings; empty: valid
	}{
		{"defaults", DefaultConfig(), nil},
		{"zero value gets defaults", Config{}, nil},
		{"documentation config", documentationConfig(), nil},
		{"user with key and sudo", user(func(u *User) { u.Sudo = SudoNoPasswd; u.Groups = []string{"ssh-users"} }), nil},
		{"bad profile", func() Config { c := DefaultConfig(); c.Profile = "paranoid"; return c }(), []string{`profile must be one of baseline, cis-level1`}},
		{"bad key", user(func(u *User) { u.SSHAuthorizedKeys = []string{"ssh-ed25519 AAAAnotbase64 x"} }), []string{"ssh_authorized_keys 1", "not an OpenSSH public key"}},
		{"two keys in one element", user(func(u *User) { u.SSHAuthorizedKeys = []string{key + "\n" + key} }), []string{"one key per list element"}},
		{"bad user fields", user(func(u *User) {
			u.Name = "Bad Name"
			u.Shell = "bash"
			u.HomeMode = "4755"
			u.Sudo = "always"
			u.Groups = []string{"ok", "not ok"}
		}), []string{"not a valid user name", "not an absolute path", "home_mode", `sudo must be`, `"not ok" is not a valid group name`}},
		{"root user", user(func(u *User) { u.Name = "root" }), []string{"root cannot be managed"}},
		{"duplicate and removed", func() Config {
			c := user(nil)
			c.Users = append(c.Users, c.Users[0])
			c.RemoveUsers = []string{"deploy", "Bad"}
			return c
		}(), []string{"configured twice", "both configured and listed in remove_users", `"Bad" is not a valid user name`}},
		{"bad ssh", func() Config {
			c := DefaultConfig()
			c.SSH.PermitRootLogin = "maybe"
			c.SSH.Port = 70000
			c.SSH.Ciphers = []string{"aes128-ctr", "AES 256"}
			c.SSH.AllowUsers = []string{"ok", "has space"}
			c.SSH.MaxAuthTries = 1000
			c.SSH.LogLevel = "DEBUG3"
			return c
		}(), []string{"permit_root_login", "port 70000", `"AES 256" is not an OpenSSH algorithm`, `"has space"`, "max_auth_tries", `log_level must be INFO or VERBOSE (the levels CIS accepts), not "DEBUG3"`}},
		{"bad network", func() Config {
			c := DefaultConfig()
			c.Network = Network{Hostname: "web_01", Domain: "-bad.example", DNSServers: []string{"192.0.2.1", "dns.example.com", "::1", "192.0.2.3"},
				DNSSearch: []string{"ok.example", "bad..example"}, NTPServers: []string{"ntp.example.com", "not a host"}}
			return c
		}(), []string{`hostname "web_01"`, `domain "-bad.example"`, `"dns.example.com" is not an IP address`, "at most 3 servers", `"bad..example"`, `"not a host"`}},
		{"fqdn hostname and domain", func() Config {
			c := DefaultConfig()
			c.Network = Network{Hostname: "web.example.com", Domain: "example.com"}
			return c
		}(), []string{"fully qualified name and network.domain"}},
		{"domain without hostname", func() Config { c := DefaultConfig(); c.Network.Domain = "example.com"; return c }(), []string{"network.domain needs network.hostname"}},
		{"bad firewall", func() Config {
			c := DefaultConfig()
			c.Firewall = Firewall{Enabled: true, Backend: "iptables", AllowTCP: []int{0, 80}, AllowUDP: []int{65536},
				AllowSources: []string{"10.0.0.0/8", "10.0.0.0/33", "fe80::1%eth0", "host"}, DefaultInbound: "accept", DefaultForward: "reject"}
			return c
		}(), []string{"firewall.backend", "port 0", "port 65536", `"10.0.0.0/33"`, `"fe80::1%eth0"`, `"host"`, "default_inbound", "default_forward"}},
		{"remote logging with systemd's TLS files", func() Config {
			c := DefaultConfig()
			c.RemoteLogging = RemoteLogging{URL: "https://logs.example.com:19532"}
			c.RootMailAlias = "security@example.com"
			return c
		}(), nil},
		{"remote logging to an address, own TLS files, local user", func() Config {
			c := DefaultConfig()
			c.RemoteLogging = RemoteLogging{URL: "https://[2001:db8::5]", ServerKeyFile: "/etc/pki/upload/key.pem",
				ServerCertificateFile: "/etc/pki/upload/cert.pem", TrustedCertificateFile: "/etc/pki/upload/ca.pem"}
			c.RootMailAlias = "ops"
			return c
		}(), nil},
		{"remote logging in clear text", func() Config {
			c := DefaultConfig()
			c.RemoteLogging = RemoteLogging{URL: "http://logs.example.com:19532"}
			return c
		}(), []string{`remote_logging.url "http://logs.example.com:19532" would send the journal unencrypted: use https://`}},
		{"bad remote logging", func() Config {
			c := DefaultConfig()
			c.RemoteLogging = RemoteLogging{URL: "https://logs.example.com:99999", ServerKeyFile: "etc/key.pem",
				ServerCertificateFile: "/etc/ssl/../cert.pem", TrustedCertificateFile: "/etc/ssl/ca dir/ca.pem"}
			return c
		}(), []string{"port \"99999\" is outside 1-65535", "remote_logging.server_key_file \"etc/key.pem\" must be an absolute, clean path",
			"remote_logging.server_certificate_file", "remote_logging.trusted_certificate_file"}},
		{"remote logging URLs", func() Config {
			c := DefaultConfig()
			c.RemoteLogging = RemoteLogging{URL: "logs.example.com"}
			return c
		}(), []string{`must be an https:// URL such as https://logs.example.com:19532`}},
		{"remote logging without a host", func() Config {
			c := DefaultConfig()
			c.RemoteLogging = RemoteLogging{URL: "https:///path"}
			return c
		}(), []string{"names no host"}},
		{"remote logging with credentials", func() Config {
			c := DefaultConfig()
			c.RemoteLogging = RemoteLogging{URL: "https://user:pw@logs.example.com/?x=1"}
			return c
		}(), []string{"credentials, a query or a fragment"}},
	}
	for _, alias := range []string{"a@b.example, evil@example.com", "root", "x\nroot: |/bin/sh", "a:b", "|/usr/bin/evil", "/var/mail/file", "\"q\"@example.com", "a@bad_domain", ":include:/etc/x"} {
		c := DefaultConfig()
		c.RootMailAlias = alias
		cases = append(cases, struct {
			name    string
			cfg     Config
			wantErr []string
		}{"root_mail_alias " + alias, c, []string{"root_mail_alias"}})
	}
	cases = append(cases, []struct {
		name    string
		cfg     Config
		wantErr []string
	}{
		{"skip patterns", func() Config {
			c := DefaultConfig()
			c.Skip = []string{"sysctl.net.ipv6.*", "modules.udf", "nosuch.rule", "[bad"}
			return c
		}(), []string{`"nosuch.rule" names no rule`, `"[bad" is not a valid pattern`}},
	}...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want errors %q, got none", tc.wantErr)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestValidateAuthorizedKeyAgainstSSHKeygen checks the validation against OpenSSH's own parser:
// ssh-keygen -l accepts a key line exactly when ValidateAuthorizedKey does.
func TestValidateAuthorizedKeyAgainstSSHKeygen(t *testing.T) {
	ed := readKey(t, "ed25519.pub")
	cases := []struct {
		name  string
		line  string
		valid bool
	}{
		{"ed25519", ed, true},
		{"rsa", readKey(t, "rsa.pub"), true},
		{"ecdsa without comment", readKey(t, "ecdsa.pub"), true},
		{"with options", readKey(t, "options.pub"), true},
		{"trailing space", ed + "  ", true},
		{"truncated base64", ed[:40], false},
		{"unknown type", strings.Replace(ed, "ssh-ed25519", "ssh-foo", 1), false},
		{"private key marker", "-----BEGIN OPENSSH PRIVATE KEY-----", false},
		{"comment line", "# " + ed, false},
		{"empty", "", false},
	}
	keygen, err := exec.LookPath("ssh-keygen")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ValidateAuthorizedKey(tc.line) == nil
			if got != tc.valid {
				t.Errorf("ValidateAuthorizedKey(%q) valid = %v, want %v", tc.line, got, tc.valid)
			}
			if err != nil || tc.line == "" || strings.HasPrefix(tc.line, "#") {
				return // ssh-keygen skips comments and empty files; the table decides those
			}
			f := filepath.Join(t.TempDir(), "key.pub")
			if err := os.WriteFile(f, []byte(tc.line+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			oracle := exec.Command(keygen, "-l", "-f", f).Run() == nil
			if oracle != got {
				t.Errorf("ssh-keygen -l says valid=%v, ValidateAuthorizedKey says %v for %q", oracle, got, tc.line)
			}
		})
	}
	if err != nil {
		t.Skipf("the ssh-keygen oracle needs ssh-keygen (apt-get install openssh-client); checked the table only")
	}
}

func TestSkipMatches(t *testing.T) {
	cases := []struct {
		pattern, id string
		want        bool
	}{
		{"modules.udf", "modules.udf", true},
		{"modules.udf", "modules.udf2", false},
		{"sysctl.net.ipv6.*", "sysctl.net.ipv6.conf.all.accept_ra", true},
		{"sysctl.*", "sysctl.fs.suid_dumpable", true},
		{"sysctl.*", "sysctlx.a", false},
		{"user.*.sudo", "user.deploy.sudo", true},
		{"pam.faillock.?eny", "pam.faillock.deny", true},
	}
	for _, tc := range cases {
		t.Run(tc.pattern+" "+tc.id, func(t *testing.T) {
			if got := skipMatches(tc.pattern, tc.id); got != tc.want {
				t.Errorf("skipMatches(%q, %q) = %v, want %v", tc.pattern, tc.id, got, tc.want)
			}
		})
	}
}

// TestValidateBootloader checks the bootloader settings: a hash that grub-mkpasswd-pbkdf2 printed
// passes; anything else is refused with the field's name and how to make a hash, and the value is
// never repeated in the error (it may be the password itself).
func TestValidateBootloader(t *testing.T) {
	h := fixture.GrubPasswordHash
	cases := []struct {
		name, superuser, hash string
		wantErr               []string // substrings; empty: valid
	}{
		{"grub-mkpasswd-pbkdf2's hash", "", h, nil},
		{"lower-case hex and another superuser", "boot_admin", strings.ToLower(h), nil},
		{"no block", "", "", nil},
		{"superuser without a hash", "admin", "", []string{"bootloader.superuser needs bootloader.password_hash", "grub-mkpasswd-pbkdf2"}},
		{"a password, not a hash", "", "Correct-Horse-7", []string{"bootloader.password_hash is not a GRUB PBKDF2 password hash", "grub-mkpasswd-pbkdf2"}},
		{"the whole message", "", "PBKDF2 hash of your password is " + h, []string{"whole message", "grub.pbkdf2.sha512"}},
		{"cut short", "", h[:len(h)-1], []string{"even number of hexadecimal digits", "grub-mkpasswd-pbkdf2"}},
		{"another algorithm", "", strings.Replace(h, "sha512", "sha256", 1), []string{"not a GRUB PBKDF2 password hash"}},
		{"no iterations", "", strings.Replace(h, ".10000.", ".0.", 1), []string{"not a GRUB PBKDF2 password hash"}},
		{"bad superuser", "Boot Admin", h, []string{"bootloader.superuser", `"Boot Admin" is not a valid user name`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Bootloader = Bootloader{Superuser: tc.superuser, PasswordHash: tc.hash}
			err := c.Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v, want one wrapping ErrInvalid with %q", err, tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if tc.hash != "" && strings.Contains(err.Error(), tc.hash) || strings.Contains(err.Error(), h[40:80]) {
				t.Errorf("the error repeats the value: %v", err)
			}
		})
	}
}
