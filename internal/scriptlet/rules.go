package scriptlet

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// optionsThen returns the index of the first word from start on that is not an option, skipping the
// value of every option in withValue ("-n 5"); len(c.words) when there is none.
func optionsThen(c command, start int, withValue map[string]bool) int {
	for i := start; i < len(c.words); i++ {
		w, static := c.arg(i)
		switch {
		case static && w == "--":
			return i + 1
		case !c.isOption(i):
			return i
		case static && withValue[w]:
			i++
		}
	}
	return len(c.words)
}

// wrapper judges a command that runs the rest of its words as another command (nohup, nice …),
// after options; withValue lists the options that take a separate value.
func wrapper(withValue map[string]bool) rule {
	return func(c command) ruling {
		i := optionsThen(c, 1, withValue)
		if i >= len(c.words) {
			return ruling{}
		}
		return judge(c.sub(i)).shifted(i)
	}
}

// commandBuiltin: "command -v x" looks a program up; "command x …" runs x.
func commandBuiltin(c command) ruling {
	for i := 1; i < len(c.words); i++ {
		w, static := c.arg(i)
		switch {
		case !static:
			return ruling{effect: refuse, reason: "options chosen at run time"}
		case w == "-v" || w == "-V":
			return ruling{}
		case w == "-p":
			continue
		case w == "--":
			if i+1 >= len(c.words) {
				return ruling{}
			}
			return judge(c.sub(i + 1)).shifted(i + 1)
		default:
			return judge(c.sub(i)).shifted(i)
		}
	}
	return ruling{}
}

// execBuiltin: exec with only redirections changes the script's files; exec with a program replaces
// the script by it.
func execBuiltin(c command) ruling {
	if len(c.words) == 1 {
		return ruling{}
	}
	return ruling{effect: refuse, reason: "exec replaces the script with another program"}
}

// aptConfigShell matches the word of "eval $(apt-config shell NAME Key …)", the idiom that reads apt's
// configuration into shell variables: apt-config prints NAME='value' assignments, quoted, so the
// eval assigns the named variables and does nothing else.
var aptConfigShell = regexp.MustCompile(`^"?\$\(apt-config +shell( +[A-Za-z_][A-Za-z0-9_]* +[A-Za-z0-9_:./-]+)+ *\)"?$`)

// evalBuiltin analyses eval of literal text as the script it is; text built at run time cannot be
// analysed.
func evalBuiltin(c command) ruling {
	if len(c.words) == 2 && len(c.source) == 2 && aptConfigShell.MatchString(c.source[1]) {
		return ruling{} // only assigns the named variables (apt-config quotes the values)
	}
	for i := 1; i < len(c.words); i++ {
		if !c.static[i] {
			return ruling{effect: refuse, reason: "eval runs text built at run time, which cannot be analysed"}
		}
	}
	return nested(c, strings.Join(c.words[1:], " "), syntax.LangBash, "eval")
}

// trapBuiltin analyses the command text of a trap as a script of its own.
func trapBuiltin(c command) ruling {
	if len(c.words) < 3 {
		return ruling{} // "trap", "trap -p", "trap -l": listing only
	}
	text, static := c.arg(1)
	if !static {
		return ruling{effect: refuse, reason: "the trap's command is built at run time"}
	}
	if text == "-" || strings.HasPrefix(text, "-") && len(c.words) == 2 {
		return ruling{}
	}
	return nested(c, text, syntax.LangBash, "the trap's command")
}

// nested judges text as a shell script run by c.
func nested(c command, text string, lang syntax.LangVariant, what string) ruling {
	var a analysis
	a.depth = c.depth + 1
	a.shell(text, lang)
	res := a.result()
	switch {
	case res.Verdict == Safe && res.Initramfs:
		return ruling{effect: bootImage}
	case res.Verdict == Safe:
		return ruling{}
	case len(res.Findings) > 0:
		f := res.Findings[0]
		return ruling{effect: refuse, reason: fmt.Sprintf("%s runs %q: %s", what, f.Command, f.Reason)}
	default:
		return ruling{effect: refuse, reason: what + " is not safe offline"}
	}
}

