package scriptlet

import (
	"errors"
	"fmt"
	"strings"
)

// Verdict is what an offline patcher may do with a script.
type Verdict int

const (
	// Safe scripts may run unchanged in the offline root.
	Safe Verdict = iota
	// Rewritable scripts may run in the offline root in the form of Analysis.Rewritten.
	Rewritable
	// Unsafe scripts must not run offline: their package waits for the first boot.
	Unsafe
)

var verdictNames = [...]string{Safe: "safe", Rewritable: "rewritable", Unsafe: "unsafe"}

// String returns "safe", "rewritable" or "unsafe".
func (v Verdict) String() string {
	if v < 0 || int(v) >= len(verdictNames) {
		return fmt.Sprintf("Verdict(%d)", int(v))
	}
	return verdictNames[v]
}

// MarshalText writes the verdict as String does, for JSON reports.
func (v Verdict) MarshalText() ([]byte, error) {
	if v < 0 || int(v) >= len(verdictNames) {
		return nil, fmt.Errorf("%w: %d", ErrUnknownVerdict, int(v))
	}
	return []byte(v.String()), nil
}

// UnmarshalText reads a verdict written by MarshalText.
func (v *Verdict) UnmarshalText(text []byte) error {
	for i, name := range verdictNames {
		if string(text) == name {
			*v = Verdict(i)
			return nil
		}
	}
	return fmt.Errorf("%w: %q (want safe, rewritable or unsafe)", ErrUnknownVerdict, text)
}

// ErrUnknownVerdict is returned when a verdict's text or number is not one of the three verdicts.
var ErrUnknownVerdict = errors.New("scriptlet: unknown verdict")

// Kind is the point of a package transaction at which a script runs: rpm's scriptlet and trigger
// names (as "rpm --scripts" and "--triggers" print them) or Debian's maintainer script names.
type Kind string

// The kinds of rpm scriptlets and triggers.
const (
	KindPreTrans               Kind = "pretrans"
	KindPre                    Kind = "pre"
	KindPost                   Kind = "post"
	KindPreUn                  Kind = "preun"
	KindPostUn                 Kind = "postun"
	KindPostTrans              Kind = "posttrans"
	KindTriggerPreIn           Kind = "triggerprein"
	KindTriggerIn              Kind = "triggerin"
	KindTriggerUn              Kind = "triggerun"
	KindTriggerPostUn          Kind = "triggerpostun"
	KindFileTriggerIn          Kind = "filetriggerin"
	KindFileTriggerUn          Kind = "filetriggerun"
	KindFileTriggerPostUn      Kind = "filetriggerpostun"
	KindTransFileTriggerIn     Kind = "transfiletriggerin"
	KindTransFileTriggerUn     Kind = "transfiletriggerun"
	KindTransFileTriggerPostUn Kind = "transfiletriggerpostun"
)

// The kinds of Debian maintainer scripts.
const (
	KindDebianPreInst  Kind = "preinst"
	KindDebianPostInst Kind = "postinst"
	KindDebianPreRm    Kind = "prerm"
	KindDebianPostRm   Kind = "postrm"
	KindDebianConfig   Kind = "config"
)

// debianKinds are the maintainer scripts dpkg (and debconf, for config) run. Debian triggers are not
// a script of their own: dpkg runs the interested package's postinst with "triggered".
var debianKinds = map[Kind]bool{
	KindDebianPreInst: true, KindDebianPostInst: true, KindDebianPreRm: true, KindDebianPostRm: true,
	KindDebianConfig: true,
}

// Debian reports whether k is a Debian maintainer script, which dpkg executes directly (so its #!
// line chooses the interpreter, and /bin/sh is dash).
func (k Kind) Debian() bool { return debianKinds[k] }

