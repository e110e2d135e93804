package hardening

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// firewallPorts returns the TCP ports to open (SSH first unless denied) and the UDP ports, sorted
// and without duplicates.
func firewallPorts(c Config) (tcp, udp []int) {
	f := c.Firewall
	if !f.DenySSH {
		tcp = append(tcp, c.SSH.Port)
	}
	tcp = append(tcp, f.AllowTCP...)
	udp = append(udp, f.AllowUDP...)
	slices.Sort(tcp)
	slices.Sort(udp)
	return slices.Compact(tcp), slices.Compact(udp)
}

// firewallSources splits the allowed sources by address family.
func firewallSources(c Config) (v4, v6 []string) {
	for _, s := range c.Firewall.AllowSources {
		p, err := parseSource(s)
		if err != nil {
			continue // Validate rejected it already
		}
		if p.Addr().Is4() {
			v4 = append(v4, p.String())
		} else {
			v6 = append(v6, p.String())
		}
	}
	slices.Sort(v4)
	slices.Sort(v6)
	return slices.Compact(v4), slices.Compact(v6)
}

func joinInts(ports []int, sep string) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, sep)
}

// NftablesTable returns the `table inet filter` refit-harden installs with the nftables backend:
// input policy drop (or a final reject), loopback, established and essential ICMP accepted, then
// the allowed sources and ports.
func NftablesTable(cfg Config) string {
	c := cfg.withDefaults()
	tcp, udp := firewallPorts(c)
	v4, v6 := firewallSources(c)
	var b strings.Builder
	b.WriteString("table inet filter {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n")
	b.WriteString("\t\tiif \"lo\" accept\n")
	b.WriteString("\t\tiif != \"lo\" ip saddr 127.0.0.0/8 drop\n")
	b.WriteString("\t\tiif != \"lo\" ip6 saddr ::1 drop\n")
	b.WriteString("\t\tct state invalid drop\n")
	b.WriteString("\t\tct state established,related accept\n")
	b.WriteString("\t\ticmp type { echo-request, destination-unreachable, time-exceeded, parameter-problem } accept\n")
	b.WriteString("\t\ticmpv6 type { echo-request, destination-unreachable, packet-too-big, time-exceeded, parameter-problem, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-query } accept\n")
	b.WriteString("\t\tip6 saddr fe80::/10 udp sport 547 udp dport 546 accept\n")
	if len(v4) > 0 {
		fmt.Fprintf(&b, "\t\tip saddr { %s } accept\n", strings.Join(v4, ", "))
	}
	if len(v6) > 0 {
		fmt.Fprintf(&b, "\t\tip6 saddr { %s } accept\n", strings.Join(v6, ", "))
	}
	if len(tcp) > 0 {
		fmt.Fprintf(&b, "\t\ttcp dport { %s } accept\n", joinInts(tcp, ", "))
	}
	if len(udp) > 0 {
		fmt.Fprintf(&b, "\t\tudp dport { %s } accept\n", joinInts(udp, ", "))
	}
	if c.Firewall.DefaultInbound == PolicyReject {
		b.WriteString("\t\tmeta l4proto tcp reject with tcp reset\n\t\treject with icmpx type admin-prohibited\n")
	}
	fmt.Fprintf(&b, "\t}\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy %s;\n\t}\n", c.Firewall.DefaultForward)
	b.WriteString("\tchain output {\n\t\ttype filter hook output priority 0; policy accept;\n\t}\n}\n")
	return b.String()
}

