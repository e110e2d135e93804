package harden

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/hardening"
	"github.com/refit-images/packer-plugin-refit/internal/packertest"
	"github.com/refit-images/packer-plugin-refit/internal/vmtest"
)

// Passwords the test gives root and ops before hardening, so that password logins demonstrably
// work before and fail after.
const (
	rootPassword = "Refit-Root-Pass-1"
	opsPassword  = "Refit-Ops-Pass-1"
)

// extraListener is a second sshd on guest port 2222, a systemd unit so that it runs again after
// the reboot: the firewall, which allows only SSH on 22, must keep it unreachable.
const extraListener = `[Unit]
Description=second sshd on port 2222 (refit-harden firewall test)
After=network.target ssh.service

[Service]
ExecStartPre=/bin/mkdir -p -m 0755 /run/sshd
ExecStart=/usr/sbin/sshd -D -p 2222 -o PidFile=/run/sshd-2222.pid

[Install]
WantedBy=multi-user.target
`

// sshHardenTemplate is the build under test: the null builder connects to the booted VM over SSH
// and refit-harden hardens it live.
const sshHardenTemplate = `
variable "ssh_port" { type = number }
variable "ssh_username" { type = string }
variable "ssh_key_file" { type = string }
variable "public_key" { type = string }
variable "report" { type = string }
variable "mode" {
  type    = string
  default = "apply"
}
variable "fail_on" {
  type    = string
  default = "verify"
}

source "null" "vm" {
  communicator         = "ssh"
  ssh_host             = "127.0.0.1"
  ssh_port             = var.ssh_port
  ssh_username         = var.ssh_username
  ssh_private_key_file = var.ssh_key_file
  ssh_timeout          = "10m"
}

build {
  sources = ["source.null.vm"]

  provisioner "refit-harden" {
    profile = "baseline"
    # AIDE: under TCG, aide-common's configuration (some 200 ucf calls) takes over 20 minutes
    # and its database a full scan of the file system; TestAccHardenChroot covers AIDE
    skip    = ["packages.install.aide", "integrity.*"]
    mode    = var.mode
    verify  = true
    fail_on = var.fail_on
    report  = var.report

    user {
      name                = "ops"
      ssh_authorized_keys = [var.public_key]
      sudo                = "nopasswd"
    }
    user {
      name                = "auditor"
      ssh_authorized_keys = [var.public_key]
    }
    network {
      hostname    = "web01"
      domain      = "example.test"
      dns_servers = ["10.0.2.3"]
      dns_search  = ["example.test"]
      ntp_servers = ["ntp1.example.test", "ntp2.example.test"]
    }
    firewall {
      backend         = "nftables"
      default_inbound = "drop"
    }
    # a GRUB password: the reboot below shows the machine still boots unattended
    bootloader {
      password_hash = "` + fixture.GrubPasswordHash + `"
    }
    # installed live from the mirror; without a server and certificates the service is left stopped
    remote_logging {
      url = "https://logs.example.test:19532"
    }
    root_mail_alias = "ops"
  }
}
`

