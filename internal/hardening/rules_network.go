package hardening

import (
	"fmt"
	"strings"
)

// networkRules are the rules of the network block; each appears only when its setting is given.
// The DNS rule comes apart (dns): it runs after every rule that may install packages, because
// in a chroot the servers it names may not answer from the build host (production resolvers),
// and the installs resolve names through the resolv.conf it writes.
func networkRules(c Config) (rules, dns []Rule) {
	n := c.Network
	if n.Hostname != "" {
		short, domain := n.Hostname, n.Domain
		if s, d, ok := strings.Cut(n.Hostname, "."); ok {
			short, domain = s, d
		}
		hostsLine := "127.0.1.1\t" + short
		if domain != "" {
			hostsLine = "127.0.1.1\t" + short + "." + domain + " " + short
		}
		rules = append(rules,
			Rule{
				ID: "network.hostname", Group: GroupNetwork, Title: "the host name is " + short,
				Changes: "Writes the short host name to `/etc/hostname`; where cloud-init is installed, also `preserve_hostname: true` in `/etc/cloud/cloud.cfg.d/99-refit-hostname.cfg` so that it is not replaced at boot. On a running system the name is set live too.",
				check: fmt.Sprintf(`refit_file_is /etc/hostname 0644 root:root %s || return 1
[ ! -d /etc/cloud ] || refit_file_is /etc/cloud/cloud.cfg.d/99-refit-hostname.cfg 0644 root:root "preserve_hostname: true$REFIT_NL"`, shq(short+"\n")),
				apply: fmt.Sprintf(`refit_put /etc/hostname 0644 root:root %s || return 1
if [ -d /etc/cloud ]; then refit_put /etc/cloud/cloud.cfg.d/99-refit-hostname.cfg 0644 root:root "preserve_hostname: true$REFIT_NL" || return 1; fi
REFIT_HOSTNAME=%s REFIT_HOSTNAME_DIRTY=1
REFIT_DETAIL="wrote /etc/hostname"`, shq(short+"\n"), shq(short)),
			},
			Rule{
				ID: "network.hosts", Group: GroupNetwork, Title: "/etc/hosts names this host",
				Changes: "Makes `127.0.1.1 <fqdn> <hostname>` the only 127.0.1.1 line of `/etc/hosts` (after the localhost line).",
				check: fmt.Sprintf(`[ -f /etc/hosts ] || refit_detail "/etc/hosts is missing" || return 1
awk -v want=%s '$1 == "127.0.1.1" && $1 !~ /^#/ { n++; line = $0; gsub(/[ \t]+/, " ", line); w = want; gsub(/[ \t]+/, " ", w); if (line != w) bad = 1 } END { exit !(n == 1 && !bad) }' /etc/hosts ||
	refit_detail %s`, shq(hostsLine), shq("/etc/hosts lacks the line "+strings.ReplaceAll(hostsLine, "\t", " "))),
				apply: fmt.Sprintf(`[ -f /etc/hosts ] || printf '127.0.0.1\tlocalhost\n' >/etc/hosts
refit_filter /etc/hosts '
	$1 == "127.0.1.1" { next }
	{ print }
	$1 == "127.0.0.1" && !done { print want; done = 1 }
	END { if (!done) print want }' -v want=%s || return 1
REFIT_DETAIL=%s`, shq(hostsLine), shq("set "+strings.ReplaceAll(hostsLine, "\t", " "))),
			},
		)
	}
	if len(n.DNSServers) > 0 || len(n.DNSSearch) > 0 {
		args := shWords(strings.Join(n.DNSServers, " "), strings.Join(n.DNSSearch, " "))
		dns = append(dns, Rule{
			ID: "network.dns", Group: GroupNetwork, Title: "DNS servers and search domains are set",
			Changes: "Sets `dns_servers` and `dns_search` where the image takes them from: `/etc/systemd/resolved.conf.d/refit-dns.conf` (systemd-resolved), `/etc/NetworkManager/conf.d/refit-dns.conf` (NetworkManager, global DNS), or `/etc/resolv.conf` itself, with `supersede` lines in `/etc/dhcp/dhclient.conf` when dhclient is configured.",
			check:   "refit_dns check " + args,
			apply:   "refit_dns fix " + args,
		})
	}
	if len(n.NTPServers) > 0 {
		args := shq(strings.Join(n.NTPServers, " "))
		rules = append(rules, Rule{
			ID: "network.ntp", Group: GroupNetwork, Title: "time comes from the configured NTP servers",
			Changes: "With chrony: the `server … iburst` lines of `chrony.conf` become exactly `ntp_servers` (other server and pool lines are commented out). With systemd-timesyncd: `NTP=` in `/etc/systemd/timesyncd.conf.d/refit-ntp.conf`. With neither, installs chrony (RPM) or systemd-timesyncd (Debian/Ubuntu) when `install_packages` allows.",
			check:   "refit_ntp check " + args,
			apply:   "refit_ntp fix " + args,
		})
	}
	if n.DisableIPv6 || n.DisableIPv6Kernel {
		for _, key := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
			r := sysctlRule(key, "1", "IPv6 off: `network.disable_ipv6`")
			r.ID, r.Group = "network.ipv6."+strings.Split(key, ".")[3], GroupNetwork
			rules = append(rules, r)
		}
	}
	if n.DisableIPv6Kernel {
		rules = append(rules, Rule{
			ID: "network.ipv6.kernel", Group: GroupNetwork, Title: "the kernel starts without IPv6",
			Changes: "Adds `ipv6.disable=1` to the kernel command line (`network.disable_ipv6_kernel`), as for `boot.cmdline.audit`.",
			check:   "refit_cmdline_has ipv6.disable=1",
			apply:   "refit_cmdline_add ipv6.disable=1",
		})
	}
	return rules, dns
}

