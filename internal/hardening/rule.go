package hardening

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Rule groups, in the order the program applies them.
const (
	GroupPackages  = "packages"
	GroupSysctl    = "sysctl"
	GroupModules   = "modules"
	GroupFiles     = "files"
	GroupAccounts  = "accounts"
	GroupPAM       = "pam"
	GroupAudit     = "audit"
	GroupBoot      = "boot"
	GroupServices  = "services"
	GroupSSH       = "ssh"
	GroupUsers     = "users"
	GroupNetwork   = "network"
	GroupFirewall  = "firewall"
	GroupLogging   = "logging"
	GroupMail      = "mail"
	GroupIntegrity = "integrity"
	GroupLive      = "live"
)

// Rule is one entry of the catalogue: a stable id, what it changes, and the shell code that
// checks and applies it.
type Rule struct {
	// ID is stable across releases: skip lists and reports refer to it.
	ID string
	// Group is one of the Group constants.
	Group string
	// Title is a short description, printed in results.
	Title string
	// Changes says what the rule writes, for the documentation.
	Changes string

	// check is the body of a POSIX-sh function returning 0 (in effect), 1 (needs a change),
	// 2 (not applicable); apply is the body of one returning 0 when the change was made.
	check, apply string
}

// Catalogue returns the rules one run of cfg applies, in order: the profile's hardening rules
// that depend on nothing else (when cfg.Hardening), the SSH, user, network and firewall rules the
// configuration asks for, the remote logging and root mail alias rules (and the boot loader
// password when hardening is off), the hardening rules that cover what those install or create (sudo
// defaults, file permissions and logs, PAM, home directories, audit rules), the DNS rule (after
// every rule that may install packages), the file integrity rules (AIDE's database records the
// image as the other rules leave it), then the live-apply steps. Rules listed in cfg.Skip are included (they are reported as skipped).
func Catalogue(cfg Config) ([]Rule, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg.withDefaults().rules()
}

// rules assembles the catalogue of a configuration that has its defaults filled in.
func (c Config) rules() ([]Rule, error) {
	var rules, late, final []Rule
	if c.Hardening {
		rules, late = baselineRules(c)
		rules, late = c.inProfile(rules), c.inProfile(late)
		// the integrity rules come last (baselineRules lists them at the end of late)
		final = slices.DeleteFunc(slices.Clone(late), func(r Rule) bool { return r.Group != GroupIntegrity })
		late = slices.DeleteFunc(late, func(r Rule) bool { return r.Group == GroupIntegrity })
	}
	rules = append(rules, sshRules(c)...)
	rules = append(rules, userRules(c)...)
	network, dns := networkRules(c)
	rules = append(rules, network...)
	rules = append(rules, firewallRules(c)...)
	rules = append(rules, choiceRules(c)...)
	if !c.Hardening && c.Bootloader.PasswordHash != "" {
		// the bootloader block applies without the hardening catalogue too, like the settings
		rules = append(rules, grubPasswordRule())
	}
	rules = append(rules, late...)
	rules = append(rules, dns...)
	rules = append(rules, final...)
	if !c.Audit {
		rules = append(rules, liveRules()...)
		rules = append(rules, choiceLiveRules(c)...)
	}
	seen := make(map[string]bool, len(rules))
	for _, r := range rules {
		if seen[r.ID] {
			return nil, fmt.Errorf("%w: rule id %s appears twice (a user or group name collides with a rule)", ErrInvalid, r.ID)
		}
		seen[r.ID] = true
	}
	return rules, nil
}

// documentationConfig is a configuration that produces every kind of rule, with placeholder names.
func documentationConfig() Config {
	c := DefaultConfig()
	u := NewUser("username")
	u.SSHAuthorizedKeys = []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl docs"}
	u.Sudo = SudoNoPasswd
	u.Groups = []string{"groupname"}
	c.Users = []User{u}
	c.RemoveUsers = []string{"oldusername"}
	c.Network = Network{Hostname: "host", Domain: "example.com", DNSServers: []string{"192.0.2.53"},
		DNSSearch: []string{"example.com"}, NTPServers: []string{"ntp.example.com"}, DisableIPv6: true, DisableIPv6Kernel: true}
	c.Firewall.Enabled = true
	c.RemoteLogging = RemoteLogging{URL: "https://logs.example.com:19532"}
	c.RootMailAlias = "security@example.com"
	// a placeholder of the right form (not a hash of anything)
	c.Bootloader = Bootloader{Superuser: "grubadmin", PasswordHash: "grub.pbkdf2.sha512.10000.00.00"}
	return c
}

