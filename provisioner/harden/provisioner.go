//go:generate packer-sdc mapstructure-to-hcl2 -type Config,SSHConfig,UserConfig,NetworkConfig,FirewallConfig,RemoteLoggingConfig,BootloaderConfig
//go:generate packer-sdc struct-markdown
//go:generate go run ../../internal/hardening/cmd/ruletable -o ../../docs/provisioners/harden.mdx

// Package harden is the refit-harden provisioner: it renders internal/hardening's program for the
// configuration, uploads it once, runs it once through the communicator (SSH to a booted VM, or
// refit-chroot), reports every rule, and writes the JSON report.
package harden

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
	"github.com/hashicorp/packer-plugin-sdk/uuid"

	"github.com/refit-images/packer-plugin-refit/internal/hardening"
)

// DefaultExecuteCommand runs the program with sh; --sudo makes it run itself again through
// `sudo -n` when the communicator's user is not root, --remove deletes it when it ends. The
// command has no $ on purpose: chroot communicators pass it through a second shell.
const DefaultExecuteCommand = `sh '{{.Path}}' --sudo --remove`

// Fail-on policies.
const (
	FailOnError        = "error"
	FailOnVerify       = "verify"
	FailOnNoncompliant = "noncompliant"
)

// Modes.
const (
	ModeApply = "apply"
	ModeAudit = "audit"
)

// SSHConfig is the `ssh` block: how sshd is configured.
type SSHConfig struct {
	// sshd's `PermitRootLogin`: `no` (the default), `prohibit-password`, `forced-commands-only` or `yes`.
	PermitRootLogin string `mapstructure:"permit_root_login"`
	// Allow password and keyboard-interactive logins. Defaults to false: keys only.
	PasswordAuthentication bool `mapstructure:"password_authentication"`
	// Only these users (sshd patterns, `user` or `user@host`) may log in. Empty: no restriction.
	AllowUsers []string `mapstructure:"allow_users"`
	// Only members of these groups may log in. Empty: no restriction.
	AllowGroups []string `mapstructure:"allow_groups"`
	// The TCP port sshd listens on. Defaults to 22; the firewall opens it.
	Port int `mapstructure:"port"`
	// sshd's `Ciphers`. Defaults to AEAD and CTR ciphers (chacha20-poly1305, AES-GCM, AES-CTR),
	// filtered to what the image's OpenSSH knows.
	Ciphers []string `mapstructure:"ciphers"`
	// sshd's `KexAlgorithms`. Defaults to the post-quantum hybrids, Curve25519 and DH groups
	// 16/18/group-exchange-sha256, filtered to what the image's OpenSSH knows.
	KexAlgorithms []string `mapstructure:"kex_algorithms"`
	// sshd's `MACs`. Defaults to the SHA-2 HMACs, encrypt-then-MAC first.
	MACs []string `mapstructure:"macs"`
	// sshd's `MaxAuthTries`. Defaults to 3.
	MaxAuthTries int `mapstructure:"max_auth_tries"`
	// Seconds between keep-alive probes of an idle session (`ClientAliveInterval`). Defaults to 300.
	ClientAliveInterval int `mapstructure:"client_alive_interval"`
	// Unanswered probes before an idle session ends (`ClientAliveCountMax`). Defaults to 3.
	ClientAliveCountMax int `mapstructure:"client_alive_count_max"`
	// Seconds a client has to authenticate (`LoginGraceTime`). Defaults to 60.
	LoginGraceTime int `mapstructure:"login_grace_time"`
	// sshd's `LogLevel`: `INFO` (the default) or `VERBOSE`. INFO logs every login with the
	// fingerprint of the key it used; VERBOSE adds the keys a client offered that were refused.
	// CIS accepts both; the SCAP Security Guide's CIS profiles check for INFO.
	LogLevel string `mapstructure:"log_level"`
	// The legal banner shown before login (`/etc/issue.net`) and in `/etc/issue` and `/etc/motd`.
	// Defaults to "Authorized users only. All activity on this system may be monitored and reported. Unauthorized access is prohibited by law and policy."
	Banner string `mapstructure:"banner"`
}

