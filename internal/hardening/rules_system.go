package hardening

import (
	"fmt"
	"strings"
)

// kvSetting is one key of a key/value configuration file.
type kvSetting struct{ key, value, why string }

// loginDefs are the /etc/login.defs settings; "$REFIT_HASH_METHOD" is YESCRYPT where shadow
// supports it (Debian, Ubuntu, Fedora) and SHA512 on RHEL.
var loginDefs = []kvSetting{
	{"PASS_MAX_DAYS", "365", "passwords expire after a year"},
	{"PASS_MIN_DAYS", "1", "at most one password change a day"},
	{"PASS_WARN_AGE", "7", "a week's warning before a password expires"},
	{"UMASK", "027", "new home directories and files not readable by others; 077 in the anssi-high profile, not readable by the group either"},
	{"ENCRYPT_METHOD", "$REFIT_HASH_METHOD", "password hashes with yescrypt (SHA512 on RHEL)"},
	{"LOGIN_RETRIES", "3", "three login attempts per session"},
	{"LOGIN_TIMEOUT", "60", "a minute to log in"},
	{"HOME_MODE", "0750", "new home directories private (not on RHEL 8, whose shadow-utils lacks it)"},
	{"SHA_CRYPT_MIN_ROUNDS", "65536", "costlier SHA-crypt hashes where SHA512 is used"},
	{"SHA_CRYPT_MAX_ROUNDS", "65536", "costlier SHA-crypt hashes where SHA512 is used"},
}

// pwquality are /etc/security/pwquality.conf settings (an empty value is a bare flag).
var pwquality = []kvSetting{
	{"minlen", "15", "at least 15 characters"},
	{"minclass", "4", "all four character classes"},
	{"dcredit", "-1", "at least one digit"},
	{"ucredit", "-1", "at least one upper-case letter"},
	{"lcredit", "-1", "at least one lower-case letter"},
	{"ocredit", "-1", "at least one other character"},
	{"maxrepeat", "3", "at most three repeated characters"},
	{"maxsequence", "3", "no monotonic sequences longer than three"},
	{"difok", "2", "at least two characters changed"},
	{"dictcheck", "1", "no dictionary words"},
	{"enforcing", "1", "rejections enforced"},
	{"retry", "3", "three tries"},
	{"enforce_for_root", "", "root too"},
}

// faillock are /etc/security/faillock.conf settings (an empty value is a bare flag).
var faillock = []kvSetting{
	{"deny", "3", "locked after three failures"},
	{"fail_interval", "900", "failures counted over 15 minutes"},
	{"unlock_time", "900", "unlocked after 15 minutes"},
	{"even_deny_root", "", "root locked too"},
	{"root_unlock_time", "900", "root unlocked after 15 minutes"},
	{"audit", "", "user names of failures logged"},
}

// auditdConf are /etc/audit/auditd.conf settings.
var auditdConf = []kvSetting{
	{"max_log_file", "6", "6 MB log files"},
	{"max_log_file_action", "keep_logs", "old logs kept, never rotated away"},
	{"space_left_action", "email", "mail when disk space runs low"},
	{"action_mail_acct", "root", "mail goes to root"},
	{"admin_space_left_action", "single", "single-user mode when disk space is critical"},
	{"disk_full_action", "single", "single-user mode when the disk is full"},
	{"disk_error_action", "syslog", "disk errors logged"},
	{"log_group", "root", "audit logs readable by root only, not by the adm group"},
}

