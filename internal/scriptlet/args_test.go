package scriptlet

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// TestArgsLibpamModulesPreinst: the new preinst of libpam-modules asks "pidof xscreensaver
// xlockmore" only when upgrading from before 1.4.0-5; dpkg's arguments decide that.
func TestArgsLibpamModulesPreinst(t *testing.T) {
	body, err := os.ReadFile("testdata/debian/libpam-modules.preinst")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		verdict Verdict
	}{
		{"bookworm-security upgrade", []string{"upgrade", "1.5.2-6+deb12u2", "1.5.2-6+deb12u3"}, Safe},
		{"upgrade from an old version", []string{"upgrade", "1.3.0-1", "1.5.2-6+deb12u3"}, Rewritable},
		{"install over config files", []string{"install", "1.5.2-6+deb12u1", "1.5.2-6+deb12u3"}, Safe},
		{"fresh install ($2 unset)", []string{"install"}, Rewritable},
		{"no arguments", nil, Rewritable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Analyze(Script{Package: "libpam-modules", Kind: KindDebianPreInst, Body: string(body), Args: tc.args})
			if a.Verdict != tc.verdict {
				t.Fatalf("verdict %s, want %s; findings %v", a.Verdict, tc.verdict, a.Findings)
			}
			if a.Verdict == Safe && (len(a.Findings) > 0 || a.Rewritten != "") {
				t.Errorf("safe with findings %v or a rewritten text", a.Findings)
			}
			if a.Verdict == Rewritable && !strings.Contains(a.Rewritten, "if false >/dev/null; then") {
				t.Errorf("pidof not replaced:\n%s", a.Rewritten)
			}
		})
	}
}

// TestArgsConditions pins how the tests of the arguments are decided.
func TestArgsConditions(t *testing.T) {
	const live = "systemctl restart foo.service\n"
	upgrade := []string{"upgrade", "1.2-1", "1.3-1"}
	configure := []string{"configure", ""}
	for _, tc := range []struct {
		name   string
		body   string
		args   []string
		safe   bool // the live command is dead code
		reason string
	}{
		{"compare-versions false", `if dpkg --compare-versions "$2" lt 1.0; then ` + live + "fi", upgrade, true, ""},
		{"compare-versions true", `if dpkg --compare-versions "$2" ge 1.0; then ` + live + "fi", upgrade, false, ""},
		{"compare-versions else", `if dpkg --compare-versions "$2" ge 1.0; then :; else ` + live + "fi", upgrade, true, ""},
		{"unquoted", `if dpkg --compare-versions $2 lt 1.0; then ` + live + "fi", upgrade, true, ""},
		{"-nl empty is later", `if dpkg --compare-versions "$2" lt-nl 1.0; then ` + live + "fi", configure, true, ""},
		{"empty is earlier", `if dpkg --compare-versions "$2" lt 1.0; then ` + live + "fi", configure, false, ""},
		{"unquoted empty", `if dpkg --compare-versions $2 lt-nl 1.0; then ` + live + "fi", configure, false, "splitting drops it"},
		{"and-list", `[ "$1" = upgrade ] && dpkg --compare-versions "$2" lt 1.0 && ` + live, upgrade, true, ""},
		{"test =", `if [ "$1" = configure ]; then ` + live + "fi", upgrade, true, ""},
		{"test !=", `if test "$1" != upgrade; then ` + live + "fi", upgrade, true, ""},
		{"test -z", `if [ -z "$2" ]; then ` + live + "fi", upgrade, true, ""},
		{"test -n", `if [ -n "$2" ]; then ` + live + "fi", configure, true, ""},
		{"test one arg", `if [ "$2" ]; then ` + live + "fi", configure, true, ""},
		{"negated", `if ! [ "$1" = upgrade ]; then ` + live + "fi", upgrade, true, ""},
		{"case", "case \"$1\" in\nconfigure) " + live + ";;\nupgrade) : ;;\n*) " + live + ";;\nesac", upgrade, true, ""},
		{"case glob", "case \"$1\" in\nup*) : ;;\n*) " + live + ";;\nesac", upgrade, true, ""},
		{"case matched", "case \"$1\" in\nupgrade|install) " + live + ";;\nesac", upgrade, false, ""},
		{"case quoted glob", "case \"$1\" in\n'up*') : ;;\n*) " + live + ";;\nesac", upgrade, false, ""},
		{"no arguments", `if [ "$1" = configure ]; then ` + live + "fi", nil, false, ""},
		{"missing argument", `if [ -z "$3" ]; then ` + live + "fi", configure, false, "$3 is not passed"},
		{"shift", `shift; if [ "$1" = configure ]; then ` + live + "fi", upgrade, false, ""},
		{"set --", `set -- configure; if [ "$1" = configure ]; then ` + live + "fi", upgrade, false, ""},
		{"set -e keeps them", `set -e; if [ "$1" = configure ]; then ` + live + "fi", upgrade, true, ""},
		{"set -o keeps them", `set -o errexit; if [ "$1" = configure ]; then ` + live + "fi", upgrade, true, ""},
		{"sourced file", `. /etc/default/foo; if [ "$1" = configure ]; then ` + live + "fi", upgrade, false, ""},
		{"confmodule", `. /usr/share/debconf/confmodule; if [ "$1" = configure ]; then ` + live + "fi", upgrade, true, ""},
		{"in a function", "f() { if [ \"$1\" = configure ]; then " + live + "fi; }\nf configure", upgrade, false, ""},
		{"invalid version", `if dpkg --compare-versions "$2" lt 'a b'; then ` + live + "fi", upgrade, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Analyze(Script{Kind: KindDebianPostInst, Body: "#!/bin/sh\n" + tc.body + "\n", Args: tc.args})
			if safe := a.Verdict == Safe; safe != tc.safe {
				t.Errorf("verdict %s (findings %v), want safe %v", a.Verdict, a.Findings, tc.safe)
			}
		})
	}
}

