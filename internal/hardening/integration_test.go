package hardening

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// integrationConfig asks for a bit of everything: a user with keys and sudo, a user to remove,
// host name, DNS, NTP, IPv6 off and the firewall. Packages are not installed: the root has them,
// and the test must not depend on a mirror.
func integrationConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.InstallPackages = false
	deploy := NewUser("deploy")
	deploy.Groups = []string{"ssh-users"}
	deploy.Sudo = SudoNoPasswd
	deploy.SSHAuthorizedKeys = []string{readKey(t, "ed25519.pub"), readKey(t, "options.pub")}
	auditor := NewUser("auditor")
	auditor.Sudo = SudoPassword
	auditor.HomeMode = "0700"
	auditor.Shell = "/bin/sh"
	cfg.Users = []User{deploy, auditor}
	cfg.RemoveUsers = []string{"olduser"}
	cfg.SSH.AllowGroups = []string{"ssh-users"}
	cfg.Network = Network{Hostname: "web01", Domain: "example.test", DNSServers: []string{"192.0.2.53"},
		DNSSearch: []string{"example.test"}, NTPServers: []string{"ntp1.example.test"}, DisableIPv6: true}
	cfg.Firewall = Firewall{Enabled: true, Backend: BackendAuto, AllowTCP: []int{80, 443}, AllowSources: []string{"10.0.0.0/8"},
		DefaultInbound: PolicyDrop, DefaultForward: PolicyDrop}
	return cfg
}