func kvRule(id, group, file, sep string, s kvSetting, guard string) Rule {
	check := fmt.Sprintf("refit_kv_is %s %s %s %s", shq(file), shq(s.key), dq(s.value), sep)
	apply := fmt.Sprintf("refit_kv_set %s %s %s %s", shq(file), shq(s.key), dq(s.value), sep)
	title := fmt.Sprintf("%s %s", s.key, strings.ReplaceAll(s.value, "$REFIT_HASH_METHOD", "YESCRYPT/SHA512"))
	changes := fmt.Sprintf("`%s %s` in `%s` (%s).", s.key, strings.ReplaceAll(s.value, "$REFIT_HASH_METHOD", "YESCRYPT"), file, s.why)
	if sep == "eq" {
		changes = fmt.Sprintf("`%s = %s` in `%s` (%s).", s.key, s.value, file, s.why)
		title = fmt.Sprintf("%s = %s", s.key, s.value)
	}
	if s.value == "" { // a bare flag
		check = fmt.Sprintf("refit_line_has %s %s || refit_detail %s", shq(file), shq(s.key), shq(s.key+" is not set in "+file))
		apply = fmt.Sprintf("refit_line_add %s %s && REFIT_DETAIL=%s", shq(file), shq(s.key), shq("added "+s.key+" to "+file))
		title = s.key
		changes = fmt.Sprintf("`%s` in `%s` (%s).", s.key, file, s.why)
	}
	if guard != "" {
		check = guard + "\n" + check
	}
	return Rule{ID: id, Group: group, Title: title, Changes: changes, check: check, apply: apply}
}

// dq double-quotes a value that may reference a runtime variable (values here are ours).
func dq(s string) string { return `"` + s + `"` }

// userUmask is the umask of login shells and of login.defs: CIS's 027, or ANSSI BP-028 R36's 077
// in the anssi-high profile.
func (c Config) userUmask() string {
	if c.Profile == ProfileANSSIHigh {
		return "077"
	}
	return "027"
}

