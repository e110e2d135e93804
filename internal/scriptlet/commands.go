package scriptlet

import (
	"path"
	"regexp"
	"slices"
	"strings"
)

// effect is what one command does to a script's verdict.
type effect int

const (
	// keep: the command only acts on files inside the root.
	keep effect = iota
	// bootImage: the command rebuilds an initramfs or boot entries; it sets Analysis.Initramfs.
	bootImage
	// replace: the command is pointless offline; ruling.with replaces it, or ruling.drop removes
	// some of its words.
	replace
	// refuse: the command cannot run offline.
	refuse
)

// ruling is the decision on one command.
type ruling struct {
	effect effect
	// reason says why the command is replaced or refused.
	reason string
	// with replaces the whole command: ":" for an action that would succeed, "false" for a question
	// whose answer is "no" on a stopped system.
	with string
	// drop lists indexes of words to delete instead (such as systemctl's --now).
	drop []int
	// insert are words to add before the word at insertAt instead (such as semodule's -n).
	insert   []string
	insertAt int
	// note is told to the user (Analysis.Notes) when the command is replaced.
	note string
}

// command is one simple command as the rules see it.
type command struct {
	// name is the program: a base name when it was written bare or under a standard bin directory,
	// the full path otherwise.
	name string
	// words are the command's words (words[0] as written); a word that is only known at run time (an
	// expansion) holds its source text, with static false.
	words  []string
	static []bool
	// prefix holds the literal text each word starts with; for ${x:+--opt=$x} it is "--opt=", so that
	// optional options are still recognised as options.
	prefix []string
	// source holds each word as written, in full (words are shortened for messages); it may be nil for
	// commands that were not written in a shell script.
	source []string
	// depth counts the wrappers (env, xargs, sh -c …) around this command, to bound recursion.
	depth int
}

// staticCommand returns the command made of literal words, such as rpm's "-p" programs.
func staticCommand(argv []string, depth int) command {
	c := command{name: resolveName(argv[0]), words: argv, prefix: argv, source: argv,
		static: make([]bool, len(argv)), depth: depth}
	for i := range c.static {
		c.static[i] = true
	}
	return c
}

// arg returns word i and whether its value is known before the script runs.
func (c command) arg(i int) (string, bool) {
	if i < 0 || i >= len(c.words) {
		return "", false
	}
	return c.words[i], c.static[i]
}

// isOption reports whether word i is (or expands to) an option.
func (c command) isOption(i int) bool {
	return i < len(c.words) && strings.HasPrefix(c.prefix[i], "-") && c.prefix[i] != "-"
}

// slice returns the command formed by words[from:to], for wrappers such as env and xargs.
func (c command) slice(from, to int) command {
	return command{
		name:   resolveName(c.words[from]),
		words:  c.words[from:to],
		static: c.static[from:to],
		prefix: c.prefix[from:to],
		source: c.source[min(from, len(c.source)):min(to, len(c.source))],
		depth:  c.depth + 1,
	}
}

// sub returns the command formed by words[from:].
func (c command) sub(from int) command { return c.slice(from, len(c.words)) }

// shifted returns r with its word indexes moved by n, for a ruling about a wrapped command.
func (r ruling) shifted(n int) ruling {
	if len(r.drop) > 0 {
		drop := make([]int, len(r.drop))
		for i, d := range r.drop {
			drop[i] = d + n
		}
		r.drop = drop
	}
	if len(r.insert) > 0 {
		r.insertAt += n
	}
	return r
}

// rule decides what one command does offline.
type rule func(c command) ruling

// The simple rulings.
var (
	// safe commands only read or write files inside the root.
	safe rule = func(command) ruling { return ruling{} }
	// initramfs commands rebuild boot files; the kernel policy decides.
	initramfs rule = func(command) ruling { return ruling{effect: bootImage} }
)

// unsafeBecause refuses a command for the reason given.
func unsafeBecause(reason string) rule {
	return func(command) ruling { return ruling{effect: refuse, reason: reason} }
}

// dropAs replaces a command by with (":" or "false") for the reason given.
func dropAs(with, reason string) rule {
	return func(command) ruling { return ruling{effect: replace, with: with, reason: reason} }
}

// standardBinDirs are the directories whose programs the table knows by base name.
var standardBinDirs = []string{"/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/"}