// liveRule applies on a running system what the rules that set the shell variable dirty to 1
// changed; apply may return 2 (skipped) when there is nothing to apply it to.
func liveRule(id, title, changes, dirty, apply string) Rule {
	return Rule{
		ID: id, Group: GroupLive, Title: title, Changes: changes,
		check: fmt.Sprintf(`[ "$%s" = 1 ] || { REFIT_DETAIL="nothing to apply"; return 0; }
[ "$REFIT_LIVE" = 1 ] || refit_na "not a running system: takes effect at the next boot" || return 2
return 1`, dirty),
		apply: apply + "\n" + dirty + "=0",
	}
}

// liveRules apply on a running system what the rules changed persistently; offline they are
// skipped (the changes take effect at the next boot).
func liveRules() []Rule {
	live := liveRule
	return []Rule{
		live("live.sysctl", "kernel parameters are applied now", "On a running system, loads `/etc/sysctl.d/zz-refit-hardening.conf` with `sysctl -e -p` when a sysctl rule changed, and sets its `net.ipv4.conf.default.*` and `net.ipv6.conf.default.*` values on the network interfaces that exist already (except `lo`, and where the sysctl files name the interface), as they would get them at the next boot.",
			"REFIT_SYSCTL_DIRTY", `refit_sysctl_live`),
		live("live.sshd", "sshd runs with the new configuration", "On a running system, reloads sshd (`systemctl reload`, or restarts `ssh.socket` where sshd is socket-activated) when an ssh rule changed; existing sessions stay open.",
			"REFIT_SSHD_DIRTY", `refit_sshd_reload || return 1`),
		live("live.firewall", "the firewall rules are active now", "On a running system, loads the new ruleset (`nft -f` of refit's table only, `firewall-cmd --reload`, or `ufw reload`) when a firewall rule changed; established connections stay open.",
			"REFIT_FIREWALL_DIRTY", `refit_fw_live || return 1`),
		live("live.hostname", "the host name is set now", "On a running system, sets the host name with `hostname` when `network.hostname` changed.",
			"REFIT_HOSTNAME_DIRTY", `refit_run hostname "$REFIT_HOSTNAME" || return 1
REFIT_DETAIL="hostname $REFIT_HOSTNAME"`),
		live("live.network", "resolvers and time servers use the new settings", "On a running system, restarts systemd-resolved, chrony or systemd-timesyncd (whichever is running) when DNS or NTP settings changed.",
			"REFIT_NETWORK_DIRTY", `for refit_u in systemd-resolved.service chrony.service chronyd.service systemd-timesyncd.service; do
	systemctl try-restart "$refit_u" >/dev/null 2>&1 || true
done
if refit_has nmcli; then nmcli general reload dns-full >/dev/null 2>&1 || true; fi
REFIT_DETAIL="restarted the running resolver and time services"`),
	}
}