func accountRules(c Config) []Rule {
	var rules []Rule
	umask := c.userUmask()
	for _, s := range loginDefs {
		if s.key == "UMASK" {
			s.value = umask
		}
		guard := `[ -f /etc/login.defs ] || refit_na "/etc/login.defs is missing" || return 2`
		if s.key == "HOME_MODE" {
			guard += "\n" + `if [ "$REFIT_FAMILY" = rhel ] && [ "${REFIT_OS_VERSION%%.*}" = 8 ]; then refit_na "shadow-utils on RHEL 8 has no HOME_MODE"; return 2; fi`
		}
		rules = append(rules, kvRule("login.defs."+s.key, GroupAccounts, "/etc/login.defs", "ws", s, guard))
	}
	banner := c.SSH.Banner + "\n"
	for _, f := range []struct{ id, path string }{{"issue", "/etc/issue"}, {"motd", "/etc/motd"}} {
		rules = append(rules, Rule{
			ID: "login.banner." + f.id, Group: GroupAccounts, Title: f.path + " shows the legal banner",
			Changes: fmt.Sprintf("Writes the banner text (`ssh.banner`) to `%s` (0644 root:root), replacing text that reveals the operating system.", f.path),
			check:   fmt.Sprintf("refit_file_is %s 0644 root:root %s", f.path, shq(banner)),
			apply:   fmt.Sprintf("refit_put %s 0644 root:root %s", f.path, shq(banner)),
		})
	}
	rules = append(rules,
		Rule{
			ID: "accounts.password-ageing", Group: GroupAccounts, Title: "existing passwords age",
			Changes: "Runs `chage` on accounts that have a password so that it expires within 365 days, changes at most daily, warns 7 days ahead, and the account locks 45 days after expiry (stricter values are kept).",
			check: `refit_users=$(refit_ageing_users)
[ -z "$refit_users" ] || refit_detail "outside the ageing policy: $refit_users"`,
			apply: `refit_ageing_fix`,
		},
		kvRule("accounts.useradd-inactive", GroupAccounts, "/etc/default/useradd", "eq0", kvSetting{"INACTIVE", "45", "new accounts lock 45 days after their password expires"}, ""),
		Rule{
			ID: "accounts.system-shells", Group: GroupAccounts, Title: "system accounts cannot log in",
			Changes: "Sets the shell of system accounts (UID below UID_MIN, except root, sync, shutdown and halt) that have a login shell to `nologin`.",
			check: `refit_users=$(refit_system_login_users)
[ -z "$refit_users" ] || refit_detail "system accounts with a login shell: $refit_users"`,
			apply: `refit_nologin=/usr/sbin/nologin
[ -x "$refit_nologin" ] || refit_nologin=/sbin/nologin
for refit_u in $(refit_system_login_users); do
	refit_run usermod -s "$refit_nologin" "$refit_u" || return 1
done
REFIT_DETAIL="shell set to $refit_nologin"`,
		},
		Rule{
			ID: "accounts.empty-passwords", Group: GroupAccounts, Title: "no account has an empty password",
			Changes: "Locks (`usermod -L`) accounts whose password field in `/etc/shadow` is empty.",
			check: `refit_users=$(awk -F: '$2 == "" { print $1 }' /etc/shadow 2>/dev/null)
[ -z "$refit_users" ] || refit_detail "empty passwords: $refit_users"`,
			apply: `for refit_u in $(awk -F: '$2 == "" { print $1 }' /etc/shadow); do
	refit_run usermod -L "$refit_u" || return 1
done
REFIT_DETAIL="locked accounts with empty passwords"`,
		},
		Rule{
			ID: "accounts.uid0", Group: GroupAccounts, Title: "only root has UID 0",
			Changes: "Checks only: fails when another account has UID 0 (remove it or give it another UID).",
			check: `refit_users=$(awk -F: '$3 == 0 && $1 != "root" { print $1 }' /etc/passwd)
[ -z "$refit_users" ] || refit_detail "UID 0 besides root: $refit_users"`,
			apply: `REFIT_DETAIL="accounts other than root have UID 0: $(awk -F: '$3 == 0 && $1 != "root" { print $1 }' /etc/passwd); remove them or change their UID"
return 1`,
		},
		Rule{
			ID: "accounts.umask", Group: GroupAccounts, Title: "shells start with umask " + umask,
			Changes: "Sets every `umask` in `/etc/profile` and `/etc/bash.bashrc` (Debian) or `/etc/bashrc` (RPM) to " + umask + " (077 in the anssi-high profile), adding one where there is none.",
			check:   `refit_umask_files check ` + umask,
			apply:   `refit_umask_files fix ` + umask,
		},
		Rule{
			ID: "accounts.tmout", Group: GroupAccounts, Title: "idle shells log out after 10 minutes",
			Changes: "Writes `/etc/profile.d/refit-tmout.sh`: `TMOUT=600`, read-only and exported.",
			check:   `refit_file_is /etc/profile.d/refit-tmout.sh 0644 root:root "$REFIT_TMOUT_SH"`,
			apply:   `refit_put /etc/profile.d/refit-tmout.sh 0644 root:root "$REFIT_TMOUT_SH"`,
		},
		Rule{
			ID: "accounts.su-wheel", Group: GroupAccounts, Title: "su is for root only",
			Changes: "Creates the empty group `sugroup` and requires it in `/etc/pam.d/su` (`auth required pam_wheel.so use_uid group=sugroup`), so that only root can use su; use sudo instead.",
			check: `[ -f /etc/pam.d/su ] || refit_na "/etc/pam.d/su is missing" || return 2
refit_group_exists sugroup || refit_detail "group sugroup is missing" || return 1
[ -z "$(awk -F: '$1 == "sugroup" { print $4 }' /etc/group)" ] || refit_detail "group sugroup has members" || return 1
grep -Eq '^[[:space:]]*auth[[:space:]]+required[[:space:]]+pam_wheel\.so[[:space:]]+(.*[[:space:]])?use_uid[[:space:]]+(.*[[:space:]])?group=sugroup' /etc/pam.d/su ||
	refit_detail "/etc/pam.d/su does not require group sugroup"`,
			apply: `refit_group_exists sugroup || refit_run groupadd -r sugroup || return 1
if [ -n "$(awk -F: '$1 == "sugroup" { print $4 }' /etc/group)" ]; then refit_run gpasswd -M '' sugroup || return 1; fi
refit_filter /etc/pam.d/su '
	/^[ \t]*#?[ \t]*auth[ \t]+required[ \t]+pam_wheel\.so/ && !done { print "auth       required   pam_wheel.so use_uid group=sugroup"; done = 1; next }
	/^[ \t]*auth[ \t]+required[ \t]+pam_wheel\.so/ { next }
	{ print }
	END { if (!done) print "auth       required   pam_wheel.so use_uid group=sugroup" }' || return 1
REFIT_DETAIL="su requires membership of the empty group sugroup"`,
		},
		Rule{
			ID: "accounts.securetty", Group: GroupAccounts, Title: "no direct root logins on terminals",
			Changes: "Writes an empty `/etc/securetty` (0600 root:root): where `pam_securetty` is in the login stack, root cannot log in on a terminal.",
			check:   `refit_file_is /etc/securetty 0600 root:root ''`,
			apply:   `refit_put /etc/securetty 0600 root:root ''`,
		},
		Rule{
			ID: "accounts.core-dumps", Group: GroupAccounts, Title: "users cannot write core dumps",
			Changes: "Writes `/etc/security/limits.d/refit-hardening.conf`: `* hard core 0`.",
			check:   `refit_file_is /etc/security/limits.d/refit-hardening.conf 0644 root:root "* hard core 0$REFIT_NL"`,
			apply:   `refit_put /etc/security/limits.d/refit-hardening.conf 0644 root:root "* hard core 0$REFIT_NL"`,
		},
	)
	return rules
}

