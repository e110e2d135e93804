package hardening

import (
	"fmt"
	"slices"
	"strings"
)

// costlySysctls are kernel parameters only the profiles whose benchmark asks for them apply.
var costlySysctls = []string{"kernel.panic_on_oops"}

// costlyPackages are packages only the profiles whose benchmark asks for them install:
// apparmor-utils pulls in Python (python3-apparmor), which a small image may not have room for
// and whose updates run maintainer scripts refit-patch defers to the first boot (update-binfmts).
var costlyPackages = []string{"apparmor-utils"}

// costlyRules are other rules only the profiles whose benchmark asks for them apply: pam_unix at
// yescrypt's highest cost spends about 3 s of CPU and 1 GiB of memory on every password login;
// sudo's umask 0077 (ANSSI) makes the files that later provisioning creates through sudo (a
// service's configuration, a folder under /opt) unreadable to the services that run as other users;
// /tmp as a noexec tmpfs takes memory, forgets its files at each boot and stops the scripts that
// Packer's shell provisioner (and installers) run from it.
var costlyRules = []string{"pam.unix-rounds", "sudo.umask", "fs.tmp"}

// baselineRules is the hardening catalogue of the baseline profile: what dev-sec's os_hardening
// role covers, plus the CIS Debian 12 and ANSSI BP-028 items that can be set offline. The late
// rules run after the ssh, user, network and firewall rules, because those create home
// directories and may install packages (sudo, nftables, an NTP client) whose configuration, logs
// and setuid programs the late rules cover: run before them, a second run would find work left.
// The integrity rules end the late ones; Config.rules moves them after the DNS rule.
func baselineRules(c Config) (early, late []Rule) {
	// rules that need none of the installed packages come first: apt-get update runs in the
	// background meanwhile
	early = append(early, sysctlRules()...)
	early = append(early, moduleRules()...)
	early = append(early, accountRules(c)...)
	early = append(early, bootRules()...)
	early = append(early, grubPasswordRule())
	early = append(early, serviceRules()...)
	early = append(early, packageRules()...)
	// AppArmor on the kernel command line once the package rules installed it
	boot := bootRules()
	apparmor := boot[len(boot)-1]
	early = slices.DeleteFunc(early, func(r Rule) bool { return r.ID == apparmor.ID })
	files, homes := fileRules()
	late = append(late, apparmor)
	late = append(late, sudoRules()...)
	late = append(late, files...)
	late = append(late, pamRules()...)
	late = append(late, unixRoundsRule())
	late = append(late, homes...)
	late = append(late, auditRules()...)
	late = append(late, logrotateRule(), journaldSyslogRule())
	late = append(late, integrityRules()...)
	return early, late
}

// journaldSyslogRule has journald pass every message on to rsyslog, which writes the log files. It
// runs late: the package rules install rsyslog.
func journaldSyslogRule() Rule {
	return Rule{
		ID: "services.journald-syslog", Group: GroupServices, Title: "journald passes messages on to rsyslog",
		Changes: "Sets `ForwardToSyslog=yes` in `/etc/systemd/journald.conf` where rsyslog is installed (Debian/Ubuntu, whose rsyslog reads the messages journald forwards), so that its log files get every message.",
		check: `refit_only debian || return 2
refit_pkg_installed rsyslog || refit_na "rsyslog is not installed" || return 2
[ -d /etc/systemd ] || refit_na "systemd is not installed" || return 2
refit_kv_is /etc/systemd/journald.conf ForwardToSyslog yes eq0`,
		apply: `[ -f /etc/systemd/journald.conf ] || printf '[Journal]\n' >/etc/systemd/journald.conf
refit_kv_set /etc/systemd/journald.conf ForwardToSyslog yes eq0 || return 1
REFIT_DETAIL="ForwardToSyslog=yes"`,
	}
}

