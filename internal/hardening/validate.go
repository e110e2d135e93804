package hardening

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Sentinel errors.
var (
	// ErrInvalid marks every configuration problem Validate reports.
	ErrInvalid = errors.New("hardening: invalid configuration")
	// ErrMalformed means the program's output has a REFIT- line that cannot be parsed.
	ErrMalformed = errors.New("hardening: malformed result line")
	// ErrIncomplete means the program's output ends before its final REFIT-DONE line: it was
	// interrupted or died.
	ErrIncomplete = errors.New("hardening: program output is incomplete")
	// ErrProgram means the program stopped with an error before applying rules, for example on an
	// unsupported operating system.
	ErrProgram = errors.New("hardening: program failed")
)

// invalid returns an error wrapping ErrInvalid.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

var (
	// userNameRE is what useradd accepts on all supported distributions (shadow's default
	// NAME_REGEX, without the trailing $ of machine accounts).
	userNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	// sshdPatternRE is an AllowUsers/AllowGroups entry: a name pattern, optionally @host.
	sshdPatternRE = regexp.MustCompile(`^[A-Za-z0-9_.*?!@%:/\[\]-]+$`)
	// algorithmRE is an OpenSSH algorithm name.
	algorithmRE = regexp.MustCompile(`^[a-z0-9][a-z0-9@.+_-]*$`)
	// dnsLabelRE is one RFC 1123 label.
	dnsLabelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	// shellRE is an absolute path without characters that need quoting in /etc/passwd.
	shellRE = regexp.MustCompile(`^/[A-Za-z0-9_./+-]+$`)
	// grubHashRE is what grub-mkpasswd-pbkdf2 prints: PBKDF2 with SHA-512, the iteration count,
	// then salt and hash in hexadecimal.
	grubHashRE = regexp.MustCompile(`^grub\.pbkdf2\.sha512\.[1-9][0-9]{0,9}\.([0-9A-Fa-f]+)\.([0-9A-Fa-f]+)$`)
)

// permitRootLoginValues are sshd's PermitRootLogin keywords.
var permitRootLoginValues = []string{"no", "prohibit-password", "forced-commands-only", "yes"}

// Validate checks the configuration and returns every problem at once, joined with errors.Join;
// each wraps ErrInvalid and names the field in the template's terms.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if !slices.Contains(Profiles, c.Profile) {
		add(invalid("profile must be one of %s, not %q", strings.Join(Profiles, ", "), c.Profile))
	}
	add(c.SSH.validate())
	seen := map[string]bool{}
	for i, u := range c.Users {
		if err := u.validate(); err != nil {
			add(fmt.Errorf("user %d (%q): %w", i+1, u.Name, err))
		}
		if seen[u.Name] {
			add(invalid("user %q is configured twice; merge the blocks", u.Name))
		}
		seen[u.Name] = true
		if slices.Contains(c.RemoveUsers, u.Name) {
			add(invalid("user %q is both configured and listed in remove_users", u.Name))
		}
	}
	for _, name := range c.RemoveUsers {
		if err := validUserName(name); err != nil {
			add(fmt.Errorf("remove_users: %w", err))
		}
	}
	add(c.Network.validate())
	add(c.Firewall.validate())
	add(c.RemoteLogging.validate())
	add(validateMailAlias(c.RootMailAlias))
	add(c.Bootloader.validate())
	if len(errs) == 0 { // skip patterns are checked against the ids of a valid configuration only
		add(c.validateSkip())
	}
	return errors.Join(errs...)
}