func pamRules() []Rule {
	var rules []Rule
	guard := `[ -f /etc/security/pwquality.conf ] || refit_na "libpwquality is not installed" || return 2`
	for _, s := range pwquality {
		rules = append(rules, kvRule("pam.pwquality."+s.key, GroupPAM, "/etc/security/pwquality.conf", "eq", s, guard))
	}
	rules = append(rules, Rule{
		ID: "pam.pwquality.enabled", Group: GroupPAM, Title: "passwords are checked by pam_pwquality",
		Changes: "Enables pam_pwquality for password changes: `pam-auth-update --enable pwquality` (Debian/Ubuntu); RPM systems have it in authselect's profiles.",
		check: `refit_pam_module_exists pam_pwquality.so || refit_na "pam_pwquality is not installed" || return 2
refit_pam_module_check password pam_pwquality.so`,
		apply: `refit_pam_enable pwquality ''`,
	})
	fguard := `[ -f /etc/security/faillock.conf ] || refit_na "pam_faillock is not available (no /etc/security/faillock.conf)" || return 2`
	for _, s := range faillock {
		rules = append(rules, kvRule("pam.faillock."+s.key, GroupPAM, "/etc/security/faillock.conf", "eq", s, fguard))
	}
	rules = append(rules,
		Rule{
			ID: "pam.faillock.enabled", Group: GroupPAM, Title: "accounts lock after failed logins",
			Changes: "Adds pam_faillock to the auth and account stacks: pam-auth-update profiles `refit-faillock` and `refit-faillock-notify` (Debian/Ubuntu) or `authselect enable-feature with-faillock` (RPM).",
			check: `refit_pam_module_exists pam_faillock.so || refit_na "pam_faillock is not installed" || return 2
refit_pam_module_check auth pam_faillock.so && refit_pam_module_check account pam_faillock.so`,
			apply: `refit_pam_enable refit-faillock with-faillock`,
		},
		Rule{
			ID: "pam.pwhistory", Group: GroupPAM, Title: "the last 24 passwords cannot be reused",
			Changes: "Adds `pam_pwhistory.so remember=24 enforce_for_root use_authtok` to the password stack: pam-auth-update profile `refit-pwhistory` (Debian/Ubuntu) or `authselect enable-feature with-pwhistory` (RPM).",
			check:   `refit_pam_module_check password pam_pwhistory.so`,
			apply:   `refit_pam_enable refit-pwhistory with-pwhistory`,
		},
		Rule{
			ID: "pam.nullok", Group: GroupPAM, Title: "empty passwords are refused",
			Changes: "Removes `nullok` from pam_unix: in `/usr/share/pam-configs/unix` then `pam-auth-update --package` (Debian/Ubuntu), or `authselect enable-feature without-nullok` (RPM).",
			check:   `refit_pam_nullok check`,
			apply:   `refit_pam_nullok fix`,
		},
	)
	return rules
}