// UserConfig is one `user` block: an account to create or update.
type UserConfig struct {
	// The login name.
	Name string `mapstructure:"name" required:"true"`
	// Supplementary groups; missing groups are created. Other memberships are kept.
	Groups []string `mapstructure:"groups"`
	// The login shell. Defaults to /bin/bash for a new user (/bin/sh when bash is missing);
	// an existing user keeps its shell unless this is set.
	Shell string `mapstructure:"shell"`
	// The octal mode of the home directory. Defaults to "0750".
	HomeMode string `mapstructure:"home_mode"`
	// The exact content of `~/.ssh/authorized_keys`, one OpenSSH public key line per element.
	// Every key is parsed when the template is validated; a bad key is an error.
	SSHAuthorizedKeys []string `mapstructure:"ssh_authorized_keys"`
	// `none` (the default: no sudo, and a drop-in of an earlier run is removed), `password`
	// (all commands, asking for the user's password) or `nopasswd` (all commands, no password).
	// The drop-in is validated with `visudo -c`.
	Sudo string `mapstructure:"sudo"`
	// Lock the password so that the user can log in with keys only. Defaults to true.
	LockPassword *bool `mapstructure:"lock_password"`
}

// NetworkConfig is the `network` block.
type NetworkConfig struct {
	// The short host name, written to `/etc/hostname` (a fully qualified name is split into host
	// name and domain).
	Hostname string `mapstructure:"hostname"`
	// The DNS domain: `<hostname>.<domain>` goes into `/etc/hosts`.
	Domain string `mapstructure:"domain"`
	// Resolver IP addresses (at most 3), set where the image takes them from: systemd-resolved,
	// NetworkManager or `/etc/resolv.conf`.
	DNSServers []string `mapstructure:"dns_servers"`
	// DNS search domains.
	DNSSearch []string `mapstructure:"dns_search"`
	// NTP servers for chrony or systemd-timesyncd (whichever the image has).
	NTPServers []string `mapstructure:"ntp_servers"`
	// Turn IPv6 off with sysctl (`net.ipv6.conf.{all,default}.disable_ipv6 = 1`).
	DisableIPv6 bool `mapstructure:"disable_ipv6"`
	// Also add `ipv6.disable=1` to the kernel command line (implies disable_ipv6).
	DisableIPv6Kernel bool `mapstructure:"disable_ipv6_kernel"`
}

// FirewallConfig is the `firewall` block; without it the firewall is not touched.
type FirewallConfig struct {
	// `auto` (the default: firewalld or ufw when the image uses one, else nftables), `nftables`,
	// `firewalld` or `ufw`.
	Backend string `mapstructure:"backend"`
	// TCP ports open to everybody (the SSH port is added unless allow_ssh is false).
	AllowTCP []int `mapstructure:"allow_tcp"`
	// UDP ports open to everybody.
	AllowUDP []int `mapstructure:"allow_udp"`
	// Networks (CIDRs, or single addresses) from which all inbound traffic is accepted.
	AllowSources []string `mapstructure:"allow_sources"`
	// What happens to other inbound traffic: `drop` (the default) or `reject`.
	DefaultInbound string `mapstructure:"default_inbound"`
	// Policy for forwarded traffic: `drop` (the default) or `accept` (container and VM hosts).
	DefaultForward string `mapstructure:"default_forward"`
	// Keep the SSH port open. Defaults to true. Setting it to false while the build connects over
	// SSH is an error: the build would lock itself out.
	AllowSSH *bool `mapstructure:"allow_ssh"`
}

// RemoteLoggingConfig is the `remote_logging` block: systemd-journal-upload sends the journal to a
// systemd-journal-remote server over HTTPS (CIS Debian 12 6.1.2.1). Without the block, the image's
// upload configuration is not touched.
//
// The three TLS files are paths inside the image, and refit-harden does not create them: your
// PKI provides them (a later provisioner, cloud-init, or a certificate agent at boot); until they
// exist the service fails and retries. The service runs as a dynamic user in the
// `systemd-journal` group, so the key must be readable by that group (for example owner root,
// group systemd-journal, mode 0640).
type RemoteLoggingConfig struct {
	// The log server, `https://host[:port]` (systemd-journal-remote listens on 19532). An `http://`
	// URL is refused: the journal would travel unencrypted, and the benchmarks ask for TLS.
	URL string `mapstructure:"url" required:"true"`
	// This machine's TLS client key (`ServerKeyFile`), a path inside the image. Defaults to
	// systemd's own default, `/etc/ssl/private/journal-upload.pem`.
	ServerKeyFile string `mapstructure:"server_key_file"`
	// This machine's TLS client certificate (`ServerCertificateFile`), a path inside the image.
	// Defaults to `/etc/ssl/certs/journal-upload.pem`.
	ServerCertificateFile string `mapstructure:"server_certificate_file"`
	// The CA certificate that signed the server's certificate (`TrustedCertificateFile`), a path
	// inside the image. Defaults to `/etc/ssl/ca/trusted.pem`.
	TrustedCertificateFile string `mapstructure:"trusted_certificate_file"`
}