// sourcedFiles are the files a script may source: libraries of functions and configuration made of
// variable assignments by convention.
var (
	sourcedFiles = []string{
		"/usr/share/debconf/confmodule", "/usr/share/debconf/confmodule.sh", "/etc/rc.d/init.d/functions",
		"/etc/init.d/functions", "/etc/os-release", "/usr/lib/os-release", "/etc/lsb-release",
		"/etc/selinux/config",
	}
	sourcedPrefixes = []string{"/etc/default/", "/etc/sysconfig/"}
	// sourcedLibraries are libraries whose functions are known: a script that sources one may call
	// these (debconf's db_* functions are a pattern rule).
	sourcedLibraries = map[string][]string{
		"/usr/share/dpkg/sh/dpkg-error.sh": {"setup_colors", "debug", "error", "warning", "badusage"},
		"/lib/lsb/init-functions": {"log_daemon_msg", "log_end_msg", "log_action_msg", "log_success_msg",
			"log_failure_msg", "log_warning_msg", "log_begin_msg", "log_progress_msg",
			"log_action_begin_msg", "log_action_cont_msg", "log_action_end_msg"},
	}
)

// sourceBuiltin: ". file" runs file in the script's shell.
func sourceBuiltin(c command) ruling {
	file, static := c.arg(1)
	if !static {
		return ruling{effect: refuse, reason: "sources a file chosen at run time"}
	}
	clean := path.Clean(file)
	if _, ok := sourcedLibraries[clean]; ok || slices.Contains(sourcedFiles, clean) {
		return ruling{}
	}
	for _, p := range sourcedPrefixes {
		if strings.HasPrefix(clean, p) && !strings.Contains(clean[len(p):], "/") {
			return ruling{}
		}
	}
	return ruling{effect: refuse, reason: fmt.Sprintf("sources %s, which is not analysed", file)}
}

// findRule judges the commands find runs with -exec, -execdir, -ok and -okdir.
func findRule(c command) ruling {
	out := ruling{}
	for i := 1; i < len(c.words); i++ {
		w, _ := c.arg(i)
		if w != "-exec" && w != "-execdir" && w != "-ok" && w != "-okdir" {
			continue
		}
		end := i + 1
		for end < len(c.words) && c.words[end] != ";" && c.words[end] != "+" {
			end++
		}
		if end == i+1 {
			return ruling{effect: refuse, reason: "find " + w + " without a command"}
		}
		sub := c.slice(i+1, end)
		switch r := judge(sub); r.effect {
		case refuse:
			return ruling{effect: refuse, reason: "find " + w + " runs " + sub.words[0] + ": " + r.reason}
		case replace:
			return ruling{effect: refuse, reason: "find " + w + " runs " + sub.words[0] + ", which " +
				"cannot run offline"}
		case bootImage:
			out.effect = bootImage
		}
		i = end
	}
	return out
}

// xargsRule judges the command xargs runs.
func xargsRule(c command) ruling {
	return wrapper(map[string]bool{
		"-a": true, "-d": true, "-E": true, "-I": true, "-L": true, "-n": true, "-P": true, "-s": true,
		"--arg-file": true, "--delimiter": true, "--max-args": true, "--max-procs": true,
	})(c)
}

// envRule judges the command env runs, after its options and assignments.
func envRule(c command) ruling {
	for i := 1; i < len(c.words); i++ {
		w, static := c.arg(i)
		switch {
		case !static:
			return ruling{effect: refuse, reason: "arguments chosen at run time"}
		case w == "-S" || strings.HasPrefix(w, "--split-string"):
			return ruling{effect: refuse, reason: "env -S splits a command string, which is not analysed"}
		case w == "-u" || w == "-C" || w == "--unset" || w == "--chdir":
			i++
		case strings.HasPrefix(w, "-"):
		case strings.Contains(w, "="):
		default:
			return judge(c.sub(i)).shifted(i)
		}
	}
	return ruling{}
}

// timeoutRule judges the command timeout runs after its duration.
func timeoutRule(c command) ruling {
	i := optionsThen(c, 1, map[string]bool{"-s": true, "-k": true, "--signal": true, "--kill-after": true})
	if i+1 >= len(c.words) {
		return ruling{}
	}
	return judge(c.sub(i + 1)).shifted(i + 1)
}

