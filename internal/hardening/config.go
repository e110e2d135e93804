package hardening

// Sudo access levels of a User.
const (
	SudoNone     = "none"     // no sudo drop-in (an existing one is removed)
	SudoPassword = "password" // sudo for everything, asking for the user's password
	SudoNoPasswd = "nopasswd" // sudo for everything, without a password
)

// Firewall backends.
const (
	BackendAuto      = "auto"      // firewalld or ufw when the image uses one, else nftables
	BackendNftables  = "nftables"  // a ruleset file loaded by nftables.service
	BackendFirewalld = "firewalld" // firewall-offline-cmd / firewall-cmd
	BackendUFW       = "ufw"       // ufw's configuration files
)

// Firewall policies for inbound traffic that no rule accepts.
const (
	PolicyDrop   = "drop"
	PolicyReject = "reject"
	PolicyAccept = "accept" // for default_forward only
)

// Config says what one run of the rendered program does. Start from DefaultConfig: its zero
// value turns verification, hardening and password locking off.
type Config struct {
	// Profile is the rule profile, one of Profiles.
	Profile string
	// Extra lists hardening rule ids (or patterns, as in Skip) outside the profile to apply too.
	Extra []string
	// Audit makes the program check every rule and report it (compliant, would change, not
	// applicable) without changing anything.
	Audit bool
	// Hardening applies the profile's catalogue; false leaves only the SSH, user, network and
	// firewall settings.
	Hardening bool
	// Skip lists rule ids (or path.Match patterns such as "sysctl.net.ipv6.*") not to apply;
	// they are reported as skipped.
	Skip []string
	// InstallPackages lets rules install the packages they need (auditd, the pwquality PAM
	// module, an NTP client, nftables) when the image's repositories are reachable.
	InstallPackages bool
	// Verify re-checks every rule after applying it and reports a rule that is still not in
	// effect as failed.
	Verify bool
	// SSH configures sshd.
	SSH SSH
	// Users are created or updated, in order.
	Users []User
	// RemoveUsers are deleted with their home directories when present.
	RemoveUsers []string
	// Network sets the hostname, DNS, NTP and IPv6.
	Network Network
	// Firewall configures the host firewall when Enabled.
	Firewall Firewall
	// RemoteLogging sends the journal to a log server when its URL is set.
	RemoteLogging RemoteLogging
	// RootMailAlias is the mailbox (user@domain) or local user that receives root's mail through
	// the root: line of /etc/aliases; empty leaves /etc/aliases alone.
	RootMailAlias string
	// Bootloader sets a GRUB superuser password when its PasswordHash is given.
	Bootloader Bootloader
}

// SSH is the sshd configuration. Empty lists and zero numbers mean the defaults of DefaultConfig.
type SSH struct {
	// PermitRootLogin is sshd's PermitRootLogin: no, prohibit-password, forced-commands-only or yes.
	PermitRootLogin string
	// PasswordAuthentication allows password (and keyboard-interactive) logins.
	PasswordAuthentication bool
	// AllowUsers and AllowGroups restrict who may log in; empty means no restriction.
	AllowUsers  []string
	AllowGroups []string
	// Port is the TCP port sshd listens on.
	Port int
	// Ciphers, KexAlgorithms and MACs are sshd's algorithm lists. When left at the defaults, the
	// program keeps only the algorithms the image's OpenSSH knows (ssh -Q).
	Ciphers       []string
	KexAlgorithms []string
	MACs          []string
	// MaxAuthTries is sshd's MaxAuthTries.
	MaxAuthTries int
	// ClientAliveInterval (seconds) and ClientAliveCountMax end idle sessions.
	ClientAliveInterval int
	ClientAliveCountMax int
	// LoginGraceTime is the number of seconds a client has to authenticate.
	LoginGraceTime int
	// LogLevel is sshd's LogLevel, INFO or VERBOSE.
	LogLevel string
	// Banner is the pre-login banner text written to /etc/issue.net; empty for the default.
	Banner string
}