// BootloaderConfig is the `bootloader` block: a GRUB superuser password. Without the block the
// boot loader has none (rule `boot.grub-password` is not applicable).
type BootloaderConfig struct {
	// The GRUB superuser's password hash: the `grub.pbkdf2.sha512.<iterations>.<salt>.<hash>` that
	// `grub-mkpasswd-pbkdf2` (Debian's grub-common; `grub2-mkpasswd-pbkdf2` on RPM systems) prints.
	// Editing boot entries, the GRUB shell, the Advanced options submenu (older kernels, recovery
	// mode) and the firmware settings entry then need the password; the normal boot entries do not,
	// so the image still boots unattended. Anything else is an error that does not repeat the value;
	// the hash is never printed. Keep it out of templates in version control: pass it as a
	// `sensitive` variable.
	PasswordHash string `mapstructure:"password_hash" required:"true"`
	// The GRUB superuser's name (GRUB's own, not a system account): lower case letters, digits, `_`
	// and `-`. Defaults to `root`; RPM systems' GRUB (`grub2-setpassword`'s `user.cfg`) only knows
	// `root`. SSG's check wants letters and `_` only.
	Superuser string `mapstructure:"superuser"`
}

// Config is the configuration of the refit-harden provisioner.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// The rule profile: `baseline` (the default: every hardening rule, what dev-sec's
	// os_hardening and ssh_hardening cover plus the CIS and ANSSI items that can be set offline),
	// `cis-level1` or `cis-level2` (the rules that answer CIS Debian Linux 12 v1.1.0 Level 1, or
	// Levels 1 and 2, Server), `anssi-intermediary` or `anssi-high` (the rules that answer ANSSI
	// BP-028 v2 up to that level). The rule table shows which rule is in which profile and the
	// benchmark items it answers. The `ssh`, `user`, `network` and `firewall` settings apply in
	// every profile.
	Profile string `mapstructure:"profile"`
	// `apply` (the default) changes what is not in effect; `audit` only checks every rule and
	// reports it as `compliant`, `would change` or `not applicable`, with the profile's pass rate,
	// and changes nothing in the image or on the machine.
	Mode string `mapstructure:"mode"`
	// Apply the profile's hardening rules. Defaults to true; false applies only the `ssh`,
	// `user`, `network` and `firewall` settings.
	Hardening *bool `mapstructure:"hardening"`
	// Rule ids not to apply, or patterns: `sysctl.net.ipv6.*`, `modules.udf`. They are reported
	// as skipped. A pattern that matches no rule is an error.
	Skip []string `mapstructure:"skip"`
	// Hardening rule ids (or patterns, as in `skip`) from outside the profile to apply too, for
	// example `modules.vfat` with `cis-level1`. A pattern that matches no hardening rule is an error.
	ExtraRules []string `mapstructure:"extra_rules"`
	// Let rules install the packages they need (auditd, the PAM pwquality module, an NTP client,
	// the firewall tool) from the image's own repositories. Defaults to true; rules whose package
	// cannot be installed are skipped.
	InstallPackages *bool `mapstructure:"install_packages"`
	// sshd settings.
	SSH SSHConfig `mapstructure:"ssh"`
	// Accounts to create or update, in order.
	Users []UserConfig `mapstructure:"user"`
	// Accounts to delete, with their home directories.
	RemoveUsers []string `mapstructure:"remove_users"`
	// Host name, DNS, NTP and IPv6.
	Network NetworkConfig `mapstructure:"network"`
	// The host firewall. Leave the block out to keep the image's firewall as it is.
	Firewall *FirewallConfig `mapstructure:"firewall"`
	// Send the journal to a remote log server (rule `logging.journal-upload`): installs
	// systemd-journal-remote, configures and enables systemd-journal-upload. Leave the block out to
	// keep the image's logging as it is.
	RemoteLogging *RemoteLoggingConfig `mapstructure:"remote_logging"`
	// Who reads root's mail: one mailbox (`security@example.com`) or local user, written as the
	// `root:` line of `/etc/aliases` (rule `mail.root-alias`; the file is created when missing,
	// other lines are kept, and `newaliases` runs where the image has it). Mail to root comes from
	// cron, AIDE's daily check and other services; empty leaves `/etc/aliases` alone.
	RootMailAlias string `mapstructure:"root_mail_alias"`
	// A GRUB superuser password, for editing boot entries and the GRUB shell (the normal boot
	// entries stay bootable without it). Leave the block out for none.
	Bootloader *BootloaderConfig `mapstructure:"bootloader"`
	// Check every changed rule again after applying it; a rule still not in effect is reported
	// as failed. Defaults to true.
	Verify *bool `mapstructure:"verify"`
	// Local path of a JSON report: the system, every rule's id, status, title and detail, and the
	// totals. Written even when the build fails.
	Report string `mapstructure:"report"`
	// `error` (the default) fails the build when a rule cannot be applied, and only warns about
	// rules that applied but did not verify; `verify` fails it on both. In audit mode,
	// `noncompliant` fails the build when any rule would change (or could not be checked); the
	// other values only report.
	FailOn string `mapstructure:"fail_on"`
	// The command that runs the uploaded program; `{{.Path}}` is its remote path. Defaults to
	// `sh '{{.Path}}' --sudo --remove`: the program runs itself again through `sudo -n` when the
	// user is not root (`--sudo`) and deletes itself when it ends (`--remove`).
	ExecuteCommand string `mapstructure:"execute_command"`
	// Where the program is uploaded. Defaults to `/tmp/refit-harden-<uuid>.sh`.
	RemotePath string `mapstructure:"remote_path"`

	program []byte
	ctx     interpolate.Context
}