// shellRule analyses "sh -c 'literal'" as a script of its own and refuses every other way of running a
// shell (a script file, or commands read from a pipe).
func shellRule(c command) ruling {
	lang := syntax.LangBash
	if c.name == "dash" {
		lang = syntax.LangPOSIX
	}
	for i := 1; i < len(c.words); i++ {
		w, static := c.arg(i)
		switch {
		case !static:
			return ruling{effect: refuse, reason: c.words[0] + " runs a script chosen at run time"}
		case w == "-c":
			text, static := c.arg(i + 1)
			if !static {
				return ruling{effect: refuse, reason: c.words[0] + " -c runs text built at run time"}
			}
			return nested(c, text, lang, c.words[0]+" -c")
		case w == "-o" || w == "+o":
			i++
		case strings.HasPrefix(w, "-") || strings.HasPrefix(w, "+"):
		default:
			return ruling{effect: refuse, reason: c.words[0] + " runs the script file " + w + ", which is not analysed"}
		}
	}
	return ruling{effect: refuse, reason: c.words[0] + " runs commands read from its input (such as a pipe)"}
}

// dpkgQueries are the dpkg actions that only read its database or compare versions.
var dpkgQueries = []string{
	"--compare-versions", "-s", "--status", "-L", "--listfiles", "-S", "--search", "-l", "--list",
	"-p", "--print-avail", "--print-architecture", "--print-foreign-architectures", "--version",
	"-V", "--verify", "-C", "--audit", "--get-selections",
}

// dpkgRule accepts dpkg's queries; anything else would re-enter dpkg from inside its own run.
func dpkgRule(c command) ruling {
	for i := 1; i < len(c.words); i++ {
		w, static := c.arg(i)
		if !static {
			return ruling{effect: refuse, reason: "dpkg action chosen at run time"}
		}
		if slices.Contains(dpkgQueries, w) || strings.HasPrefix(w, "--assert-") || strings.HasPrefix(w, "--validate-") {
			return ruling{}
		}
		if strings.HasPrefix(w, "-") && !strings.HasPrefix(w, "--admindir") && !strings.HasPrefix(w, "--root") {
			break
		}
	}
	return ruling{effect: refuse, reason: "dpkg must not install or remove packages from a maintainer script"}
}

// rpmRule accepts rpm's queries and macro expansions; anything else would re-enter the transaction.
func rpmRule(c command) ruling {
	query := false
	for i := 1; i < len(c.words); i++ {
		w, static := c.arg(i)
		if static && strings.Contains(w, "%(") {
			return ruling{effect: refuse, reason: "the rpm macro runs a shell command (%(...))"}
		}
		if !static || !strings.HasPrefix(w, "-") {
			continue
		}
		switch {
		case strings.HasPrefix(w, "-q") && !strings.HasPrefix(w, "--"), w == "--query", w == "-E",
			strings.HasPrefix(w, "--eval"), w == "--showrc", w == "--querytags", w == "--version",
			w == "-V", w == "--verify":
			query = true
		case strings.HasPrefix(w, "--"):
		default:
			return ruling{effect: refuse, reason: "rpm must not install or remove packages from a scriptlet"}
		}
	}
	if !query {
		return ruling{effect: refuse, reason: "rpm must not install or remove packages from a scriptlet"}
	}
	return ruling{}
}

// debSystemdHelperVerbs are deb-systemd-helper's verbs; all of them edit files and its state.
var debSystemdHelperVerbs = []string{
	"enable", "disable", "purge", "mask", "unmask", "update-state", "was-enabled", "is-enabled",
	"debian-installed", "reenable",
}

func debSystemdHelperRule(c command) ruling {
	verb, static := c.arg(optionsThen(c, 1, nil))
	if !static {
		return ruling{effect: refuse, reason: "deb-systemd-helper verb chosen at run time"}
	}
	if slices.Contains(debSystemdHelperVerbs, verb) {
		return ruling{}
	}
	return ruling{effect: refuse, reason: "unknown deb-systemd-helper verb " + verb}
}

// systemctlValueOptions are systemctl's options that take a separate value.
var systemctlValueOptions = map[string]bool{
	"--root": true, "--preset-mode": true, "-t": true, "--type": true, "-p": true, "--property": true,
	"--job-mode": true, "-s": true, "--signal": true, "-H": true, "--host": true, "-M": true,
	"--machine": true, "--kill-whom": true, "--kill-value": true, "-n": true, "--lines": true, "-o": true,
	"--output": true, "--state": true, "--what": true, "--timestamp": true, "--message": true,
	"--image": true, "--drop-in": true, "--when": true, "--boot-loader-entry": true,
	"--boot-loader-menu": true, "--reboot-argument": true,
}

