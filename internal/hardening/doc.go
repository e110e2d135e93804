// Package hardening owns refit-harden's rule catalogue and the POSIX-sh program that applies it.
//
// A Config (plain Go values, no Packer types) says what to harden and which users, SSH settings,
// network settings and firewall to configure. Render turns it into ONE self-contained POSIX-sh
// program (dash, bash and busybox sh run it) that
//
//   - detects the operating system from /etc/os-release (Debian 12, Ubuntu 22.04/24.04,
//     RHEL-family 8/9, Fedora) and exits with an error before changing anything on any other;
//   - applies every rule idempotently, writing persistent configuration only, so that it works in a
//     chroot with no running systemd; on a running system it also applies what is safe live
//     (sysctl, sshd reload, the firewall ruleset);
//   - verifies each rule it changed, and prints one machine-readable line per rule:
//     "REFIT-RULE\t<id>\t<changed|ok|skipped|failed>\t<title>\t<detail>";
//   - in audit mode (Config.Audit) only checks, changes nothing, and reports each rule as
//     compliant, "would change", "not applicable" or failed (the check could not tell).
//
// ParseResults reads those lines back. Catalogue lists the rules of a profile with stable ids
// (for example sysctl.net.ipv4.conf.all.accept_redirects, ssh.ciphers, fs.perm.shadow), and
// RuleTable renders them as the documentation's table.
//
// The shell lives in prelude.sh, which every program starts with: result reporting, OS detection
// and the helpers rule code calls. The Go side renders rules as calls of those helpers with
// arguments quoted by shq; the SSH rules are a keyword table (sshRule), the user rules pairs of
// helpers, refit_<setting>_is to check and refit_<setting>_set to apply (userRule).
// TestRenderedProgramsArePOSIX, which `make lint` runs, parses the programs of a representative set
// of configurations as POSIX sh.
package hardening