// Provisioner is the refit-harden provisioner.
type Provisioner struct {
	config Config
}

// ConfigSpec returns the HCL spec of Config.
func (p *Provisioner) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

// Prepare decodes the configuration, fills in defaults, and reports every problem at once.
func (p *Provisioner) Prepare(raws ...interface{}) error {
	p.config = Config{}
	err := config.Decode(&p.config, &config.DecodeOpts{
		PluginType:         "refit-harden",
		Interpolate:        true,
		InterpolateContext: &p.config.ctx,
		InterpolateFilter:  &interpolate.RenderFilter{Exclude: []string{"execute_command"}},
	}, raws...)
	if err != nil {
		return err
	}
	return p.config.prepare()
}

func (c *Config) prepare() error {
	var errs *packersdk.MultiError
	if c.ExecuteCommand == "" {
		c.ExecuteCommand = DefaultExecuteCommand
	}
	if c.RemotePath == "" {
		c.RemotePath = "/tmp/refit-harden-" + uuid.TimeOrderedUUID() + ".sh"
	}
	switch c.FailOn {
	case "":
		c.FailOn = FailOnError
	case FailOnError, FailOnVerify, FailOnNoncompliant:
	default:
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("fail_on must be %q, %q or %q, not %q", FailOnError, FailOnVerify, FailOnNoncompliant, c.FailOn))
	}
	switch c.Mode {
	case "":
		c.Mode = ModeApply
	case ModeApply, ModeAudit:
	default:
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("mode must be %q or %q, not %q", ModeApply, ModeAudit, c.Mode))
	}
	if c.FailOn == FailOnNoncompliant && c.Mode != ModeAudit {
		errs = packersdk.MultiErrorAppend(errs, errors.New(`fail_on = "noncompliant" needs mode = "audit" (in apply mode refit-harden makes the rules compliant)`))
	}
	if _, err := interpolate.Render(c.ExecuteCommand, &interpolate.Context{Data: &executeData{Path: c.RemotePath}}); err != nil {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("execute_command: %w", err))
	}
	if c.Report != "" {
		if dir := filepath.Dir(c.Report); dir != "." {
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("report: the folder %s does not exist; create it first", dir))
			}
		}
	}
	if c.RemoteLogging != nil && c.RemoteLogging.URL == "" {
		errs = packersdk.MultiErrorAppend(errs, errors.New("remote_logging: url is required, the log server such as https://logs.example.com:19532 (leave the block out to keep the image's logging as it is)"))
	}
	if c.Bootloader != nil && c.Bootloader.PasswordHash == "" {
		errs = packersdk.MultiErrorAppend(errs, errors.New("bootloader.password_hash is required in a bootloader block: make one with grub-mkpasswd-pbkdf2 (Debian's grub-common; grub2-mkpasswd-pbkdf2 on RPM systems), or leave the block out for no boot loader password"))
	}
	hc := c.hardeningConfig()
	if err := hc.Validate(); err != nil {
		var joined interface{ Unwrap() []error }
		if errors.As(err, &joined) {
			for _, e := range joined.Unwrap() {
				errs = packersdk.MultiErrorAppend(errs, e)
			}
		} else {
			errs = packersdk.MultiErrorAppend(errs, err)
		}
	}
	if hc.Firewall.Enabled && hc.Firewall.DenySSH && !hc.Audit && !builderWithoutSSH(c.PackerBuilderType) {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("firewall.allow_ssh = false would lock this build out: source type %q connects over SSH. Close SSH only in builds whose communicator is not SSH (refit-chroot, docker, lxc, lxd, *-chroot)", c.PackerBuilderType))
	}
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	program, err := hardening.Render(hc)
	if err != nil {
		return fmt.Errorf("rendering the hardening program: %w", err)
	}
	c.program = program
	return nil
}

