package packertest

import (
	"fmt"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/hardening"
)

// HardenChoices are the user's choices a refit-harden block of the acceptance tests and the
// booted benchmark makes: a user "ops" in the group ssh-users with a key and sudo without a
// password, allow_groups, a GRUB password (fixture.GrubPasswordHash), remote logging, root's mail
// alias, host name, domain, DNS, NTP, and the firewall with one more TCP port.
type HardenChoices struct {
	PublicKey string // ops's key
	LogURL    string // remote_logging.url
	MailAlias string // root_mail_alias
	Hostname  string
	Domain    string
	DNS       []string
	DNSSearch []string // none: no dns_search
	NTP       []string
	Port      int // the TCP port the firewall allows besides SSH
}

// HCL renders the choices as the body of a refit-harden provisioner block.
func (c HardenChoices) HCL() string {
	search := ""
	if len(c.DNSSearch) > 0 {
		search = "\n      dns_search  = " + HCLList(c.DNSSearch)
	}
	return fmt.Sprintf(`
    user {
      name                = "ops"
      groups              = ["ssh-users"]
      sudo                = "nopasswd"
      ssh_authorized_keys = [%q]
    }

    ssh {
      allow_groups = ["ssh-users"]
    }

    bootloader {
      password_hash = %q
    }

    remote_logging {
      url = %q
    }

    root_mail_alias = %q

    network {
      hostname    = %q
      domain      = %q
      dns_servers = %s%s
      ntp_servers = %s
    }

    firewall {
      allow_tcp = [%d]
    }
`, c.PublicKey, fixture.GrubPasswordHash, c.LogURL, c.MailAlias, c.Hostname, c.Domain, HCLList(c.DNS), search, HCLList(c.NTP), c.Port)
}

// SSGTailoring is what an auditor tailors SSG with for these choices: the log server URL and root's
// mail alias, whose defaults in the datastream are placeholders, and the TLS files refit-harden's
// remote logging uses by default.
func (c HardenChoices) SSGTailoring() fixture.SSGTailoring {
	return fixture.SSGTailoring{Values: map[string]string{
		"var_journal_upload_url":                             c.LogURL,
		"var_journal_upload_server_key_file":                 hardening.DefaultJournalUploadKey,
		"var_journal_upload_server_certificate_file":         hardening.DefaultJournalUploadCert,
		"var_journal_upload_server_trusted_certificate_file": hardening.DefaultJournalUploadTrusted,
		"var_postfix_root_mail_alias":                        c.MailAlias,
	}}
}
