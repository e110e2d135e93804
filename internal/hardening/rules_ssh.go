package hardening

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// sshKeyword is one sshd_config keyword and its value; a value starting with "$(" is computed
// by the program at run time.
type sshKeyword struct{ key, value string }

// sshRule builds a rule that sets sshd keywords in refit's drop-in (or the main file where the
// image's OpenSSH has no Include).
func sshRule(id, title, why string, kws ...sshKeyword) Rule {
	var check, apply, desc strings.Builder
	for i, kw := range kws {
		v := kw.value
		if strings.HasPrefix(v, "$(") {
			fmt.Fprintf(&check, "refit_v%d=%s\n", i, v)
			fmt.Fprintf(&apply, "refit_v%d=%s\n", i, v)
			fmt.Fprintf(&check, "[ -n \"$refit_v%d\" ] || refit_detail %s || return 3\n", i, shq("none of the wanted "+kw.key+" are known to this OpenSSH"))
			v = fmt.Sprintf(`"$refit_v%d"`, i)
		} else {
			v = shq(v)
		}
		fmt.Fprintf(&check, "refit_sshd_is %s %s || return $?\n", kw.key, v)
		fmt.Fprintf(&apply, "refit_sshd_set %s %s || return 1\nrefit_details=\"${refit_details:+$refit_details; }$REFIT_DETAIL\"\n", kw.key, v)
		if i > 0 {
			desc.WriteString(", ")
		}
		fmt.Fprintf(&desc, "`%s %s`", kw.key, strings.Trim(kw.value, "'"))
	}
	return Rule{
		ID: id, Group: GroupSSH, Title: title,
		Changes: fmt.Sprintf("%s in sshd's configuration (%s).", desc.String(), why),
		check:   strings.TrimSuffix(check.String(), "\n"),
		apply:   "refit_details=\n" + apply.String() + `REFIT_DETAIL=$refit_details`,
	}
}