// resolveName returns the table key for a command word.
func resolveName(word string) string {
	if !strings.Contains(word, "/") {
		return word
	}
	clean := path.Clean(word)
	if _, ok := commandRules[clean]; ok {
		return clean
	}
	dir, base := path.Split(clean)
	if slices.Contains(standardBinDirs, dir) {
		return base
	}
	if slices.Contains(libexecTools, base) && (strings.HasPrefix(dir, "/usr/lib/") ||
		strings.HasPrefix(dir, "/usr/lib64/") || strings.HasPrefix(dir, "/usr/libexec/")) {
		return base
	}
	return clean
}

// ruleGroups is the table of known commands: each entry's names (separated by spaces) share a rule.
// A name with a slash is an exact path; a bare name also matches under /bin, /sbin, /usr/bin and
// /usr/sbin. Anything not listed here (or in patternRules, or a SysV init script) is unsafe. The
// corpus tests show which real scripts each entry is for.
var ruleGroups = []struct {
	names string
	rule  rule
}{
	// Shell builtins and control-flow helpers.
	{"test [", testRule},
	{": true false echo printf set unset export local readonly declare typeset shift return exit " +
		"break continue cd pwd pushd popd umask read wait getopts shopt let unalias hash type times " +
		"ulimit caller mapfile readarray which tty", safe},
	{"command", commandBuiltin},
	{"builtin", wrapper(nil)},
	{"exec", execBuiltin},
	{"trap", trapBuiltin},
	{". source", sourceBuiltin},
	{"eval", evalBuiltin},
	{"enable", unsafeBecause("bash's enable can load builtins from shared objects")},
	{"alias", unsafeBecause("an alias changes what later commands mean (dash expands aliases in scripts)")},
	{"jobs fg bg disown coproc", unsafeBecause("job control does not belong in a package script")},

	// File and text tools: they read and write files, and in a chroot every file is the image's.
	{"cat tac chown chmod chgrp mkdir rmdir rm ln cp mv touch install mktemp sync truncate unlink mkfifo " +
		"mknod readlink realpath stat ls du basename dirname tee grep egrep fgrep zgrep cut sort uniq tr " +
		"head tail wc paste join comm diff cmp md5sum sha1sum sha256sum sha512sum cksum seq expr date sleep " +
		"rev fold fmt nl od base64 iconv tar cpio gzip gunzip zcat bzip2 bunzip2 bzcat xz unxz xzcat zstd " +
		"unzstd dd chattr lsattr setfacl getfacl setcap getcap file yes",
		safe},
	{"awk gawk mawk nawk", awkRule},
	{"sed", sedRule},
	{"find", findRule},
	{"xargs", xargsRule},
	{"env", envRule},
	{"nice", wrapper(map[string]bool{"-n": true, "--adjustment": true})},
	{"nohup", wrapper(nil)},
	{"ionice", wrapper(map[string]bool{"-c": true, "-n": true, "-p": true})},
	{"timeout", timeoutRule},
	{"stdbuf", wrapper(map[string]bool{"-i": true, "-o": true, "-e": true})},

	// Users and groups: the shadow tools edit /etc/passwd, /etc/group … of the root.
	{"useradd userdel usermod groupadd groupdel groupmod gpasswd chage chsh chfn pwconv pwunconv grpconv " +
		"grpunconv pwck grpck newusers adduser addgroup deluser delgroup getent id whoami groups " +
		"add-shell remove-shell update-shells update-passwd shadowconfig systemd-sysusers", safe},

	// Caches and registries regenerated from files in the root.
	{"ldconfig depmod fc-cache glib-compile-schemas gtk-update-icon-cache update-mime-database " +
		"update-desktop-database mandb install-info update-alternatives alternatives gio-querymodules " +
		"gio-querymodules-64 gdk-pixbuf-query-loaders gdk-pixbuf-query-loaders-64 gtk-query-immodules-2.0 " +
		"gtk-query-immodules-2.0-64 gtk-query-immodules-3.0 gtk-query-immodules-3.0-64 pango-querymodules " +
		"pango-querymodules-64 update-gio-modules update-gdkpixbuf-loaders texhash mktexlsr " +
		"update-fonts-dir update-fonts-scale update-fonts-alias mkfontdir mkfontscale update-ca-certificates " +
		"update-ca-trust ca-legacy update-crypto-policies c_rehash update-catalog xmlcatalog " +
		"update-xmlcatalog install-docs update-menus update-mime iconvconfig build-locale-archive " +
		"localedef locale-gen update-locale pam-auth-update pam-config " +
		"dconf systemd-hwdb py3compile pycompile py3clean pyclean pypy3compile pypy3clean " +
		"update-perl-sax-parsers update-icon-caches helpztags appstreamcli gtk-update-icon-cache-3.0 " +
		"gio-querymodules-32 gdk-pixbuf-query-loaders-32 gtk-query-immodules-2.0-32 " +
		"gtk-query-immodules-3.0-32 pango-querymodules-32 newaliases hardlink fix-info-dir " +
		"xorg-x11-fonts-update-dirs authselect modutil pk11install setup-nsssysinit.sh " +
		"systemd-sysv-convert /usr/lib/rpm/rpmdb_stat tzdata-update fillup fixfiles " +
		"restorecon setfiles chcon matchpathcon lsb_release linux-update-symlinks", safe},
	{"systemd-tmpfiles", safe},
	{"journalctl", journalctlRule},

	// Debian package tools that only touch dpkg's and debconf's own files.
	{"dpkg-maintscript-helper dpkg-trigger dpkg-query dpkg-divert dpkg-statoverride dpkg-architecture " +
		"dpkg-realpath ucf ucfr ucfq update-rc.d insserv chkconfig debconf-set-selections apt-config",
		safe},
	{"dpkg", dpkgRule},
	{"rpm", rpmRule},
	{"deb-systemd-helper", debSystemdHelperRule},
	{"dpkg-reconfigure", unsafeBecause("dpkg-reconfigure runs another package's maintainer scripts")},

	// systemd and SysV services: unit files are edited, requests to a manager are replaced.
	{"systemctl", systemctlRule},
	{"/usr/lib/systemd/systemd-update-helper /lib/systemd/systemd-update-helper", systemdUpdateHelperRule},
	{"deb-systemd-invoke", serviceAction(func(c command) (string, []string) {
		i := optionsThen(c, 1, nil)
		action, _ := c.arg(i)
		return action, c.staticWordsAfter(i)
	})},
	{"invoke-rc.d", invokeRCDRule},
	{"service", serviceAction(func(c command) (string, []string) {
		action, _ := c.arg(2)
		return action, c.words[1:min(2, len(c.words))]
	})},
	{"start-stop-daemon", startStopDaemonRule},
	{"telinit", telinitRule},
	{"udevadm", udevadmRule},
	{"systemd", systemdRule},

	// Replaced by their offline answer: they ask or change the running system (the build host's, in a
	// chroot), or would bake per-machine identity into the image.
	{"/usr/lib/systemd/systemd-sysctl /lib/systemd/systemd-sysctl", dropAs(":", sysctlReason)},
	{"sysctl", sysctlRule},
	{"systemd-machine-id-setup", dropAs(":",
		"would write a machine ID into the image, shared by every machine made from it")},
	{"dbus-uuidgen", dbusUUIDGenRule},
	{"/usr/lib/systemd/systemd-random-seed /lib/systemd/systemd-random-seed", dropAs(":",
		"would save a random seed into the image, shared by every machine made from it")},
	{"selinuxenabled", dropAs("false", "SELinux of the build host; offline the image's policy is not loaded")},
	{"load_policy setenforce", dropAs(":", "would change the SELinux state of the build host's kernel; "+
		"the image loads its policy at boot")},
	{"semodule", semoduleRule},
	{"semanage", semanageRule},
	{"aa-enabled", dropAs("false", "AppArmor of the build host; offline no profile of the image is loaded")},
	{"apparmor_parser", dropAs(":", "would load profiles into the build host's kernel; the image loads "+
		"its profiles at boot")},
	{"nscd", nscdRule},
	{"pidof pgrep", dropAs("false", "no process of the image runs offline (and the build host's must not "+
		"be seen)")},
	{"kill killall pkill", dropAs("false", "no process of the image runs offline (and the build host's "+
		"must not be signalled)")},
	{"dbus-send gdbus busctl", dropAs("false", "no D-Bus runs in the offline root")},
	{"firewall-cmd", firewallCmdRule},
	{"vgcfgbackup", dropAs(":", "would back up the build host's volume groups")},
	{"ischroot", dropAs(":", "the offline root is a chroot")},
	{"logger wall", dropAs(":", "would write to the build host's log or terminals")},
	// uname reports the kernel the chroot's programs run on, which is what scripts ask it (glibc's
	// minimum kernel check); who and runlevel read the image's utmp, empty offline.
	{"uname who runlevel", safe},

	// Initramfs and boot entries: the kernel policy decides.
	{"update-initramfs mkinitramfs mkinitrd dracut kernel-install new-kernel-pkg grubby grub-mkconfig " +
		"grub2-mkconfig update-grub update-grub2 zipl bootctl weak-modules", initramfs},
	{"run-parts", runPartsRule},

	// Shells and other languages run text that is analysed only when it is a literal (or a reviewed
	// one-liner).
	{"sh bash dash", shellRule},
	{"su runuser", suRule},
	{"setpriv", wrapper(map[string]bool{"--reuid": true, "--regid": true, "--groups": true,
		"--securebits": true, "--pdeathsig": true, "--ambient-caps": true, "--inh-caps": true,
		"--bounding-set": true, "--selinux-label": true, "--apparmor-profile": true})},
	{"perl", perlRule},
	{"ruby lua php node tclsh", otherLanguage},
	{"openssl", opensslRule},

	// Refused: the network, other package managers, the live host, secrets.
	{"curl wget nc ncat netcat socat ssh scp sftp rsync git ftp tftp telnet ping ping6 dig host nslookup " +
		"apt-get apt aptitude apt-key yum dnf zypper pip pip3 npm gem cpan gpg gpg2 gpgv",
		unsafeBecause("may use the network or another package manager")},
	{"rpmdb", unsafeBecause("rebuilds or creates the rpm database in the middle of the transaction")},
	{"fuser", unsafeBecause("finds processes, which in a chroot are the build host's")},
	{"ps w last hostname lsmod blkid lsblk findmnt df mountpoint losetup dmidecode lspci lsusb ip " +
		"ifconfig route systemd-detect-virt running-in-container getenforce stty",
		unsafeBecause("reads the state of the live host, not of the image")},
	{"mount umount swapon swapoff modprobe insmod rmmod reboot shutdown halt poweroff init",
		unsafeBecause("changes the running kernel or system")},
	{"hostnamectl timedatectl localectl loginctl machinectl networkctl resolvectl nmcli systemd-run " +
		"systemd-notify", unsafeBecause("needs a running systemd or D-Bus")},
	{"sudo chroot unshare nsenter setsid at batch crontab", unsafeBecause(
		"runs commands in another context")},
	{"ssh-keygen make-ssl-cert", unsafeBecause(
		"would generate secret keys inside the image, shared by every machine made from it")},
}