// TestDebianChroot runs the program in a chroot of a Debian 12 server root (no running systemd):
// every rule applies, verifies and is idempotent, with dash and with busybox sh, and the files it
// writes pass the system's own validators.
func TestDebianChroot(t *testing.T) {
	root := extractRoot(t, flavourServer)
	if out, err := inRoot(t, root, "useradd", "-m", "olduser"); err != nil {
		t.Fatalf("useradd olduser: %v\n%s", err, out)
	}
	// logrotate's rotation of the login records, as Debian's logrotate package ships it (this
	// minimal root has no logrotate)
	for name, mode := range map[string]string{"wtmp": "0664", "btmp": "0660"} {
		writeFile(t, root, "etc/logrotate.d/"+name, "/var/log/"+name+" {\n    missingok\n    monthly\n    create "+mode+" root utmp\n    rotate 1\n}\n")
	}
	// an administrator's own AllowGroups line: sshd adds up AllowGroups lines, so it would widen
	// the configured list
	writeFile(t, root, "etc/ssh/sshd_config", readFile(t, root, "etc/ssh/sshd_config")+"AllowGroups wheel\n")
	cfg := integrationConfig(t)
	cfg.Extra = []string{"pam.unix-rounds", "sudo.umask"} // ANSSI rules, outside the baseline

	first, out := runProgram(t, root, cfg, "/bin/sh")
	if first.OSID != "debian" || first.Family != "debian" || first.Live {
		t.Errorf("system %s/%s live=%v, want debian offline", first.OSID, first.Family, first.Live)
	}
	if first.Counts.Failed != 0 {
		t.Fatalf("%d rules failed:\n%s", first.Counts.Failed, failures(first))
	}
	if first.Counts.Changed < 150 {
		t.Errorf("only %d rules changed on a fresh root:\n%s", first.Counts.Changed, out)
	}
	byID := resultsByID(first)
	for id, want := range map[string]Status{
		"modules.vfat":                       StatusChanged, // no EFI partition in this root
		"user.deploy.account":                StatusChanged,
		"user.deploy.password":               StatusOK, // useradd leaves new accounts locked
		"user.olduser.absent":                StatusChanged,
		"packages.install.auditd":            StatusOK,
		"packages.absent.telnet":             StatusOK,
		"live.sysctl":                        StatusSkipped, // offline
		"ssh.validate":                       StatusOK,
		"firewall.rules":                     StatusChanged,
		"sysctl.net.ipv4.conf.all.rp_filter": StatusChanged,
		"pam.unix-rounds":                    StatusChanged,
		"fs.perm.login-records":              StatusChanged,
		"sudo.umask":                         StatusChanged,
		"boot.grub-password":                 StatusSkipped, // no bootloader block (TestGrubPasswordImage sets one)
	} {
		if got := byID[id].Status; got != want {
			t.Errorf("%s: %s (%s), want %s", id, got, byID[id].Detail, want)
		}
	}
	// the baseline installs apparmor-utils only where the image already has Python 3; this root has none
	if r := byID["packages.install.apparmor-utils"]; r.Status != StatusSkipped || !strings.Contains(r.Detail, "no Python 3") {
		t.Errorf("packages.install.apparmor-utils: %s (%s), want skipped for want of Python 3", r.Status, r.Detail)
	}

	// idempotent, and the same with busybox sh
	second, _ := runProgram(t, root, cfg, "busybox", "sh")
	if second.Counts.Changed != 0 || second.Counts.Failed != 0 {
		t.Errorf("second run (busybox sh): %d changed, %d failed:\n%s%s", second.Counts.Changed, second.Counts.Failed, changes(second), failures(second))
	}

	t.Run("sshd", func(t *testing.T) {
		// sshd wants its privilege separation folder, which the program does not leave behind
		if out, err := inRoot(t, root, "sh", "-c", "mkdir -p /run/sshd && /usr/sbin/sshd -t"); err != nil {
			t.Fatalf("sshd -t: %v\n%s", err, out)
		}
		eff, err := inRoot(t, root, "/usr/sbin/sshd", "-T")
		if err != nil {
			t.Fatalf("sshd -T: %v\n%s", err, eff)
		}
		for _, want := range []string{"permitrootlogin no", "passwordauthentication no", "kbdinteractiveauthentication no",
			"maxauthtries 3", "allowgroups ssh-users", "loglevel INFO", "x11forwarding no", "disableforwarding yes", "allowstreamlocalforwarding no", "banner /etc/issue.net",
			"macs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512,hmac-sha2-256"} {
			if !strings.Contains(eff, want+"\n") {
				t.Errorf("sshd -T lacks %q", want)
			}
		}
		if n := strings.Count(eff, "\nallowgroups "); n != 1 {
			t.Errorf("sshd -T has %d allowgroups entries, want only ssh-users:\n%s", n, eff)
		}
	})
	t.Run("sudo", func(t *testing.T) {
		if out, err := inRoot(t, root, "visudo", "-c"); err != nil {
			t.Fatalf("visudo -c: %v\n%s", err, out)
		}
		// sudo.umask: sudo itself runs commands with umask 0077 (the union with root's 0022); the
		// output's last line is the command's (sudo may first warn that it cannot resolve the host name)
		out, err := inRoot(t, root, "sudo", "-n", "sh", "-c", "umask")
		if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || lines[len(lines)-1] != "0077" {
			t.Errorf("umask under sudo: %q, %v; want 0077", out, err)
		}
		for file, want := range map[string]string{
			"etc/sudoers.d/90-refit-user-deploy":  "deploy ALL=(ALL:ALL) NOPASSWD: ALL\n",
			"etc/sudoers.d/90-refit-user-auditor": "auditor ALL=(ALL:ALL) ALL\n",
			"etc/sudoers.d/00-refit-hardening":    "Defaults use_pty\n",
		} {
			if got := readFile(t, root, file); !strings.Contains(got, want) {
				t.Errorf("%s lacks %q:\n%s", file, want, got)
			}
		}
	})
	t.Run("audit rules", func(t *testing.T) {
		// auditctl would load the rules into this machine's kernel: check every system call
		// name against the image's own audit tables instead
		rules := readFile(t, root, "etc/audit/rules.d/50-refit-hardening.rules")
		checked := 0
		for _, line := range strings.Split(rules, "\n") {
			f := strings.Fields(line)
			arch := ""
			for i := 0; i+1 < len(f); i++ {
				switch {
				case f[i] == "-F" && strings.HasPrefix(f[i+1], "arch="):
					arch = map[string]string{"arch=b64": map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH], "arch=b32": "i386"}[f[i+1]]
				case f[i] == "-S":
					for _, name := range strings.Split(f[i+1], ",") {
						if out, err := inRoot(t, root, "ausyscall", arch, name, "--exact"); err != nil {
							t.Errorf("ausyscall %s %s: %v %s (in %q)", arch, name, err, out, line)
						}
						checked++
					}
				}
			}
		}
		if checked < 20 || !strings.Contains(rules, "-F path=/usr/bin/sudo -F perm=x") {
			t.Errorf("only %d system calls checked, or sudo is not audited:\n%s", checked, rules)
		}
	})
	t.Run("firewall", func(t *testing.T) {
		if out, err := inRoot(t, root, "nft", "-c", "-f", "/etc/nftables.conf"); err != nil {
			t.Fatalf("nft -c: %v\n%s", err, out)
		}
		if !fileExists(filepath.Join(root, "etc/systemd/system/sysinit.target.wants/nftables.service")) {
			t.Error("nftables.service is not enabled")
		}
	})
	t.Run("users", func(t *testing.T) {
		passwd := readFile(t, root, "etc/passwd")
		shadow := readFile(t, root, "etc/shadow")
		if strings.Contains(passwd, "\nolduser:") || fileExists(filepath.Join(root, "home/olduser")) {
			t.Error("olduser and its home are still there")
		}
		for _, u := range []string{"deploy", "auditor"} {
			if !strings.Contains(shadow, "\n"+u+":!") {
				t.Errorf("the password of %s is not locked", u)
			}
		}
		keys := readFile(t, root, "home/deploy/.ssh/authorized_keys")
		for _, k := range []string{readKey(t, "ed25519.pub"), readKey(t, "options.pub")} {
			if !strings.Contains(keys, k+"\n") {
				t.Errorf("authorized_keys lacks %q", k)
			}
		}
		for path, want := range map[string]string{"home/deploy": "750 deploy", "home/deploy/.ssh": "700 deploy", "home/deploy/.ssh/authorized_keys": "600 deploy", "home/auditor": "700 auditor"} {
			out, _ := inRoot(t, root, "stat", "-c", "%a %U", "/"+path)
			if got := strings.TrimSpace(out); got != want {
				t.Errorf("%s is %q, want %q", path, got, want)
			}
		}
		if groups, _ := inRoot(t, root, "id", "-nG", "deploy"); !strings.Contains(groups, "ssh-users") {
			t.Errorf("deploy is in %q, not ssh-users", groups)
		}
	})
	t.Run("network", func(t *testing.T) {
		for file, want := range map[string]string{
			"etc/hostname":    "web01\n",
			"etc/hosts":       "127.0.1.1\tweb01.example.test web01\n",
			"etc/resolv.conf": "nameserver 192.0.2.53\nsearch example.test\n",
			"etc/systemd/timesyncd.conf.d/refit-ntp.conf": "NTP=ntp1.example.test\n",
			"etc/sysctl.d/zz-refit-hardening.conf":        "net.ipv6.conf.all.disable_ipv6 = 1\n",
		} {
			if got := readFile(t, root, file); !strings.Contains(got, want) {
				t.Errorf("%s lacks %q:\n%s", file, want, got)
			}
		}
	})
	t.Run("pam_unix rounds", func(t *testing.T) {
		// a password set through PAM (chpasswd reads common-password) against one hashed by
		// chpasswd itself at login.defs' default cost: the yescrypt setting's N (its second
		// character, log2 N in crypt's base-64 alphabet) is 2^6 larger at cost 11 than at cost 5
		const alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		cost := func(user string, chpasswd string) int {
			t.Helper()
			if out, err := inRoot(t, root, "sh", "-c", "useradd "+user+" && echo '"+user+":Xk9#vLq2!mWz7@Rt' | "+chpasswd); err != nil {
				t.Fatalf("%s for %s: %v\n%s", chpasswd, user, err, out)
			}
			for _, l := range strings.Split(readFile(t, root, "etc/shadow"), "\n") {
				if f := strings.Split(l, ":"); f[0] == user && len(f) > 1 && strings.HasPrefix(f[1], "$y$") && len(f[1]) > 5 {
					return strings.IndexByte(alphabet, f[1][4])
				}
			}
			t.Fatalf("%s has no yescrypt hash in /etc/shadow", user)
			return 0
		}
		// this root has no cracklib dictionary for pam_pwquality's dictcheck
		if out, err := inRoot(t, root, "sed", "-i", "s/^dictcheck.*/dictcheck = 0/", "/etc/security/pwquality.conf"); err != nil {
			t.Fatalf("sed: %v\n%s", err, out)
		}
		pam, own := cost("probepam", "chpasswd"), cost("probeown", "chpasswd -c YESCRYPT")
		if pam-own != 11-5 {
			t.Errorf("yescrypt log2 N through PAM %d, at the default cost %d: want 6 more (cost 11, not 5)", pam, own)
		}
	})
	t.Run("login records", func(t *testing.T) {
		for _, f := range []string{"/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog"} {
			if out, _ := inRoot(t, root, "stat", "-c", "%a %U", f); strings.TrimSpace(out) != "640 root" {
				t.Errorf("%s is %q, want 640 root", f, strings.TrimSpace(out))
			}
		}
		// this machine's systemd-tmpfiles, on the root, as at boot: our line wins over var.conf's 0664
		fixture.Need(t, "systemd-tmpfiles")
		wtmp := filepath.Join(root, "var/log/wtmp")
		if err := os.Chmod(wtmp, 0o664); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("systemd-tmpfiles", "--root="+root, "--create", "--prefix=/var/log/wtmp").CombinedOutput(); err != nil {
			t.Fatalf("systemd-tmpfiles --create: %v\n%s", err, out)
		}
		if fi, err := os.Stat(wtmp); err != nil || fi.Mode().Perm() != 0o640 {
			t.Errorf("after systemd-tmpfiles --create, /var/log/wtmp is %v (%v), want 0640", fi.Mode().Perm(), err)
		}
		for _, name := range []string{"wtmp", "btmp"} {
			if got := readFile(t, root, "etc/logrotate.d/"+name); !strings.Contains(got, "    create 0640 root utmp\n") {
				t.Errorf("/etc/logrotate.d/%s:\n%s", name, got)
			}
		}
	})
	t.Run("user choices unset", func(t *testing.T) {
		// without remote_logging and root_mail_alias nothing of theirs is written
		for _, p := range []string{"etc/aliases", strings.TrimPrefix(JournalUploadDropIn, "/"), "etc/systemd/system/multi-user.target.wants/systemd-journal-upload.service"} {
			if fileExists(filepath.Join(root, p)) {
				t.Errorf("/%s exists after a run without the settings", p)
			}
		}
	})
	t.Run("files written verbatim", func(t *testing.T) {
		// multi-line file contents pass through the rendered program's quoting: nothing may be
		// added to them (a render that indents function bodies once put a tab after every newline)
		if got := readFile(t, root, "etc/hostname"); got != "web01\n" {
			t.Errorf("/etc/hostname = %q, want %q", got, "web01\n")
		}
		for _, file := range []string{"home/deploy/.ssh/authorized_keys", "etc/sudoers.d/90-refit-user-deploy",
			"etc/sudoers.d/00-refit-hardening", "etc/resolv.conf", "etc/issue.net"} {
			if got := readFile(t, root, file); strings.Contains(got, "\n\t") {
				t.Errorf("%s has lines indented by the renderer:\n%q", file, got)
			}
		}
	})
}