// User is one account to create or update.
type User struct {
	// Name is the login name.
	Name string
	// Groups are supplementary groups; missing ones are created.
	Groups []string
	// Shell is the login shell; empty keeps an existing user's shell and gives a new one
	// /bin/bash (or /bin/sh when bash is missing).
	Shell string
	// HomeMode is the octal mode of the home directory, such as "0750".
	HomeMode string
	// SSHAuthorizedKeys is the exact content of ~/.ssh/authorized_keys, one key a line.
	SSHAuthorizedKeys []string
	// Sudo is SudoNone, SudoPassword or SudoNoPasswd.
	Sudo string
	// KeepPassword leaves the password as it is; by default it is locked so that only key-based
	// logins work.
	KeepPassword bool
}

// Network holds the host's name, resolvers, time servers and IPv6 setting.
type Network struct {
	// Hostname is the short host name.
	Hostname string
	// Domain makes the FQDN Hostname.Domain, written to /etc/hosts.
	Domain string
	// DNSServers are resolver IP addresses; DNSSearch are search domains.
	DNSServers []string
	DNSSearch  []string
	// NTPServers are host names or addresses for chrony or systemd-timesyncd.
	NTPServers []string
	// DisableIPv6 turns IPv6 off with sysctl; DisableIPv6Kernel also adds ipv6.disable=1 to the
	// kernel command line.
	DisableIPv6       bool
	DisableIPv6Kernel bool
}

// Firewall is the host firewall.
type Firewall struct {
	// Enabled configures a firewall at all.
	Enabled bool
	// Backend is BackendAuto, BackendNftables, BackendFirewalld or BackendUFW.
	Backend string
	// AllowTCP and AllowUDP are ports open to any source.
	AllowTCP []int
	AllowUDP []int
	// AllowSources are networks (CIDRs) from which all inbound traffic is accepted.
	AllowSources []string
	// DefaultInbound is PolicyDrop or PolicyReject.
	DefaultInbound string
	// DefaultForward is PolicyDrop or PolicyAccept.
	DefaultForward string
	// DenySSH leaves SSH.Port closed; by default it stays open.
	DenySSH bool
}

// RemoteLogging has systemd-journal-upload send the journal to a systemd-journal-remote server
// over HTTPS. The three TLS files are paths inside the image, which the user's PKI provides.
type RemoteLogging struct {
	// URL is the server, https://host[:port] (systemd-journal-remote listens on 19532).
	URL string
	// ServerKeyFile and ServerCertificateFile are this machine's TLS client key and certificate;
	// TrustedCertificateFile is the CA that signed the server's certificate.
	ServerKeyFile          string
	ServerCertificateFile  string
	TrustedCertificateFile string
}

// Enabled reports whether remote logging is configured.
func (r RemoteLogging) Enabled() bool { return r.URL != "" }

// Bootloader is the GRUB superuser: with a password, editing boot entries, the GRUB shell and the
// entries that are not marked --unrestricted (the Advanced options submenu, firmware settings)
// need it, while the normal boot entries stay bootable without it.
type Bootloader struct {
	// Superuser is GRUB's superuser name (not a system account); DefaultGrubSuperuser when empty.
	Superuser string
	// PasswordHash is what grub-mkpasswd-pbkdf2 prints: grub.pbkdf2.sha512.<iterations>.<salt>.<hash>.
	// Empty: no boot loader password (the rule is not applicable).
	PasswordHash string
}

// Default values.
const (
	DefaultGrubSuperuser       = "root"
	DefaultSSHPort             = 22
	DefaultMaxAuthTries        = 3
	DefaultClientAliveInterval = 300
	DefaultClientAliveCountMax = 3
	DefaultLoginGraceTime      = 60
	DefaultSSHLogLevel         = "INFO"
	DefaultHomeMode            = "0750"
	// systemd-journal-upload's own defaults (journal-upload.conf(5)).
	DefaultJournalUploadKey     = "/etc/ssl/private/journal-upload.pem"
	DefaultJournalUploadCert    = "/etc/ssl/certs/journal-upload.pem"
	DefaultJournalUploadTrusted = "/etc/ssl/ca/trusted.pem"
	DefaultBanner               = "Authorized users only. All activity on this system may be monitored and reported. Unauthorized access is prohibited by law and policy."
)