// patternRules match bare command names after the table.
var patternRules = []struct {
	pattern *regexp.Regexp
	rule    rule
}{
	// debconf's shell library (/usr/share/debconf/confmodule) defines db_get, db_set, db_input …
	{regexp.MustCompile(`^db_[a-z_]+$`), safe},
	{regexp.MustCompile(`^(python|pypy)[0-9.]*$`), pythonRule},
}

// libexecTools are cache regenerators that Debian installs under a multiarch directory
// (/usr/lib/x86_64-linux-gnu/glib-2.0/…); a path under /usr/lib* or /usr/libexec with one of these base
// names is the tool.
var libexecTools = []string{"gio-querymodules", "glib-compile-schemas", "gdk-pixbuf-query-loaders",
	"gtk-query-immodules-2.0", "gtk-query-immodules-3.0"}

// commandRules is ruleGroups by name. It is filled by init because the rules themselves look
// commands up (wrappers such as env judge the command they run).
var commandRules map[string]rule

func init() {
	commandRules = make(map[string]rule)
	for _, g := range ruleGroups {
		for _, name := range strings.Fields(g.names) {
			commandRules[name] = g.rule
		}
	}
}

// maxDepth bounds wrappers inside wrappers (env xargs sh -c …).
const maxDepth = 8

// judge decides what c does offline.
func judge(c command) ruling {
	if c.depth > maxDepth {
		return ruling{effect: refuse, reason: "wrapped too deeply to analyse"}
	}
	if len(c.words) == 0 {
		return ruling{}
	}
	if !c.static[0] {
		return ruling{effect: refuse, reason: "the program is chosen at run time"}
	}
	if r, ok := commandRules[c.name]; ok {
		return r(c)
	}
	for _, p := range patternRules {
		if p.pattern.MatchString(c.name) {
			return p.rule(c)
		}
	}
	if isInitScript(c.name) {
		return initScriptRule(c)
	}
	return ruling{effect: refuse, reason: "unknown program: not known to be safe offline"}
}