// systemctl's verbs by what they need.
var (
	// systemctlFileVerbs edit or read unit files, and work offline (systemctl does them itself in a
	// chroot, or with SYSTEMD_OFFLINE=1).
	systemctlFileVerbs = []string{
		"enable", "disable", "reenable", "preset", "preset-all", "mask", "unmask", "link", "revert",
		"add-wants", "add-requires", "set-default", "get-default", "is-enabled", "list-unit-files",
	}
	// systemctlStartVerbs start units: nothing starts offline; enabled units start at the next boot.
	systemctlStartVerbs = []string{"start"}
	// systemctlRestartVerbs restart or reload units that are not running offline.
	systemctlRestartVerbs = []string{
		"restart", "try-restart", "reload", "reload-or-restart", "try-reload-or-restart",
		"reload-or-try-restart", "condrestart", "condreload", "force-reload", "force-reload-or-restart",
	}
	// systemctlQuietVerbs change the running manager only.
	systemctlQuietVerbs = []string{
		"stop", "daemon-reload", "daemon-reexec", "reset-failed", "kill", "set-environment",
		"unset-environment", "import-environment",
	}
	// systemctlQueryVerbs ask the running manager; offline nothing is active.
	systemctlQueryVerbs = []string{"is-active", "is-failed", "is-system-running", "status", "show",
		"list-units", "list-jobs", "list-timers", "list-sockets"}
)

const (
	noManager = "nothing runs in the offline root"
	nowReason = "--now would also start or stop the units, and " + noManager
)

// systemctlRule keeps what systemctl does to unit files and replaces what it asks of the manager.
func systemctlRule(c command) ruling {
	verb, verbAt, nowAt, runtime := "", -1, -1, false
	for i := 1; i < len(c.words); i++ {
		w, static := c.arg(i)
		if !static {
			if verbAt < 0 && !c.isOption(i) {
				return ruling{effect: refuse, reason: "systemctl verb chosen at run time"}
			}
			continue
		}
		switch {
		case w == "--now":
			nowAt = i
		case w == "--runtime":
			runtime = true
		case systemctlValueOptions[w]:
			i++
		case strings.HasPrefix(w, "-"):
		case verbAt < 0:
			verb, verbAt = w, i
		}
	}
	units := c.staticWordsAfter(verbAt)
	switch {
	case verbAt < 0:
		return ruling{effect: refuse, reason: "systemctl without a verb asks the running manager"}
	case slices.Contains(systemctlFileVerbs, verb) && runtime:
		return ruling{effect: replace, with: ":", reason: "--runtime changes /run only, and " + noManager}
	case slices.Contains(systemctlFileVerbs, verb) && nowAt > 0:
		r := ruling{effect: replace, drop: []int{nowAt}, reason: nowReason}
		if verb == "enable" || verb == "reenable" {
			r.note = startNote(units)
		}
		return r
	case slices.Contains(systemctlFileVerbs, verb):
		return ruling{}
	case slices.Contains(systemctlStartVerbs, verb):
		return ruling{effect: replace, with: ":", reason: noManager, note: startNote(units)}
	case slices.Contains(systemctlRestartVerbs, verb):
		return ruling{effect: replace, with: ":", reason: noManager, note: restartNote(units)}
	case slices.Contains(systemctlQuietVerbs, verb):
		return ruling{effect: replace, with: ":", reason: noManager}
	case slices.Contains(systemctlQueryVerbs, verb):
		return ruling{effect: replace, with: "false", reason: noManager + ", so the answer is no"}
	case verb == "set-property" && len(units) > 1 && allMarkers(units[1:]):
		return ruling{effect: replace, with: ":", reason: noManager, note: restartNote(units[:1])}
	}
	return ruling{effect: refuse, reason: "systemctl " + verb + " needs a running systemd"}
}

// staticWordsAfter returns the words after index i that are not options, as written.
func (c command) staticWordsAfter(i int) []string {
	var out []string
	for j := i + 1; i >= 0 && j < len(c.words); j++ {
		if !strings.HasPrefix(c.words[j], "-") {
			out = append(out, c.words[j])
		}
	}
	return out
}

// startNote and restartNote tell the user what the next boot does instead.
func startNote(units []string) string {
	return fmt.Sprintf("%s: not started offline; starts at the next boot if enabled", unitList(units))
}

func restartNote(units []string) string {
	return fmt.Sprintf("%s: not restarted offline; the next boot runs the new version", unitList(units))
}