// builderWithoutSSH reports whether a source type never uses the SSH communicator.
func builderWithoutSSH(builderType string) bool {
	switch builderType {
	case "refit-chroot", "docker", "lxc", "lxd", "incus", "file":
		return true
	}
	return strings.HasSuffix(builderType, "-chroot")
}

// hardeningConfig translates the Packer configuration into internal/hardening's.
func (c *Config) hardeningConfig() hardening.Config {
	hc := hardening.DefaultConfig()
	if c.Profile != "" {
		hc.Profile = c.Profile
	}
	hc.Hardening = boolOr(c.Hardening, true)
	hc.InstallPackages = boolOr(c.InstallPackages, true)
	hc.Verify = boolOr(c.Verify, true)
	hc.Skip = c.Skip
	hc.Extra = c.ExtraRules
	hc.Audit = c.Mode == ModeAudit
	s := c.SSH
	hc.SSH.PasswordAuthentication = s.PasswordAuthentication
	hc.SSH.AllowUsers, hc.SSH.AllowGroups = s.AllowUsers, s.AllowGroups
	hc.SSH.Ciphers, hc.SSH.KexAlgorithms, hc.SSH.MACs = s.Ciphers, s.KexAlgorithms, s.MACs
	hc.SSH.Banner = s.Banner
	setIf(&hc.SSH.PermitRootLogin, s.PermitRootLogin)
	setIf(&hc.SSH.Port, s.Port)
	setIf(&hc.SSH.MaxAuthTries, s.MaxAuthTries)
	setIf(&hc.SSH.ClientAliveInterval, s.ClientAliveInterval)
	setIf(&hc.SSH.ClientAliveCountMax, s.ClientAliveCountMax)
	setIf(&hc.SSH.LoginGraceTime, s.LoginGraceTime)
	setIf(&hc.SSH.LogLevel, strings.ToUpper(s.LogLevel))
	for _, u := range c.Users {
		hu := hardening.NewUser(u.Name)
		hu.Groups, hu.Shell, hu.SSHAuthorizedKeys = u.Groups, u.Shell, u.SSHAuthorizedKeys
		setIf(&hu.HomeMode, u.HomeMode)
		setIf(&hu.Sudo, u.Sudo)
		hu.KeepPassword = !boolOr(u.LockPassword, true)
		hc.Users = append(hc.Users, hu)
	}
	hc.RemoveUsers = c.RemoveUsers
	n := c.Network
	hc.Network = hardening.Network{
		Hostname: n.Hostname, Domain: n.Domain, DNSServers: n.DNSServers, DNSSearch: n.DNSSearch,
		NTPServers: n.NTPServers, DisableIPv6: n.DisableIPv6 || n.DisableIPv6Kernel, DisableIPv6Kernel: n.DisableIPv6Kernel,
	}
	if f := c.Firewall; f != nil {
		hc.Firewall.Enabled = true
		setIf(&hc.Firewall.Backend, f.Backend)
		hc.Firewall.AllowTCP, hc.Firewall.AllowUDP, hc.Firewall.AllowSources = f.AllowTCP, f.AllowUDP, f.AllowSources
		setIf(&hc.Firewall.DefaultInbound, f.DefaultInbound)
		setIf(&hc.Firewall.DefaultForward, f.DefaultForward)
		hc.Firewall.DenySSH = !boolOr(f.AllowSSH, true)
	}
	if r := c.RemoteLogging; r != nil {
		hc.RemoteLogging = hardening.RemoteLogging{URL: r.URL, ServerKeyFile: r.ServerKeyFile,
			ServerCertificateFile: r.ServerCertificateFile, TrustedCertificateFile: r.TrustedCertificateFile}
	}
	hc.RootMailAlias = c.RootMailAlias
	if b := c.Bootloader; b != nil {
		hc.Bootloader = hardening.Bootloader{Superuser: b.Superuser, PasswordHash: b.PasswordHash}
	}
	return hc
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// setIf sets *dst to v unless v is the zero value.
func setIf[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

// Provision uploads the program, runs it once, reports every rule, and writes the report.
func (p *Provisioner) Provision(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, generatedData map[string]interface{}) error {
	c := &p.config
	if err := c.checkCommunicator(ui, generatedData); err != nil {
		return err
	}
	ui.Say(fmt.Sprintf("refit-harden: uploading the hardening program (%d bytes) to %s", len(c.program), c.RemotePath))
	// 0600: the program holds the bootloader block's password hash until it deletes itself
	var info os.FileInfo = programInfo{size: int64(len(c.program))}
	if err := comm.Upload(c.RemotePath, bytes.NewReader(c.program), &info); err != nil {
		return fmt.Errorf("uploading the hardening program to %s: %w (is remote_path writable?)", c.RemotePath, err)
	}
	c.ctx.Data = &executeData{Path: c.RemotePath}
	command, err := interpolate.Render(c.ExecuteCommand, &c.ctx)
	if err != nil {
		return fmt.Errorf("execute_command: %w", err)
	}
	var out bytes.Buffer
	stdout := &lineWriter{line: func(l string) {
		out.WriteString(l + "\n")
		showLine(ui, l)
	}}
	stderr := &lineWriter{line: func(l string) { ui.Say("refit-harden: " + l) }}
	cmd := &packersdk.RemoteCmd{Command: command, Stdout: stdout, Stderr: stderr}
	if err := comm.Start(ctx, cmd); err != nil {
		return fmt.Errorf("starting the hardening program: %w", err)
	}
	status := cmd.Wait()
	stdout.Flush()
	stderr.Flush()
	if ctx.Err() != nil {
		return fmt.Errorf("refit-harden was cancelled: %w", ctx.Err())
	}
	report, parseErr := hardening.ParseReport(out.Bytes())
	if parseErr == nil && len(report.HostChecks) > 0 {
		ui.Say("refit-harden: the image's nft cannot reach nf_tables (it runs under qemu-user): checking the ruleset with this host's nft")
		for _, r := range hardening.CheckRulesetsOnHost(ctx, &report, comm.Download) {
			showResult(ui, r)
		}
	}
	if c.Report != "" {
		if err := writeReport(c.Report, report); err != nil {
			return err
		}
		ui.Say("refit-harden: wrote the report to " + c.Report)
	}
	if parseErr != nil {
		if len(report.Results) == 0 && status != hardening.ExitOK {
			return fmt.Errorf("refit-harden (exit status %d; %s): %w", status, commandHint(status), parseErr)
		}
		return fmt.Errorf("refit-harden (exit status %d): %w", status, parseErr)
	}
	if status != hardening.ExitOK && status != hardening.ExitRuleFailed {
		return fmt.Errorf("refit-harden: the program exited with status %d: %s", status, commandHint(status))
	}
	return c.judge(ui, report)
}

// checkCommunicator refuses what would lock the build out, now that the communicator is known.
func (c *Config) checkCommunicator(ui packersdk.Ui, generatedData map[string]interface{}) error {
	connType, _ := generatedData["ConnType"].(string)
	user, _ := generatedData["User"].(string)
	if connType != "ssh" || c.Mode == ModeAudit { // an audit changes nothing: it cannot lock anybody out
		return nil
	}
	if c.Firewall != nil && !boolOr(c.Firewall.AllowSSH, true) {
		return errors.New("firewall.allow_ssh = false, but this build connects over SSH: it would lock itself out. Keep SSH open, or close it in a refit-chroot build")
	}
	if user != "" && slices.Contains(c.RemoveUsers, user) {
		return fmt.Errorf("remove_users lists %q, the user this build is logged in as; remove it in a later step that logs in as another user", user)
	}
	if user != "" && len(c.SSH.AllowUsers) > 0 && !slices.Contains(c.SSH.AllowUsers, user) {
		ui.Error(fmt.Sprintf("refit-harden: warning: ssh.allow_users does not include %q, the user this build logs in as; new SSH logins as %s will be refused", user, user))
	}
	if user == "root" && c.SSH.PermitRootLogin != "yes" && c.SSH.PermitRootLogin != "prohibit-password" {
		ui.Error("refit-harden: warning: this build logs in as root and ssh.permit_root_login will refuse new root logins")
	}
	return nil
}

// judge reports the totals and applies fail_on.
func (c *Config) judge(ui packersdk.Ui, r hardening.Report) error {
	n := r.Counts
	mode := "offline (chroot or image)"
	if r.Live {
		mode = "on a running system"
	}
	if r.Audit {
		return c.judgeAudit(ui, r, mode)
	}
	ui.Say(fmt.Sprintf("refit-harden: %s %s (%s), %s: %d changed, %d ok, %d skipped, %d failed",
		r.OSID, r.OSVersion, r.Family, mode, n.Changed, n.OK, n.Skipped, n.Failed))
	var applyFailed, verifyFailed []string
	for _, res := range r.Results {
		if res.Status != hardening.StatusFailed {
			continue
		}
		if res.VerifyFailed() {
			verifyFailed = append(verifyFailed, res.ID)
		} else {
			applyFailed = append(applyFailed, res.ID)
		}
	}
	if len(applyFailed) > 0 {
		return fmt.Errorf("refit-harden: %d rule(s) failed: %s (see the details above; skip a rule with skip = [\"<id>\"])", len(applyFailed), strings.Join(applyFailed, ", "))
	}
	if len(verifyFailed) > 0 {
		msg := fmt.Sprintf("%d rule(s) applied but did not verify: %s", len(verifyFailed), strings.Join(verifyFailed, ", "))
		if c.FailOn == FailOnVerify {
			return errors.New("refit-harden: " + msg)
		}
		ui.Error("refit-harden: warning: " + msg + " (fail_on = \"verify\" would fail the build)")
	}
	return nil
}

// judgeAudit reports an audit's totals and pass rate, and applies fail_on = "noncompliant".
func (c *Config) judgeAudit(ui packersdk.Ui, r hardening.Report, mode string) error {
	n := r.Counts
	ui.Say(fmt.Sprintf("refit-harden: audit of %s %s (%s), %s, profile %s: %d compliant, %d would change, %d not applicable, %d skipped, %d could not be checked; pass rate %.1f %% (compliant / (compliant + would change))",
		r.OSID, r.OSVersion, r.Family, mode, r.Profile, n.Compliant, n.WouldChange, n.NotApplicable, n.Skipped, n.Failed, n.PassRate()))
	var bad []string
	for _, res := range r.Results {
		if res.Status == hardening.StatusWouldChange || res.Status == hardening.StatusFailed {
			bad = append(bad, res.ID)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	msg := fmt.Sprintf("%d rule(s) not compliant or not checkable: %s", len(bad), strings.Join(bad, ", "))
	if c.FailOn == FailOnNoncompliant {
		return errors.New("refit-harden: audit: " + msg)
	}
	ui.Say("refit-harden: audit: " + msg + " (fail_on = \"noncompliant\" would fail the build)")
	return nil
}

// commandHint explains the usual causes of an unexpected exit status.
func commandHint(status int) string {
	switch status {
	case 1:
		return "sudo may need a password (use a user with passwordless sudo, or set execute_command)"
	case 126, 127:
		return "the shell or sudo could not be run; check execute_command"
	}
	return "see the output above"
}