// logrotateRule rotates logs daily, keeping four weeks of them. It runs late: the package rules
// install logrotate.
func logrotateRule() Rule {
	return Rule{
		ID: "services.logrotate", Group: GroupServices, Title: "logs are rotated daily and kept four weeks",
		Changes: "Sets the global rotation of `/etc/logrotate.conf` to `daily` and its `rotate` count to 28 where it keeps fewer (Debian ships `weekly` and `rotate 4`: the same four weeks of logs, in smaller files); the settings of `/etc/logrotate.d` are left alone.",
		check: `[ -f /etc/logrotate.conf ] || refit_na "logrotate is not installed" || return 2
awk "$REFIT_AWK_LOGROTATE" /etc/logrotate.conf >/dev/null || refit_detail "the global rotation of /etc/logrotate.conf is not daily with 28 rotations"`,
		apply: `refit_filter /etc/logrotate.conf "$REFIT_AWK_LOGROTATE" -v fix=1 || return 1
REFIT_DETAIL="daily rotation, 28 kept, in /etc/logrotate.conf"`,
	}
}

// ---- packages --------------------------------------------------------------------------------

// wantedPackage is a package some rules need, by Debian and RPM name ("-" where not packaged).
type wantedPackage struct{ id, deb, rpm, why string }

var wantedPackages = []wantedPackage{
	{"auditd", "auditd", "audit", "the audit daemon, for the audit rules"},
	{"pwquality", "libpam-pwquality", "libpwquality", "the PAM password quality module"},
	{"pam-tmpdir", "libpam-tmpdir", "-", "per-user temporary directories (pam_tmpdir, Debian/Ubuntu)"},
	{"apparmor", "apparmor", "-", "AppArmor, the mandatory access control of Debian and Ubuntu"},
	{"apparmor-utils", "apparmor-utils", "-", "the AppArmor tools (aa-enforce, aa-status)"},
	{"rsyslog", "rsyslog", "rsyslog", "rsyslog, for local log files and forwarding"},
	{"logrotate", "logrotate", "logrotate", "logrotate, which rotates the log files of rsyslog before they fill the disk"},
	{"audispd-plugins", "audispd-plugins", "audispd-plugins", "the audit dispatcher plugins (audisp-remote, audisp-syslog), for sending audit records off the machine"},
	{"cron", "cron", "cronie", "cron, for periodic jobs (CIS checks its permissions and allow-list)"},
	{"aide", "aide-common", "aide", "AIDE, which detects changed system files (its database is built last, by integrity.aide-database)"},
}

// insecurePackage is a package (family) removed when present; names of all distributions.
type insecurePackage struct {
	id    string
	names []string
	what  string
}

var insecurePackages = []insecurePackage{
	{"telnet-server", []string{"telnetd", "inetutils-telnetd", "telnetd-ssl", "telnet-server"}, "telnet servers"},
	{"telnet", []string{"telnet", "inetutils-telnet"}, "the telnet client"},
	{"rsh", []string{"rsh-server", "rsh-redone-server", "rsh-client", "rsh-redone-client", "rsh"}, "rsh/rlogin servers and clients"},
	{"inetd", []string{"xinetd", "openbsd-inetd", "inetutils-inetd"}, "inetd super-servers"},
	{"nis", []string{"nis", "ypserv", "ypbind"}, "NIS server and client"},
	{"tftp-server", []string{"tftpd-hpa", "tftpd", "atftpd", "tftp-server"}, "TFTP servers"},
	{"talk", []string{"talk", "talkd", "inetutils-talk", "inetutils-talkd", "talk-server"}, "talk client and server"},
	{"prelink", []string{"prelink"}, "prelink (it defeats ASLR and file integrity checks)"},
}