// TestRefusesBeforeChanging checks that the program stops before changing anything on an
// unsupported system and when it is not root.
func TestRefusesBeforeChanging(t *testing.T) {
	root := extractRoot(t, flavourServer)
	program, err := Render(integrationConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "tmp", "refit-harden.sh"), program, 0o644); err != nil {
		t.Fatal(err)
	}
	alpine, err := os.ReadFile(filepath.Join("testdata", "os-release", "alpine-3.19"))
	if err != nil {
		t.Fatal(err)
	}
	debian := readFile(t, root, "usr/lib/os-release")
	cases := []struct {
		name    string
		prepare func(t *testing.T)
		args    []string
		want    string
	}{
		{"unsupported OS", func(t *testing.T) { writeFile(t, root, "usr/lib/os-release", string(alpine)) }, []string{"/bin/sh", "/tmp/refit-harden.sh"}, "unsupported operating system Alpine Linux"},
		{"not root", func(t *testing.T) { writeFile(t, root, "usr/lib/os-release", debian) }, []string{"--userspec=nobody:nogroup", root, "/bin/sh", "/tmp/refit-harden.sh"}, "must run as root"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.prepare(t)
			before := treeState(t, root)
			var out []byte
			var err error
			if tc.args[0] == "--userspec=nobody:nogroup" {
				out, err = exec.Command("chroot", tc.args...).CombinedOutput()
			} else {
				var s string
				s, err = inRoot(t, root, tc.args...)
				out = []byte(s)
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != ExitFatal {
				t.Errorf("exit %v, want %d", err, ExitFatal)
			}
			if _, perr := ParseReport(out); !errors.Is(perr, ErrProgram) || !strings.Contains(perr.Error(), tc.want) {
				t.Errorf("error %v, want %q\n%s", perr, tc.want, out)
			}
			if after := treeState(t, root); after != before {
				t.Error("the root changed")
			}
		})
	}
}