func (s SSH) validate() error {
	var errs []error
	if !slices.Contains(permitRootLoginValues, s.PermitRootLogin) {
		errs = append(errs, invalid("ssh.permit_root_login must be one of %s, not %q",
			strings.Join(permitRootLoginValues, ", "), s.PermitRootLogin))
	}
	if err := validPort(s.Port); err != nil {
		errs = append(errs, fmt.Errorf("ssh.port: %w", err))
	}
	for _, l := range []struct {
		field string
		names []string
	}{{"ciphers", s.Ciphers}, {"kex_algorithms", s.KexAlgorithms}, {"macs", s.MACs}} {
		for _, n := range l.names {
			if !algorithmRE.MatchString(n) {
				errs = append(errs, invalid("ssh.%s: %q is not an OpenSSH algorithm name", l.field, n))
			}
		}
	}
	for _, l := range []struct {
		field    string
		patterns []string
	}{{"allow_users", s.AllowUsers}, {"allow_groups", s.AllowGroups}} {
		for _, p := range l.patterns {
			if !sshdPatternRE.MatchString(p) {
				errs = append(errs, invalid("ssh.%s: %q is not a user or group pattern", l.field, p))
			}
		}
	}
	if s.MaxAuthTries < 1 || s.MaxAuthTries > 100 {
		errs = append(errs, invalid("ssh.max_auth_tries must be between 1 and 100, not %d", s.MaxAuthTries))
	}
	if s.ClientAliveInterval < 1 || s.ClientAliveInterval > 86400 {
		errs = append(errs, invalid("ssh.client_alive_interval must be between 1 and 86400 seconds, not %d", s.ClientAliveInterval))
	}
	if s.ClientAliveCountMax < 1 || s.ClientAliveCountMax > 100 {
		errs = append(errs, invalid("ssh.client_alive_count_max must be between 1 and 100, not %d", s.ClientAliveCountMax))
	}
	if s.LoginGraceTime < 1 || s.LoginGraceTime > 3600 {
		errs = append(errs, invalid("ssh.login_grace_time must be between 1 and 3600 seconds, not %d", s.LoginGraceTime))
	}
	if s.LogLevel != "INFO" && s.LogLevel != "VERBOSE" {
		errs = append(errs, invalid("ssh.log_level must be INFO or VERBOSE (the levels CIS accepts), not %q", s.LogLevel))
	}
	if strings.ContainsAny(s.Banner, "\x00") || len(s.Banner) > 4096 {
		errs = append(errs, invalid("ssh.banner must be text of at most 4096 bytes"))
	}
	return errors.Join(errs...)
}

func (u User) validate() error {
	var errs []error
	if err := validUserName(u.Name); err != nil {
		errs = append(errs, fmt.Errorf("name: %w", err))
	} else if u.Name == "root" {
		errs = append(errs, invalid("name: root cannot be managed by a user block; create a named user with sudo instead"))
	}
	for _, g := range u.Groups {
		if !userNameRE.MatchString(g) {
			errs = append(errs, invalid("groups: %q is not a valid group name (lower case letters, digits, _ and -, at most 32)", g))
		}
	}
	if u.Shell != "" && !shellRE.MatchString(u.Shell) {
		errs = append(errs, invalid("shell: %q is not an absolute path", u.Shell))
	}
	if _, err := parseHomeMode(u.HomeMode); err != nil {
		errs = append(errs, fmt.Errorf("home_mode: %w", err))
	}
	switch u.Sudo {
	case SudoNone, SudoPassword, SudoNoPasswd:
	default:
		errs = append(errs, invalid("sudo must be %q, %q or %q, not %q", SudoNone, SudoPassword, SudoNoPasswd, u.Sudo))
	}
	for i, key := range u.SSHAuthorizedKeys {
		if err := ValidateAuthorizedKey(key); err != nil {
			errs = append(errs, fmt.Errorf("ssh_authorized_keys %d: %w", i+1, err))
		}
	}
	return errors.Join(errs...)
}