func packageRules() []Rule {
	var rules []Rule
	for _, p := range wantedPackages {
		rules = append(rules, Rule{
			ID: "packages.install." + p.id, Group: GroupPackages,
			Title:   fmt.Sprintf("%s is installed", p.why),
			Changes: fmt.Sprintf("Installs `%s` (Debian/Ubuntu) or `%s` (RPM) from the image's repositories when missing and `install_packages` is true; skipped when they cannot be reached.", p.deb, p.rpm),
			check:   "refit_want_pkg_check " + shWords(p.deb, p.rpm),
			apply:   "refit_want_pkg_apply " + shWords(p.deb, p.rpm),
		})
	}
	for _, p := range insecurePackages {
		rules = append(rules, Rule{
			ID: "packages.absent." + p.id, Group: GroupPackages,
			Title:   "no " + p.what,
			Changes: fmt.Sprintf("Removes (purges) %s when installed: %s.", p.what, "`"+strings.Join(p.names, "`, `")+"`"),
			check:   "refit_absent_check " + shWords(p.names...),
			apply:   "refit_absent_apply " + shWords(p.names...),
		})
	}
	return rules
}

// ---- sysctl ----------------------------------------------------------------------------------

// sysctlSetting is one kernel parameter of the baseline.
type sysctlSetting struct{ key, value, why string }

