package hardening

import (
	"fmt"
	"strings"
)

// auditTools are the audit programs AIDE watches with full attributes and a SHA-512 checksum
// (CIS Debian 12 6.3.3: an attacker who changes them can hide from the audit trail).
var auditTools = []string{"auditctl", "auditd", "ausearch", "aureport", "autrace", "augenrules"}

// aideAuditToolRule is the AIDE selection line of one audit tool.
func aideAuditToolRule(tool string) string {
	return "/usr/sbin/" + tool + " p+i+n+u+g+s+b+acl+selinux+xattrs+sha512"
}

// integrityRules are AIDE's configuration, periodic check and database. They run last, after the
// DNS rule, so that the database records the image as refit-harden leaves it: whatever a later
// provisioner changes, AIDE's first check reports (docs: rebuild the database after them).
func integrityRules() []Rule {
	var toolLines []string
	for _, t := range auditTools {
		toolLines = append(toolLines, aideAuditToolRule(t))
	}
	tools := shWords(toolLines...)
	return []Rule{
		{
			ID: "integrity.aide-audit-tools", Group: GroupIntegrity, Title: "AIDE checks the audit tools",
			Changes: "Adds `" + strings.Join(toolLines, "`, `") + "` to AIDE's configuration (`/etc/aide/aide.conf`, or `/etc/aide.conf` on RPM systems), so that a change of the audit tools is reported.",
			check: `refit_aide_installed || return 2
refit_conf=$(refit_aide_conf)
for refit_l in ` + tools + `; do
	refit_line_has "$refit_conf" "$refit_l" || refit_detail "$refit_conf lacks $refit_l" || return 1
done`,
			apply: `refit_conf=$(refit_aide_conf)
for refit_l in ` + tools + `; do
	refit_line_add "$refit_conf" "$refit_l" || return 1
done
REFIT_DETAIL="the audit tools are checked by AIDE ($refit_conf)"`,
		},
		{
			ID: "integrity.aide-timer", Group: GroupIntegrity, Title: "AIDE checks the file system daily",
			Changes: "Enables Debian's `dailyaidecheck.timer` (aide-common), which runs AIDE's check every day and mails the report to root.",
			check: `refit_only debian || return 2
refit_aide_installed || return 2
refit_unit_exists dailyaidecheck.timer || refit_na "aide-common has no dailyaidecheck.timer here" || return 2
refit_unit_enabled dailyaidecheck.timer || refit_detail "dailyaidecheck.timer is not enabled"`,
			apply: `refit_unit_enable dailyaidecheck.timer && REFIT_DETAIL="enabled dailyaidecheck.timer"`,
		},
		{
			ID: "integrity.aide-database", Group: GroupIntegrity, Title: "the AIDE database records the image",
			Changes: "Builds AIDE's database from the image as refit-harden leaves it (`aideinit --yes --force` on Debian/Ubuntu, `aide --init` on RPM systems; about a minute of CPU on a small image). Compliant while the database is newer than AIDE's configuration. It runs after every other rule; what later provisioners change, AIDE's first check reports: run `aideinit --yes --force` (RPM: `aide --init`) as the last step of the build to record their changes too.",
			check:   `refit_aide_db_check`,
			apply:   `refit_aide_db_build`,
		},
	}
}

// loginRecordsRule keeps the login records (wtmp, btmp, lastlog) from other users and from the
// group's write, now, at boot and at rotation.
func loginRecordsRule() Rule {
	return Rule{
		ID: "fs.perm.login-records", Group: GroupFiles, Title: "login records are readable by root and the utmp group only",
		Changes: fmt.Sprintf("Sets `/var/log/wtmp`, `/var/log/btmp` and `/var/log/lastlog` (and rotated `wtmp.1`, `btmp.1`) to mode 0640 owned by root; writes `%s` so that systemd-tmpfiles keeps that mode at boot (its `var.conf` says 0664), and makes the `create` lines of `/etc/logrotate.d/wtmp` and `btmp` 0640. Programs that write them run as root (login, sshd, systemd); `last` and `lastlog` then need root or the utmp group, and setgid-utmp helpers (libutempter, for terminal multiplexers) can no longer add records.", "/etc/tmpfiles.d/00-refit-login-records.conf"),
		check:   `refit_login_records`,
		apply:   `refit_login_records fix`,
	}
}

// unixRoundsRule makes pam_unix hash new passwords at the hashing method's high cost.
func unixRoundsRule() Rule {
	return Rule{
		ID: "pam.unix-rounds", Group: GroupPAM, Title: "new passwords are hashed at a high cost",
		Changes: "Adds `rounds=11` (yescrypt, Debian's method: its highest cost) or `rounds=65536` (SHA-crypt) to pam_unix's password lines: in `/usr/share/pam-configs/unix`, then `pam-auth-update --package` (Debian/Ubuntu). Costly: one yescrypt hash at cost 11 takes about 3 s of CPU and 1 GiB of memory, at every password change and every password login (key logins are not affected), so only the ANSSI profiles have it.",
		check: `refit_only debian || return 2
refit_pam_rounds check`,
		apply: `refit_pam_rounds fix`,
	}
}