func firewallRules(c Config) []Rule {
	f := c.Firewall
	if !f.Enabled {
		return nil
	}
	tcp, udp := firewallPorts(c)
	ports := "none"
	if len(tcp)+len(udp) > 0 {
		var p []string
		for _, t := range tcp {
			p = append(p, strconv.Itoa(t)+"/tcp")
		}
		for _, u := range udp {
			p = append(p, strconv.Itoa(u)+"/udp")
		}
		ports = strings.Join(p, " ")
	}
	return []Rule{
		{
			ID: "firewall.package", Group: GroupFirewall, Title: "the firewall tool is installed",
			Changes: "Picks the backend (`auto`: firewalld when it is installed and enabled, ufw when installed and enabled, else nftables) and installs its package when missing.",
			check:   "refit_fw_package check",
			apply:   "refit_fw_package fix",
		},
		{
			ID: "firewall.rules", Group: GroupFirewall, Title: "inbound traffic is " + f.DefaultInbound + "ped except " + ports,
			Changes: "nftables: writes `table inet filter` (input policy drop; loopback, established/related, essential ICMP/ICMPv6, DHCPv6 replies, `allow_sources` and the allowed ports accepted; forward policy `default_forward`) to `/etc/nftables.conf` (Debian/Ubuntu) or `/etc/nftables/refit-filter.nft` included from `/etc/sysconfig/nftables.conf` (RPM), validated with `nft -c` (with the build host's nft when the image's own runs under qemu-user, which cannot reach nf_tables; reported unchecked when the host has none). firewalld: `firewall-offline-cmd` sets the default zone's target to DROP/REJECT, its services and ports to exactly SSH, DHCPv6 client and the allowed ports, and puts `allow_sources` in the trusted zone. ufw: default incoming policy in `/etc/default/ufw` and `ufw allow` rules (offline).",
			check:   "refit_fw_rules check",
			apply:   "refit_fw_rules fix",
		},
		{
			ID: "firewall.service", Group: GroupFirewall, Title: "the firewall starts at boot",
			Changes: "Enables `nftables.service`, `firewalld.service`, or ufw (`ENABLED=yes` in `/etc/ufw/ufw.conf` and `ufw.service`), offline.",
			check:   "refit_fw_service check",
			apply:   "refit_fw_service fix",
		},
	}
}

// configVars are the shell variables the helpers read: the firewall settings, the users of
// user blocks and the boot loader password.
func configVars(c Config) string {
	var users []string
	for _, u := range c.Users {
		users = append(users, u.Name)
	}
	f := c.Firewall
	tcp, udp := firewallPorts(c)
	v4, v6 := firewallSources(c)
	sources := append(append([]string{}, v4...), v6...)
	var pkgs []string
	if c.Hardening {
		for _, p := range wantedPackages {
			// a package installed only where its price is paid is left to its own rule's condition
			if id := "packages.install." + p.id; !c.skipped(id) && c.profileHas(id) && !c.onlyWherePaid(id) {
				pkgs = append(pkgs, p.deb+":"+p.rpm)
			}
		}
	}
	if c.RemoteLogging.Enabled() && !c.skipped("logging.journal-upload") {
		pkgs = append(pkgs, journalRemotePackages) // in the same package manager run as the others
	}
	return "REFIT_MANAGED_USERS=" + shq(strings.Join(users, " ")) + "\nREFIT_WANT_PKGS=" + shq(strings.Join(pkgs, " ")) + "\n" + fmt.Sprintf(`REFIT_FW_WANT=%s
REFIT_FW_INBOUND=%s REFIT_FW_FORWARD=%s
REFIT_FW_TCP=%s REFIT_FW_UDP=%s REFIT_FW_SOURCES=%s REFIT_FW_SSH=%s
REFIT_NFT_TABLE=%s`, shq(f.Backend), shq(f.DefaultInbound), shq(f.DefaultForward),
		shq(joinInts(tcp, " ")), shq(joinInts(udp, " ")), shq(strings.Join(sources, " ")), shq(sshPortIfOpen(c)), shq(NftablesTable(c))) +
		"\n" + grubVars(c.Bootloader)
}

// sshPortIfOpen is the SSH port the firewall keeps open, or "" when SSH is denied.
func sshPortIfOpen(c Config) string {
	if c.Firewall.DenySSH {
		return ""
	}
	return strconv.Itoa(c.SSH.Port)
}