var sysctlSettings = []sysctlSetting{
	{"fs.suid_dumpable", "0", "no core dumps of setuid programs"},
	{"fs.protected_hardlinks", "1", "no hard links to files the user does not own"},
	{"fs.protected_symlinks", "1", "symlinks in sticky directories followed only by their owner"},
	{"fs.protected_fifos", "2", "no opening others' FIFOs in sticky directories, group-writable ones too"},
	{"fs.protected_regular", "2", "no opening others' files in sticky directories with O_CREAT"},
	{"kernel.randomize_va_space", "2", "full address space layout randomisation"},
	{"kernel.kptr_restrict", "2", "kernel pointers hidden from everybody"},
	{"kernel.dmesg_restrict", "1", "kernel log readable by root only"},
	{"kernel.yama.ptrace_scope", "1", "ptrace of descendants only"},
	{"kernel.sysrq", "0", "magic SysRq keys off"},
	{"kernel.core_uses_pid", "1", "core file names carry the PID"},
	{"kernel.kexec_load_disabled", "1", "no kexec of another kernel"},
	{"dev.tty.ldisc_autoload", "0", "TTY line disciplines not loaded on demand for unprivileged users"},
	{"kernel.pid_max", "65536", "PIDs up to 65536"},
	{"kernel.panic_on_oops", "1", "a kernel oops panics (the ANSSI profiles only)"},
	{"kernel.unprivileged_bpf_disabled", "1", "BPF for privileged users only"},
	{"kernel.perf_event_paranoid", "2", "perf events restricted to user space measurements"},
	{"kernel.perf_cpu_time_max_percent", "1", "perf sampling limited"},
	{"kernel.perf_event_max_sample_rate", "1", "perf sampling limited"},
	{"net.core.bpf_jit_harden", "2", "BPF JIT hardening for all users"},
	{"vm.mmap_min_addr", "65536", "no mappings of low memory (NULL dereference exploits)"},
	{"net.ipv4.ip_forward", "0", "no IPv4 routing"},
	{"net.ipv6.conf.all.forwarding", "0", "no IPv6 routing"},
	{"net.ipv4.conf.all.accept_redirects", "0", "ICMP redirects ignored"},
	{"net.ipv4.conf.default.accept_redirects", "0", "ICMP redirects ignored"},
	{"net.ipv4.conf.all.secure_redirects", "0", "ICMP redirects from gateways ignored"},
	{"net.ipv4.conf.default.secure_redirects", "0", "ICMP redirects from gateways ignored"},
	{"net.ipv4.conf.all.send_redirects", "0", "no ICMP redirects sent"},
	{"net.ipv4.conf.default.send_redirects", "0", "no ICMP redirects sent"},
	{"net.ipv4.conf.all.accept_source_route", "0", "source-routed packets dropped"},
	{"net.ipv4.conf.default.accept_source_route", "0", "source-routed packets dropped"},
	{"net.ipv4.conf.all.rp_filter", "1", "strict reverse path filtering"},
	{"net.ipv4.conf.default.rp_filter", "1", "strict reverse path filtering"},
	{"net.ipv4.conf.all.log_martians", "1", "impossible source addresses logged"},
	{"net.ipv4.conf.default.log_martians", "1", "impossible source addresses logged"},
	{"net.ipv4.conf.all.shared_media", "0", "no redirects between hosts on a shared medium"},
	{"net.ipv4.conf.default.shared_media", "0", "no redirects between hosts on a shared medium"},
	{"net.ipv4.conf.all.accept_local", "0", "packets with local source addresses dropped"},
	{"net.ipv4.conf.all.route_localnet", "0", "no routing of 127/8"},
	{"net.ipv4.conf.all.drop_gratuitous_arp", "1", "gratuitous ARP ignored"},
	{"net.ipv4.conf.all.arp_ignore", "2", "ARP answered only for addresses of the receiving interface's subnet"},
	{"net.ipv4.conf.all.arp_announce", "2", "ARP requests use the best local address"},
	{"net.ipv4.conf.all.arp_filter", "1", "ARP answered per interface by the routing table"},
	{"net.ipv4.icmp_echo_ignore_broadcasts", "1", "broadcast pings ignored"},
	{"net.ipv4.icmp_ignore_bogus_error_responses", "1", "bogus ICMP errors ignored"},
	{"net.ipv4.tcp_syncookies", "1", "SYN flood protection"},
	{"net.ipv4.tcp_rfc1337", "1", "TIME-WAIT assassination protection"},
	{"net.ipv4.ip_local_port_range", "32768 65535", "ephemeral ports kept apart from services"},
	{"net.ipv6.conf.all.accept_redirects", "0", "ICMPv6 redirects ignored"},
	{"net.ipv6.conf.default.accept_redirects", "0", "ICMPv6 redirects ignored"},
	{"net.ipv6.conf.all.accept_source_route", "0", "source-routed IPv6 packets dropped"},
	{"net.ipv6.conf.default.accept_source_route", "0", "source-routed IPv6 packets dropped"},
	{"net.ipv6.conf.all.accept_ra", "0", "router advertisements ignored (skip on networks that rely on SLAAC)"},
	{"net.ipv6.conf.default.accept_ra", "0", "router advertisements ignored (skip on networks that rely on SLAAC)"},
	{"net.ipv6.conf.all.accept_ra_defrtr", "0", "no default route from router advertisements"},
	{"net.ipv6.conf.default.accept_ra_defrtr", "0", "no default route from router advertisements"},
	{"net.ipv6.conf.all.accept_ra_pinfo", "0", "no prefixes from router advertisements"},
	{"net.ipv6.conf.default.accept_ra_pinfo", "0", "no prefixes from router advertisements"},
	{"net.ipv6.conf.all.accept_ra_rtr_pref", "0", "no router preferences from router advertisements"},
	{"net.ipv6.conf.default.accept_ra_rtr_pref", "0", "no router preferences from router advertisements"},
	{"net.ipv6.conf.all.autoconf", "0", "no stateless address autoconfiguration"},
	{"net.ipv6.conf.default.autoconf", "0", "no stateless address autoconfiguration"},
	{"net.ipv6.conf.all.router_solicitations", "0", "no router solicitations sent"},
	{"net.ipv6.conf.default.router_solicitations", "0", "no router solicitations sent"},
	{"net.ipv6.conf.all.max_addresses", "1", "one global address per interface"},
	{"net.ipv6.conf.default.max_addresses", "1", "one global address per interface"},
}