// guestFactsScript prints name=value lines describing the guest's running state; it runs as root.
const guestFactsScript = `for k in net.ipv4.conf.all.accept_redirects net.ipv4.conf.eth0.accept_redirects \
	net.ipv4.conf.all.send_redirects net.ipv4.conf.all.log_martians kernel.kptr_restrict; do
	printf 'sysctl.%s=%s\n' "$k" "$(sysctl -n "$k" 2>&1)"
done
printf 'hostname=%s\n' "$(hostname)"
printf 'fqdn=%s\n' "$(hostname -f 2>/dev/null)"
/usr/sbin/sshd -T 2>&1 | awk '$1 ~ /^(ciphers|macs|passwordauthentication|kbdinteractiveauthentication|permitrootlogin)$/ { print "sshd." $1 "=" $2 }'
printf 'nft.input=%s\n' "$(nft list chain inet filter input 2>/dev/null | awk '
	/hook input/ { for (i = 1; i < NF; i++) if ($i == "policy") { p = $(i + 1); sub(/;$/, "", p) } }
	$1 == "tcp" && $2 == "dport" { t = t " " $3 }
	END { printf "policy %s, tcp%s", p, t }')"
printf 'ntp=%s\n' "$(timedatectl show-timesync -p SystemNTPServers --value 2>/dev/null)"
printf 'dns=%s\n' "$(awk '$1 == "nameserver" { n = n " " $2 } $1 == "search" { s = $2 } END { print substr(n, 2) " search " s }' /etc/resolv.conf)"
printf 'listener.2222=%s\n' "$(timeout 10 bash -c 'head -c 7 </dev/tcp/127.0.0.1/2222' 2>/dev/null)"
printf 'grub.password=%s\n' "$(grep -c '^password_pbkdf2 root grub\.pbkdf2\.sha512\.' /boot/grub/grub.cfg)"
printf 'journal-upload=%s %s\n' "$(systemctl is-enabled systemd-journal-upload.service 2>&1)" "$(sed -n 's/^URL=//p' /etc/systemd/journal-upload.conf.d/*.conf 2>/dev/null)"
printf 'alias.root=%s\n' "$(grep -i '^root:' /etc/aliases 2>/dev/null)"
`

// hardenedFacts are the facts refit-harden must establish on the running system (and that the
// stock image does not have: the control before the build checks that each differs).
var hardenedFacts = map[string]string{
	"sysctl.net.ipv4.conf.all.accept_redirects":  "0",
	"sysctl.net.ipv4.conf.eth0.accept_redirects": "0",
	"sysctl.net.ipv4.conf.all.send_redirects":    "0",
	"sysctl.net.ipv4.conf.all.log_martians":      "1",
	"sysctl.kernel.kptr_restrict":                "2",
	"hostname":                                   "web01",
	"fqdn":                                       "web01.example.test",
	"sshd.ciphers":                               strings.Join(hardening.DefaultCiphers, ","),
	"sshd.macs":                                  strings.Join(hardening.DefaultMACs, ","),
	"sshd.passwordauthentication":                "no",
	"sshd.permitrootlogin":                       "no",
	"nft.input":                                  "policy drop, tcp 22",
	"ntp":                                        "ntp1.example.test ntp2.example.test",
	"dns":                                        "10.0.2.3 search example.test",
	"grub.password":                              "1",
	"journal-upload":                             "enabled https://logs.example.test:19532",
	"alias.root":                                 "root: ops",
}

// Weak algorithms the stock Debian 12 sshd accepts and the hardened one must refuse.
var (
	weakMAC = ssh.Config{Ciphers: []string{ssh.CipherAES128CTR}, MACs: []string{ssh.HMACSHA1}}
	weakKex = ssh.Config{KeyExchanges: []string{ssh.KeyExchangeECDHP256}}
)