func auditRules() []Rule {
	var rules []Rule
	guard := `[ -f /etc/audit/auditd.conf ] || refit_na "auditd is not installed" || return 2`
	for _, s := range auditdConf {
		rules = append(rules, kvRule("audit.conf."+s.key, GroupAudit, "/etc/audit/auditd.conf", "eq", s, guard))
	}
	rules = append(rules,
		Rule{
			ID: "audit.rules", Group: GroupAudit, Title: "audit rules record security-relevant events",
			Changes: "Writes `/etc/audit/rules.d/50-refit-hardening.rules` (0600): changes to time, identity files, network configuration, sudoers, MAC policy, login records, permission and ownership changes, failed file access, mounts, deletions, kernel modules, and every use of a setuid/setgid program found in the image.",
			check: guard + `
refit_audit_rules >"$REFIT_TMP/audit.rules" || return 3
refit_file_is /etc/audit/rules.d/50-refit-hardening.rules 0600 root:root "$(cat "$REFIT_TMP/audit.rules")$REFIT_NL"`,
			apply: `refit_audit_rules >"$REFIT_TMP/audit.rules" || return 1
refit_put /etc/audit/rules.d/50-refit-hardening.rules 0600 root:root "$(cat "$REFIT_TMP/audit.rules")$REFIT_NL"`,
		},
		Rule{
			ID: "audit.immutable", Group: GroupAudit, Title: "audit rules cannot be changed until reboot",
			Changes: "Writes `/etc/audit/rules.d/99-refit-finalize.rules` with `-e 2`.",
			check: guard + `
refit_file_is /etc/audit/rules.d/99-refit-finalize.rules 0600 root:root "-e 2$REFIT_NL"`,
			apply: `refit_put /etc/audit/rules.d/99-refit-finalize.rules 0600 root:root "-e 2$REFIT_NL"`,
		},
		Rule{
			ID: "audit.service", Group: GroupAudit, Title: "auditd starts at boot",
			Changes: "`systemctl enable auditd.service` (offline in a chroot).",
			check: guard + `
refit_unit_enabled auditd.service || refit_detail "auditd.service is not enabled"`,
			apply: `refit_unit_enable auditd.service && REFIT_DETAIL="enabled auditd.service"`,
		},
	)
	return rules
}

// kernelArg is a kernel command line option of ANSSI BP-028 R8 (memory and CPU hardening). The
// costly ones (SMT off, allocator debugging, a panic on machine check errors) are in the ANSSI
// profiles only, not in the baseline: add them to it with extra_rules.
type kernelArg struct {
	id, arg, why string
	costly       bool
}

var kernelArgs = []kernelArg{
	{"pti", "pti=on", "kernel page-table isolation always on (Meltdown)", false},
	{"spectre-v2", "spectre_v2=on", "Spectre v2 mitigation always on", false},
	{"spec-store-bypass", "spec_store_bypass_disable=seccomp", "Speculative Store Bypass mitigated for seccomp-confined processes", false},
	{"slab-nomerge", "slab_nomerge=yes", "slab caches of similar size not merged (heap overflows stay in their cache)", false},
	{"page-alloc-shuffle", "page_alloc.shuffle=1", "page allocator randomised", false},
	{"page-poison", "page_poison=1", "freed pages poisoned", false},
	{"rng-core-quality", "rng_core.default_quality=500", "the hardware (TPM) random source credited with entropy", false},
	{"slub-debug", "slub_debug=FZP", "SLUB sanity checks, red zoning and poisoning (costs memory and speed)", true},
	{"mce", "mce=0", "a kernel panic on uncorrected machine check errors", true},
	{"l1tf", "l1tf=full,force", "full L1 Terminal Fault mitigation: SMT off (halves the vCPUs of hyper-threaded instances)", true},
	{"mds", "mds=full,nosmt", "full Microarchitectural Data Sampling mitigation: SMT off", true},
}

func bootRules() []Rule {
	var args []Rule
	for _, k := range kernelArgs {
		args = append(args, Rule{
			ID: "boot.cmdline." + k.id, Group: GroupBoot, Title: "kernel option " + k.arg,
			Changes: fmt.Sprintf("Adds `%s` to the kernel command line (%s), as for `boot.cmdline.audit`.", k.arg, k.why),
			check:   "refit_cmdline_has " + shq(k.arg),
			apply:   "refit_cmdline_add " + shq(k.arg),
		})
	}
	return append(args, []Rule{
		{
			ID: "boot.cmdline.audit", Group: GroupBoot, Title: "processes started before auditd are audited",
			Changes: "Adds `audit=1 audit_backlog_limit=8192` to the kernel command line: `GRUB_CMDLINE_LINUX` in `/etc/default/grub`, the linux lines of an existing `grub.cfg`, `/etc/kernel/cmdline` and BLS entries (and `grubby` on RPM systems). update-grub is not run: in a chroot it would write the chroot's devices into grub.cfg.",
			check:   `refit_cmdline_has audit=1 audit_backlog_limit=8192`,
			apply:   `refit_cmdline_add audit=1 audit_backlog_limit=8192`,
		},
		{
			ID: "boot.cmdline.apparmor", Group: GroupBoot, Title: "AppArmor is enabled at boot",
			Changes: "Adds `apparmor=1 security=apparmor` to the kernel command line (Debian/Ubuntu with AppArmor installed), the same way.",
			check: `refit_only debian || return 2
refit_pkg_installed apparmor || refit_na "apparmor is not installed" || return 2
refit_cmdline_has apparmor=1 security=apparmor`,
			apply: `refit_cmdline_add apparmor=1 security=apparmor`,
		},
	}...)
}

