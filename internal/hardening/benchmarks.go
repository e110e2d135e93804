package hardening

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Profiles, each a selection of the hardening catalogue (the ssh, user, network and firewall
// settings and the live steps apply in every profile).
const (
	// ProfileBaseline is the default: the whole catalogue, what dev-sec's os_hardening and
	// ssh_hardening cover plus the CIS and ANSSI items that can be set offline.
	ProfileBaseline = "baseline"
	// ProfileCISLevel1 is the rules that answer CIS Debian Linux 12 Benchmark v1.1.0, Level 1 - Server.
	ProfileCISLevel1 = "cis-level1"
	// ProfileCISLevel2 is the rules that answer CIS Debian Linux 12 v1.1.0, Level 1 and 2 - Server.
	ProfileCISLevel2 = "cis-level2"
	// ProfileANSSIIntermediary is the rules that answer ANSSI BP-028 v2, minimal and intermediary levels.
	ProfileANSSIIntermediary = "anssi-intermediary"
	// ProfileANSSIHigh is the rules that answer ANSSI BP-028 v2 up to the high (renforcé and élevé) level.
	ProfileANSSIHigh = "anssi-high"
)

// Profiles lists the profile names, baseline first.
var Profiles = []string{ProfileBaseline, ProfileCISLevel1, ProfileCISLevel2, ProfileANSSIIntermediary, ProfileANSSIHigh}

// ssgProfile is a set of the SCAP Security Guide profiles the outside judge scores.
type ssgProfile uint8

const (
	ssgCIS1 ssgProfile = 1 << iota
	ssgCIS2
	ssgANSSIIntermediary
	ssgANSSIHigh
)

// profileSSG is the SSG profile a refit profile is measured against.
var profileSSG = map[string]ssgProfile{
	ProfileCISLevel1:         ssgCIS1,
	ProfileCISLevel2:         ssgCIS2,
	ProfileANSSIIntermediary: ssgANSSIIntermediary,
	ProfileANSSIHigh:         ssgANSSIHigh,
}

// ssgRule is what ssg_gen.go records of one SCAP Security Guide rule.
type ssgRule struct {
	cis, anssi []string
	profiles   ssgProfile
}

// ssgRules maps a hardening rule to the SCAP Security Guide (ComplianceAsCode) rules it answers,
// beyond those found by name: sysctl.<key> answers sysctl_<key with _ for .>, modules.<name>
// answers kernel_module_<name>_disabled, and audit.rules answers the audit_rules_* rules whose
// names start with ssgAuditPrefixes. bench/harden/ssgrefs.py reads the ids between the markers.
var ssgRules = map[string][]string{
	// ssg ids begin
	"login.defs.PASS_MAX_DAYS":           {"accounts_maximum_age_login_defs"},
	"login.defs.PASS_MIN_DAYS":           {"accounts_minimum_age_login_defs"},
	"login.defs.PASS_WARN_AGE":           {"accounts_password_warn_age_login_defs"},
	"login.defs.UMASK":                   {"accounts_umask_etc_login_defs"},
	"login.defs.ENCRYPT_METHOD":          {"set_password_hashing_algorithm_logindefs"},
	"login.banner.issue":                 {"banner_etc_issue_cis"},
	"login.banner.motd":                  {"banner_etc_motd_cis"},
	"accounts.password-ageing":           {"accounts_password_set_max_life_existing", "accounts_password_set_min_life_existing", "accounts_set_post_pw_existing"},
	"accounts.useradd-inactive":          {"account_disable_post_pw_expiration"},
	"accounts.system-shells":             {"no_shelllogin_for_systemaccounts"},
	"accounts.empty-passwords":           {"no_empty_passwords_etc_shadow"},
	"accounts.uid0":                      {"accounts_no_uid_except_zero"},
	"accounts.umask":                     {"accounts_umask_etc_bashrc", "accounts_umask_etc_profile"},
	"accounts.tmout":                     {"accounts_tmout"},
	"accounts.su-wheel":                  {"use_pam_wheel_group_for_su", "ensure_pam_wheel_group_empty"},
	"accounts.core-dumps":                {"disable_users_coredumps"},
	"accounts.securetty":                 {"no_direct_root_logins"},
	"boot.cmdline.audit":                 {"grub2_audit_argument", "grub2_audit_backlog_limit_argument"},
	"boot.cmdline.apparmor":              {"grub2_enable_apparmor"},
	"boot.grub-password":                 {"grub2_password"},
	"services.journald":                  {"journald_compress", "journald_storage"},
	"packages.install.auditd":            {"package_audit_installed"},
	"packages.install.pwquality":         {"package_pam_pwquality_installed"},
	"packages.absent.telnet-server":      {"package_telnet-server_removed"},
	"packages.absent.telnet":             {"package_telnet_removed", "package_inetutils-telnet_removed"},
	"packages.absent.rsh":                {"package_rsh_removed", "package_rsh-server_removed"},
	"packages.absent.inetd":              {"package_xinetd_removed"},
	"packages.absent.nis":                {"package_nis_removed", "package_ypserv_removed", "package_ypbind_removed"},
	"packages.absent.tftp-server":        {"package_tftp-server_removed"},
	"packages.absent.talk":               {"package_talk_removed", "package_talk-server_removed"},
	"ssh.ciphers":                        {"sshd_use_strong_ciphers"},
	"ssh.kex":                            {"sshd_use_strong_kex"},
	"ssh.macs":                           {"sshd_use_strong_macs"},
	"ssh.permit-root-login":              {"sshd_disable_root_login"},
	"ssh.permit-empty-passwords":         {"sshd_disable_empty_passwords"},
	"ssh.max-auth-tries":                 {"sshd_set_max_auth_tries"},
	"ssh.idle-timeout":                   {"sshd_set_idle_timeout", "sshd_set_keepalive"},
	"ssh.login-grace-time":               {"sshd_set_login_grace_time"},
	"ssh.forwarding":                     {"sshd_disable_forwarding"},
	"ssh.hostbased":                      {"disable_host_auth", "sshd_disable_rhosts"},
	"ssh.user-environment":               {"sshd_do_not_permit_user_env"},
	"ssh.log-level":                      {"sshd_set_loglevel_info"},
	"ssh.sessions":                       {"sshd_set_max_sessions", "sshd_set_maxstartups"},
	"ssh.use-pam":                        {"sshd_enable_pam"},
	"ssh.gssapi":                         {"sshd_disable_gssapi_auth"},
	"ssh.banner":                         {"sshd_enable_warning_banner_net", "banner_etc_issue_net_cis"},
	"ssh.allow-users":                    {"sshd_limit_user_access"},
	"ssh.allow-groups":                   {"sshd_limit_user_access"},
	"firewall.package":                   {"package_nftables_installed"},
	"firewall.rules":                     {"nftables_ensure_default_deny_policy", "set_nftables_base_chain", "set_nftables_table", "set_nftables_loopback_traffic", "nftables_rules_permanent"},
	"firewall.service":                   {"service_nftables_enabled", "firewall_single_service_active"},
	"network.ntp":                        {"chronyd_specify_remote_server", "service_timesyncd_configured"},
	"sudo.use-pty":                       {"sudo_add_use_pty"},
	"sudo.logfile":                       {"sudo_custom_logfile"},
	"sudo.timestamp-timeout":             {"sudo_require_reauthentication"},
	"sudo.env-reset":                     {"sudo_add_env_reset"},
	"sudo.ignore-dot":                    {"sudo_add_ignore_dot"},
	"sudo.umask":                         {"sudo_add_umask"},
	"fs.perm.passwd":                     {"file_permissions_etc_passwd", "file_owner_etc_passwd", "file_groupowner_etc_passwd", "file_permissions_backup_etc_passwd", "file_owner_backup_etc_passwd", "file_groupowner_backup_etc_passwd"},
	"fs.perm.group":                      {"file_permissions_etc_group", "file_owner_etc_group", "file_groupowner_etc_group", "file_permissions_backup_etc_group", "file_owner_backup_etc_group", "file_groupowner_backup_etc_group"},
	"fs.perm.shadow":                     {"file_permissions_etc_shadow", "file_owner_etc_shadow", "file_groupowner_etc_shadow", "file_permissions_backup_etc_shadow", "file_owner_backup_etc_shadow", "file_groupowner_backup_etc_shadow"},
	"fs.perm.gshadow":                    {"file_permissions_etc_gshadow", "file_owner_etc_gshadow", "file_groupowner_etc_gshadow", "file_permissions_backup_etc_gshadow", "file_owner_backup_etc_gshadow", "file_groupowner_backup_etc_gshadow"},
	"fs.perm.opasswd":                    {"file_permissions_etc_security_opasswd", "file_owner_etc_security_opasswd", "file_groupowner_etc_security_opasswd", "file_permissions_etc_security_opasswd_old", "file_owner_etc_security_opasswd_old", "file_groupowner_etc_security_opasswd_old"},
	"fs.perm.shells":                     {"file_permissions_etc_shells", "file_owner_etc_shells", "file_groupowner_etc_shells"},
	"fs.perm.banners":                    {"file_permissions_etc_issue", "file_owner_etc_issue", "file_groupowner_etc_issue", "file_permissions_etc_issue_net", "file_owner_etc_issue_net", "file_groupowner_etc_issue_net", "file_permissions_etc_motd", "file_owner_etc_motd", "file_groupowner_etc_motd"},
	"fs.perm.crontab":                    {"file_permissions_crontab", "file_owner_crontab", "file_groupowner_crontab"},
	"fs.perm.cron-dirs":                  {"file_permissions_cron_d", "file_owner_cron_d", "file_groupowner_cron_d", "file_permissions_cron_daily", "file_owner_cron_daily", "file_groupowner_cron_daily", "file_permissions_cron_hourly", "file_owner_cron_hourly", "file_groupowner_cron_hourly", "file_permissions_cron_monthly", "file_owner_cron_monthly", "file_groupowner_cron_monthly", "file_permissions_cron_weekly", "file_owner_cron_weekly", "file_groupowner_cron_weekly"},
	"fs.perm.sshd-config":                {"file_permissions_sshd_config", "file_owner_sshd_config", "file_groupowner_sshd_config"},
	"fs.perm.ssh-host-keys":              {"file_permissions_sshd_private_key", "file_ownership_sshd_private_key", "file_groupownership_sshd_private_key"},
	"fs.perm.ssh-host-pubkeys":           {"file_permissions_sshd_pub_key", "file_ownership_sshd_pub_key", "file_groupownership_sshd_pub_key"},
	"fs.perm.sudoers":                    {"file_permissions_etc_sudoers", "file_owner_etc_sudoers", "file_groupowner_etc_sudoers"},
	"fs.perm.sudoers-d":                  {"directory_permissions_etc_sudoersd", "directory_owner_etc_sudoersd", "directory_groupowner_etc_sudoersd"},
	"fs.perm.grub":                       {"file_permissions_grub2_cfg", "file_owner_grub2_cfg", "file_groupowner_grub2_cfg"},
	"fs.perm.system-map":                 {"file_permissions_systemmap", "file_owner_systemmap", "file_groupowner_systemmap"},
	"fs.perm.crypttab":                   {"file_permissions_etc_crypttab", "file_owner_etc_crypttab", "file_groupowner_etc_crypttab"},
	"fs.perm.audit-config":               {"file_permissions_etc_audit_auditd", "file_ownership_audit_configuration", "file_groupownership_audit_configuration"},
	"fs.perm.audit-rules":                {"file_permissions_etc_audit_rules", "file_permissions_etc_audit_rulesd"},
	"fs.perm.audit-logs":                 {"directory_permissions_var_log_audit", "file_permissions_var_log_audit"},
	"fs.perm.var-log":                    {"file_permissions_var_log_syslog", "file_permissions_var_log_auth", "file_permissions_var_log_messages"},
	"fs.perm.system-paths":               {"file_permissions_binary_dirs", "file_ownership_binary_dirs", "dir_system_commands_root_owned", "dir_system_commands_group_root_owned"},
	"fs.cron-allow":                      {"file_cron_allow_exists", "file_cron_deny_not_exist", "file_permissions_cron_allow", "file_owner_cron_allow", "file_groupowner_cron_allow", "file_at_allow_exists"},
	"fs.dev-shm":                         {"mount_option_dev_shm_nodev", "mount_option_dev_shm_noexec", "mount_option_dev_shm_nosuid"},
	"fs.tmp":                             {"partition_for_tmp", "mount_option_tmp_nodev", "mount_option_tmp_noexec", "mount_option_tmp_nosuid"},
	"pam.pwquality.minlen":               {"accounts_password_pam_minlen"},
	"pam.pwquality.minclass":             {"accounts_password_pam_minclass"},
	"pam.pwquality.dcredit":              {"accounts_password_pam_dcredit"},
	"pam.pwquality.ucredit":              {"accounts_password_pam_ucredit"},
	"pam.pwquality.lcredit":              {"accounts_password_pam_lcredit"},
	"pam.pwquality.ocredit":              {"accounts_password_pam_ocredit"},
	"pam.pwquality.maxrepeat":            {"accounts_password_pam_maxrepeat"},
	"pam.pwquality.maxsequence":          {"accounts_password_pam_maxsequence"},
	"pam.pwquality.difok":                {"accounts_password_pam_difok"},
	"pam.pwquality.dictcheck":            {"accounts_password_pam_dictcheck"},
	"pam.pwquality.enforcing":            {"accounts_password_pam_enforcing"},
	"pam.pwquality.retry":                {"accounts_password_pam_retry"},
	"pam.pwquality.enforce_for_root":     {"accounts_password_pam_enforce_root"},
	"pam.pwquality.enabled":              {"accounts_password_pam_pwquality_enabled"},
	"pam.faillock.deny":                  {"accounts_passwords_pam_faillock_deny"},
	"pam.faillock.fail_interval":         {"accounts_passwords_pam_faillock_interval"},
	"pam.faillock.unlock_time":           {"accounts_passwords_pam_faillock_unlock_time"},
	"pam.faillock.even_deny_root":        {"accounts_passwords_pam_faillock_deny_root"},
	"pam.faillock.root_unlock_time":      {"accounts_passwords_pam_faillock_root_unlock_time"},
	"pam.faillock.enabled":               {"accounts_passwords_pam_faillock_enabled"},
	"pam.pwhistory":                      {"accounts_password_pam_unix_remember", "accounts_password_pam_pwhistory_enabled", "accounts_password_pam_pwhistory_remember", "accounts_password_pam_pwhistory_enforce_root", "accounts_password_pam_pwhistory_use_authtok"},
	"pam.nullok":                         {"no_empty_passwords_unix"},
	"fs.perm.home":                       {"file_permissions_home_directories", "file_ownership_home_directories", "file_groupownership_home_directories"},
	"fs.perm.user-dotfiles":              {"file_permission_user_init_files", "accounts_user_dot_user_ownership", "accounts_user_dot_group_ownership"},
	"fs.rhosts":                          {"no_rsh_trust_files"},
	"fs.netrc":                           {"no_netrc_files"},
	"fs.forward":                         {"no_forward_files"},
	"audit.conf.max_log_file":            {"auditd_data_retention_max_log_file"},
	"audit.conf.max_log_file_action":     {"auditd_data_retention_max_log_file_action"},
	"audit.conf.space_left_action":       {"auditd_data_retention_space_left_action"},
	"audit.conf.action_mail_acct":        {"auditd_data_retention_action_mail_acct"},
	"audit.conf.admin_space_left_action": {"auditd_data_retention_admin_space_left_action"},
	"audit.conf.disk_full_action":        {"auditd_data_disk_full_action"},
	"audit.conf.disk_error_action":       {"auditd_data_disk_error_action"},
	"audit.conf.log_group":               {"file_group_ownership_var_log_audit"},
	"audit.service":                      {"service_auditd_enabled"},
	"audit.immutable":                    {"audit_rules_immutable"},
	"boot.cmdline.pti":                   {"grub2_pti_argument"},
	"boot.cmdline.spectre-v2":            {"grub2_spectre_v2_argument"},
	"boot.cmdline.spec-store-bypass":     {"grub2_spec_store_bypass_disable_argument"},
	"boot.cmdline.slab-nomerge":          {"grub2_slab_nomerge_argument"},
	"boot.cmdline.page-alloc-shuffle":    {"grub2_page_alloc_shuffle_argument"},
	"boot.cmdline.page-poison":           {"grub2_page_poison_argument"},
	"boot.cmdline.rng-core-quality":      {"grub2_rng_core_default_quality_argument"},
	"boot.cmdline.slub-debug":            {"grub2_slub_debug_argument"},
	"boot.cmdline.mce":                   {"grub2_mce_argument"},
	"boot.cmdline.l1tf":                  {"grub2_l1tf_argument"},
	"boot.cmdline.mds":                   {"grub2_mds_argument"},
	"packages.install.apparmor":          {"package_apparmor_installed"},
	"packages.install.apparmor-utils":    {"package_apparmor-utils_installed"},
	"packages.install.rsyslog":           {"package_rsyslog_installed", "service_rsyslog_enabled"},
	"packages.install.cron":              {"package_cron_installed", "service_cron_enabled"},
	"packages.install.logrotate":         {"package_logrotate_installed"},
	"services.logrotate":                 {"ensure_logrotate_activated"},
	"services.journald-syslog":           {"journald_forward_to_syslog"},
	"packages.install.audispd-plugins":   {"package_audit-audispd-plugins_installed"},
	"packages.install.aide":              {"package_aide_installed"},
	"integrity.aide-audit-tools":         {"aide_check_audit_tools"},
	"integrity.aide-timer":               {"aide_periodic_checking_systemd_timer"},
	"integrity.aide-database":            {"aide_build_database"},
	"fs.perm.login-records":              {"permissions_local_var_log", "file_permissions_var_log_lastlog", "file_permissions_var_log_wbtmp"},
	"pam.unix-rounds":                    {"accounts_password_pam_unix_rounds_password_auth"},
	"logging.journal-upload":             {"package_systemd-journal-remote_installed", "systemd_journal_upload_url", "systemd_journal_upload_server_tls", "service_systemd-journal-upload_enabled", "socket_systemd-journal-remote_disabled"},
	"mail.root-alias":                    {"postfix_client_configure_mail_alias"},
	// ssg ids end
}

// ssgAuditPrefixes are the audit_rules_* families the audit.rules rule writes.
var ssgAuditPrefixes = []string{
	ssgPrefix("audit_rules_time_"), ssgPrefix("audit_rules_networkconfig_modification"),
	ssgPrefix("audit_rules_usergroup_modification"), ssgPrefix("audit_rules_sysadmin_actions"),
	ssgPrefix("audit_rules_mac_modification"), ssgPrefix("audit_rules_login_events"),
	ssgPrefix("audit_rules_session_events"), ssgPrefix("audit_rules_dac_modification_"),
	ssgPrefix("audit_rules_unsuccessful_file_modification"), ssgPrefix("audit_rules_media_export"),
	ssgPrefix("audit_rules_file_deletion_events"), ssgPrefix("audit_rules_kernel_module_loading"),
	ssgPrefix("audit_rules_privileged_commands"), ssgPrefix("audit_rules_suid_privilege_function"),
	ssgPrefix("audit_rules_execution_"), ssgPrefix("audit_sudo_log_events"),
}

// ssgPrefix marks a prefix for bench/harden/ssgrefs.py.
func ssgPrefix(p string) string { return p }

// SSGRules returns the SCAP Security Guide rule ids a hardening rule answers, sorted.
func SSGRules(id string) []string {
	ids := slices.Clone(ssgRules[id])
	switch {
	case strings.HasPrefix(id, "sysctl."):
		ids = append(ids, "sysctl_"+strings.ReplaceAll(strings.TrimPrefix(id, "sysctl."), ".", "_"))
	case strings.HasPrefix(id, "modules."):
		ids = append(ids, "kernel_module_"+strings.TrimPrefix(id, "modules.")+"_disabled")
	case id == "audit.rules":
		for ssg := range ssgData {
			for _, p := range ssgAuditPrefixes {
				if strings.HasPrefix(ssg, p) {
					ids = append(ids, ssg)
					break
				}
			}
		}
	}
	ids = slices.DeleteFunc(ids, func(s string) bool { _, ok := ssgData[s]; return !ok })
	sort.Strings(ids)
	return slices.Compact(ids)
}

// Benchmark is what a hardening rule answers in the published benchmarks.
type Benchmark struct {
	// SSG are SCAP Security Guide rule ids (the outside judge's checks).
	SSG []string
	// CIS are sections of the CIS Debian Linux 12 Benchmark v1.1.0.
	CIS []string
	// ANSSI are recommendations (R-numbers) of ANSSI BP-028 v2.
	ANSSI []string
}

// BenchmarkOf returns the benchmark items a hardening rule answers.
func BenchmarkOf(id string) Benchmark {
	var b Benchmark
	b.SSG = SSGRules(id)
	for _, s := range b.SSG {
		b.CIS = append(b.CIS, ssgData[s].cis...)
		b.ANSSI = append(b.ANSSI, ssgData[s].anssi...)
	}
	b.CIS = sortedUnique(b.CIS, func(a, b string) int { return compareDotted(a, b) })
	b.ANSSI = sortedUnique(b.ANSSI, func(a, b string) int { return compareDotted(strings.TrimPrefix(a, "R"), strings.TrimPrefix(b, "R")) })
	return b
}

func sortedUnique(s []string, cmp func(a, b string) int) []string {
	slices.SortFunc(s, cmp)
	return slices.Compact(s)
}

// compareDotted orders "1.10.2" after "1.9": numerically, component by component.
func compareDotted(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		var x, y int
		_, errA := fmt.Sscan(as[i], &x)
		_, errB := fmt.Sscan(bs[i], &y)
		if errA != nil || errB != nil {
			if c := strings.Compare(as[i], bs[i]); c != 0 {
				return c
			}
			continue
		}
		if x != y {
			return x - y
		}
	}
	return len(as) - len(bs)
}