// unitList names the units for a note: those written in the script by name, and those the
// script computes at run time (a word holding an expansion such as $1 or ${service}) as such,
// so that a note never presents a variable's name as a service's.
func unitList(units []string) string {
	var named, computed []string
	for _, u := range units {
		if strings.ContainsAny(u, "$`") {
			computed = append(computed, u)
		} else {
			named = append(named, u)
		}
	}
	switch {
	case len(named) == 0 && len(computed) == 0:
		return "service"
	case len(computed) == 0:
		return strings.Join(named, " ")
	}
	runtime := "the service the script names at run time (" + strings.Join(computed, " ") + ")"
	if len(computed) > 1 {
		runtime = "the services the script names at run time (" + strings.Join(computed, " ") + ")"
	}
	if len(named) == 0 {
		return runtime
	}
	return strings.Join(named, " ") + " and " + runtime
}

// systemdUpdateHelperRule judges the helper behind EL9/Fedora's %systemd_post, %systemd_preun and
// %systemd_postun_with_restart; it checks for /run/systemd/system itself before touching the manager.
func systemdUpdateHelperRule(c command) ruling {
	verb, static := c.arg(1)
	if !static {
		return ruling{effect: refuse, reason: "systemd-update-helper verb chosen at run time"}
	}
	units := c.staticWordsAfter(1)
	switch verb {
	case "install-system-units", "remove-system-units", "install-user-units", "remove-user-units":
		return ruling{}
	case "mark-restart-system-units", "mark-restart-user-units":
		return ruling{effect: replace, with: ":", reason: noManager, note: restartNote(units)}
	case "system-reload-restart", "system-reload", "system-restart", "user-reload-restart", "user-reload",
		"user-restart":
		return ruling{effect: replace, with: ":", reason: noManager}
	}
	return ruling{effect: refuse, reason: "unknown systemd-update-helper verb " + verb}
}

// serviceAction replaces a command that asks an init system to act on a service (deb-systemd-invoke,
// service, invoke-rc.d, /etc/init.d/x); split returns its action and service.
func serviceAction(split func(c command) (action string, units []string)) rule {
	return func(c command) ruling {
		action, units := split(c)
		switch {
		case action == "start":
			return ruling{effect: replace, with: ":", reason: noManager, note: startNote(units)}
		case slices.Contains(systemctlRestartVerbs, action):
			return ruling{effect: replace, with: ":", reason: noManager, note: restartNote(units)}
		case action == "stop":
			return ruling{effect: replace, with: ":", reason: noManager}
		case action == "status":
			return ruling{effect: replace, with: "false", reason: noManager + ", so the answer is no"}
		case c.name == "deb-systemd-invoke":
			// Its action is usually a variable ($_dh_action: start or restart); it does nothing
			// without a running systemd.
			return ruling{effect: replace, with: ":", reason: noManager,
				note: unitList(units) + ": not started or restarted offline; the next boot does"}
		}
		return ruling{effect: refuse, reason: fmt.Sprintf("%s %s needs a running init system", c.words[0], action)}
	}
}

// invokeRCDRule: invoke-rc.d [options] script action; --query asks the init system.
func invokeRCDRule(c command) ruling {
	if slices.Contains(c.words, "--query") {
		return ruling{effect: refuse, reason: "invoke-rc.d --query asks the running init system"}
	}
	return serviceAction(func(c command) (string, []string) {
		i := optionsThen(c, 1, nil)
		action, _ := c.arg(i + 1)
		return action, c.words[i:min(i+1, len(c.words))]
	})(c)
}

// isInitScript reports whether name is a SysV init script.
func isInitScript(name string) bool {
	return strings.HasPrefix(name, "/etc/init.d/") || strings.HasPrefix(name, "/etc/rc.d/init.d/")
}

// initScriptRule: /etc/init.d/x action.
func initScriptRule(c command) ruling {
	return serviceAction(func(c command) (string, []string) {
		action, _ := c.arg(1)
		return action, []string{path.Base(c.name)}
	})(c)
}

const sysctlReason = "would change the build host's kernel parameters; the image's sysctl.d files " +
	"apply at its next boot"