// TestRPMFamilyChroot runs the RHEL-family code paths in a Debian root dressed as Rocky 9: an
// rpmdb (Debian's rpm) and Rocky's os-release. It covers package queries through rpm, SHA512
// hashes, the nftables layout of /etc/sysconfig, and PAM rules that find no authselect stack
// (skipped), and root's mail alias. What it cannot cover: dnf installs (remote_logging's
// systemd-journal-remote among them), authselect, firewalld and SELinux labels of a real RHEL
// image; those need an RPM-family image.
func TestRPMFamilyChroot(t *testing.T) {
	root := extractRoot(t, flavourRPM)
	rocky, err := os.ReadFile(filepath.Join("testdata", "os-release", "rocky-9.3"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, root, "usr/lib/os-release", string(rocky))
	writeFile(t, root, "etc/rpm/macros", "%_dbpath /var/lib/rpm\n")
	// RHEL's own /etc/bashrc umask block and logrotate.conf (the files the RPM-family paths of
	// accounts.umask and services.logrotate edit)
	writeFile(t, root, "etc/bashrc", "if [ $UID -gt 199 ] && [ \"`/usr/bin/id -gn`\" = \"`/usr/bin/id -un`\" ]; then\n    umask 002\nelse\n    umask 022\nfi\n")
	writeFile(t, root, "etc/logrotate.conf", "# see \"man logrotate\" for details\n\n# global options do not affect preceding include directives\n\n# rotate log files weekly\nweekly\n\n# keep 4 weeks worth of backlogs\nrotate 4\n\n# create new (empty) log files after rotating old ones\ncreate\n\n# use date as a suffix of the rotated file\ndateext\n\n# packages drop log rotation information into this directory\ninclude /etc/logrotate.d\n")
	// the 01_users section that grub2-mkconfig writes into grub.cfg from RHEL's /etc/grub.d/01_users:
	// it reads GRUB2_PASSWORD from user.cfg at boot
	writeFile(t, root, "boot/grub2/grub.cfg", "### BEGIN /etc/grub.d/01_users ###\nif [ -f ${prefix}/user.cfg ]; then\n  source ${prefix}/user.cfg\n  if [ -n \"${GRUB2_PASSWORD}\" ]; then\n    set superusers=\"root\"\n    export superusers\n    password_pbkdf2 root ${GRUB2_PASSWORD}\n  fi\nfi\n### END /etc/grub.d/01_users ###\n")
	if out, err := inRoot(t, root, "rpm", "--initdb"); err != nil {
		t.Fatalf("rpm --initdb: %v\n%s", err, out)
	}
	cfg := integrationConfig(t)
	cfg.Bootloader.PasswordHash = fixture.GrubPasswordHash
	cfg.RootMailAlias = "ops"
	first, _ := runProgram(t, root, cfg, "/bin/sh")
	if first.OSID != "rocky" || first.Family != "rhel" {
		t.Errorf("system %s/%s, want rocky/rhel", first.OSID, first.Family)
	}
	if first.Counts.Failed != 0 {
		t.Fatalf("%d rules failed:\n%s", first.Counts.Failed, failures(first))
	}
	byID := resultsByID(first)
	for id, want := range map[string]Status{
		"packages.install.auditd":   StatusSkipped, // not in the rpmdb, and installing is off
		"login.defs.ENCRYPT_METHOD": StatusOK,      // Debian's login.defs already says SHA512
		"fs.perm.shadow":            StatusChanged, // group root on RPM systems, not shadow
		"pam.faillock.enabled":      StatusSkipped, // no /etc/pam.d/system-auth
		"boot.cmdline.apparmor":     StatusSkipped, // Debian family only
		"firewall.rules":            StatusChanged,
		"accounts.umask":            StatusChanged, // /etc/bashrc
		"services.logrotate":        StatusChanged,
		"services.journald-syslog":  StatusSkipped, // Debian family only (RHEL's rsyslog reads the journal)
		"boot.grub-password":        StatusChanged, // GRUB2_PASSWORD in /boot/grub2/user.cfg
		"mail.root-alias":           StatusChanged, // /etc/aliases created
	} {
		if got := byID[id].Status; got != want {
			t.Errorf("%s: %s (%s), want %s", id, got, byID[id].Detail, want)
		}
	}
	if got := readFile(t, root, "etc/aliases"); got != "root: ops\n" {
		t.Errorf("/etc/aliases = %q, want the root alias alone", got)
	}
	if got := readFile(t, root, "etc/login.defs"); !strings.Contains(got, "\nENCRYPT_METHOD SHA512\n") {
		t.Error("ENCRYPT_METHOD is not SHA512")
	}
	if got := readFile(t, root, "etc/bashrc"); strings.Count(got, "umask 027\n") != 2 || strings.Contains(got, "umask 0022") || strings.Contains(got, "umask 002\n") {
		t.Errorf("/etc/bashrc: both umask lines should be 027:\n%s", got)
	}
	if got := readFile(t, root, "etc/logrotate.conf"); !strings.Contains(got, "\ndaily\n") || !strings.Contains(got, "\nrotate 28\n") || strings.Contains(got, "\nweekly\n") || !strings.Contains(got, "\ndateext\n") {
		t.Errorf("/etc/logrotate.conf should rotate daily, 28 kept, and keep dateext:\n%s", got)
	}
	if got := readFile(t, root, "etc/sysconfig/nftables.conf"); !strings.Contains(got, `include "/etc/nftables/refit-filter.nft"`) {
		t.Errorf("/etc/sysconfig/nftables.conf does not include refit's ruleset:\n%s", got)
	}
	if out, err := inRoot(t, root, "nft", "-c", "-f", "/etc/sysconfig/nftables.conf"); err != nil {
		t.Errorf("nft -c: %v\n%s", err, out)
	}
	if got := readFile(t, root, "boot/grub2/user.cfg"); got != "GRUB2_PASSWORD="+fixture.GrubPasswordHash+"\n" {
		t.Errorf("/boot/grub2/user.cfg = %q, want grub2-setpassword's GRUB2_PASSWORD line", got)
	}
	if out, _ := inRoot(t, root, "stat", "-c", "%a %U:%G", "/boot/grub2/user.cfg"); strings.TrimSpace(out) != "600 root:root" {
		t.Errorf("/boot/grub2/user.cfg is %q, want 600 root:root", out)
	}
	second, _ := runProgram(t, root, cfg, "/bin/sh")
	if second.Counts.Changed != 0 || second.Counts.Failed != 0 {
		t.Errorf("second run: %d changed, %d failed:\n%s%s", second.Counts.Changed, second.Counts.Failed, changes(second), failures(second))
	}
	// RHEL's 01_users knows the superuser root only
	admin := DefaultConfig()
	admin.Hardening, admin.InstallPackages = false, false
	admin.Bootloader = Bootloader{Superuser: "admin", PasswordHash: fixture.GrubPasswordHash}
	rep, _ := runProgram(t, root, admin, "/bin/sh")
	if r := resultsByID(rep)["boot.grub-password"]; r.Status != StatusFailed || !strings.Contains(r.Detail, "set bootloader.superuser to root") {
		t.Errorf("superuser admin on Rocky: %s (%s), want failed, asking for root", r.Status, r.Detail)
	}
}

// TestFirewallBackendsChroot configures firewalld (firewall-offline-cmd) and ufw (its files and
// CLI, disabled while it runs) offline, twice each.
func TestFirewallBackendsChroot(t *testing.T) {
	for _, backend := range []string{BackendFirewalld, BackendUFW} {
		t.Run(backend, func(t *testing.T) {
			root := extractRoot(t, flavourFirewalls)
			cfg := DefaultConfig()
			cfg.Hardening = false
			cfg.InstallPackages = false
			cfg.Firewall = Firewall{Enabled: true, Backend: backend, AllowTCP: []int{80, 443}, AllowUDP: []int{53},
				AllowSources: []string{"10.0.0.0/8"}, DefaultInbound: PolicyDrop, DefaultForward: PolicyDrop}
			first, _ := runProgram(t, root, cfg, "/bin/sh")
			if first.Counts.Failed != 0 {
				t.Fatalf("%d rules failed:\n%s", first.Counts.Failed, failures(first))
			}
			if got := resultsByID(first)["firewall.rules"].Status; got != StatusChanged {
				t.Errorf("firewall.rules: %s", got)
			}
			second, _ := runProgram(t, root, cfg, "/bin/sh")
			if second.Counts.Changed != 0 || second.Counts.Failed != 0 {
				t.Errorf("second run: %d changed, %d failed:\n%s%s", second.Counts.Changed, second.Counts.Failed, changes(second), failures(second))
			}
			switch backend {
			case BackendFirewalld:
				out, err := inRoot(t, root, "firewall-offline-cmd", "--list-all")
				if err != nil || !strings.Contains(out, "target: DROP") || !strings.Contains(out, "80/tcp") {
					t.Errorf("firewall-offline-cmd --list-all: %v\n%s", err, out)
				}
			case BackendUFW:
				if got := readFile(t, root, "etc/ufw/ufw.conf"); !strings.Contains(got, "ENABLED=yes") {
					t.Errorf("ufw is not enabled:\n%s", got)
				}
				out, err := inRoot(t, root, "ufw", "show", "added")
				if err != nil || !strings.Contains(out, "ufw allow 22/tcp") || !strings.Contains(out, "ufw allow from 10.0.0.0/8") {
					t.Errorf("ufw show added: %v\n%s", err, out)
				}
			}
		})
	}
}

func readFile(t *testing.T, root, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatalf("reading %s: %v", rel, err)
	}
	return string(data)
}