func sysctlRule(key, value, why string) Rule {
	return Rule{
		ID: "sysctl." + key, Group: GroupSysctl,
		Title:   fmt.Sprintf("%s = %s", key, value),
		Changes: fmt.Sprintf("`%s = %s` in `/etc/sysctl.d/zz-refit-hardening.conf` (%s); conflicting lines in `/etc/sysctl.conf` and `/etc/sysctl.d` are commented out.", key, value, why),
		check:   "refit_sysctl_is " + shWords(key, value),
		apply:   "refit_sysctl_set " + shWords(key, value),
	}
}

func sysctlRules() []Rule {
	rules := make([]Rule, 0, len(sysctlSettings))
	for _, s := range sysctlSettings {
		rules = append(rules, sysctlRule(s.key, s.value, s.why))
	}
	return rules
}

// ---- kernel modules --------------------------------------------------------------------------

// blockedModule is a kernel module the baseline keeps from loading; guard is a shell condition
// under which the rule does not apply (with its reason).
type blockedModule struct{ name, what, guard, reason string }

var blockedModules = []blockedModule{
	{"cramfs", "rare filesystem", "", ""},
	{"freevxfs", "rare filesystem", "", ""},
	{"hfs", "rare filesystem", "", ""},
	{"hfsplus", "rare filesystem", "", ""},
	{"jffs2", "rare filesystem", "", ""},
	{"udf", "rare filesystem (Azure's provisioning ISO uses it: skip it there)", "", ""},
	{"squashfs", "rare filesystem", "refit_pkg_installed snapd", "snapd is installed and mounts snaps with squashfs"},
	{"vfat", "FAT filesystem", "refit_efi_image", "the image boots with UEFI: its EFI system partition is FAT"},
	{"usb-storage", "USB mass storage", "", ""},
	{"firewire-core", "FireWire (DMA access to memory)", "", ""},
	{"dccp", "rare network protocol", "", ""},
	{"sctp", "rare network protocol", "", ""},
	{"rds", "rare network protocol", "", ""},
	{"tipc", "rare network protocol", "", ""},
}

func moduleRules() []Rule {
	var rules []Rule
	for _, m := range blockedModules {
		check := "refit_modprobe_is_off " + shq(m.name)
		changes := fmt.Sprintf("`install %s /bin/false` and `blacklist %s` in `/etc/modprobe.d/refit-hardening.conf` (%s).", m.name, m.name, m.what)
		if m.guard != "" {
			check = fmt.Sprintf("if %s; then refit_na %s; return 2; fi\n%s", m.guard, shq(m.reason), check)
			changes += " Not applied when " + m.reason + "."
		}
		rules = append(rules, Rule{
			ID: "modules." + m.name, Group: GroupModules,
			Title: fmt.Sprintf("kernel module %s cannot be loaded", m.name), Changes: changes,
			check: check, apply: "refit_modprobe_off " + shq(m.name),
		})
	}
	return rules
}

// ---- files and permissions -------------------------------------------------------------------

// permSetting limits the permissions of paths: no bits beyond mode, and the given owner and group
// ("-" for any). Paths are shell words: globs expand at run time.
type permSetting struct {
	id, what   string
	paths      string
	mode       string
	owner, grp string
}

