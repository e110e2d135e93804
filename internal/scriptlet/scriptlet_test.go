package scriptlet

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// replacements returns the Replacement of every rewrite finding.
func replacements(a Analysis) []string {
	var out []string
	for _, f := range a.Findings {
		if f.Replacement != "" {
			out = append(out, f.Replacement)
		}
	}
	return out
}

// TestAnalyze pins the rules: each case is one construct real scripts use (the corpus tests show
// where), with the verdict, the replacements and the flag it must get.
func TestAnalyze(t *testing.T) {
	for _, tc := range []struct {
		name      string
		script    Script
		verdict   Verdict
		replaced  []string // Finding.Replacement of the rewrites, in order
		reason    string   // substring of some finding's reason
		note      string   // substring of some note
		initramfs bool
	}{
		// Safe programs and rpm's -p form.
		{name: "ldconfig program", script: Script{Kind: KindPost, Interpreter: "/sbin/ldconfig"}, verdict: Safe},
		{name: "unknown program", script: Script{Kind: KindPost, Interpreter: "/usr/sbin/glibc_post_upgrade.x86_64"},
			verdict: Unsafe, reason: "unknown program"},
		{name: "program with a body", script: Script{Kind: KindPost, Interpreter: "/usr/bin/perl", Body: "print 1"},
			verdict: Unsafe, reason: "interpreter /usr/bin/perl is not analysed"},
		{name: "empty shell script", script: Script{Kind: KindPost, Body: "\n"}, verdict: Safe},
		{name: "users and files", script: Script{Kind: KindPre, Body: `getent group g >/dev/null || groupadd -r g
getent passwd u >/dev/null || useradd -r -g g -d /var/lib/u -s /sbin/nologin u
mkdir -p /var/lib/u && chown u:g /var/lib/u && chmod 0750 /var/lib/u
exit 0`}, verdict: Safe},
		{name: "caches", script: Script{Kind: KindTransFileTriggerIn,
			Body: "glib-compile-schemas /usr/share/glib-2.0/schemas &> /dev/null || :\n/usr/bin/update-mime-database /usr/share/mime"},
			verdict: Safe},
		{name: "multiarch glib tool", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\n/usr/lib/x86_64-linux-gnu/glib-2.0/glib-compile-schemas /usr/share/glib-2.0/schemas"},
			verdict: Safe},
		{name: "heredoc mentioning /proc is data", script: Script{Kind: KindPost,
			Body: "cat > /etc/x.conf <<'EOF'\npath=/proc/cpuinfo\nEOF"}, verdict: Safe},

		// systemctl.
		{name: "systemctl preset", script: Script{Kind: KindPost,
			Body: "if [ $1 -eq 1 ] ; then\n  systemctl --no-reload preset x.service >/dev/null 2>&1 || :\nfi"},
			verdict: Safe},
		{name: "systemctl is-enabled reads unit files", script: Script{Kind: KindPost,
			Body: "systemctl -q is-enabled x.service && systemctl enable y.service"}, verdict: Safe},
		{name: "systemctl try-restart", script: Script{Kind: KindPostUn,
			Body: "systemctl daemon-reload >/dev/null 2>&1 || :\nif [ $1 -ge 1 ] ; then\n  systemctl try-restart x.service >/dev/null 2>&1 || :\nfi"},
			verdict: Rewritable, replaced: []string{":", ":"}, note: "x.service: not restarted offline"},
		{name: "systemctl disable --now", script: Script{Kind: KindPreUn,
			Body: "systemctl --no-reload disable --now x.service"},
			verdict: Rewritable, replaced: []string{"systemctl --no-reload disable x.service"}},
		{name: "systemctl enable --now", script: Script{Kind: KindPost, Body: "systemctl enable --now x.service"},
			verdict: Rewritable, replaced: []string{"systemctl enable x.service"}, note: "x.service: not started offline"},
		{name: "is-active then restart", script: Script{Kind: KindPost,
			Body: "systemctl is-active -q x && systemctl restart x"},
			verdict: Rewritable, replaced: []string{"false", ":"}},
		{name: "systemctl verb from a variable", script: Script{Kind: KindPost, Body: "systemctl $action x"},
			verdict: Unsafe, reason: "verb chosen at run time"},
		{name: "optional --root option", script: Script{Kind: KindDebianPostInst,
			Body: `systemctl ${DPKG_ROOT:+--root="$DPKG_ROOT"} enable getty@tty1.service || true`}, verdict: Safe},
		{name: "systemctl set-default", script: Script{Kind: KindPost, Body: "systemctl set-default multi-user.target"},
			verdict: Safe},
		{name: "systemctl isolate", script: Script{Kind: KindPost, Body: "systemctl isolate rescue.target"},
			verdict: Unsafe, reason: "needs a running systemd"},

		// EL9/Fedora %systemd_* expansions.
		{name: "systemd_post", script: Script{Kind: KindPost, Body: `if [ $1 -eq 1 ] && [ -x "/usr/lib/systemd/systemd-update-helper" ]; then
    # Initial installation
    /usr/lib/systemd/systemd-update-helper install-system-units dnf-makecache.timer || :
fi`}, verdict: Safe},
		{name: "systemd_postun_with_restart", script: Script{Kind: KindPostUn, Body: `if [ $1 -ge 1 ] && [ -x "/usr/lib/systemd/systemd-update-helper" ]; then
    /usr/lib/systemd/systemd-update-helper mark-restart-system-units dnf-makecache.timer || :
fi`}, verdict: Rewritable, replaced: []string{":"}, note: "dnf-makecache.timer: not restarted offline"},
		{name: "systemd transaction reload", script: Script{Kind: KindTransFileTriggerPostUn,
			Body: "/usr/lib/systemd/systemd-update-helper system-reload-restart || :"},
			verdict: Rewritable, replaced: []string{":"}},

		// Debian service helpers.
		{name: "deb-systemd-invoke", script: Script{Kind: KindDebianPreRm,
			Body: "#!/bin/sh\nset -e\ndeb-systemd-invoke stop 'cron.service' >/dev/null || true"},
			verdict: Rewritable, replaced: []string{":"}},
		{name: "invoke-rc.d start", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nupdate-rc.d cron defaults >/dev/null\ninvoke-rc.d --skip-systemd-native cron start || exit 1"},
			verdict: Rewritable, replaced: []string{":"}, note: "cron: not started offline"},
		{name: "invoke-rc.d status is no", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nif invoke-rc.d ${service} status >/dev/null 2>&1; then invoke-rc.d ${service} restart; fi"},
			verdict: Rewritable, replaced: []string{"false", ":"}},
		{name: "init script restart", script: Script{Kind: KindPostUn, Body: "/etc/rc.d/init.d/sshd condrestart"},
			verdict: Rewritable, replaced: []string{":"}},
		{name: "deb-systemd-helper", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nif deb-systemd-helper --quiet was-enabled 'x.timer'; then deb-systemd-helper enable 'x.timer'; fi"},
			verdict: Safe},
		{name: "debconf", script: Script{Kind: KindDebianConfig,
			Body: "#!/bin/sh\nset -e\n. /usr/share/debconf/confmodule\ndb_input medium tzdata/Areas || true\ndb_go"},
			verdict: Safe},

		// Live markers and dead branches.
		{name: "running systemd check", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nif [ -d /run/systemd/system ]; then\n\tsystemctl --system daemon-reload >/dev/null || true\nfi"},
			verdict: Rewritable, replaced: []string{"false", ":"}},
		{name: "unsafe command in a dead branch", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nif [ -d /run/systemd/system ] && grep -q x /proc/1/maps; then\n\tcurl http://x | sh\nfi"},
			verdict: Rewritable, replaced: []string{"false"}},
		{name: "bash test of a live marker", script: Script{Kind: KindPost,
			Body: "[[ -d /run/systemd/system ]] && systemctl daemon-reload"},
			verdict: Rewritable, replaced: []string{"false", ":"}},
		{name: "and-ed test with initctl", script: Script{Kind: KindPost,
			Body: "[ -x /sbin/telinit -a -p /dev/initctl -a -f /proc/1/exe ] && /sbin/telinit u"},
			verdict: Rewritable, replaced: []string{"false", ":"}},
		{name: "pidof is no", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nif pidof -c /usr/bin/dbus-daemon >/dev/null; then kill -HUP $(cat /run/x.pid); fi"},
			verdict: Rewritable, replaced: []string{"false", "false"}},

		// Unsafe constructs.
		{name: "curl piped to sh", script: Script{Kind: KindPost,
			Body: "curl -fsSL https://get.example.invalid/install.sh | sh"},
			verdict: Unsafe, reason: "network"},
		{name: "wget", script: Script{Kind: KindPost, Body: "wget -q -O /tmp/x http://example.invalid/x"},
			verdict: Unsafe, reason: "network"},
		{name: "eval of an expansion", script: Script{Kind: KindPost, Body: "eval $(cat /etc/refit.env)"},
			verdict: Unsafe, reason: "eval runs text built at run time"},
		{name: "eval of a literal", script: Script{Kind: KindPost, Body: `eval set "{3,4}.{0,1}-sgml"`},
			verdict: Safe},
		{name: "sourcing an unknown file", script: Script{Kind: KindPost, Body: ". /usr/share/foo/functions"},
			verdict: Unsafe, reason: "sources /usr/share/foo/functions"},
		{name: "sourcing configuration", script: Script{Kind: KindPost, Body: ". /etc/sysconfig/foo\n. /etc/default/foo"},
			verdict: Safe},
		{name: "background job", script: Script{Kind: KindPost, Body: "sleep 10 &"},
			verdict: Unsafe, reason: "background"},
		{name: "reading /proc", script: Script{Kind: KindPost, Body: "grep -q fips=1 /proc/cmdline && touch /etc/x"},
			verdict: Unsafe, reason: "/proc of the build host"},
		{name: "writing /proc", script: Script{Kind: KindPost, Body: "echo 1 > /proc/sys/net/ipv4/ip_forward"},
			verdict: Unsafe, reason: "/proc of the build host"},
		{name: "a host device", script: Script{Kind: KindPost, Body: "dd if=/dev/sda of=/tmp/mbr bs=512 count=1"},
			verdict: Unsafe, reason: "device of the build host"},
		{name: "exec of a program", script: Script{Kind: KindPost, Body: "exec /usr/bin/true"},
			verdict: Unsafe, reason: "exec replaces"},
		{name: "exec of redirections only", script: Script{Kind: KindPost, Body: "exec >/dev/null 2>&1\nldconfig"},
			verdict: Safe},
		{name: "mount", script: Script{Kind: KindPost, Body: "mount -t tmpfs none /mnt"}, verdict: Unsafe},
		{name: "modprobe", script: Script{Kind: KindPost, Body: "modprobe fuse || :"}, verdict: Unsafe},
		{name: "program in a variable", script: Script{Kind: KindPost, Body: "$cmd --now"},
			verdict: Unsafe, reason: "chosen at run time"},
		{name: "ssh host keys", script: Script{Kind: KindDebianPostInst, Body: "#!/bin/sh\nssh-keygen -A"},
			verdict: Unsafe, reason: "secret keys"},
		{name: "machine id", script: Script{Kind: KindPost, Body: "systemd-machine-id-setup &>/dev/null || :"},
			verdict: Rewritable, replaced: []string{":"}},
		{name: "parse error", script: Script{Kind: KindPost, Body: "if then fi ("},
			verdict: Unsafe, reason: "cannot be parsed as bash"},
		{name: "bashism in a Debian sh script", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nfoo() { local -a x=(1 2); }"}, verdict: Unsafe, reason: "cannot be parsed as posix"},
		{name: "bash shebang chooses bash", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/bash\nfoo() { local -a x=(1 2); }"}, verdict: Safe},
		{name: "perl maintainer script", script: Script{Kind: KindDebianPostInst,
			Body: "#!/usr/bin/perl -w\nprint 1;\n"}, verdict: Unsafe, reason: "interpreter /usr/bin/perl"},

		// Wrappers, functions, variables.
		{name: "env wrapper", script: Script{Kind: KindPost, Body: "env LC_ALL=C systemctl restart x"},
			verdict: Rewritable, replaced: []string{":"}},
		{name: "xargs of a safe program", script: Script{Kind: KindPost,
			Body: "find /usr/lib/python3 -name __pycache__ -empty -print0 | xargs --null --no-run-if-empty rmdir"},
			verdict: Safe},
		{name: "find -exec of an unknown program", script: Script{Kind: KindPost,
			Body: "find /etc -name '*.x' -exec /opt/fix {} \\;"}, verdict: Unsafe, reason: "find -exec runs /opt/fix"},
		{name: "awk running commands", script: Script{Kind: KindPost,
			Body: `awk '{ system("rm -rf " $1) }' /etc/list`}, verdict: Unsafe, reason: "awk program runs commands"},
		{name: "sh -c literal", script: Script{Kind: KindPost, Body: `sh -c 'ldconfig; fc-cache -s'`}, verdict: Safe},
		{name: "sh -c unsafe literal", script: Script{Kind: KindPost, Body: `sh -c 'wget http://x'`},
			verdict: Unsafe, reason: "sh -c runs"},
		{name: "forwarding function", script: Script{Kind: KindDebianPostInst, Body: `#!/bin/sh
_systemctl() {
    if [ -z "$DPKG_ROOT" ] && [ -d /run/systemd/system ]; then
        systemctl "$@"
    fi
}
_systemctl try-restart x.service || true
_systemctl enable y.service`}, verdict: Rewritable, replaced: []string{"false", ":"}},
		{name: "forwarding function that runs", script: Script{Kind: KindDebianPostInst, Body: `#!/bin/sh
_systemctl() {
    [ ! -x /usr/bin/systemctl ] || systemctl "$@"
}
_systemctl try-restart x.service || true`}, verdict: Rewritable, replaced: []string{":"}},
		{name: "forwarding to an unknown program", script: Script{Kind: KindPost,
			Body: "run() { /opt/tool \"$@\"; }\nrun --fix"}, verdict: Unsafe, reason: "forwards to /opt/tool"},
		{name: "program from literal assignments", script: Script{Kind: KindDebianPostInst, Body: `#!/bin/sh
UPDATE_CACHE=
if [ -x /usr/bin/gtk-update-icon-cache ]; then UPDATE_CACHE=gtk-update-icon-cache; fi
if [ -n "$UPDATE_CACHE" ]; then "$UPDATE_CACHE" --force /usr/share/icons/hicolor; fi`}, verdict: Safe},
		{name: "program from a split assignment", script: Script{Kind: KindPost,
			Body: "catcmd='/usr/bin/xmlcatalog --noout'\n$catcmd --add public x y /etc/xml/catalog"}, verdict: Safe},
		{name: "program from a read variable", script: Script{Kind: KindPost,
			Body: "cmd=ldconfig\nread cmd\n$cmd"}, verdict: Unsafe, reason: "chosen at run time"},
		// Values reaching a command named by a variable (libpam0g's postinst: idl="invoke-rc.d $service").
		{name: "program and service from an assignment before it", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nrestart() {\n\tservice=\"$1\"\n\tidl=\"invoke-rc.d ${service}\"\n\techo -n stopping\n" +
				"\t$idl stop > /dev/null 2>&1 || true\n\tif $idl start; then echo done; fi\n}\n" +
				"is_configured() {\n\tidl=\"/etc/init.d/$1\"\n\t[ -x $idl ]\n}\n" +
				"for s in cron ssh; do\n\tidl=\"invoke-rc.d ${s}\"\n\tcase $s in\n\tgdm) $idl reload; continue ;;\n\tesac\n\trestart $s\ndone"},
			verdict: Rewritable, replaced: []string{":", ":", ":"}, note: "the service the script names at run time (${s}): not restarted offline"},
		{name: "program from a conditional assignment", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nidl=/etc/init.d/cron\n[ -x /usr/sbin/invoke-rc.d ] && idl=\"invoke-rc.d cron\"\n$idl restart"},
			verdict: Rewritable, replaced: []string{":"}, note: "not restarted offline"},
		{name: "program from a conditional assignment of an unknown program", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nidl=\"invoke-rc.d cron\"\n[ -x /opt/x ] && idl=\"/opt/x\"\n$idl restart"},
			verdict: Unsafe, reason: `when it is "/opt/x"`},
		{name: "program from an assignment built at run time", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nidl=\"$(cat /etc/tool) cron\"\n$idl restart"}, verdict: Unsafe, reason: "chosen at run time"},
		{name: "program whose name is an expansion", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nidl=\"/etc/init.d/$1\"\n$idl restart"}, verdict: Unsafe, reason: "chosen at run time"},
		{name: "program from the environment", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\n$IDL restart cron"}, verdict: Unsafe, reason: "chosen at run time"},
		{name: "program changed by a function between", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nset_idl() { read idl; }\nidl=\"invoke-rc.d cron\"\nset_idl\n$idl restart"},
			verdict: Unsafe, reason: "chosen at run time"},
		{name: "program changed later in a loop", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nidl=\"invoke-rc.d cron\"\nfor x in a b; do\n\t$idl restart\n\tidl=\"$x\"\ndone"},
			verdict: Unsafe, reason: "chosen at run time"},
		{name: "program split with IFS changed", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nIFS=,\nidl=\"invoke-rc.d cron\"\n$idl restart"}, verdict: Unsafe, reason: "chosen at run time"},
		{name: "program split with a function's local IFS", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nf() { local IFS\n IFS=,\n set -- $1; }\nidl=\"invoke-rc.d cron\"\n$idl restart"},
			verdict: Rewritable, replaced: []string{":"}},

		// Functions nothing calls never run (libpam-modules' preinst).
		{name: "unused function", script: Script{Kind: KindDebianPreInst,
			Body: "#!/bin/sh\nunused() {\n\tperl -e 'system(\"x\")'\n}\nexit 0"}, verdict: Safe},
		{name: "function called by its name in a trap", script: Script{Kind: KindDebianPreInst,
			Body: "#!/bin/sh\nf() {\n\tcurl http://x\n}\ntrap f EXIT"}, verdict: Unsafe, reason: "network"},
		{name: "function maybe called through a variable", script: Script{Kind: KindDebianPreInst,
			Body: "#!/bin/sh\nf() {\n\tcurl http://x\n}\nread cmd\n$cmd"}, verdict: Unsafe, reason: "network"},
		{name: "trap calling a function", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\ncleanup() { rm -rf \"$tmp\"; }\ntmp=$(mktemp -d)\ntrap cleanup EXIT\ntrap \"rm -f $tmp/x\" 0 2"},
			verdict: Safe},
		{name: "trap calling a forwarder", script: Script{Kind: KindPost,
			Body: "f() { systemctl \"$@\"; }\ntrap 'f restart x' EXIT"}, verdict: Unsafe, reason: "the trap runs"},
		{name: "long trap text", script: Script{Kind: KindPost,
			Body: "trap \"rm -f $t; " + strings.Repeat("echo padding; ", 30) + "curl http://x\" EXIT"},
			verdict: Unsafe, reason: "network"},
		{name: "redefined false", script: Script{Kind: KindPost,
			Body: "false() { return 0; }\nif false; then echo; fi"}, verdict: Unsafe, reason: "redefines false"},
		{name: "alias", script: Script{Kind: KindDebianPostInst, Body: "#!/bin/sh\nalias false=true"},
			verdict: Unsafe, reason: "alias"},
		{name: "library functions", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\n. /usr/share/dpkg/sh/dpkg-error.sh\nsetup_colors\nwarning \"x\""}, verdict: Safe},
		{name: "known perl one-liner", script: Script{Kind: KindDebianPreRm, Body: "#!/bin/sh\n" +
			`dpkg -L python3-six | perl -ne 's,/([^/]*)\.py$,/__pycache__/\1.*, or next; unlink $_ or die $! foreach glob($_)'`},
			verdict: Safe},
		{name: "perl program", script: Script{Kind: KindPost, Body: "perl -pi -e 's/a/b/' /etc/x"},
			verdict: Unsafe, reason: "-i edits files in place"},

		// Programs in other languages, judged by what they can do.
		{name: "perl one-liner that reads files (libpam-modules)", script: Script{Kind: KindDebianPreInst,
			Body: `#!/bin/sh
p=$(perl -nle 'BEGIN {$removed = shift;} /^Module: (.*)$/&&($profile = $1); /^[^#]*$removed/&&$profile&&($profiles{$profile} = 1); END {print join("\n",keys %profiles) if %profiles;}' \
	-- "$module" /var/lib/pam/auth /var/lib/pam/account)`}, verdict: Safe},
		{name: "perl one-liner with a run-time argument where switches are read", script: Script{
			Kind: KindDebianPreInst, Body: "#!/bin/sh\nperl -nle 'print if /x/' $module /var/lib/pam/auth"},
			verdict: Unsafe, reason: "could be -i"},
		{name: "perl one-liner reading a file named at run time", script: Script{Kind: KindDebianPreInst,
			Body: "#!/bin/sh\nperl -ne 'print if /x/' -- \"$f\""}, verdict: Unsafe, reason: "could open as a command"},
		{name: "perl one-liner reading a pipe", script: Script{Kind: KindDebianPreInst,
			Body: "#!/bin/sh\nperl -ne 'print' 'ls |'"}, verdict: Unsafe, reason: "opened as more than a file"},
		{name: "perl -e with values as arguments", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nperl -e 'exit(($ARGV[0] =~ /^1\\./) ? 0 : 1)' -- \"$2\""}, verdict: Unsafe,
			reason: "changes its arguments"},
		{name: "perl system", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nperl -e 'system(\"rm -rf /x\")'"}, verdict: Unsafe, reason: "system runs programs"},
		{name: "perl backticks", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nperl -le 'print `id`'"}, verdict: Unsafe, reason: "backticks"},
		{name: "perl qx", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nperl -le 'print qx(id)'"}, verdict: Unsafe, reason: "qx runs programs"},
		{name: "perl open for writing", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nperl -e 'open(F, \">\", \"/etc/x\"); print F 1'"}, verdict: Unsafe, reason: "opens a file for writing"},
		{name: "perl two-argument open", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nperl -e 'open(F, \"/etc/x\"); print <F>'"}, verdict: Unsafe, reason: "opens a file"},
		{name: "perl open for reading", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nperl -e 'open(my $f, \"<\", \"/etc/x\") or die; print <$f>'"}, verdict: Safe},
		{name: "perl unlink", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nperl -ne 'chomp; unlink $_' /var/lib/x/list"}, verdict: Unsafe, reason: "changes files"},
		{name: "perl module", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nperl -MFile::Path -e 'rmtree(\"/x\")'"}, verdict: Unsafe, reason: "switch -M"},
		{name: "perl use of a module", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nperl -e 'use POSIX; print 1'"}, verdict: Unsafe, reason: "use loads"},
		{name: "perl use strict", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nperl -e 'use strict; use warnings; print 1'"}, verdict: Safe},
		{name: "perl s///ee", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nperl -pe 's/(.*)/$1/ee' /etc/x"}, verdict: Unsafe, reason: "evaluates text as code"},
		{name: "perl in-place variable", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nperl -pe 'BEGIN { $^I = \"\" } s/a/b/' /etc/x"}, verdict: Unsafe, reason: "$^I"},
		{name: "perl script file", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nperl /usr/share/x/fix.pl"}, verdict: Unsafe, reason: "script file"},
		{name: "sed that prints and edits", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nv=$(sed -n 's/^Version: //p' /x)\nsed -i -e '/^#/d;s,a,b,g' -e '$a\\\nend' /etc/x\nrunlevel | sed 's/.*\\ //'"},
			verdict: Safe},
		{name: "sed with values in its expressions", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nsed -i -e \"0,/^[# ]*$locale *$/ s/^[# ]*$locale *$/$locale/\" $LG\nsed -e 's|'\"$m\"', ||' /x"},
			verdict: Safe},
		{name: "sed with a value as a command", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nsed -e \"1$cmd\" /x"}, verdict: Unsafe, reason: "built at run time"},
		{name: "sed of dh_python3's prerm", script: Script{Kind: KindDebianPreRm,
			Body: "#!/bin/sh\ndpkg -L python3-x | sed -En -e '/^(.*)\\/(.+)\\.py$/s,,rm \"\\1/__pycache__/\\2\".*,e'"},
			verdict: Safe},
		{name: "sed s///e", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nsed 's/.*/id/e' /x"}, verdict: Unsafe, reason: "s///e"},
		{name: "sed e command", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nsed -n '1e id' /x"}, verdict: Unsafe, reason: "runs commands"},
		{name: "sed w command", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nsed -n '/x/w /etc/y' /x"}, verdict: Unsafe, reason: "writes to a file"},
		{name: "sed s///w", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nsed -n 's/a/b/w /proc/x' /x"}, verdict: Unsafe, reason: "s///w"},
		{name: "sed script file", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nsed -f /x.sed /y"}, verdict: Unsafe, reason: "read from a file"},
		{name: "sed program built at run time", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nsed -n \"$prog\" /y"}, verdict: Unsafe, reason: "built at run time"},
		{name: "awk that reads", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nwho | awk '$2 ~ /console/ && $NF ~ /:[0-9]/ { print $NF }'"}, verdict: Safe},
		{name: "awk comparison and stderr", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nawk -F: '$3 > 999 { print $1 } END { print \"done\" > \"/dev/stderr\" }' /etc/passwd"},
			verdict: Safe},
		{name: "awk system", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nawk '{ system(\"rm \" $1) }' /x"}, verdict: Unsafe, reason: "runs commands"},
		{name: "awk pipe", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nawk '{ print $1 | \"sh\" }' /x"}, verdict: Unsafe, reason: "runs commands"},
		{name: "awk getline from a command", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nawk 'BEGIN { \"id\" | getline x }'"}, verdict: Unsafe, reason: "runs commands"},
		{name: "awk writing a file", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nawk '{ print $1 >> \"/etc/x\" }' /y"}, verdict: Unsafe, reason: "writes to a file"},
		{name: "gawk in place", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\ngawk -i inplace '{ print }' /etc/x"}, verdict: Unsafe, reason: "loads a source file"},
		{name: "awk extension", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\ngawk '@load \"filefuncs\"; BEGIN { }'"}, verdict: Unsafe, reason: "loads an extension"},
		{name: "python byte-compiling", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\n/usr/bin/python3.11 -E -S /usr/lib/python3.11/py_compile.py $files"}, verdict: Safe},
		{name: "dh_installinit's action variable", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nset -e\nif [ -n \"$2\" ]; then\n\t_dh_action=restart\nelse\n\t_dh_action=start\nfi\n" +
				"invoke-rc.d --skip-systemd-native cron $_dh_action || exit 1\n"}, verdict: Rewritable},
		{name: "action variable without an else", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nif [ -n \"$2\" ]; then\n\ta=restart\nfi\ninvoke-rc.d cron $a\n"}, verdict: Unsafe,
			reason: "needs a running init system"},
		{name: "one value of the action variable is not known", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nif [ -n \"$2\" ]; then a=restart; else a=frobnicate; fi\ninvoke-rc.d cron $a\n"},
			verdict: Unsafe, reason: `when $a is "frobnicate"`},
		{name: "eval of apt-config shell", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nT=/etc/apt/trusted.gpg\neval $(apt-config shell T Dir::Etc::Trusted/f)\n[ -e \"$T\" ]\n"}, verdict: Safe},
		{name: "eval of apt-config with more", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\neval $(apt-config shell T Dir::Etc::Trusted/f; echo rm -rf /)\n"}, verdict: Unsafe, reason: "eval"},
		{name: "eval of apt-config dump", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\neval $(apt-config dump)\n"}, verdict: Unsafe, reason: "eval"},
		{name: "in_sysroot with dpkg's empty DPKG_ROOT", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nset -e\nin_sysroot () {\n\tif [ -z \"${DPKG_ROOT:-}\" ]; then\n\t\t\"$@\"\n\telse\n\t\tchroot \"${DPKG_ROOT}\" \"$@\"\n\tfi\n}\nin_sysroot adduser --system --group messagebus\n"}, verdict: Safe},
		{name: "in_sysroot with DPKG_ROOT set by the script", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nDPKG_ROOT=/x\nin_sysroot () {\n\tif [ -z \"${DPKG_ROOT:-}\" ]; then\n\t\t\"$@\"\n\telse\n\t\tchroot \"${DPKG_ROOT}\" \"$@\"\n\tfi\n}\nin_sysroot adduser --system --group messagebus\n"}, verdict: Unsafe,
			reason: "another context"},
		{name: "in_sysroot in an rpm scriptlet", script: Script{Kind: KindPost,
			Body: "in_sysroot () {\n\tif [ -z \"${DPKG_ROOT:-}\" ]; then\n\t\t\"$@\"\n\telse\n\t\tchroot \"${DPKG_ROOT}\" \"$@\"\n\tfi\n}\nin_sysroot adduser --system --group messagebus\n"}, verdict: Unsafe, reason: "another context"},
		{name: "after exit nothing runs", script: Script{Kind: KindDebianPreInst,
			Body: "#!/bin/sh\nset -e\nexit 0\n~\n"}, verdict: Safe},
		{name: "an exit in a branch ends only that branch's list", script: Script{Kind: KindDebianPreInst,
			Body: "#!/bin/sh\nif [ -e /x ]; then exit 0; curl a; fi\ncurl b\n"}, verdict: Unsafe, reason: "network"},
		{name: "chroot test of udev", script: Script{Kind: KindDebianPreRm,
			Body: "#!/bin/sh\nif [ \"$(stat -c %d/%i /)\" != \"$(stat -Lc %d/%i /proc/1/root 2>/dev/null)\" ]; then echo chroot; fi\n"},
			verdict: Rewritable},
		{name: "stat of /proc/1/root elsewhere", script: Script{Kind: KindDebianPreRm,
			Body: "#!/bin/sh\n[ \"$(stat -c %d/%i /x)\" = \"$(stat -Lc %d/%i /proc/1/root)\" ]\n"}, verdict: Unsafe, reason: "/proc"},

		// Kernel, SELinux, sysctl.
		{name: "initramfs", script: Script{Kind: KindPostTrans,
			Body: "/bin/kernel-install add 5.14.0 /lib/modules/5.14.0/vmlinuz || exit $?"},
			verdict: Safe, initramfs: true},
		{name: "kernel hook directory", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nrun-parts --report --exit-on-error --arg=6.1.0 /etc/kernel/postinst.d"},
			verdict: Safe, initramfs: true},
		{name: "kernel hook directory, version chosen at run time", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh -e\nversion=6.1.0-9-amd64\nimage_path=/boot/vmlinuz-$version\n" +
				"DEB_MAINT_PARAMS=\"$*\" run-parts --report --exit-on-error --arg=$version --arg=$image_path /etc/kernel/postinst.d"},
			verdict: Safe, initramfs: true},
		{name: "run-parts directory chosen at run time", script: Script{Kind: KindDebianPostInst,
			Body: "#!/bin/sh\nrun-parts --arg=6.1.0 \"$hooks\""},
			verdict: Unsafe, reason: "run-parts arguments chosen at run time"},
		{name: "other run-parts", script: Script{Kind: KindPost, Body: "run-parts /etc/cron.daily"},
			verdict: Unsafe, reason: "run-parts runs every program"},
		{name: "semodule without reload", script: Script{Kind: KindPost,
			Body: "/usr/sbin/semodule -s targeted -i /usr/share/selinux/x.pp"},
			verdict: Rewritable, replaced: []string{"/usr/sbin/semodule -n -s targeted -i /usr/share/selinux/x.pp"}},
		{name: "selinux enabled is no", script: Script{Kind: KindPost,
			Body: "if /usr/sbin/selinuxenabled; then /usr/sbin/load_policy; fi"},
			verdict: Rewritable, replaced: []string{"false", ":"}},
		{name: "sysctl", script: Script{Kind: KindPost, Body: "sysctl -p /usr/lib/sysctl.d/50-x.conf >/dev/null 2>&1 || :"},
			verdict: Rewritable, replaced: []string{":"}},
		{name: "sysctl read", script: Script{Kind: KindPost, Body: "v=$(sysctl -n kernel.osrelease)"},
			verdict: Unsafe, reason: "kernel parameters"},

		// Lua.
		{name: "lua file operations", script: Script{Kind: KindPreTrans, Interpreter: "<lua>", Body: `local st = posix.stat("/usr/share/x")
if st and st.type ~= "directory" then
  os.remove("/usr/share/x")
end
f = io.open('/etc/shells', 'a+')
if f then f:write("/bin/sh\n") f:close() end`}, verdict: Safe},
		{name: "lua exec of ldconfig", script: Script{Kind: KindPost, Interpreter: "<lua>", Body: `if posix.access ("/sbin/ldconfig", "x") then
  local pid = posix.fork ()
  if pid == 0 then
    posix.exec ("/sbin/ldconfig")
  elseif pid ~= -1 then
    posix.wait (pid)
  end
end`}, verdict: Safe},
		{name: "lua exec forwarded by a function", script: Script{Kind: KindPost, Interpreter: "<lua>", Body: `function post_exec (program, ...)
  local pid = posix.fork ()
  if pid == 0 then
    posix.exec (program, ...)
    assert (nil)
  elseif pid > 0 then
    posix.wait (pid)
  end
end
post_exec ("/usr/sbin/iconvconfig", "-o", iconv_cache, "--nostdlib", iconv_dir)
post_exec ("/usr/sbin/ldconfig")`}, verdict: Safe},
		{name: "lua forwarded unknown program", script: Script{Kind: KindPost, Interpreter: "<lua>",
			Body: "function run(p, ...) posix.exec(p, ...) end\nrun(\"/usr/sbin/glibc_post_upgrade\")"},
			verdict: Unsafe, reason: "unknown program"},
		{name: "lua systemctl action relies on SYSTEMD_OFFLINE", script: Script{Kind: KindPost, Interpreter: "<lua>",
			Body: `assert(posix.exec("/usr/bin/systemctl", "daemon-reexec"))`}, verdict: Safe},
		{name: "lua os.execute", script: Script{Kind: KindPost, Interpreter: "<lua>",
			Body: `os.execute("curl http://x | sh")`}, verdict: Unsafe, reason: "os.execute runs"},
		{name: "lua os.execute of a safe command", script: Script{Kind: KindPost, Interpreter: "<lua>",
			Body: `if posix.access("/usr/bin/newaliases", "x") then os.execute("/usr/bin/newaliases >/dev/null") end`},
			verdict: Safe},
		{name: "lua reads /proc", script: Script{Kind: KindPost, Interpreter: "<lua>",
			Body: `local cf = io.open("/proc/sys/crypto/fips_enabled", "r")`}, verdict: Unsafe, reason: "/proc"},
		{name: "lua require", script: Script{Kind: KindPreTrans, Interpreter: "<lua>",
			Body: `local posix = require "posix"`}, verdict: Unsafe, reason: "loads a Lua module"},
		{name: "lua io.popen", script: Script{Kind: KindPost, Interpreter: "<lua>",
			Body: `local p = io.popen("ls")`}, verdict: Unsafe, reason: "io.popen"},
		{name: "lua alias of os.execute", script: Script{Kind: KindPost, Interpreter: "<lua>",
			Body: "local run = os.execute\nrun('reboot')"}, verdict: Unsafe, reason: "os.execute"},
		{name: "lua library table as a value", script: Script{Kind: KindPost, Interpreter: "<lua>",
			Body: "local o = os\no[\"exe\" .. \"cute\"]('reboot')"}, verdict: Unsafe, reason: "library table os"},
		{name: "lua comments and long strings", script: Script{Kind: KindPost, Interpreter: "<lua>",
			Body: "--[[ os.execute('x') ]]\nlocal s = [==[ io.popen ]==]\nprint(s) -- require"}, verdict: Safe},
		{name: "lua rpm.expand of a shell macro", script: Script{Kind: KindPost, Interpreter: "<lua>",
			Body: `rpm.expand("%(curl http://x)")`}, verdict: Unsafe, reason: "shell command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Analyze(tc.script)
			if a.Verdict != tc.verdict {
				t.Fatalf("verdict %s, want %s; findings %v", a.Verdict, tc.verdict, a.Findings)
			}
			if got := replacements(a); tc.replaced != nil && !slices.Equal(got, tc.replaced) {
				t.Errorf("replacements %q, want %q; findings %v", got, tc.replaced, a.Findings)
			}
			if tc.reason != "" && !slices.ContainsFunc(a.Findings, func(f Finding) bool {
				return strings.Contains(f.Reason, tc.reason)
			}) {
				t.Errorf("no finding says %q: %v", tc.reason, a.Findings)
			}
			if tc.note != "" && !slices.ContainsFunc(a.Notes, func(n string) bool { return strings.Contains(n, tc.note) }) {
				t.Errorf("no note says %q: %q", tc.note, a.Notes)
			}
			if a.Initramfs != tc.initramfs {
				t.Errorf("Initramfs %v, want %v", a.Initramfs, tc.initramfs)
			}
			checkInvariants(t, tc.script, a)
		})
	}
}

// checkInvariants checks what every analysis must satisfy: findings exactly when the script is not
// Safe, a rewritten script exactly when it is Rewritable, and that rewritten script Safe itself.
func checkInvariants(t *testing.T, s Script, a Analysis) {
	t.Helper()
	if (a.Verdict == Safe) != (len(a.Findings) == 0) {
		t.Errorf("%s with findings %v", a.Verdict, a.Findings)
	}
	if (a.Verdict == Rewritable) != (a.Rewritten != "") {
		t.Errorf("%s with rewritten script %q", a.Verdict, a.Rewritten)
	}
	if a.Verdict != Rewritable && len(a.Notes) > 0 {
		t.Errorf("%s with notes %q", a.Verdict, a.Notes)
	}
	if a.Verdict == Rewritable {
		s.Body = a.Rewritten
		if again := Analyze(s); again.Verdict != Safe {
			t.Errorf("the rewritten script is %s: %v\n%s", again.Verdict, again.Findings, a.Rewritten)
		}
	}
}

func TestRewritePreservesScript(t *testing.T) {
	s := Script{Kind: KindDebianPostInst, Body: `#!/bin/sh
set -e
# Automatically added by dh_installsystemd
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
	deb-systemd-invoke $_dh_action 'cron.service' >/dev/null || true
fi
`}
	want := `#!/bin/sh
set -e
# Automatically added by dh_installsystemd
if false; then
	: >/dev/null || true
	: >/dev/null || true
fi
`
	if got := Analyze(s).Rewritten; got != want {
		t.Errorf("rewritten:\n%s\nwant:\n%s", got, want)
	}
}

func TestVerdictText(t *testing.T) {
	for _, v := range []Verdict{Safe, Rewritable, Unsafe} {
		t.Run(v.String(), func(t *testing.T) {
			data, err := json.Marshal(map[string]Verdict{"v": v})
			if err != nil {
				t.Fatal(err)
			}
			var back map[string]Verdict
			if err := json.Unmarshal(data, &back); err != nil || back["v"] != v {
				t.Fatalf("round trip of %s: %s -> %v, %v", v, data, back, err)
			}
		})
	}
	var v Verdict
	if err := v.UnmarshalText([]byte("maybe")); !errors.Is(err, ErrUnknownVerdict) {
		t.Errorf("UnmarshalText(maybe) = %v, want ErrUnknownVerdict", err)
	}
	if _, err := Verdict(7).MarshalText(); !errors.Is(err, ErrUnknownVerdict) {
		t.Errorf("MarshalText(7) = %v, want ErrUnknownVerdict", err)
	}
	if s := Verdict(7).String(); s != "Verdict(7)" {
		t.Errorf("String() = %q", s)
	}
}

func TestKindDebian(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		want bool
	}{{KindDebianPostInst, true}, {KindDebianConfig, true}, {KindPost, false}, {KindTransFileTriggerIn, false},
		{"triggers", false}} {
		t.Run(string(tc.kind), func(t *testing.T) {
			if got := tc.kind.Debian(); got != tc.want {
				t.Errorf("Debian() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFindingString(t *testing.T) {
	for _, tc := range []struct {
		f    Finding
		want string
	}{
		{Finding{Line: 3, Command: "systemctl restart x", Reason: "r", Replacement: ":"}, "line 3: systemctl restart x: r -> :"},
		{Finding{Command: "/sbin/x", Reason: "unknown"}, "/sbin/x: unknown"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

// TestRuleTableNamesOnce guards the table: a name listed twice would silently take the later rule.
func TestRuleTableNamesOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, g := range ruleGroups {
		for _, name := range strings.Fields(g.names) {
			if seen[name] {
				t.Errorf("%s is listed twice in ruleGroups", name)
			}
			seen[name] = true
		}
	}
}

func TestFindingLinesAndCommands(t *testing.T) {
	a := Analyze(Script{Kind: KindPost, Body: "ldconfig\n\nsystemctl restart \\\n  x.service\n" +
		strings.Repeat("x", 300) + "\n"})
	if len(a.Findings) != 2 {
		t.Fatalf("findings %v", a.Findings)
	}
	if f := a.Findings[0]; f.Line != 3 || f.Command != "systemctl restart x.service" {
		t.Errorf("first finding %+v, want line 3, command on one line", f)
	}
	if f := a.Findings[1]; f.Line != 5 || len(f.Command) != maxCommandText || !strings.HasSuffix(f.Command, "...") {
		t.Errorf("second finding %+v, want line 5 and a shortened command", f)
	}
}

// TestLatin1Bytes: scripts may hold bytes that are not UTF-8 (Latin-1 comments, as in exim4-config's
// config script); the parser refuses those, so they are carried through as they are.
func TestLatin1Bytes(t *testing.T) {
	s := Script{Kind: KindDebianPostInst, Body: "#!/bin/sh\n# caf\xe9\ninvoke-rc.d exim4 restart # \xff\n"}
	a := Analyze(s)
	if a.Verdict != Rewritable {
		t.Fatalf("verdict %s: %v", a.Verdict, a.Findings)
	}
	if want := "#!/bin/sh\n# caf\xe9\n: # \xff\n"; a.Rewritten != want {
		t.Errorf("rewritten %q, want %q", a.Rewritten, want)
	}
	checkInvariants(t, s, a)
}

// TestBoundedWork: inputs built to make the analysis explode (functions forwarding to functions
// eight times each, twelve deep; a chain of thousands of &&; thousands of nested substitutions)
// finish, with a refusal where the analysis gives up.
func TestBoundedWork(t *testing.T) {
	var forwarders strings.Builder
	for i := 0; i < 12; i++ {
		forwarders.WriteString("f" + strconv.Itoa(i) + "() { ")
		for j := 0; j < 8; j++ {
			forwarders.WriteString("f" + strconv.Itoa(i+1) + ` "$@"; `)
		}
		forwarders.WriteString("}\n")
	}
	forwarders.WriteString("f12() { systemctl \"$@\"; }\nf0 restart x\n")
	for _, tc := range []struct {
		name    string
		body    string
		verdict Verdict
	}{
		{"forwarders", forwarders.String(), Unsafe},
		{"and chain", strings.Repeat("true && ", 5000) + "true", Safe},
		{"nested substitutions", "sh -c '" + strings.Repeat("$(", 3000) + strings.Repeat(")", 3000) + "'", Unsafe},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if a := Analyze(Script{Kind: KindPost, Body: tc.body}); a.Verdict != tc.verdict {
				t.Errorf("verdict %s, want %s", a.Verdict, tc.verdict)
			}
		})
	}
}
