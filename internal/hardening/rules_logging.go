package hardening

// JournalUploadDropIn is the drop-in of systemd-journal-upload's configuration that
// logging.journal-upload writes: drop-ins are read after journal-upload.conf, in the order of
// their names, and the last value wins, so refit's sorts last.
const JournalUploadDropIn = "/etc/systemd/journal-upload.conf.d/zz-refit-remote-logging.conf"

// journalRemotePackages is the package of systemd-journal-upload, by its Debian and RPM names
// (a REFIT_WANT_PKGS pair: the package rules install it with the other packages they install).
const journalRemotePackages = "systemd-journal-remote:systemd-journal-remote"

// journalUploadConf is the content of JournalUploadDropIn for a configuration.
func journalUploadConf(r RemoteLogging) string {
	return "# Managed by refit-harden (logging.journal-upload): systemd-journal-upload sends the journal to this server.\n" +
		"[Upload]\nURL=" + r.URL + "\nServerKeyFile=" + r.ServerKeyFile + "\nServerCertificateFile=" + r.ServerCertificateFile +
		"\nTrustedCertificateFile=" + r.TrustedCertificateFile + "\n"
}

// choiceRules are the rules of settings that are the user's choice and that the benchmarks ask
// for: a remote log server and the mailbox that reads root's mail. Each appears only when its
// setting is given. They come before the late hardening rules, which cover what they install
// (the package's system user, its files), and before the DNS rule (they may install packages).
func choiceRules(c Config) []Rule {
	var rules []Rule
	if r := c.RemoteLogging; r.Enabled() {
		args := shWords(journalUploadConf(r), r.URL, r.ServerKeyFile, r.ServerCertificateFile, r.TrustedCertificateFile)
		rules = append(rules, Rule{
			ID: "logging.journal-upload", Group: GroupLogging, Title: "the journal is sent to the remote log server over TLS",
			Changes: "With `remote_logging`: installs `systemd-journal-remote` (Debian/Ubuntu and RPM) when `install_packages` allows, writes `url` and the three TLS files to `" + JournalUploadDropIn + "` (`[Upload]` `URL=`, `ServerKeyFile=`, `ServerCertificateFile=`, `TrustedCertificateFile=`), comments out other values of those keys in `/etc/systemd/journal-upload.conf` and its other drop-ins in `/etc`, and enables `systemd-journal-upload.service` (offline with `systemctl enable`). The package also brings the log receiver: `systemd-journal-remote.socket` and `.service` are masked (a client does not receive logs), unless the image enables the socket, being a log server itself. The TLS files themselves come from your PKI. On a running system the service is restarted when it runs.",
			check:   "refit_journal_upload check " + args,
			apply:   "refit_journal_upload fix " + args,
		})
	}
	if c.RootMailAlias != "" {
		rules = append(rules, Rule{
			ID: "mail.root-alias", Group: GroupMail, Title: "mail for root goes to " + c.RootMailAlias,
			Changes: "With `root_mail_alias`: makes `root: <root_mail_alias>` the only `root:` line of `/etc/aliases` (created when missing; other lines are kept), and runs `newaliases` where the image has it, so that the mail system's alias database follows.",
			check:   "refit_root_alias check " + shq(c.RootMailAlias),
			apply:   "refit_root_alias fix " + shq(c.RootMailAlias),
		})
	}
	return rules
}

// choiceLiveRules apply on a running system what the choice rules changed.
func choiceLiveRules(c Config) []Rule {
	if !c.RemoteLogging.Enabled() {
		return nil
	}
	return []Rule{liveRule("live.journal-upload", "systemd-journal-upload runs with the new configuration",
		"On a running system, restarts `systemd-journal-upload.service` when `logging.journal-upload` changed and the service is running; a service that is not running starts at the next boot.",
		"REFIT_UPLOAD_DIRTY", `systemctl is-active --quiet systemd-journal-upload.service 2>/dev/null ||
	refit_na "systemd-journal-upload.service is not running: it starts at the next boot (systemctl start systemd-journal-upload.service starts it now)" || return 2
refit_run systemctl restart systemd-journal-upload.service || return 1
REFIT_DETAIL="restarted systemd-journal-upload.service"`)}
}