var permSettings = []permSetting{
	{"passwd", "the account database", "/etc/passwd /etc/passwd-", "0644", "root", "root"},
	{"group", "the group database", "/etc/group /etc/group-", "0644", "root", "root"},
	{"shadow", "the password hashes", "/etc/shadow /etc/shadow-", "0640", "root", "$REFIT_SHADOW_GROUP"},
	{"gshadow", "the group password hashes", "/etc/gshadow /etc/gshadow-", "0640", "root", "$REFIT_SHADOW_GROUP"},
	{"opasswd", "the password history", "/etc/security/opasswd /etc/security/opasswd.old", "0600", "root", "root"},
	{"shells", "the list of login shells", "/etc/shells", "0644", "root", "root"},
	{"banners", "the login banners", "/etc/issue /etc/issue.net /etc/motd", "0644", "root", "root"},
	{"crontab", "the system crontab", "/etc/crontab", "0600", "root", "root"},
	{"cron-dirs", "the cron directories", "/etc/cron.hourly /etc/cron.daily /etc/cron.weekly /etc/cron.monthly /etc/cron.d", "0700", "root", "root"},
	{"sshd-config", "the sshd configuration", "/etc/ssh/sshd_config /etc/ssh/sshd_config.d/*.conf", "0600", "root", "root"},
	{"ssh-host-keys", "the SSH host private keys", "/etc/ssh/ssh_host_*_key", "$REFIT_HOSTKEY_MODE", "root", "$REFIT_HOSTKEY_GROUP"},
	{"ssh-host-pubkeys", "the SSH host public keys", "/etc/ssh/ssh_host_*_key.pub", "0644", "root", "root"},
	{"sudoers", "the sudo policy", "/etc/sudoers", "0440", "root", "root"},
	{"sudoers-d", "the sudo drop-in directory", "/etc/sudoers.d", "0750", "root", "root"},
	{"grub", "the boot loader configuration", "/boot/grub/grub.cfg /boot/grub2/grub.cfg /boot/grub2/user.cfg /boot/grub2/grubenv", "0600", "root", "root"},
	{"system-map", "the kernel symbol maps", "/boot/System.map-*", "0600", "root", "root"},
	{"crypttab", "the encrypted volume table", "/etc/crypttab", "0600", "root", "root"},
	{"audit-config", "the audit configuration", "/etc/audit/auditd.conf", "0640", "root", "root"},
	{"audit-rules", "the audit rules", "/etc/audit/audit.rules /etc/audit/rules.d/*.rules", "0600", "root", "root"},
	{"audit-logs", "the audit log directory", "/var/log/audit", "0700", "root", "root"},
}

func permRule(p permSetting) Rule {
	var check, apply strings.Builder
	fmt.Fprintf(&check, "refit_fail=\nfor refit_path in %s; do\n\trefit_mode_at_most \"$refit_path\" %s %s %s || refit_fail=$REFIT_DETAIL\ndone\n", p.paths, p.mode, p.owner, p.grp)
	check.WriteString("[ -z \"$refit_fail\" ] || refit_detail \"$refit_fail\"")
	fmt.Fprintf(&apply, "refit_fixed=\nfor refit_path in %s; do\n\trefit_mode_at_most \"$refit_path\" %s %s %s && continue\n\trefit_mode_fix \"$refit_path\" %s %s %s || return 1\n\trefit_fixed=\"$refit_fixed $refit_path\"\ndone\nREFIT_DETAIL=\"fixed:$refit_fixed\"",
		p.paths, p.mode, p.owner, p.grp, p.mode, p.owner, p.grp)
	owner := ""
	switch {
	case p.owner != "-" && p.grp != "-":
		owner = fmt.Sprintf(", owner %s:%s", p.owner, strings.NewReplacer("$REFIT_SHADOW_GROUP", "shadow (Debian) or root", "$REFIT_HOSTKEY_GROUP", "root (Debian) or ssh_keys (RPM)").Replace(p.grp))
	case p.owner != "-":
		owner = ", owner " + p.owner
	}
	mode := strings.Replace(p.mode, "$REFIT_HOSTKEY_MODE", "0600 (Debian) or 0640 (RPM)", 1)
	return Rule{
		ID: "fs.perm." + p.id, Group: GroupFiles,
		Title:   "permissions of " + p.what,
		Changes: fmt.Sprintf("Clears permission bits beyond %s%s on `%s` (where present).", mode, owner, strings.Join(strings.Fields(p.paths), "`, `")),
		check:   check.String(), apply: apply.String(),
	}
}