// TestCompareVersionsDpkg checks CompareVersions against dpkg --compare-versions itself.
func TestCompareVersionsDpkg(t *testing.T) {
	fixture.Need(t, "dpkg")
	versions := []string{"", "<unknown>", "1.4.0-5", "1.5.2-6+deb12u2", "1.3.0-1", "1.4.0-5~bpo1", "1.4.0",
		"1:0.1", "0:1.4.0-5", "1.4.0-5+b1", "1.4.0-05", "1.0~rc1", "1.0", "1.0-0"}
	ops := []string{"lt", "le", "eq", "ne", "ge", "gt", "lt-nl", "le-nl", "ge-nl", "gt-nl",
		"<", "<<", "<=", "=", ">=", ">>", ">"}
	for _, a := range versions {
		for _, b := range versions {
			for _, op := range ops {
				got, ok := CompareVersions(a, op, b)
				if !ok {
					t.Errorf("CompareVersions(%q, %s, %q) not decided", a, op, b)
					continue
				}
				err := exec.Command("dpkg", "--compare-versions", a, op, b).Run()
				var exit *exec.ExitError
				if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 1) {
					t.Fatalf("dpkg --compare-versions %q %s %q: %v", a, op, b, err)
				}
				if want := err == nil; got != want {
					t.Errorf("CompareVersions(%q, %s, %q) = %v, dpkg says %v", a, op, b, got, want)
				}
			}
		}
	}
	for _, bad := range [][3]string{{"1.0", "lt", "a b"}, {"1.0", "lt", "1:"}, {"1.0", "eq-nl", "1.0"}, {"1.0", "==", "1.0"}} {
		if _, ok := CompareVersions(bad[0], bad[1], bad[2]); ok {
			t.Errorf("CompareVersions(%q) decided", bad)
		}
		if err := exec.Command("dpkg", "--compare-versions", bad[0], bad[1], bad[2]).Run(); err == nil {
			t.Errorf("dpkg --compare-versions %q succeeds", bad)
		}
	}
}

// TestAptConfigEvalKeepsArguments: eval $(apt-config shell …) only assigns variables, so the
// arguments of debian-archive-keyring's postinst are still known after it, and its apt-key branch
// runs only for an upgrade from before 2012.1.
func TestAptConfigEvalKeepsArguments(t *testing.T) {
	body, err := os.ReadFile("testdata/debian/debian-archive-keyring.postinst")
	if err != nil {
		t.Fatal(err)
	}
	for old, want := range map[string]Verdict{"2023.3+deb12u1": Safe, "2011.1": Unsafe} {
		a := Analyze(Script{Kind: KindDebianPostInst, Body: string(body), Args: []string{"configure", old}})
		if a.Verdict != want {
			t.Errorf("configure %s: %s %v, want %s", old, a.Verdict, a.Findings, want)
		}
	}
}