// ValidateAuthorizedKey checks one authorized_keys line (options, key type, base64 key, comment)
// with golang.org/x/crypto/ssh's parser. It must be a single line.
func ValidateAuthorizedKey(line string) error {
	trimmed := strings.TrimSpace(line)
	if trimmed == "" {
		return invalid("the key is empty")
	}
	if strings.ContainsAny(trimmed, "\r\n\x00") {
		return invalid("put one key per list element: the value spans several lines")
	}
	if strings.HasPrefix(trimmed, "#") {
		return invalid("the value is a comment, not a key")
	}
	pub, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(trimmed))
	if err != nil {
		return invalid("not an OpenSSH public key (%v); copy the whole line of the .pub file", err)
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return invalid("the value holds more than one key")
	}
	// the parser trusts the type inside the key blob; sshd also wants the type in front to match
	blob := base64.StdEncoding.EncodeToString(pub.Marshal())
	fields := strings.Fields(trimmed)
	for i, f := range fields {
		if f == blob {
			if i == 0 || fields[i-1] != pub.Type() {
				return invalid("the key type in front of the key is not %s, the type of the key itself", pub.Type())
			}
			return nil
		}
	}
	return invalid("the key is not in the canonical base64 form ssh-keygen writes")
}

func validUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return invalid("%q is not a valid user name (lower case letters, digits, _ and -, starting with a letter or _, at most 32)", name)
	}
	return nil
}

// parseHomeMode parses an octal permission mode without special bits.
func parseHomeMode(s string) (uint32, error) {
	if len(s) < 3 || len(s) > 4 {
		return 0, invalid("%q is not an octal mode such as \"0750\"", s)
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, invalid("%q is not an octal mode between 000 and 0777", s)
	}
	return uint32(m), nil
}

func validPort(p int) error {
	if p < 1 || p > 65535 {
		return invalid("port %d is outside 1-65535", p)
	}
	return nil
}

// validHostName checks a DNS name made of RFC 1123 labels.
func validHostName(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if !dnsLabelRE.MatchString(label) {
			return false
		}
	}
	return true
}

func (n Network) validate() error {
	var errs []error
	if n.Hostname != "" {
		if strings.Contains(n.Hostname, ".") {
			if n.Domain != "" {
				errs = append(errs, invalid("network.hostname %q is a fully qualified name and network.domain is set too; give the short name in hostname", n.Hostname))
			} else if !validHostName(n.Hostname) {
				errs = append(errs, invalid("network.hostname %q is not a valid host name", n.Hostname))
			}
		} else if !dnsLabelRE.MatchString(n.Hostname) {
			errs = append(errs, invalid("network.hostname %q is not a valid host name (letters, digits and -, at most 63)", n.Hostname))
		}
	}
	if n.Domain != "" {
		if n.Hostname == "" {
			errs = append(errs, invalid("network.domain needs network.hostname"))
		}
		if !validHostName(n.Domain) {
			errs = append(errs, invalid("network.domain %q is not a valid domain name", n.Domain))
		}
	}
	for _, s := range n.DNSServers {
		if _, err := netip.ParseAddr(s); err != nil {
			errs = append(errs, invalid("network.dns_servers: %q is not an IP address", s))
		}
	}
	if len(n.DNSServers) > 3 {
		errs = append(errs, invalid("network.dns_servers: at most 3 servers fit in resolv.conf, not %d", len(n.DNSServers)))
	}
	for _, d := range n.DNSSearch {
		if !validHostName(d) {
			errs = append(errs, invalid("network.dns_search: %q is not a valid domain name", d))
		}
	}
	for _, s := range n.NTPServers {
		if _, err := netip.ParseAddr(s); err != nil && !validHostName(s) {
			errs = append(errs, invalid("network.ntp_servers: %q is neither a host name nor an IP address", s))
		}
	}
	return errors.Join(errs...)
}