// Default algorithm lists: what the OpenSSH project and the CIS and ANSSI guides agree on. Names an
// image's OpenSSH does not know are dropped at run time (RHEL 8 ships OpenSSH 8.0).
var (
	DefaultCiphers = []string{
		"chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
		"aes256-ctr", "aes192-ctr", "aes128-ctr",
	}
	DefaultKexAlgorithms = []string{
		"mlkem768x25519-sha256", "sntrup761x25519-sha512@openssh.com",
		"curve25519-sha256", "curve25519-sha256@libssh.org",
		"diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
		"diffie-hellman-group-exchange-sha256",
	}
	DefaultMACs = []string{
		"hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512", "hmac-sha2-256",
	}
)

// DefaultConfig returns the baseline configuration: hardening and verification on, packages
// installed when needed, root login and passwords over SSH off, no firewall.
func DefaultConfig() Config {
	return Config{
		Profile:         ProfileBaseline,
		Hardening:       true,
		InstallPackages: true,
		Verify:          true,
		SSH: SSH{
			PermitRootLogin:     "no",
			Port:                DefaultSSHPort,
			MaxAuthTries:        DefaultMaxAuthTries,
			ClientAliveInterval: DefaultClientAliveInterval,
			ClientAliveCountMax: DefaultClientAliveCountMax,
			LoginGraceTime:      DefaultLoginGraceTime,
			LogLevel:            DefaultSSHLogLevel,
		},
		Firewall: Firewall{
			Backend:        BackendAuto,
			DefaultInbound: PolicyDrop,
			DefaultForward: PolicyDrop,
		},
	}
}

// NewUser returns a User with the defaults: home mode 0750, no sudo, password locked.
func NewUser(name string) User {
	return User{Name: name, HomeMode: DefaultHomeMode, Sudo: SudoNone}
}

// withDefaults fills zero values that have a default, so that a hand-built Config renders sensibly.
func (c Config) withDefaults() Config {
	if c.Profile == "" {
		c.Profile = ProfileBaseline
	}
	s := &c.SSH
	if s.PermitRootLogin == "" {
		s.PermitRootLogin = "no"
	}
	if s.Port == 0 {
		s.Port = DefaultSSHPort
	}
	if s.MaxAuthTries == 0 {
		s.MaxAuthTries = DefaultMaxAuthTries
	}
	if s.ClientAliveInterval == 0 {
		s.ClientAliveInterval = DefaultClientAliveInterval
	}
	if s.ClientAliveCountMax == 0 {
		s.ClientAliveCountMax = DefaultClientAliveCountMax
	}
	if s.LoginGraceTime == 0 {
		s.LoginGraceTime = DefaultLoginGraceTime
	}
	if s.LogLevel == "" {
		s.LogLevel = DefaultSSHLogLevel
	}
	if s.Banner == "" {
		s.Banner = DefaultBanner
	}
	users := make([]User, len(c.Users))
	for i, u := range c.Users {
		if u.HomeMode == "" {
			u.HomeMode = DefaultHomeMode
		}
		if u.Sudo == "" {
			u.Sudo = SudoNone
		}
		users[i] = u
	}
	c.Users = users
	if c.Bootloader.Superuser == "" {
		c.Bootloader.Superuser = DefaultGrubSuperuser
	}
	f := &c.Firewall
	if f.Backend == "" {
		f.Backend = BackendAuto
	}
	if f.DefaultInbound == "" {
		f.DefaultInbound = PolicyDrop
	}
	if f.DefaultForward == "" {
		f.DefaultForward = PolicyDrop
	}
	if r := &c.RemoteLogging; r.Enabled() {
		for _, d := range []struct {
			field *string
			def   string
		}{
			{&r.ServerKeyFile, DefaultJournalUploadKey},
			{&r.ServerCertificateFile, DefaultJournalUploadCert},
			{&r.TrustedCertificateFile, DefaultJournalUploadTrusted},
		} {
			if *d.field == "" {
				*d.field = d.def
			}
		}
	}
	return c
}