// algorithms returns the sshd value for an algorithm list: the configured list verbatim, or the
// default list filtered at run time to what the image's OpenSSH supports (ssh -Q kind).
func algorithms(configured, defaults []string, kind string) string {
	if len(configured) > 0 && !slices.Equal(configured, defaults) {
		return strings.Join(configured, ",")
	}
	return fmt.Sprintf("$(refit_ssh_supported %s %s)", kind, shq(strings.Join(defaults, ",")))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func sshRules(c Config) []Rule {
	s := c.SSH
	pw := yesNo(s.PasswordAuthentication)
	rules := []Rule{
		sshRule("ssh.ciphers", "strong SSH ciphers only", "AEAD and CTR ciphers; names the image's OpenSSH does not know are left out",
			sshKeyword{"Ciphers", algorithms(s.Ciphers, DefaultCiphers, "cipher")}),
		sshRule("ssh.kex", "strong SSH key exchange only", "post-quantum hybrids, Curve25519 and large DH groups",
			sshKeyword{"KexAlgorithms", algorithms(s.KexAlgorithms, DefaultKexAlgorithms, "kex")}),
		sshRule("ssh.macs", "strong SSH MACs only", "SHA-2 HMACs, encrypt-then-MAC first",
			sshKeyword{"MACs", algorithms(s.MACs, DefaultMACs, "mac")}),
		sshRule("ssh.permit-root-login", "root login over SSH is "+s.PermitRootLogin, "`ssh.permit_root_login`",
			sshKeyword{"PermitRootLogin", s.PermitRootLogin}),
		sshRule("ssh.password-authentication", "password login over SSH is "+map[bool]string{true: "allowed", false: "off"}[s.PasswordAuthentication], "`ssh.password_authentication`",
			sshKeyword{"PasswordAuthentication", pw}, sshKeyword{"KbdInteractiveAuthentication", pw}),
		sshRule("ssh.permit-empty-passwords", "no SSH login with an empty password", "",
			sshKeyword{"PermitEmptyPasswords", "no"}),
		sshRule("ssh.max-auth-tries", fmt.Sprintf("at most %d SSH authentication attempts", s.MaxAuthTries), "`ssh.max_auth_tries`",
			sshKeyword{"MaxAuthTries", strconv.Itoa(s.MaxAuthTries)}),
		sshRule("ssh.idle-timeout", "idle SSH sessions end", "`ssh.client_alive_interval`, `ssh.client_alive_count_max`; the encrypted keep-alives replace spoofable TCP ones",
			sshKeyword{"ClientAliveInterval", strconv.Itoa(s.ClientAliveInterval)}, sshKeyword{"ClientAliveCountMax", strconv.Itoa(s.ClientAliveCountMax)},
			sshKeyword{"TCPKeepAlive", "no"}),
		sshRule("ssh.login-grace-time", fmt.Sprintf("SSH clients have %d s to log in", s.LoginGraceTime), "`ssh.login_grace_time`",
			sshKeyword{"LoginGraceTime", strconv.Itoa(s.LoginGraceTime)}),
		sshRule("ssh.forwarding", "no SSH forwarding or tunnels", "X11, TCP, agent and Unix socket forwarding and tunnels off; `DisableForwarding` also covers forwarding kinds the other keywords do not name",
			sshKeyword{"X11Forwarding", "no"}, sshKeyword{"AllowTcpForwarding", "no"}, sshKeyword{"AllowAgentForwarding", "no"}, sshKeyword{"PermitTunnel", "no"},
			sshKeyword{"AllowStreamLocalForwarding", "no"}, sshKeyword{"DisableForwarding", "yes"}),
		sshRule("ssh.hostbased", "no host-based SSH authentication", "rhosts and host keys are not trusted for login",
			sshKeyword{"HostbasedAuthentication", "no"}, sshKeyword{"IgnoreRhosts", "yes"}),
		sshRule("ssh.user-environment", "users cannot set the environment of sshd", "",
			sshKeyword{"PermitUserEnvironment", "no"}),
		sshRule("ssh.log-level", "sshd logs every login with the fingerprint of its key", "`ssh.log_level`; INFO logs each accepted login with the key's fingerprint, VERBOSE also the refused keys a client offered",
			sshKeyword{"LogLevel", s.LogLevel}),
		sshRule("ssh.sessions", "SSH sessions and unauthenticated connections are limited", "",
			sshKeyword{"MaxSessions", "10"}, sshKeyword{"MaxStartups", "10:30:60"}),
		sshRule("ssh.use-pam", "sshd uses PAM", "account checks through PAM; also lets locked-password users log in with keys",
			sshKeyword{"UsePAM", "yes"}),
		sshRule("ssh.gssapi", "no GSSAPI authentication", "",
			sshKeyword{"GSSAPIAuthentication", "no"}),
		sshRule("ssh.compression", "no SSH compression", "",
			sshKeyword{"Compression", "no"}),
		sshRule("ssh.port", fmt.Sprintf("sshd listens on port %d", s.Port), "`ssh.port`",
			sshKeyword{"Port", strconv.Itoa(s.Port)}),
	}
	banner := s.Banner + "\n"
	rules = append(rules, Rule{
		ID: "ssh.banner", Group: GroupSSH, Title: "sshd shows the legal banner",
		Changes: "Writes `ssh.banner` to `/etc/issue.net` (0644 root:root) and sets `Banner /etc/issue.net`.",
		check: `refit_sshd_present || refit_na "the OpenSSH server is not installed" || return 2
refit_file_is /etc/issue.net 0644 root:root ` + shq(banner) + ` || return 1
refit_sshd_is Banner /etc/issue.net`,
		apply: `refit_file_is /etc/issue.net 0644 root:root ` + shq(banner) + ` || refit_put /etc/issue.net 0644 root:root ` + shq(banner) + ` || return 1
refit_sshd_set Banner /etc/issue.net`,
	})
	for _, l := range []struct {
		key, id, field string
		list           []string
	}{{"AllowUsers", "ssh.allow-users", "allow_users", s.AllowUsers}, {"AllowGroups", "ssh.allow-groups", "allow_groups", s.AllowGroups}} {
		if len(l.list) > 0 {
			v := strings.Join(l.list, " ")
			rules = append(rules, Rule{
				ID: l.id, Group: GroupSSH, Title: "SSH login restricted to " + v,
				Changes: fmt.Sprintf("`%s %s` in refit's sshd drop-in (`ssh.%s`). sshd adds up every `%s` line instead of taking the first, so a `%s` line of `sshd_config` outside Match blocks, which would widen the list, is removed; without drop-in support, the line is set in `sshd_config`.", l.key, v, l.field, l.key, l.key),
				check:   fmt.Sprintf("refit_sshd_is %s %s list", l.key, shq(v)),
				apply:   fmt.Sprintf("refit_sshd_list_set %s %s", l.key, shq(v)),
			})
			continue
		}
		rules = append(rules, Rule{
			ID: l.id, Group: GroupSSH, Title: "no " + l.key + " restriction from refit-harden",
			Changes: fmt.Sprintf("Sets `%s` from `ssh.%s`; when the list is empty, removes a `%s` line an earlier run wrote.", l.key, l.field, l.key),
			check:   fmt.Sprintf(`refit_sshd_present || refit_na "the OpenSSH server is not installed" || return 2`+"\nrefit_sshd_unset_is %s", l.key),
			apply:   "refit_sshd_unset " + l.key,
		})
	}
	rules = append(rules,
		Rule{
			ID: "ssh.moduli", Group: GroupSSH, Title: "no weak Diffie-Hellman moduli",
			Changes: "Deletes the moduli shorter than 3072 bits from `/etc/ssh/moduli`.",
			check: `[ -f /etc/ssh/moduli ] || refit_na "no /etc/ssh/moduli" || return 2
refit_n=$(awk '$1 !~ /^#/ && NF >= 7 && $5 + 0 < 3071 { n++ } END { print n + 0 }' /etc/ssh/moduli)
[ "$refit_n" = 0 ] || refit_detail "$refit_n moduli shorter than 3072 bits"`,
			apply: `refit_filter /etc/ssh/moduli '$1 !~ /^#/ && NF >= 7 && $5 + 0 < 3071 { next } { print }' || return 1
REFIT_DETAIL="removed moduli shorter than 3072 bits"`,
		},
		Rule{
			ID: "ssh.validate", Group: GroupSSH, Title: "sshd accepts its configuration",
			Changes: "Runs `sshd -t` on the result (with a throw-away host key when the image has none yet); when it fails, the sshd configuration from before this run is restored and the rule fails.",
			check: `refit_sshd_present || refit_na "the OpenSSH server is not installed" || return 2
refit_sshd_validate && return 0
REFIT_SSHD_ERR=$REFIT_DETAIL
[ -f "$REFIT_TMP/sshd.saved" ] && return 1
return 3`,
			apply: `refit_why=$REFIT_SSHD_ERR
refit_sshd_restore
REFIT_DETAIL="$refit_why; the sshd configuration from before this run was restored"
return 1`,
		},
	)
	return rules
}