func (f Firewall) validate() error {
	var errs []error
	switch f.Backend {
	case BackendAuto, BackendNftables, BackendFirewalld, BackendUFW:
	default:
		errs = append(errs, invalid("firewall.backend must be auto, nftables, firewalld or ufw, not %q", f.Backend))
	}
	for _, l := range []struct {
		field string
		ports []int
	}{{"allow_tcp", f.AllowTCP}, {"allow_udp", f.AllowUDP}} {
		for _, p := range l.ports {
			if err := validPort(p); err != nil {
				errs = append(errs, fmt.Errorf("firewall.%s: %w", l.field, err))
			}
		}
	}
	for _, s := range f.AllowSources {
		if _, err := parseSource(s); err != nil {
			errs = append(errs, fmt.Errorf("firewall.allow_sources: %w", err))
		}
	}
	if f.DefaultInbound != PolicyDrop && f.DefaultInbound != PolicyReject {
		errs = append(errs, invalid("firewall.default_inbound must be drop or reject, not %q", f.DefaultInbound))
	}
	if f.DefaultForward != PolicyDrop && f.DefaultForward != PolicyAccept {
		errs = append(errs, invalid("firewall.default_forward must be drop or accept, not %q", f.DefaultForward))
	}
	return errors.Join(errs...)
}

func (r RemoteLogging) validate() error {
	if !r.Enabled() {
		return nil
	}
	var errs []error
	u, err := url.Parse(r.URL)
	switch {
	case err != nil || strings.ContainsAny(r.URL, " \t\r\n\"'\\"):
		errs = append(errs, invalid("remote_logging.url %q is not a URL; write it as https://logs.example.com:19532", r.URL))
	case u.Scheme == "http":
		errs = append(errs, invalid("remote_logging.url %q would send the journal unencrypted: use https:// (systemd-journal-remote's --listen-https; CIS Debian 12 6.1.2.1.2 asks for TLS)", r.URL))
	case u.Scheme != "https" || u.Opaque != "":
		errs = append(errs, invalid("remote_logging.url %q must be an https:// URL such as https://logs.example.com:19532", r.URL))
	case u.Hostname() == "":
		errs = append(errs, invalid("remote_logging.url %q names no host; write it as https://logs.example.com:19532", r.URL))
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		errs = append(errs, invalid("remote_logging.url %q has credentials, a query or a fragment, which systemd-journal-upload does not use; give https://host[:port] only", r.URL))
	case u.Port() != "":
		if p, err := strconv.Atoi(u.Port()); err != nil || validPort(p) != nil {
			errs = append(errs, invalid("remote_logging.url %q: port %q is outside 1-65535", r.URL, u.Port()))
		}
	}
	if u != nil && u.Hostname() != "" && !validHostName(u.Hostname()) {
		if _, err := netip.ParseAddr(u.Hostname()); err != nil {
			errs = append(errs, invalid("remote_logging.url %q: %q is neither a host name nor an IP address", r.URL, u.Hostname()))
		}
	}
	for _, f := range []struct{ field, path string }{
		{"server_key_file", r.ServerKeyFile},
		{"server_certificate_file", r.ServerCertificateFile},
		{"trusted_certificate_file", r.TrustedCertificateFile},
	} {
		if f.path == "" {
			continue
		}
		if !strings.HasPrefix(f.path, "/") || path.Clean(f.path) != f.path || !shellRE.MatchString(f.path) {
			errs = append(errs, invalid("remote_logging.%s %q must be an absolute, clean path inside the image (letters, digits, . _ + - and /), such as /etc/ssl/private/journal-upload.pem", f.field, f.path))
		}
	}
	return errors.Join(errs...)
}

// grubHashHelp says how to make a GRUB password hash.
const grubHashHelp = "make one with grub-mkpasswd-pbkdf2 (Debian's grub-common; grub2-mkpasswd-pbkdf2 on RPM systems) and give the part it prints after \"PBKDF2 hash of your password is\": grub.pbkdf2.sha512.<iterations>.<salt>.<hash>"