// suidRemoved are binaries that lose their setuid/setgid bits when present (rarely needed, often
// exploited: rsh family, host-based SSH authentication, mail locking helpers).
var suidRemoved = []string{
	"/usr/bin/rcp", "/usr/bin/rlogin", "/usr/bin/rsh",
	"/usr/lib/openssh/ssh-keysign", "/usr/libexec/openssh/ssh-keysign",
	"/sbin/netreport", "/usr/sbin/usernetctl", "/usr/sbin/userisdnctl", "/usr/sbin/pppd",
	"/usr/bin/lockfile", "/usr/bin/mail-lock", "/usr/bin/mail-unlock", "/usr/bin/mail-touchlock", "/usr/bin/dotlockfile",
	"/usr/bin/arping", "/usr/sbin/arping", "/usr/sbin/uuidd", "/usr/bin/mtr", "/usr/lib/pt_chown",
	"/usr/lib/eject/dmcrypt-get-device", "/usr/lib/mc/cons.saver",
}

// fileRules returns the file rules, and separately those that scan home directories.
func fileRules() (rules, homes []Rule) {
	for _, p := range permSettings {
		rules = append(rules, permRule(p))
	}
	suid := shWords(suidRemoved...)
	rules = append(rules,
		loginRecordsRule(),
		Rule{
			ID: "fs.perm.var-log", Group: GroupFiles, Title: "log files are not world-readable",
			Changes: "Clears group write/execute and all other permissions on files under `/var/log` (`wtmp`, `lastlog` and `btmp` keep group write for their `utmp` group).",
			check:   `refit_varlog_scan && return 0; return 1`,
			apply:   `refit_varlog_scan fix`,
		},
		Rule{
			ID: "fs.perm.system-paths", Group: GroupFiles, Title: "system command directories are not group- or world-writable",
			Changes: "Clears group and other write permission on `/usr/local/sbin`, `/usr/local/bin`, `/usr/sbin`, `/usr/bin`, `/sbin` and `/bin`.",
			check: `refit_fail=
for refit_path in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
	refit_mode_at_most "$refit_path" 0755 || refit_fail=$REFIT_DETAIL
done
[ -z "$refit_fail" ] || refit_detail "$refit_fail"`,
			apply: `for refit_path in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
	refit_mode_at_most "$refit_path" 0755 || refit_mode_fix "$refit_path" 0755 || return 1
done
REFIT_DETAIL="removed group/other write permission"`,
		},
		Rule{
			ID: "fs.suid.remove", Group: GroupFiles, Title: "no setuid/setgid bit on rarely needed programs",
			Changes: "Removes the setuid and setgid bits from these files when present: `" + strings.Join(suidRemoved, "`, `") + "`.",
			check: `refit_found=
for refit_path in ` + suid + `; do
	[ -f "$refit_path" ] && [ ! -L "$refit_path" ] || continue
	if [ -u "$refit_path" ] || [ -g "$refit_path" ]; then refit_found="$refit_found $refit_path"; fi
done
[ -z "$refit_found" ] || refit_detail "setuid/setgid:$refit_found"`,
			apply: `refit_fixed=
for refit_path in ` + suid + `; do
	[ -f "$refit_path" ] && [ ! -L "$refit_path" ] || continue
	if [ -u "$refit_path" ] || [ -g "$refit_path" ]; then chmod ug-s "$refit_path" || return 1; refit_fixed="$refit_fixed $refit_path"; fi
done
REFIT_DETAIL="removed setuid/setgid from$refit_fixed"`,
		},
		Rule{
			ID: "fs.cron-allow", Group: GroupFiles, Title: "cron and at are allowed for root only",
			Changes: "Writes `/etc/cron.allow` and `/etc/at.allow` with `root` (0600 root:root) and deletes `/etc/cron.deny` and `/etc/at.deny`.",
			check: `for refit_f in /etc/cron.allow /etc/at.allow; do
	refit_file_is "$refit_f" 0600 root:root "root$REFIT_NL" || return 1
done
for refit_f in /etc/cron.deny /etc/at.deny; do
	[ ! -e "$refit_f" ] || refit_detail "$refit_f exists" || return 1
done`,
			apply: `for refit_f in /etc/cron.allow /etc/at.allow; do
	refit_put "$refit_f" 0600 root:root "root$REFIT_NL" || return 1
done
rm -f /etc/cron.deny /etc/at.deny || return 1
REFIT_DETAIL="wrote /etc/cron.allow and /etc/at.allow, removed the deny files"`,
		},
		Rule{
			ID: "fs.dev-shm", Group: GroupFiles, Title: "/dev/shm is mounted nodev,nosuid,noexec",
			Changes: "Adds `nodev,nosuid,noexec` to the `/dev/shm` line of `/etc/fstab`, or adds the line `tmpfs /dev/shm tmpfs defaults,nodev,nosuid,noexec 0 0`.",
			check:   `refit_mount_opts_check /etc/fstab /dev/shm`,
			apply:   `refit_mount_opts_apply /etc/fstab /dev/shm`,
		},
		Rule{
			ID: "fs.tmp", Group: GroupFiles, Title: "/tmp is its own file system, mounted nodev,nosuid,noexec",
			Changes: "Adds `nodev,nosuid,noexec` to the `/tmp` line of `/etc/fstab` (a partition of its own keeps its file system), or adds the line `tmpfs /tmp tmpfs defaults,nodev,nosuid,noexec 0 0`: from the next boot `/tmp` is a tmpfs of at most half the memory, emptied at every boot, where no program runs. Packer's `shell` provisioner runs its scripts from `/tmp`: a later build over SSH needs `remote_folder` elsewhere (a chroot build does not mount it).",
			check:   `refit_mount_opts_check /etc/fstab /tmp`,
			apply:   `refit_mount_opts_apply /etc/fstab /tmp`,
		},
	)
	homes = []Rule{
		{
			ID: "fs.perm.home", Group: GroupFiles, Title: "home directories are private",
			Changes: "Clears group write and all other permissions on the home directories of regular users (UID ≥ UID_MIN with a login shell) and makes each user its owner; users of `user` blocks keep their `home_mode`.",
			check:   `refit_homes_scan`,
			apply:   `refit_homes_scan fix`,
		},
		{
			ID: "fs.perm.user-dotfiles", Group: GroupFiles, Title: "dot files in home directories are private",
			Changes: "Clears write permission for others (and the group) on dot files in home directories; `.bash_history` and `.netrc`-like files become 0600.",
			check:   `refit_dotfiles_scan`,
			apply:   `refit_dotfiles_scan fix`,
		},
		{
			ID: "fs.rhosts", Group: GroupFiles, Title: "no rhosts trust files",
			Changes: "Deletes `/etc/hosts.equiv`, `/etc/shosts.equiv` and `.rhosts`/`.shosts` in root's and users' home directories.",
			check:   `refit_trustfiles_scan '.rhosts .shosts' '/etc/hosts.equiv /etc/shosts.equiv'`,
			apply:   `refit_trustfiles_scan '.rhosts .shosts' '/etc/hosts.equiv /etc/shosts.equiv' fix`,
		},
		{
			ID: "fs.netrc", Group: GroupFiles, Title: "no .netrc files with clear-text passwords",
			Changes: "Deletes `.netrc` files in root's and users' home directories.",
			check:   `refit_trustfiles_scan .netrc ''`,
			apply:   `refit_trustfiles_scan .netrc '' fix`,
		},
		{
			ID: "fs.forward", Group: GroupFiles, Title: "no .forward files",
			Changes: "Deletes `.forward` files (mail forwarding that runs programs) in root's and users' home directories.",
			check:   `refit_trustfiles_scan .forward ''`,
			apply:   `refit_trustfiles_scan .forward '' fix`,
		},
	}
	return rules, homes
}