// sysctlRule replaces loading or setting kernel parameters and refuses reading them.
func sysctlRule(c command) ruling {
	for _, w := range c.words[1:] {
		if w == "-p" || strings.HasPrefix(w, "--load") || w == "--system" || w == "-w" ||
			strings.HasPrefix(w, "--write") || strings.HasPrefix(w, "-p") || strings.Contains(w, "=") {
			return ruling{effect: replace, with: ":", reason: sysctlReason}
		}
	}
	return ruling{effect: refuse, reason: "reads the build host's kernel parameters"}
}

// udevadmRule keeps hwdb updates and replaces what needs a running udev.
func udevadmRule(c command) ruling {
	verb, static := c.arg(optionsThen(c, 1, nil))
	if !static {
		return ruling{effect: refuse, reason: "udevadm command chosen at run time"}
	}
	switch verb {
	case "hwdb":
		return ruling{}
	case "control", "trigger", "settle":
		return ruling{effect: replace, with: ":", reason: "no udev runs in the offline root"}
	}
	return ruling{effect: refuse, reason: "udevadm " + verb + " reads the live host's devices"}
}

// journalctlRule keeps the catalog update, a file rebuild.
func journalctlRule(c command) ruling {
	if slices.Contains(c.words, "--update-catalog") {
		return ruling{}
	}
	return ruling{effect: refuse, reason: "reads the build host's journal"}
}

// telinitRule replaces asking init to re-execute or reload itself.
func telinitRule(c command) ruling {
	if w, _ := c.arg(1); len(c.words) == 2 && strings.Contains("uUqQ", w) && len(w) == 1 {
		return ruling{effect: replace, with: ":", reason: "no init runs in the offline root"}
	}
	return ruling{effect: refuse, reason: "changes the runlevel of the running system"}
}

// firewallCmdRule: firewall-cmd talks to a running firewalld.
func firewallCmdRule(c command) ruling {
	switch {
	case slices.Contains(c.words, "--reload") || slices.Contains(c.words, "--complete-reload"):
		return ruling{effect: replace, with: ":", reason: "no firewalld runs in the offline root"}
	case slices.Contains(c.words, "--state"):
		return ruling{effect: replace, with: "false", reason: "no firewalld runs in the offline root"}
	}
	return ruling{effect: refuse, reason: "firewall-cmd needs a running firewalld (firewall-offline-cmd does not)"}
}

// runPartsRule: run-parts runs every program in a directory; the kernel's hook directories are the
// initramfs and boot-entry hooks. An --arg= value known only at run time (a kernel's version) is
// passed to the hooks and does not choose what runs; the directory must be literal.
func runPartsRule(c command) ruling {
	dir := ""
	for i := 1; i < len(c.words); i++ {
		w, static := c.arg(i)
		if !static && strings.HasPrefix(c.prefix[i], "--arg=") {
			continue
		}
		if !static {
			return ruling{effect: refuse, reason: "run-parts arguments chosen at run time"}
		}
		if !strings.HasPrefix(w, "-") {
			dir = w
		}
	}
	if strings.HasPrefix(path.Clean(dir)+"/", "/etc/kernel/") {
		return ruling{effect: bootImage}
	}
	return ruling{effect: refuse, reason: "run-parts runs every program in " + dir + ", which are not analysed"}
}

// opensslRule keeps rehashing certificates and refuses the rest (key generation above all).
func opensslRule(c command) ruling {
	if verb, _ := c.arg(1); verb == "rehash" || verb == "version" {
		return ruling{}
	}
	return ruling{effect: refuse, reason: "openssl may generate secret keys inside the image, shared by " +
		"every machine made from it"}
}

// liveMarkers are the paths that exist only while the system runs: scripts test them to decide
// whether to talk to systemd or D-Bus. Offline they must be absent, whatever the chroot's mounts.
var liveMarkers = []string{
	"/run/systemd/system", "/var/run/systemd/system", "/run/dbus/system_bus_socket",
	"/var/run/dbus/system_bus_socket", "/dev/initctl",
}

// testRule replaces file tests of the live markers by false, alone or and-ed with other tests
// ([ -x /sbin/telinit -a -p /dev/initctl ]), and keeps every other test.
func testRule(c command) ruling {
	n := len(c.words)
	if c.name == "[" && n > 0 && c.words[n-1] == "]" {
		n--
	}
	args := c.words[1:n]
	if r, ok := chrootTest(c, n); ok {
		return r
	}
	for i := range args {
		if !c.static[1+i] {
			continue
		}
		if args[i] == "-o" || args[i] == "!" || args[i] == "(" {
			return ruling{} // an or, a negation or a group: not a plain conjunction
		}
	}
	for start := 0; start < len(args); {
		end := start
		for end < len(args) && !(args[end] == "-a" && c.static[1+end]) {
			end++
		}
		if end-start == 2 && c.static[1+start+1] && isLiveMarkerTest(args[start], args[start+1]) {
			return ruling{effect: replace, with: "false", reason: liveMarkerReason(args[start+1])}
		}
		start = end + 1
	}
	return ruling{}
}