// grubPasswordRule sets the bootloader block's GRUB superuser password. It is in every profile
// and not applicable without the block.
func grubPasswordRule() Rule {
	return Rule{
		ID: "boot.grub-password", Group: GroupBoot, Title: "editing boot entries and the GRUB shell need a password",
		Changes: "With a `bootloader` block: a GRUB superuser (`superuser`, default root) whose password (`password_hash`) editing boot entries, the GRUB shell, the Advanced options submenu (older kernels, recovery mode) and the firmware settings entry need; the normal boot entries are `--unrestricted`, so that unattended boots need no password. " +
			"Debian/Ubuntu: `/etc/grub.d/01_refit_password` (0700) and `--unrestricted` on the `CLASS` line of `/etc/grub.d/10_linux` for later update-grub runs, and the same lines edited into the existing `grub.cfg` (update-grub is not run). " +
			"RPM: `GRUB2_PASSWORD` in `/boot/grub2/user.cfg` (0600), as `grub2-setpassword` writes it (superuser root). Not applicable without the block.",
		check: `refit_grub_password`,
		apply: `refit_grub_password fix`,
	}
}

// grubVars are the shell variables of the boot loader password (empty without one): the superuser,
// the hash, the lines grub.cfg gets and the /etc/grub.d script that prints them.
func grubVars(b Bootloader) string {
	var lines, script string
	if b.PasswordHash != "" {
		lines = fmt.Sprintf("set superusers=\"%s\"\nexport superusers\npassword_pbkdf2 %s %s\n", b.Superuser, b.Superuser, b.PasswordHash)
		script = `#!/bin/sh
# Managed by refit-harden (boot.grub-password): the GRUB superuser and its password hash (the
# provisioner's bootloader block). Editing boot entries, the GRUB shell and the entries that are not
# marked --unrestricted need the password; refit-harden puts --unrestricted on the CLASS line of
# 10_linux, so that the normal boot entries start without it.
set -e
# A 10_linux without it (replaced by a package upgrade) would make every boot wait for the
# password: rather no password than no unattended boot.
if [ -x "${0%/*}/10_linux" ] && ! grep -q '^CLASS=".*--unrestricted' "${0%/*}/10_linux"; then
	echo "$0: ${0%/*}/10_linux no longer marks its entries --unrestricted: no GRUB password is set; run refit-harden again" >&2
	exit 0
fi
cat <<'EOF'
` + lines + "EOF\n"
	}
	return fmt.Sprintf("REFIT_GRUB_USER=%s REFIT_GRUB_HASH=%s\nREFIT_GRUB_LINES=%s\nREFIT_GRUB_SCRIPT=%s", shq(b.Superuser), shq(b.PasswordHash), shq(lines), shq(script))
}