// TestAccHardenOverSSH hardens a booted Debian 12 VM (qemu TCG) with a real `packer build` (null
// builder, SSH communicator) and checks the running system: password logins that worked before
// fail, the sshd that runs refuses passwords and weak algorithms, key logins and sudo work, a
// listener on a port the firewall does not allow is unreachable from outside, the kernel
// parameters, host name, resolver and time servers are live. A second build as the new sudo user
// changes nothing, and after a reboot (through GRUB, now with a superuser password) the VM comes up
// with all of it still in effect.
// Needs PACKER_ACC=1, root, qemu and a Debian mirror in this machine's apt sources (the VM
// installs sudo, nftables, auditd and systemd-timesyncd from it).
func TestAccHardenOverSSH(t *testing.T) {
	env := packertest.Setup(t)
	fixture.NeedRoot(t)
	began := time.Now()
	image := filepath.Join(fixture.DebianImage(t), "debian12.qcow2")
	key := vmtest.NewKey(t)
	phase := time.Now()
	vm := vmtest.Boot(t, image, key, vmtest.Options{AuthorizeKey: true, Forward: []int{2222}})
	t.Logf("TIMING boot: %v", time.Since(phase).Round(time.Second))
	addr := fmt.Sprintf("127.0.0.1:%d", vm.HostPort(22))

	// Controls: the stock VM accepts passwords and weak algorithms, 2222 answers, and none of
	// the facts refit-harden establishes holds yet.
	vm.Run(fmt.Sprintf(`set -e
printf 'root:%%s\n' %s | chpasswd
useradd -m -s /bin/bash ops
printf 'ops:%%s\n' %s | chpasswd
printf 'PermitRootLogin yes\nPasswordAuthentication yes\n' >/etc/ssh/sshd_config.d/05-refit-test-passwords.conf
systemctl reload ssh.service
printf '%%s' %s >/etc/systemd/system/refit-test-sshd-2222.service
systemctl daemon-reload
systemctl enable --now refit-test-sshd-2222.service`, shellQuote(rootPassword), shellQuote(opsPassword), shellQuote(extraListener)))
	for _, login := range [][2]string{{"root", rootPassword}, {"ops", opsPassword}} {
		if p := probePassword(addr, login[0], login[1], ssh.Config{}); !p.LoggedIn || !p.offers("password") {
			t.Fatalf("control: password login as %s before hardening: %+v", login[0], p)
		}
	}
	if p := probePassword(addr, "root", "wrong-"+rootPassword, ssh.Config{}); p.LoggedIn || !p.Negotiated {
		t.Fatalf("control: a wrong password must fail after a successful key exchange: %+v", p)
	}
	for name, algs := range map[string]ssh.Config{"hmac-sha1": weakMAC, "ecdh-sha2-nistp256": weakKex} {
		if p := probePassword(addr, "root", rootPassword, algs); !p.Negotiated {
			t.Fatalf("control: the stock sshd refuses %s, so its refusal after hardening would prove nothing: %v", name, p.Err)
		}
	}
	if !vm.PortOpen(2222, 30*time.Second) {
		t.Fatal("control: the second sshd on guest port 2222 does not answer before hardening")
	}
	before := guestFacts(t, vm.Run)
	for name, want := range hardenedFacts {
		if before[name] == want {
			t.Errorf("control: %s is already %q before hardening: its check would prove nothing", name, want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// The build, as root: refit-harden changes the system and applies it live.
	dir := packertest.Template(t, sshHardenTemplate)
	phase = time.Now()
	first := runHardenBuild(t, env, dir, vm, key, "root", filepath.Join(dir, "report-1.json"))
	t.Logf("TIMING first build: %v (%d changed, %d ok, %d skipped)", time.Since(phase).Round(time.Second), first.Counts.Changed, first.Counts.OK, first.Counts.Skipped)
	if first.Counts.Changed == 0 {
		t.Error("the first build changed nothing")
	}
	for _, id := range []string{"live.sysctl", "live.sshd", "live.firewall", "live.hostname", "live.network", "logging.journal-upload", "mail.root-alias"} {
		if r := findResult(first, id); r.Status != hardening.StatusChanged {
			t.Errorf("%s: %s %q, want changed (applied live)", id, r.Status, r.Detail)
		}
	}
	// the upload service was not running, so it is left to start at the next boot
	if r := findResult(first, "live.journal-upload"); r.Status != hardening.StatusSkipped || !strings.Contains(r.Detail, "not running") {
		t.Errorf("live.journal-upload: %s %q, want skipped: not running", r.Status, r.Detail)
	}
	// root may no longer log in over SSH (permit_root_login defaults to no): go on as ops.
	vm.SetLogin("ops", key)
	checkHardenedVM(t, vm, key, addr, "after the first build")

	// The same build again, as ops through sudo: nothing left to change.
	phase = time.Now()
	second := runHardenBuild(t, env, dir, vm, key, "ops", filepath.Join(dir, "report-2.json"))
	t.Logf("TIMING second build: %v", time.Since(phase).Round(time.Second))
	if second.Counts.Changed != 0 {
		var changed []string
		for _, r := range second.Results {
			if r.Status == hardening.StatusChanged {
				changed = append(changed, r.ID+": "+r.Detail)
			}
		}
		t.Errorf("the second build changed %d rules, want 0:\n%s", second.Counts.Changed, strings.Join(changed, "\n"))
	}

	// An audit over SSH of the hardened machine: every rule compliant (fail_on = "noncompliant"
	// would fail the build otherwise).
	phase = time.Now()
	audit := runAuditBuild(t, env, dir, vm, key, "ops", filepath.Join(dir, "report-audit.json"))
	t.Logf("TIMING audit: %v (%d compliant, %d not applicable)", time.Since(phase).Round(time.Second), audit.Counts.Compliant, audit.Counts.NotApplicable)

	phase = time.Now()
	vm.Reboot()
	t.Logf("TIMING reboot: %v", time.Since(phase).Round(time.Second))
	checkHardenedVM(t, vm, key, addr, "after the reboot")
	// The kernel loaded refit's audit rules at boot (augenrules): the watches the SSG checks read
	// in their written form, a watch of a folder that does not exist (/etc/network), and -e 2.
	rules := vm.Run("sudo -n auditctl -l; sudo -n auditctl -s")
	for _, want := range []string{"-w /etc/apparmor -p wa -k MAC-policy", "-w /etc/apparmor.d -p wa -k MAC-policy",
		"-w /etc/network -p wa -k system-locale", "-w /etc/sudoers -p wa -k scope", "enabled 2"} {
		if !strings.Contains(rules, want+"\n") {
			t.Errorf("after the reboot: the kernel's audit rules lack %q:\n%s", want, rules)
		}
	}
	t.Logf("TIMING total: %v", time.Since(began).Round(time.Second))
}

// runHardenBuild runs `packer build` of the template in dir against vm as user and returns the
// JSON report, after checking the build and the report succeeded on a live Debian system.
func runHardenBuild(t *testing.T, env *packertest.Env, dir string, vm *vmtest.VM, key vmtest.Key, user, report string) hardening.Report {
	t.Helper()
	out, err := env.Run(t, dir, "build",
		"-var", fmt.Sprintf("ssh_port=%d", vm.HostPort(22)),
		"-var", "ssh_username="+user,
		"-var", "ssh_key_file="+key.Private,
		"-var", "public_key="+key.Public,
		"-var", "report="+report,
		".")
	if err != nil {
		t.Fatalf("packer build as %s: %v", user, err)
	}
	if !strings.Contains(out, "debian 12 (debian), on a running system:") || !strings.Contains(out, " 0 failed") {
		t.Errorf("packer build as %s: the output lacks the live summary with 0 failed rules", user)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("the report: %v", err)
	}
	var rep hardening.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("the report: %v\n%s", err, data)
	}
	if !rep.Complete || !rep.Live || rep.OSID != "debian" || rep.Counts.Failed != 0 {
		t.Fatalf("report of the build as %s: complete %v, live %v, os %q, counts %+v", user, rep.Complete, rep.Live, rep.OSID, rep.Counts)
	}
	return rep
}

// runAuditBuild runs the template in audit mode with fail_on = "noncompliant" against vm as
// user and returns the report, after checking that every rule was compliant or not applicable.
func runAuditBuild(t *testing.T, env *packertest.Env, dir string, vm *vmtest.VM, key vmtest.Key, user, report string) hardening.Report {
	t.Helper()
	out, err := env.Run(t, dir, "build",
		"-var", fmt.Sprintf("ssh_port=%d", vm.HostPort(22)),
		"-var", "ssh_username="+user,
		"-var", "ssh_key_file="+key.Private,
		"-var", "public_key="+key.Public,
		"-var", "report="+report,
		"-var", "mode=audit",
		"-var", "fail_on=noncompliant",
		".")
	if err != nil {
		t.Fatalf("packer build in audit mode as %s: %v", user, err)
	}
	if !strings.Contains(out, "audit of debian 12 (debian), on a running system, profile baseline:") || !strings.Contains(out, "pass rate 100.0 %") {
		t.Errorf("packer build in audit mode as %s: the output lacks the audit summary with a pass rate of 100 %%", user)
	}
	rep := readHardenReport(t, report)
	if !rep.Complete || !rep.Live || !rep.Audit || rep.Profile != "baseline" || rep.Counts.Compliant == 0 ||
		rep.Counts.WouldChange != 0 || rep.Counts.Failed != 0 || rep.Counts.Changed != 0 {
		t.Errorf("audit report as %s: complete %v, live %v, audit %v, profile %q, counts %+v", user, rep.Complete, rep.Live, rep.Audit, rep.Profile, rep.Counts)
	}
	return rep
}

// checkHardenedVM checks the running VM: logins, sudo, password and algorithm refusal by the
// running sshd, the firewall, and the live facts.
func checkHardenedVM(t *testing.T, vm *vmtest.VM, key vmtest.Key, addr, when string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := vm.RunAs(ctx, "ops", key, "id -un && sudo -n id -u"); err != nil || !slices.Equal(strings.Fields(out), []string{"ops", "0"}) {
		t.Errorf("%s: key login as ops with sudo -n: %v\n%s", when, err, out)
	}
	// auditor has sudo = "none": its failing sudo shows the sudo check above can fail.
	if out, err := vm.RunAs(ctx, "auditor", key, "id -un && ! sudo -n true 2>/dev/null"); err != nil || strings.TrimSpace(out) != "auditor" {
		t.Errorf("%s: key login as auditor (created by the build, no sudo): %v\n%s", when, err, out)
	}
	if out, err := vm.RunAs(ctx, "root", key, "true"); err == nil {
		t.Errorf("%s: root can still log in over SSH with its key (permit_root_login defaults to no)\n%s", when, out)
	}
	for _, login := range [][2]string{{"root", rootPassword}, {"ops", opsPassword}} {
		p := probePassword(addr, login[0], login[1], ssh.Config{})
		switch {
		case p.LoggedIn:
			t.Errorf("%s: password login as %s still works", when, login[0])
		case !p.Negotiated:
			t.Errorf("%s: password login as %s: the key exchange failed, so nothing was learnt: %v", when, login[0], p.Err)
		case len(p.Offered) > 0:
			t.Errorf("%s: the running sshd still offers %v to %s", when, p.Offered, login[0])
		case !strings.Contains(p.Banner, hardening.DefaultBanner):
			t.Errorf("%s: the pre-login banner is %q, want the legal banner", when, p.Banner)
		}
	}
	for name, algs := range map[string]ssh.Config{"hmac-sha1": weakMAC, "ecdh-sha2-nistp256": weakKex} {
		if p := probePassword(addr, "ops", opsPassword, algs); p.Negotiated {
			t.Errorf("%s: the running sshd still accepts %s", when, name)
		}
	}
	if vm.PortOpen(2222, 5*time.Second) {
		t.Errorf("%s: guest port 2222 answers from outside; the firewall allows only 22", when)
	}
	if !vm.PortOpen(22, 30*time.Second) {
		t.Errorf("%s: guest port 22 does not answer", when)
	}
	facts := guestFacts(t, func(cmd string) string { return vm.Run("sudo -n sh -c " + shellQuote(cmd)) })
	if got := facts["listener.2222"]; got != "SSH-2.0" {
		t.Errorf("%s: the second sshd does not answer on 127.0.0.1:2222 inside the guest (%q), so the closed port proves nothing", when, got)
	}
	for _, name := range slices.Sorted(maps.Keys(hardenedFacts)) {
		if got, want := facts[name], hardenedFacts[name]; got != want {
			t.Errorf("%s: %s is %q, want %q", when, name, got, want)
		}
	}
}

// guestFacts runs guestFactsScript with run and parses its name=value lines.
func guestFacts(t *testing.T, run func(string) string) map[string]string {
	t.Helper()
	facts := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(run(guestFactsScript)))
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), "="); ok {
			facts[name] = strings.TrimSpace(value)
		}
	}
	return facts
}

// findResult returns the result of rule id, or a failed placeholder when the report lacks it.
func findResult(r hardening.Report, id string) hardening.Result {
	for _, res := range r.Results {
		if res.ID == id {
			return res
		}
	}
	return hardening.Result{ID: id, Status: hardening.StatusFailed, Detail: "not in the report"}
}