// The chroot test of Debian's udev and fuse3 scripts compares the root directory with the root of
// process 1: [ "$(stat -c %d/%i /)" = "$(stat -Lc %d/%i /proc/1/root 2>/dev/null)" ]. Offline the
// script runs in a chroot (process 1 is the build host's init), so they differ, as ischroot says.
var (
	statOfRoot  = regexp.MustCompile(`^"?\$\(stat -c ?%d[/:]%i /\)"?$`)
	statOfInit1 = regexp.MustCompile(`^"?\$\(stat -L?c ?%d[/:]%i /proc/1/root/?(?: 2>/dev/null)?\)"?$`)
)

// chrootTest decides the chroot test ([ "$(stat … /)" = "$(stat … /proc/1/root)" ], either way
// round, = or !=) for a test command whose operands end before word n.
func chrootTest(c command, n int) (ruling, bool) {
	if n != 4 || len(c.source) < 4 || !c.static[2] || c.words[2] != "=" && c.words[2] != "!=" {
		return ruling{}, false
	}
	a, b := c.source[1], c.source[3]
	if !(statOfRoot.MatchString(a) && statOfInit1.MatchString(b) || statOfRoot.MatchString(b) && statOfInit1.MatchString(a)) {
		return ruling{}, false
	}
	with := "false"
	if c.words[2] == "!=" {
		with = ":"
	}
	return ruling{effect: replace, with: with, reason: "compares / with the root of process 1, the build host's " +
		"init: offline the script runs in a chroot (as ischroot says)"}, true
}

// isLiveMarkerTest reports whether "test flag file" asks whether the system is running.
func isLiveMarkerTest(flag, file string) bool {
	return slices.Contains([]string{"-d", "-e", "-S", "-f", "-x", "-L", "-h", "-p", "-r", "-w"}, flag) &&
		slices.Contains(liveMarkers, strings.TrimSuffix(path.Clean(file), "/"))
}

func liveMarkerReason(file string) string {
	return file + " exists only on a running system; offline it does not"
}

// dbusUUIDGenRule: dbus-uuidgen --ensure would create a machine ID inside the image.
func dbusUUIDGenRule(c command) ruling {
	for _, w := range c.words[1:] {
		if strings.HasPrefix(w, "--ensure") {
			return ruling{effect: replace, with: ":",
				reason: "would write a machine ID into the image, shared by every machine made from it"}
		}
	}
	return ruling{}
}

// nscdRule: nscd -i tells the running cache daemon to drop a table.
func nscdRule(c command) ruling {
	for _, w := range c.words[1:] {
		if w == "-i" || strings.HasPrefix(w, "--invalidate") {
			return ruling{effect: replace, with: ":", reason: "no nscd runs in the offline root"}
		}
	}
	return ruling{effect: refuse, reason: "nscd starts or asks the cache daemon"}
}

// systemdRule: "systemd --help" and "--version" only check that the binary works.
func systemdRule(c command) ruling {
	if len(c.words) == 2 && (c.words[1] == "--help" || c.words[1] == "--version") {
		return ruling{}
	}
	return ruling{effect: refuse, reason: "starts a systemd manager"}
}

// suRule analyses "su user -c 'literal'" and "runuser -u user -- command".
func suRule(c command) ruling {
	for i := 1; i < len(c.words); i++ {
		w, static := c.arg(i)
		switch {
		case !static:
			return ruling{effect: refuse, reason: c.words[0] + " arguments chosen at run time"}
		case w == "-c" || w == "--command":
			text, static := c.arg(i + 1)
			if !static {
				return ruling{effect: refuse, reason: c.words[0] + " -c runs text built at run time"}
			}
			return nested(c, text, syntax.LangBash, c.words[0]+" -c")
		case w == "--":
			if i+1 < len(c.words) {
				return judge(c.sub(i + 1)).shifted(i + 1)
			}
		case w == "-s" || w == "--shell" || w == "-u" || w == "--user" || w == "-g" || w == "--group" ||
			w == "-G" || w == "--supp-group" || w == "-w" || w == "--whitelist-environment":
			i++
		}
	}
	return ruling{effect: refuse, reason: c.words[0] + " starts a login shell"}
}