// Script is one script of one package.
type Script struct {
	// Package names the package the script belongs to; the analysis does not use it.
	Package string
	// Kind is when the script runs.
	Kind Kind
	// Interpreter is the program that runs Body: "/bin/sh" (rpm's default, also when empty), "<lua>"
	// for rpm's embedded Lua, or a program such as "/sbin/ldconfig" (rpm's "-p" form, usually with an
	// empty Body), possibly followed by arguments. For Debian scripts an empty Interpreter means
	// "read the #! line of Body".
	Interpreter string
	// Body is the script text.
	Body string
	// Args are the arguments the script runs with ($1, $2 …), when the caller knows them: dpkg runs
	// the new preinst with "upgrade <old> <new>" (or "install [<old>] <new>"), the new postinst with
	// "configure <most-recently-configured-version>" ("" when none), the old prerm and postrm with
	// "upgrade <new>". The analysis then decides the tests of them a shell script makes at its top
	// level (dpkg --compare-versions "$2" …, [ "$1" = upgrade ], [ -z "$2" ], case "$1" in …), unless
	// the script changes its positional parameters; what never runs with these arguments does not
	// count. Nil leaves those tests undecided.
	Args []string
	// Debconf are the answers db_get gives in the image (question → value; see DebconfDB.Questions and
	// ChangesDebconf): the analysis then knows RET after "db_get question" and decides the tests of
	// it. The caller leaves out the questions that something running before the script in the same
	// transaction may change; a script that may change them itself is analysed without.
	Debconf map[string]string
}

// Finding is one command that decided the verdict: why it is unsafe, or what replaced it.
type Finding struct {
	// Line is the 1-based line of the command in Script.Body (0 when unknown, as for "-p" programs).
	Line int
	// Command is the command as written (on one line, shortened when very long).
	Command string
	// Reason says why the command cannot run offline.
	Reason string
	// Replacement is what replaced the command in Analysis.Rewritten: ":" or "false" for a dropped
	// action or question, or the command with its options changed (systemctl without --now, semodule
	// with -n); empty when the command is unsafe.
	Replacement string
}

// String formats the finding as "line N: command: reason [-> replacement]".
func (f Finding) String() string {
	var b strings.Builder
	if f.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", f.Line)
	}
	b.WriteString(f.Command)
	b.WriteString(": ")
	b.WriteString(f.Reason)
	if f.Replacement != "" {
		b.WriteString(" -> ")
		b.WriteString(f.Replacement)
	}
	return b.String()
}

// Analysis is the result of Analyze.
type Analysis struct {
	// Verdict is what may be done with the script.
	Verdict Verdict
	// Rewritten is the script to run instead of Body when Verdict is Rewritable; empty otherwise.
	Rewritten string
	// Findings are the commands that made the script Rewritable or Unsafe, in script order.
	Findings []Finding
	// Notes tell the user about effects postponed to the next boot, such as a restart that was
	// skipped; one line each, without duplicates.
	Notes []string
	// Initramfs reports that the script rebuilds an initramfs or boot entries (dracut, kernel-install,
	// update-initramfs, grubby, /etc/kernel hooks …): the caller's kernel policy decides whether it
	// runs offline, at first boot, or not at all.
	Initramfs bool
}

// Analyze decides whether s may run in an offline image root. It never fails: a script that cannot be
// parsed or whose interpreter is not understood is Unsafe, with a Finding that says why.
func Analyze(s Script) Analysis {
	prog, args := interpreter(s)
	a := analysis{args: s.Args, debian: s.Kind.Debian()}
	if !ChangesDebconf(s.Body) {
		a.debconf = s.Debconf
	}
	switch {
	case prog == "<lua>":
		a.lua(s.Body)
	case isShell(prog):
		a.shell(s.Body, dialect(prog, s.Kind))
	case strings.TrimSpace(s.Body) == "":
		// rpm's "-p /sbin/ldconfig": the program itself is the script.
		a.program(append([]string{prog}, args...))
	default:
		a.refuse(0, prog, fmt.Sprintf("interpreter %s is not analysed", prog))
	}
	return a.result()
}

// interpreter returns the program that runs s and its arguments.
func interpreter(s Script) (string, []string) {
	line := s.Interpreter
	if strings.TrimSpace(line) == "" && s.Kind.Debian() {
		if first, _, _ := strings.Cut(s.Body, "\n"); strings.HasPrefix(first, "#!") {
			line = strings.TrimPrefix(first, "#!")
		}
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return "/bin/sh", nil
	}
	return fields[0], fields[1:]
}