// validate checks the boot loader settings. The hash is never repeated in an error: it would end
// up in build logs (and a value that is not a hash may be the password itself).
func (b Bootloader) validate() error {
	var errs []error
	if err := validUserName(b.Superuser); err != nil {
		errs = append(errs, fmt.Errorf("bootloader.superuser: %w", err))
	}
	h := b.PasswordHash
	switch m := grubHashRE.FindStringSubmatch(h); {
	case h == "":
		if b.Superuser != DefaultGrubSuperuser {
			errs = append(errs, invalid("bootloader.superuser needs bootloader.password_hash; %s", grubHashHelp))
		}
	case strings.Contains(h, "PBKDF2 hash of your password is"):
		errs = append(errs, invalid("bootloader.password_hash holds grub-mkpasswd-pbkdf2's whole message; give only the grub.pbkdf2.sha512.… part"))
	case m == nil:
		errs = append(errs, invalid("bootloader.password_hash is not a GRUB PBKDF2 password hash (the value is not shown); %s", grubHashHelp))
	case len(m[1])%2 != 0 || len(m[2])%2 != 0:
		errs = append(errs, invalid("bootloader.password_hash: its salt and hash must be whole bytes (an even number of hexadecimal digits); was it cut short? %s", grubHashHelp))
	}
	return errors.Join(errs...)
}

// mailLocalRE is the local part of a mailbox, or a local user: no spaces, quotes, commas, colons,
// pipes or slashes, which /etc/aliases would read as more recipients, a command or a file.
var mailLocalRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._+=-]{0,63}$`)

// validateMailAlias checks root_mail_alias: one mailbox (user@domain) or one local user.
func validateMailAlias(alias string) error {
	if alias == "" {
		return nil
	}
	local, domain, hasDomain := strings.Cut(alias, "@")
	if !mailLocalRE.MatchString(local) || (hasDomain && !validHostName(domain)) {
		return invalid("root_mail_alias %q must be one mailbox such as security@example.com or one local user name (no spaces, commas, colons, quotes, pipes or slashes: /etc/aliases would read those as more recipients, a command or a file)", alias)
	}
	if !hasDomain && strings.EqualFold(local, "root") {
		return invalid("root_mail_alias %q would send root's mail to itself; name the mailbox or user who reads it", alias)
	}
	return nil
}

// parseSource parses a CIDR or a single address (taken as a /32 or /128), masking host bits.
func parseSource(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, invalid("%q is not a CIDR such as 192.0.2.0/24 or an IP address", s)
}

// validateSkip checks that every skip pattern is well-formed and names at least one rule, and
// that every extra_rules pattern names a hardening rule.
func (c Config) validateSkip() error {
	rules, err := c.rules()
	if err != nil {
		return err
	}
	var hardening []Rule
	if c.Hardening {
		early, late := baselineRules(c)
		hardening = append(early, late...)
	}
	var errs []error
	check := func(field string, patterns []string, rules []Rule, hint string) {
		for _, pattern := range patterns {
			if _, err := path.Match(pattern, ""); err != nil {
				errs = append(errs, invalid("%s: %q is not a valid pattern: %v", field, pattern, err))
				continue
			}
			if !slices.ContainsFunc(rules, func(r Rule) bool { return skipMatches(pattern, r.ID) }) {
				errs = append(errs, invalid("%s: %q names no rule %s; see the rule table in the docs", field, pattern, hint))
			}
		}
	}
	check("skip", c.Skip, rules, "of this configuration")
	check("extra_rules", c.Extra, hardening, "of the hardening catalogue (and hardening must be on)")
	return errors.Join(errs...)
}

// skipMatches reports whether a skip pattern selects the rule id: an exact id, a path.Match
// pattern, or a prefix followed by ".*" (which also covers deeper ids).
func skipMatches(pattern, id string) bool {
	if pattern == id {
		return true
	}
	if ok, _ := path.Match(pattern, id); ok {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, ".*"); ok && strings.HasPrefix(id, prefix+".") {
		return true
	}
	return false
}