// otherLanguage refuses programs in other languages, except the "does the interpreter start" check
// (perl -e "").
func otherLanguage(c command) ruling {
	if len(c.words) == 3 && (c.words[1] == "-e" || c.words[1] == "-c") && c.static[2] &&
		strings.TrimSpace(c.words[2]) == "" {
		return ruling{}
	}
	return ruling{effect: refuse, reason: "runs a program in another language, which is not analysed"}
}

// knownPerlPrograms are perl one-liners that Debian's packaging tools generate, reviewed as they are:
// dh_python3's prerm removes the __pycache__ files of the package's modules.
var knownPerlPrograms = []string{
	`s,/([^/]*)\.py$,/__pycache__/\1.*, or next; unlink $_ or die $! foreach glob($_)`,
}

// pythonRule accepts byte-compiling with the standard library's py_compile and compileall, as the
// python3.X packages do after installing modules, and "python3 -c PROGRAM" when the program only
// reads and prints (python.go).
func pythonRule(c command) ruling {
	if r, ok := pythonCommand(c); ok {
		return r
	}
	for i := 1; i < len(c.words); i++ {
		w, static := c.arg(i)
		switch {
		case !static:
			return otherLanguage(c)
		case w == "-m":
			if m, _ := c.arg(i + 1); m == "py_compile" || m == "compileall" {
				return ruling{}
			}
			return otherLanguage(c)
		case strings.HasPrefix(w, "-"):
		case strings.HasPrefix(w, "/usr/lib/python") && (strings.HasSuffix(w, "/py_compile.py") ||
			strings.HasSuffix(w, "/compileall.py")):
			return ruling{}
		default:
			return otherLanguage(c)
		}
	}
	return otherLanguage(c)
}

// startStopDaemonRule replaces starting and stopping daemons, which do not run offline (and stopping
// one by its executable would find the build host's processes).
func startStopDaemonRule(c command) ruling {
	for _, w := range c.words[1:] {
		switch w {
		case "--stop", "-K":
			return ruling{effect: replace, with: ":", reason: noManager}
		case "--start", "-S":
			return ruling{effect: replace, with: ":", reason: noManager,
				note: "daemon started by start-stop-daemon: not started offline; the next boot does"}
		case "--status", "-T":
			return ruling{effect: replace, with: "false", reason: noManager + ", so the answer is no"}
		}
	}
	return ruling{effect: refuse, reason: "start-stop-daemon without --start, --stop or --status"}
}

// allMarkers reports whether every property is a unit marker (Markers=+needs-restart …), which only
// the running manager keeps.
func allMarkers(props []string) bool {
	for _, p := range props {
		if !strings.HasPrefix(p, "Markers=") {
			return false
		}
	}
	return true
}

// semoduleRule adds -n (do not reload the policy) to semodule: the image's policy store changes, the
// build host's kernel does not.
func semoduleRule(c command) ruling {
	for _, w := range c.words[1:] {
		if w == "--noreload" || isShortOptions(w) && strings.Contains(w, "n") {
			return ruling{}
		}
	}
	return ruling{effect: replace, insert: []string{"-n"}, insertAt: 1,
		reason: "would reload the SELinux policy into the build host's kernel"}
}

// semanageRule adds -N (do not reload the policy) after semanage's subcommand.
func semanageRule(c command) ruling {
	if slices.Contains(c.words, "-N") || slices.Contains(c.words, "--noreload") {
		return ruling{}
	}
	if sub, static := c.arg(1); !static || strings.HasPrefix(sub, "-") {
		return ruling{effect: refuse, reason: "semanage without a literal subcommand"}
	}
	return ruling{effect: replace, insert: []string{"-N"}, insertAt: 2,
		reason: "would reload the SELinux policy into the build host's kernel"}
}

// isShortOptions reports whether w is a cluster of one-letter options such as -nB.
func isShortOptions(w string) bool {
	if len(w) < 2 || w[0] != '-' || w[1] == '-' {
		return false
	}
	for _, r := range w[1:] {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return false
		}
	}
	return true
}