// costly reports whether a rule has a price the baseline does not pay by default (SMT off,
// allocator debugging, panics, Python in the image): only the profiles whose benchmark asks for it apply it.
func costly(id string) bool {
	for _, k := range kernelArgs {
		if "boot.cmdline."+k.id == id {
			return k.costly
		}
	}
	return slices.Contains(costlySysctls, strings.TrimPrefix(id, "sysctl.")) || slices.Contains(costlyRules, id) ||
		slices.Contains(costlyPackages, strings.TrimPrefix(id, "packages.install."))
}

// paidWhere are costly rules the baseline applies where the image has already paid their price:
// the shell condition that says it has, why the rule is not applicable where it has not, and
// where it applies (the rule table's baseline cell).
var paidWhere = map[string]struct{ cond, unpaid, where string }{
	"packages.install.apparmor-utils": {"refit_pkg_installed python3",
		`the image has no Python 3, which apparmor-utils would pull in (extra_rules = ["packages.install.apparmor-utils"] installs it anyway)`,
		"with Python 3"},
}

// everyProfile are rules every profile has, whichever benchmark asks for them: the profiles
// install sudo (for user blocks) and auditd, whose packages leave /etc/sudoers.d 0755 and
// audit.rules 0640, which one benchmark accepts and the other does not; with these rules no
// benchmark's rule that passed before a profile ran fails after it.
var everyProfile = []string{"fs.perm.sudoers-d", "fs.perm.audit-rules"}

// InProfile reports whether a hardening rule belongs to a profile: the baseline has every rule
// but the costly ones (those in paidWhere only where the image has paid their price);
// the other profiles take the rules that answer at least one SSG rule their benchmark level selects.
func InProfile(profile, id string) bool {
	if profile == ProfileBaseline {
		_, paid := paidWhere[id]
		return !costly(id) || paid
	}
	want, ok := profileSSG[profile]
	if !ok {
		return false
	}
	if slices.Contains(everyProfile, id) {
		return true
	}
	// a PAM module's settings (pam.faillock.deny, …) take effect only with the module in the PAM
	// stacks: pam.<module>.enabled belongs to every profile that has one of them
	if module, ok := strings.CutSuffix(id, ".enabled"); ok && strings.HasPrefix(module, "pam.") {
		for setting := range ssgRules {
			if strings.HasPrefix(setting, module+".") && setting != id && InProfile(profile, setting) {
				return true
			}
		}
	}
	for _, s := range SSGRules(id) {
		if ssgData[s].profiles&want != 0 {
			return true
		}
	}
	return false
}
