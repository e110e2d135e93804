package harden

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/hardening"
)

// testKey is a valid public key (made with ssh-keygen).
const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKe/9ckEBvdOvmnqg9lDwNNdxDbQS6C4cN8UhE77xhcM deploy@example.com"

func TestPrepare(t *testing.T) {
	reportDir := t.TempDir()
	cases := []struct {
		name    string
		raw     map[string]interface{}
		builder string
		wantErr []string // substrings; empty: valid
	}{
		{"empty", map[string]interface{}{}, "qemu", nil},
		{"full", map[string]interface{}{
			"skip": []string{"modules.udf"}, "report": filepath.Join(reportDir, "r.json"), "fail_on": "verify",
			"ssh":      map[string]interface{}{"port": 2222, "allow_groups": []string{"ssh-users"}},
			"user":     []map[string]interface{}{{"name": "deploy", "sudo": "nopasswd", "groups": []string{"ssh-users"}, "ssh_authorized_keys": []string{testKey}}},
			"network":  map[string]interface{}{"hostname": "web01", "domain": "example.com", "ntp_servers": []string{"ntp.example.com"}},
			"firewall": map[string]interface{}{"allow_tcp": []int{80, 443}},
		}, "qemu", nil},
		{"bad key and sudo", map[string]interface{}{
			"user": []map[string]interface{}{{"name": "deploy", "sudo": "yes", "ssh_authorized_keys": []string{"ssh-ed25519 AAAA"}}},
		}, "qemu", []string{"ssh_authorized_keys 1", "sudo must be"}},
		{"ssh closed over ssh", map[string]interface{}{"firewall": map[string]interface{}{"allow_ssh": false}}, "qemu", []string{"would lock this build out"}},
		{"ssh closed in a chroot", map[string]interface{}{"firewall": map[string]interface{}{"allow_ssh": false}}, "refit-chroot", nil},
		{"ssh closed in amazon-chroot", map[string]interface{}{"firewall": map[string]interface{}{"allow_ssh": false}}, "amazon-chroot", nil},
		{"bad fail_on and report", map[string]interface{}{"fail_on": "never", "report": "/nonexistent/dir/r.json"}, "qemu", []string{"fail_on must be", "the folder /nonexistent/dir does not exist"}},
		{"bad execute_command", map[string]interface{}{"execute_command": "sh {{.Path"}, "qemu", []string{"execute_command"}},
		{"unknown skip", map[string]interface{}{"skip": []string{"no.such.rule"}}, "qemu", []string{`"no.such.rule" names no rule`}},
		{"remote logging and root mail", map[string]interface{}{
			"remote_logging":  map[string]interface{}{"url": "https://logs.example.com:19532", "server_key_file": "/etc/pki/upload/key.pem"},
			"root_mail_alias": "security@example.com",
		}, "qemu", nil},
		{"remote logging without url", map[string]interface{}{"remote_logging": map[string]interface{}{"server_key_file": "/etc/pki/key.pem"}}, "qemu",
			[]string{"remote_logging: url is required"}},
		{"bad remote logging and root mail", map[string]interface{}{
			"remote_logging":  map[string]interface{}{"url": "http://logs.example.com", "trusted_certificate_file": "ca.pem"},
			"root_mail_alias": "a@example.com, b@example.com",
		}, "qemu", []string{"use https://", "remote_logging.trusted_certificate_file \"ca.pem\" must be an absolute", "root_mail_alias"}},
		{"bootloader", map[string]interface{}{"bootloader": map[string]interface{}{"password_hash": fixture.GrubPasswordHash, "superuser": "bootadmin"}}, "qemu", nil},
		{"bootloader without a hash", map[string]interface{}{"bootloader": map[string]interface{}{"superuser": "bootadmin"}}, "qemu",
			[]string{"bootloader.password_hash is required", "grub-mkpasswd-pbkdf2"}},
		{"bootloader with a password", map[string]interface{}{"bootloader": map[string]interface{}{"password_hash": "hunter2hunter2"}}, "qemu",
			[]string{"bootloader.password_hash is not a GRUB PBKDF2 password hash", "grub-mkpasswd-pbkdf2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p Provisioner
			err := p.Prepare(tc.raw, map[string]interface{}{"packer_builder_type": tc.builder})
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if len(p.config.program) == 0 {
					t.Fatal("no program rendered")
				}
				return
			}
			if err == nil {
				t.Fatalf("want errors %q, got none", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestHardeningConfig checks the translation of the Packer configuration, defaults included.
func TestHardeningConfig(t *testing.T) {
	no := false
	c := Config{
		SSH:      SSHConfig{Port: 2222, PasswordAuthentication: true},
		Users:    []UserConfig{{Name: "a", LockPassword: &no}, {Name: "b", HomeMode: "0700"}},
		Network:  NetworkConfig{DisableIPv6Kernel: true},
		Firewall: &FirewallConfig{AllowSSH: &no, AllowTCP: []int{80}},
		Verify:   &no,
	}
	hc := c.hardeningConfig()
	switch {
	case !hc.Hardening || !hc.InstallPackages || hc.Verify:
		t.Errorf("hardening/install_packages/verify = %v/%v/%v", hc.Hardening, hc.InstallPackages, hc.Verify)
	case hc.SSH.Port != 2222 || !hc.SSH.PasswordAuthentication || hc.SSH.PermitRootLogin != "no" || hc.SSH.MaxAuthTries != hardening.DefaultMaxAuthTries:
		t.Errorf("ssh = %+v", hc.SSH)
	case !hc.Users[0].KeepPassword || hc.Users[1].KeepPassword || hc.Users[0].HomeMode != "0750" || hc.Users[1].HomeMode != "0700" || hc.Users[0].Sudo != "none":
		t.Errorf("users = %+v", hc.Users)
	case !hc.Network.DisableIPv6 || !hc.Network.DisableIPv6Kernel:
		t.Errorf("network = %+v", hc.Network)
	case !hc.Firewall.Enabled || !hc.Firewall.DenySSH || hc.Firewall.Backend != "auto" || hc.Firewall.DefaultInbound != "drop":
		t.Errorf("firewall = %+v", hc.Firewall)
	}
	if (&Config{}).hardeningConfig().Firewall.Enabled {
		t.Error("the firewall is configured without a firewall block")
	}
	if hc := (&Config{}).hardeningConfig(); hc.RemoteLogging.Enabled() || hc.RootMailAlias != "" {
		t.Errorf("remote logging %+v, root mail alias %q without the settings", hc.RemoteLogging, hc.RootMailAlias)
	}
	rl := (&Config{RemoteLogging: &RemoteLoggingConfig{URL: "https://logs.example.com", TrustedCertificateFile: "/etc/pki/ca.pem"}, RootMailAlias: "ops"}).hardeningConfig()
	if want := (hardening.RemoteLogging{URL: "https://logs.example.com", TrustedCertificateFile: "/etc/pki/ca.pem"}); rl.RemoteLogging != want || rl.RootMailAlias != "ops" {
		t.Errorf("remote logging %+v, root mail alias %q", rl.RemoteLogging, rl.RootMailAlias)
	}
	if b := (&Config{Bootloader: &BootloaderConfig{PasswordHash: fixture.GrubPasswordHash}}).hardeningConfig().Bootloader; b.PasswordHash != fixture.GrubPasswordHash || b.Superuser != "" {
		t.Errorf("bootloader = %+v, want the hash and the default superuser", b)
	}
	if b := (&Config{}).hardeningConfig().Bootloader; b.PasswordHash != "" {
		t.Error("a password hash without a bootloader block")
	}
}

// programOutput is what the program prints for a run with the given results.
func programOutput(results ...hardening.Result) string {
	var b strings.Builder
	b.WriteString("REFIT-OS\tdebian\t12\tdebian\toffline\n")
	for _, r := range results {
		b.WriteString("REFIT-RULE\t" + r.ID + "\t" + string(r.Status) + "\t" + r.Title + "\t" + hardening.Escape(r.Detail) + "\n")
	}
	n := hardening.CountResults(results)
	b.WriteString(strings.Join([]string{"REFIT-DONE", itoa(n.Changed), itoa(n.OK), itoa(n.Skipped), itoa(n.Failed)}, "\t") + "\n")
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestProvision drives Provision with a mock communicator: upload, command, output parsing,
// report and fail_on.
func TestProvision(t *testing.T) {
	okRun := programOutput(
		hardening.Result{ID: "sysctl.fs.suid_dumpable", Status: hardening.StatusChanged, Title: "t", Detail: "set"},
		hardening.Result{ID: "ssh.ciphers", Status: hardening.StatusOK, Title: "t"},
	)
	verifyRun := programOutput(hardening.Result{ID: "pam.nullok", Status: hardening.StatusFailed, Title: "t", Detail: "verify: nullok\tstill there"})
	applyRun := programOutput(hardening.Result{ID: "accounts.uid0", Status: hardening.StatusFailed, Title: "t", Detail: "toor has UID 0"})
	cases := []struct {
		name      string
		raw       map[string]interface{}
		stdout    string
		stderr    string
		exit      int
		generated map[string]interface{}
		wantErr   string
		wantFile  bool
	}{
		{name: "all fine", stdout: okRun, wantFile: true},
		{name: "verify failure warns by default", stdout: verifyRun, exit: 1, wantFile: true},
		{name: "verify failure fails with fail_on verify", raw: map[string]interface{}{"fail_on": "verify"}, stdout: verifyRun, exit: 1, wantErr: "did not verify: pam.nullok", wantFile: true},
		{name: "apply failure", stdout: applyRun, exit: 1, wantErr: "1 rule(s) failed: accounts.uid0", wantFile: true},
		{name: "unsupported system", stdout: "REFIT-ERROR\tunsupported operating system Alpine\n", exit: 3, wantErr: "unsupported operating system Alpine", wantFile: true},
		{name: "sudo needs a password", stderr: "sudo: a password is required\n", exit: 1, wantErr: "sudo may need a password", wantFile: true},
		{name: "interrupted", stdout: "REFIT-OS\tdebian\t12\tdebian\toffline\nREFIT-RULE\ta\tok\tt\t\n", exit: 137, wantErr: "incomplete", wantFile: true},
		{name: "ssh closed while connected over ssh", raw: map[string]interface{}{"firewall": map[string]interface{}{"allow_ssh": false}},
			generated: map[string]interface{}{"ConnType": "ssh", "User": "admin"}, wantErr: "lock itself out"},
		{name: "removing the logged-in user", raw: map[string]interface{}{"remove_users": []string{"admin"}},
			generated: map[string]interface{}{"ConnType": "ssh", "User": "admin"}, wantErr: "the user this build is logged in as"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			report := filepath.Join(t.TempDir(), "report.json")
			raw := map[string]interface{}{"report": report}
			for k, v := range tc.raw {
				raw[k] = v
			}
			var p Provisioner
			if err := p.Prepare(raw, map[string]interface{}{"packer_builder_type": "refit-chroot"}); err != nil {
				t.Fatal(err)
			}
			comm := &packersdk.MockCommunicator{StartStdout: tc.stdout, StartStderr: tc.stderr, StartExitStatus: tc.exit}
			ui := &recordingUi{}
			generated := tc.generated
			if generated == nil {
				generated = map[string]interface{}{"ConnType": "none"}
			}
			err := p.Provision(context.Background(), ui, comm, generated)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v\n%s", err, ui.out.String())
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if !tc.wantFile {
				if comm.UploadCalled {
					t.Error("uploaded the program although the configuration was refused")
				}
				return
			}
			if comm.UploadData != string(p.config.program) || comm.UploadPath != p.config.RemotePath {
				t.Errorf("uploaded %d bytes to %s, want the program at %s", len(comm.UploadData), comm.UploadPath, p.config.RemotePath)
			}
			if want := "sh '" + p.config.RemotePath + "' --sudo --remove"; comm.StartCmd.Command != want {
				t.Errorf("command %q, want %q", comm.StartCmd.Command, want)
			}
			data, err := os.ReadFile(report)
			if err != nil {
				t.Fatalf("no report: %v", err)
			}
			var decoded struct {
				Format  string             `json:"format"`
				Results []hardening.Result `json:"results"`
			}
			if err := json.Unmarshal(data, &decoded); err != nil || decoded.Format != "refit-harden-report/v1" {
				t.Errorf("report %s: %v", data, err)
			}
			if tc.stdout == verifyRun && (len(decoded.Results) != 1 || decoded.Results[0].Detail != "verify: nullok\tstill there") {
				t.Errorf("report results %+v", decoded.Results)
			}
		})
	}
}

// recordingUi keeps everything said to it.
type recordingUi struct {
	packersdk.MockUi
	mu  sync.Mutex
	out bytes.Buffer
}

func (u *recordingUi) Say(s string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.out.WriteString(s + "\n")
}

func (u *recordingUi) Error(s string) { u.Say("ERROR " + s) }