// RuleTable writes the documentation's Markdown table of every rule id: the hardening rules with
// the profiles that include them and the benchmark items they answer, and the rules that the ssh,
// user, network and firewall settings add in every profile (<name>, <group> and <oldname> stand
// for the configured names).
func RuleTable(w io.Writer) error {
	// every rule of every profile: the cells below say which profile has it
	all := documentationConfig()
	all.Extra = []string{"*"}
	rules, err := all.withDefaults().rules()
	if err != nil {
		return err
	}
	early, late := baselineRules(documentationConfig().withDefaults())
	hardening := map[string]bool{}
	for _, r := range append(early, late...) {
		hardening[r.ID] = true
	}
	var b strings.Builder
	b.WriteString("| id | group | baseline | cis-level1 | cis-level2 | anssi-intermediary | anssi-high | CIS Debian 12 v1.1.0 | ANSSI BP-028 | what it changes |\n")
	b.WriteString("| --- | --- | :-: | :-: | :-: | :-: | :-: | --- | --- | --- |\n")
	for _, r := range rules {
		id := strings.NewReplacer("oldusername", "<oldname>", "username", "<name>", "groupname", "<group>").Replace(r.ID)
		var cells []string
		for _, p := range Profiles {
			switch {
			case !hardening[r.ID]:
				cells = append(cells, "setting")
			case p == ProfileBaseline && paidWhere[r.ID].where != "":
				cells = append(cells, paidWhere[r.ID].where)
			case InProfile(p, r.ID):
				cells = append(cells, "✓")
			default:
				cells = append(cells, "")
			}
		}
		bm := BenchmarkOf(r.ID)
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", id, r.Group, strings.Join(cells, " | "),
			strings.Join(bm.CIS, ", "), strings.Join(bm.ANSSI, ", "), strings.ReplaceAll(r.Changes, "|", `\|`))
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// RuleIDs returns the ids of the baseline profile's hardening rules, in order.
func RuleIDs() []string {
	var ids []string
	early, late := baselineRules(DefaultConfig().withDefaults())
	for _, r := range append(early, late...) {
		ids = append(ids, r.ID)
	}
	return ids
}

// inProfile keeps the hardening rules of the configuration's profile and its extra rules. A costly
// rule the baseline has only where its price is paid (paidWhere) is not applicable elsewhere,
// unless extra_rules names it.
func (c Config) inProfile(rules []Rule) []Rule {
	rules = slices.DeleteFunc(rules, func(r Rule) bool { return !c.profileHas(r.ID) })
	for i, r := range rules {
		if c.onlyWherePaid(r.ID) {
			p := paidWhere[r.ID]
			rules[i].check = fmt.Sprintf("%s || refit_na %s || return 2\n%s", p.cond, shq(p.unpaid), r.check)
		}
	}
	return rules
}

// onlyWherePaid reports whether the configuration applies a costly rule only where the image has
// paid its price (paidWhere): in the baseline, unless extra_rules names it.
func (c Config) onlyWherePaid(id string) bool {
	_, ok := paidWhere[id]
	return ok && c.Profile == ProfileBaseline && !slices.ContainsFunc(c.Extra, func(x string) bool { return skipMatches(x, id) })
}

// profileHas reports whether a hardening rule is in the configuration's profile or its extra rules.
func (c Config) profileHas(id string) bool {
	return InProfile(c.Profile, id) || slices.ContainsFunc(c.Extra, func(p string) bool { return skipMatches(p, id) })
}

// skipped reports whether the configuration skips the rule.
func (c Config) skipped(id string) bool {
	return slices.ContainsFunc(c.Skip, func(p string) bool { return skipMatches(p, id) })
}

// Markers around the generated rule table in the documentation.
const (
	RuleTableBegin = "<!-- BEGIN rule table: generated from internal/hardening by `go generate ./provisioner/harden`; do not edit -->"
	RuleTableEnd   = "<!-- END rule table -->"
)

// ReplaceRuleTable returns doc with the text between RuleTableBegin and RuleTableEnd replaced by
// the current RuleTable.
func ReplaceRuleTable(doc []byte) ([]byte, error) {
	begin := bytes.Index(doc, []byte(RuleTableBegin))
	end := bytes.Index(doc, []byte(RuleTableEnd))
	if begin < 0 || end < begin {
		return nil, fmt.Errorf("the document has no %q ... %q section to fill", RuleTableBegin, RuleTableEnd)
	}
	var table bytes.Buffer
	if err := RuleTable(&table); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Write(doc[:begin+len(RuleTableBegin)])
	out.WriteString("\n\n")
	out.Write(table.Bytes())
	out.WriteString("\n")
	out.Write(doc[end:])
	return out.Bytes(), nil
}