func serviceRules() []Rule {
	return []Rule{
		{
			ID: "services.ctrl-alt-del", Group: GroupServices, Title: "Ctrl-Alt-Del does not reboot",
			Changes: "Masks `ctrl-alt-del.target` and sets `CtrlAltDelBurstAction=none` in `/etc/systemd/system.conf`.",
			check: `[ -d /etc/systemd ] || refit_na "systemd is not installed" || return 2
refit_unit_masked ctrl-alt-del.target || refit_detail "ctrl-alt-del.target is not masked" || return 1
refit_kv_is /etc/systemd/system.conf CtrlAltDelBurstAction none eq0`,
			apply: `refit_unit_masked ctrl-alt-del.target || refit_unit_mask ctrl-alt-del.target || return 1
[ -f /etc/systemd/system.conf ] || printf '[Manager]\n' >/etc/systemd/system.conf
refit_kv_set /etc/systemd/system.conf CtrlAltDelBurstAction none eq0 || return 1
REFIT_DETAIL="masked ctrl-alt-del.target, CtrlAltDelBurstAction=none"`,
		},
		{
			ID: "services.coredump", Group: GroupServices, Title: "systemd-coredump keeps no core dumps",
			Changes: "Sets `Storage=none` and `ProcessSizeMax=0` in `/etc/systemd/coredump.conf`.",
			check: `[ -d /etc/systemd ] || refit_na "systemd is not installed" || return 2
refit_kv_is /etc/systemd/coredump.conf Storage none eq0 && refit_kv_is /etc/systemd/coredump.conf ProcessSizeMax 0 eq0`,
			apply: `[ -f /etc/systemd/coredump.conf ] || printf '[Coredump]\n' >/etc/systemd/coredump.conf
refit_kv_set /etc/systemd/coredump.conf Storage none eq0 && refit_kv_set /etc/systemd/coredump.conf ProcessSizeMax 0 eq0 || return 1
REFIT_DETAIL="Storage=none, ProcessSizeMax=0"`,
		},
		{
			ID: "services.journald", Group: GroupServices, Title: "the journal is persistent and compressed",
			Changes: "Sets `Storage=persistent` and `Compress=yes` in `/etc/systemd/journald.conf`.",
			check: `[ -d /etc/systemd ] || refit_na "systemd is not installed" || return 2
refit_kv_is /etc/systemd/journald.conf Storage persistent eq0 && refit_kv_is /etc/systemd/journald.conf Compress yes eq0`,
			apply: `[ -f /etc/systemd/journald.conf ] || printf '[Journal]\n' >/etc/systemd/journald.conf
refit_kv_set /etc/systemd/journald.conf Storage persistent eq0 && refit_kv_set /etc/systemd/journald.conf Compress yes eq0 || return 1
REFIT_DETAIL="Storage=persistent, Compress=yes"`,
		},
	}
}

// sudoRules are sudo's hardened defaults. They run late: the user rules install sudo when a user
// gets sudo.
func sudoRules() []Rule {
	return []Rule{
		sudoDefaultRule("use-pty", "Defaults use_pty", "sudo runs commands in a pseudo-terminal"),
		sudoDefaultRule("logfile", `Defaults logfile="/var/log/sudo.log"`, "sudo logs to /var/log/sudo.log"),
		sudoDefaultRule("timestamp-timeout", "Defaults timestamp_timeout=15", "sudo asks again after 15 minutes"),
		sudoDefaultRule("env-reset", "Defaults env_reset", "sudo resets the environment"),
		sudoDefaultRule("ignore-dot", "Defaults ignore_dot", "sudo ignores . in PATH"),
		sudoDefaultRule("umask", "Defaults umask=0077", "files that commands run through sudo create are private to their owner"),
	}
}

// sudoDefaultRule adds one Defaults line to /etc/sudoers.d/00-refit-hardening, validated with visudo.
func sudoDefaultRule(id, line, title string) Rule {
	return Rule{
		ID: "sudo." + id, Group: GroupServices, Title: title,
		Changes: fmt.Sprintf("Adds `%s` to `/etc/sudoers.d/00-refit-hardening` (0440), validated with `visudo -c`.", line),
		check: `[ -f /etc/sudoers ] || refit_na "sudo is not installed" || return 2
refit_line_has /etc/sudoers.d/00-refit-hardening ` + shq(line) + ` || refit_detail ` + shq(line+" is not in /etc/sudoers.d/00-refit-hardening"),
		apply: `refit_c=
[ ! -f /etc/sudoers.d/00-refit-hardening ] || refit_c=$(cat /etc/sudoers.d/00-refit-hardening)
[ -n "$refit_c" ] || refit_c="# Managed by refit-harden"
refit_sudoers_put /etc/sudoers.d/00-refit-hardening "$refit_c$REFIT_NL"` + shq(line+"\n"),
	}
}