func writeFile(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// treeState summarises a root (paths, modes, owners, sizes, times) to detect any change.
func treeState(t *testing.T, root string) string {
	t.Helper()
	out, err := exec.Command("find", root, "-xdev", "-not", "-path", root+"/tmp/*", "-printf", "%P %m %U %G %s %T@\n").Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestSSHDValidateRestores gives sshd a cipher it does not know: sshd -t rejects the result, the
// program restores the sshd configuration it found, and reports ssh.validate as failed.
func TestSSHDValidateRestores(t *testing.T) {
	root := extractRoot(t, flavourServer)
	before := readFile(t, root, "etc/ssh/sshd_config")
	cfg := DefaultConfig()
	cfg.Hardening = false
	cfg.InstallPackages = false
	cfg.SSH.Ciphers = []string{"aes256-gcm@openssh.com", "no-such-cipher@example.com"}
	rep, _ := runProgram(t, root, cfg, "/bin/sh")
	byID := resultsByID(rep)
	if r := byID["ssh.validate"]; r.Status != StatusFailed || !strings.Contains(r.Detail, "restored") {
		t.Fatalf("ssh.validate: %s %q, want failed and restored", r.Status, r.Detail)
	}
	if got := readFile(t, root, "etc/ssh/sshd_config"); got != before {
		t.Error("sshd_config was not restored")
	}
	if fileExists(filepath.Join(root, "etc/ssh/sshd_config.d/00-refit-hardening.conf")) {
		t.Error("the drop-in of the failed run is still there")
	}
	if out, err := inRoot(t, root, "sh", "-c", "mkdir -p /run/sshd && /usr/sbin/sshd -t"); err != nil {
		t.Errorf("sshd -t after the restore: %v\n%s", err, out)
	}
}
