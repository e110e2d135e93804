package scriptlet

import (
	"regexp"
	"slices"
	"strings"
)

// This file judges the small programs of other languages that scripts embed (perl -ne '…', awk '…',
// sed '…') by what they can do: a program that only reads files and writes to its output is safe,
// anything else (running programs, writing files, loading modules) is not. The checks are made on
// the program's text and are deliberately coarse: a word that might do more than read is refused,
// even where it is harmless.

// perlSwitches are the perl switches a one-liner may use: -n and -p loop over the input, -l, -a,
// -F and -0 set how it is split, -w and -W warn, -e and -E give the program.
const perlSwitches = "nplawW0"

// perlDenied are the words a perl one-liner must not contain: they run programs, change files,
// signal processes, load code, or open anything but files for reading.
var perlDenied = map[string]string{}

func init() {
	for reason, words := range map[string]string{
		"runs programs":                       "system exec fork qx readpipe syscall pipe kill",
		"changes files":                       "unlink rename rmdir mkdir chmod chown chroot utime link symlink truncate dbmopen",
		"loads or evaluates code":             "require use do eval tie dump CORE",
		"opens sockets":                       "socket socketpair connect bind listen accept send",
		"changes the process":                 "setpgrp setpriority",
		"opens a file by a mode not analysed": "sysopen",
	} {
		for _, w := range strings.Fields(words) {
			perlDenied[w] = reason
		}
	}
}

var (
	// perlWord matches the bare words of a program (not $scalar, @array or %hash names).
	perlWord = regexp.MustCompile(`(^|[^$@%\w])([A-Za-z_]\w*)`)
	// perlUseAllowed are the pragmas a one-liner may use.
	perlUseAllowed = regexp.MustCompile(`\b(?:use|no)\s+(?:strict|warnings)\b(?:\s*(?:'[^']*'|"[^"]*"|qw\([^)]*\)))?\s*;?`)
	// perlReadOpen is the only open accepted: three arguments, the mode a literal "<".
	perlReadOpen = regexp.MustCompile(`^open\s*\(?\s*(?:my\s+)?[$]?\w+\s*,\s*(?:'<(?::[\w()-]+)?'|"<(?::[\w()-]+)?")\s*,`)
	// perlCodeInRegex matches regular expressions that run code, and s///ee (text evaluated as code).
	perlCodeInRegex = regexp.MustCompile(`\(\?\??\{|[^\w\s][msixpodualngcr]*e[msixpodualngcr]*e`)
	// perlDynamicCall matches calls of a sub named at run time: &$code, &{"name"} (not &&).
	perlDynamicCall = regexp.MustCompile(`(^|[^&])&\s*[{$]`)
	// perlReadsArgv matches programs that open the files named by their arguments (<>, ARGV, eof()).
	perlReadsArgv = regexp.MustCompile(`<<?>>?|\bARGV\b|\breadline\b|\beof\b`)
	// perlBeginShift matches a program that starts by taking its first arguments as values.
	perlBeginShift = regexp.MustCompile(`^\s*BEGIN\s*\{((?:\s*(?:my\s+)?\$\w+\s*=\s*shift(?:\s*\(\s*\))?\s*;)+)\s*\}`)
)

// perlProgram returns why a perl program may do more than read files and write its output, or "".
func perlProgram(prog string) string {
	if strings.ContainsAny(prog, "`") {
		return "runs programs (backticks)"
	}
	if strings.Contains(prog, "$^I") || strings.Contains(prog, "${^") {
		return "uses special variables such as $^I (in-place editing)"
	}
	if strings.Contains(prog, "@ARGV") || strings.Contains(prog, "$ARGV[") {
		return "changes its arguments, which it may then open"
	}
	if perlCodeInRegex.MatchString(prog) {
		return "evaluates text as code"
	}
	if perlDynamicCall.MatchString(prog) || strings.Contains(prog, "->") || strings.Contains(prog, "::") ||
		strings.Contains(prog, "*{") {
		return "calls code chosen at run time or in a package"
	}
	prog = perlUseAllowed.ReplaceAllString(prog, "")
	for _, m := range perlWord.FindAllStringSubmatchIndex(prog, -1) {
		word := prog[m[4]:m[5]]
		if word == "open" {
			if !perlReadOpen.MatchString(prog[m[4]:]) {
				return "opens a file for writing or a pipe (only open(F, '<', …) is analysed)"
			}
			continue
		}
		if reason, denied := perlDenied[word]; denied {
			return word + " " + reason
		}
	}
	return ""
}

// perlRule accepts perl one-liners (-e, -ne, -nle, -pe …) whose program only reads files and prints,
// and the reviewed one-liners of Debian's packaging tools.
func perlRule(c command) ruling {
	if len(c.words) == 3 && (c.words[1] == "-ne" || c.words[1] == "-e") && c.static[2] &&
		slices.Contains(knownPerlPrograms, c.words[2]) {
		return ruling{}
	}
	refused := func(reason string) ruling {
		return ruling{effect: refuse, reason: "perl " + reason}
	}
	var progs []string
	loops, switches := false, true
	var files []int
	for i := 1; i < len(c.words); i++ {
		w, static := c.arg(i)
		switch {
		case !switches:
			files = append(files, i)
		case !static:
			// perl reads switches after the program too, up to the first other argument.
			return refused("argument chosen at run time where perl reads switches (it could be -i or -M)")
		case w == "--":
			switches = false
		case w == "-" || !strings.HasPrefix(w, "-"):
			switches = false
			files = append(files, i)
		default:
			flags := w[1:]
			for j := 0; j < len(flags); j++ {
				f := flags[j]
				switch {
				case f == 'e' || f == 'E':
					if j != len(flags)-1 {
						return refused("-e with the program in the same word is not analysed")
					}
					text, static := c.arg(i + 1)
					if !static {
						return refused("program built at run time")
					}
					progs = append(progs, text)
					i++
				case f == 'F':
					j = len(flags) // the rest is the split pattern
				case f == 'l' || f == '0':
					// -l and -0 take an octal number; -0x a hexadecimal one.
					digits := "01234567"
					if f == '0' && j+1 < len(flags) && (flags[j+1] == 'x' || flags[j+1] == 'X') {
						digits, j = "0123456789abcdefABCDEF", j+1
					}
					for j+1 < len(flags) && strings.IndexByte(digits, flags[j+1]) >= 0 {
						j++
					}
				case strings.IndexByte(perlSwitches, f) >= 0:
					loops = loops || f == 'n' || f == 'p'
				case f == 'i':
					return refused("-i edits files in place")
				default:
					return refused("switch -" + string(f) + " is not analysed")
				}
			}
		}
	}
	if len(progs) == 0 {
		return refused("runs a script file or its input, which is not analysed")
	}
	prog := strings.Join(progs, "\n")
	if reason := perlProgram(prog); reason != "" {
		return refused("program: " + reason)
	}
	if !loops && !perlReadsArgv.MatchString(prog) {
		return ruling{} // the arguments are values, never opened
	}
	// Files named by the arguments are opened as perl's two-argument open does: "cmd |" runs cmd. The
	// first arguments taken by BEGIN { $x = shift; } are values.
	if m := perlBeginShift.FindStringSubmatch(prog); m != nil {
		files = files[min(strings.Count(m[1], "shift"), len(files)):]
	}
	for _, i := range files {
		w, static := c.arg(i)
		if !static {
			return refused("reads a file named at run time, which perl's <> could open as a command")
		}
		if t := strings.TrimSpace(w); t != w || strings.ContainsAny(w, "|<>&") || strings.HasPrefix(w, "+") {
			return refused("argument " + w + " is opened as more than a file to read")
		}
	}
	return ruling{}
}

// awkRule accepts awk programs that only read files and print to their output: no system(), no
// pipes, no getline from a command, no output redirected to a file, no extension or source loaded.
func awkRule(c command) ruling {
	for i := 1; i < len(c.words); i++ {
		w, static := c.arg(i)
		if !static {
			return ruling{effect: refuse, reason: "the awk program is built at run time"}
		}
		switch {
		case w == "-f" || strings.HasPrefix(w, "--file") || w == "-E" || strings.HasPrefix(w, "--exec"):
			return ruling{effect: refuse, reason: "the awk program is read from a file, which is not analysed"}
		case w == "-i" || strings.HasPrefix(w, "--include") || w == "-l" || strings.HasPrefix(w, "--load"):
			return ruling{effect: refuse, reason: "awk loads a source file or an extension, which is not analysed"}
		case w == "-F" || w == "-v":
			i++
		case w == "--":
			continue
		case strings.HasPrefix(w, "-F") || strings.HasPrefix(w, "-v"):
		case w == "-W" || strings.HasPrefix(w, "--"):
			return ruling{effect: refuse, reason: "awk option " + w + " is not analysed"}
		case strings.HasPrefix(w, "-") && len(w) > 1:
			return ruling{effect: refuse, reason: "awk option " + w + " is not analysed"}
		default:
			if reason := awkProgram(w); reason != "" {
				return ruling{effect: refuse, reason: "the awk program " + reason}
			}
			return ruling{}
		}
	}
	return ruling{}
}

var (
	// awkRunsCommands matches the awk constructs that start programs: system(), "cmd" | getline,
	// print | "cmd" and gawk's coprocesses.
	awkRunsCommands = regexp.MustCompile(`system\s*\(|\|\s*getline|\|&|\b(?:print|printf)\b[^;}\n]*\|`)
	// awkRedirects matches print and printf with their output redirected (print > "file"); a
	// comparison inside print's arguments needs parentheses in awk, which this refuses too.
	awkRedirects = regexp.MustCompile(`\b(?:print|printf)\b[^;}\n]*>`)
	// awkStdio are the files awk's output may go to.
	awkStdio = regexp.MustCompile(`>\s*"/dev/(?:stdout|stderr)"`)
)

// awkProgram returns why an awk program may do more than read files and print, or "".
func awkProgram(prog string) string {
	switch {
	case awkRunsCommands.MatchString(prog):
		return "runs commands"
	case strings.Contains(prog, "@load") || strings.Contains(prog, "@include"):
		return "loads an extension or a source file"
	case awkRedirects.MatchString(awkStdio.ReplaceAllString(prog, "")):
		return "writes to a file"
	}
	return ""
}

// sedValueOptions are sed's options that take a separate value.
var sedValueOptions = map[string]bool{"-l": true, "--line-length": true}

// sedRule accepts sed programs that edit and print files (also in place: the files are the image's),
// and refuses those that run commands (e, s///e) or write to files the program names (w, s///w). A
// value expanded at run time may stand in a regular expression, a replacement or inserted text, as
// in sed "s/^ssl =.*/ssl = $SSL/", and nowhere else.
func sedRule(c command) ruling {
	var scripts []string
	// With -e or -f anywhere, every other word is a file (GNU sed reads options after files too).
	given := slices.ContainsFunc(c.words[1:], sedGivesProgram)
	for i := 1; i < len(c.words); i++ {
		w, static := c.arg(i)
		switch {
		case !static && c.isOption(i):
			return ruling{effect: refuse, reason: "sed options chosen at run time"}
		case !static || w == "-" || !strings.HasPrefix(w, "-"):
			if !given {
				scripts, given = append(scripts, sedText(c, i)), true
			}
		case w == "--sandbox":
			return ruling{} // GNU sed then refuses e, w and r itself
		case w == "-e" || w == "--expression":
			scripts = append(scripts, sedText(c, i+1))
			i++
		case strings.HasPrefix(w, "--expression="):
			scripts = append(scripts, strings.TrimPrefix(w, "--expression="))
		case w == "-f" || strings.HasPrefix(w, "--file"):
			return ruling{effect: refuse, reason: "the sed program is read from a file, which is not analysed"}
		case sedValueOptions[w]:
			i++
		case strings.HasPrefix(w, "--") || strings.HasPrefix(w, "-i"):
		default:
			for j, f := range w[1:] {
				if f == 'f' {
					return ruling{effect: refuse, reason: "the sed program is read from a file, which is not analysed"}
				}
				if f == 'e' {
					if rest := w[j+2:]; rest != "" {
						scripts = append(scripts, rest)
					} else {
						scripts = append(scripts, sedText(c, i+1))
						i++
					}
					break
				}
				if f == 'i' {
					break // -i with a suffix
				}
			}
		}
	}
	for _, s := range scripts {
		reason := sedProgram(s)
		switch {
		case reason == "" || slices.Contains(knownSedPrograms, s):
		case strings.Contains(s, sedRunTime):
			return ruling{effect: refuse, reason: "the sed program, built at run time, " + reason}
		default:
			return ruling{effect: refuse, reason: "the sed program " + reason}
		}
	}
	return ruling{}
}

// knownSedPrograms are sed programs that Debian's packaging tools generate, reviewed as they are:
// dh_python3's prerm feeds it "dpkg -L" and it runs rm on the __pycache__ files of the package's
// modules (as knownPerlPrograms does in older releases).
var knownSedPrograms = []string{
	`/^(.*)\/(.+)\.py$/s,,rm "\1/__pycache__/\2".*,e`,
}

// sedGivesProgram reports whether w is -e, -f (alone or among other one-letter options, such as -ne
// or -e'1d') or their long forms.
func sedGivesProgram(w string) bool {
	if strings.HasPrefix(w, "--expression") || strings.HasPrefix(w, "--file") {
		return true
	}
	if !strings.HasPrefix(w, "-") || strings.HasPrefix(w, "--") {
		return false
	}
	for _, f := range w[1:] {
		switch {
		case f == 'e' || f == 'f':
			return true
		case f == 'i' || !('a' <= f && f <= 'z' || 'A' <= f && f <= 'Z'):
			return false
		}
	}
	return false
}

// sedRunTime stands for a value known only at run time in a sed program.
const sedRunTime = "\x00"

var (
	// shellExpansion matches the expansions of a word's source that sedText replaces by sedRunTime.
	shellExpansion = regexp.MustCompile(`\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\$[0-9@*#?$!-]`)
)

// sedText returns the sed program in word i: its value when literal, else its source unquoted with
// each parameter expansion replaced by sedRunTime; a command substitution or a missing word gives a
// program that does not parse.
func sedText(c command, i int) string {
	w, static := c.arg(i)
	if static || i >= len(c.words) {
		return w
	}
	if i >= len(c.source) {
		return "?"
	}
	src := c.source[i]
	var b strings.Builder
	quote := byte(0)
	for j := 0; j < len(src); j++ {
		ch := src[j]
		switch {
		case quote == '\'':
			if ch == '\'' {
				quote = 0
			} else {
				b.WriteByte(ch)
			}
		case ch == '`':
			return "?"
		case ch == '$':
			m := shellExpansion.FindStringIndex(src[j:])
			switch {
			case m != nil && m[0] == 0:
				b.WriteString(sedRunTime)
				j += m[1] - 1
			case j+1 < len(src) && (src[j+1] == '(' || src[j+1] == '\'' && quote == 0):
				return "?"
			default:
				b.WriteByte(ch)
			}
		case ch == '\\' && j+1 < len(src):
			if quote == '"' && strings.IndexByte("$`\"\\\n", src[j+1]) < 0 {
				b.WriteByte(ch)
				continue
			}
			j++
			b.WriteByte(src[j])
		case quote == 0 && (ch == '\'' || ch == '"'):
			quote = ch
		case quote == '"' && ch == '"':
			quote = 0
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// sedProgram returns why a sed program may run commands or write files it names, or "".
func sedProgram(p string) string {
	i := 0
	// until skips to the first of the bytes in stop (not escaped by a backslash), and returns what it
	// skipped.
	until := func(stop string) string {
		start := i
		for i < len(p) && strings.IndexByte(stop, p[i]) < 0 {
			if p[i] == '\\' {
				i++
			}
			i++
		}
		return p[start:min(i, len(p))]
	}
	// delimited skips a regular expression or replacement ending at delim.
	delimited := func(delim byte) bool {
		until(string(delim))
		if i >= len(p) {
			return false
		}
		i++
		return true
	}
	address := func() bool {
		switch {
		case i < len(p) && (p[i] >= '0' && p[i] <= '9' || p[i] == '$' || p[i] == '+' || p[i] == '~'):
			i++
			for i < len(p) && (p[i] >= '0' && p[i] <= '9' || p[i] == '~') {
				i++
			}
		case i < len(p) && p[i] == '/':
			i++
			if !delimited('/') {
				return false
			}
		case i+1 < len(p) && p[i] == '\\':
			d := p[i+1]
			i += 2
			if !delimited(d) {
				return false
			}
		default:
			return true
		}
		for i < len(p) && (p[i] == 'I' || p[i] == 'M') {
			i++
		}
		return true
	}
	for i < len(p) {
		if strings.IndexByte(" \t\n;{}", p[i]) >= 0 {
			i++
			continue
		}
		if !address() {
			return "cannot be parsed"
		}
		for i < len(p) && strings.IndexByte(" \t,!", p[i]) >= 0 {
			if p[i] == ',' {
				i++
				if !address() {
					return "cannot be parsed"
				}
				continue
			}
			i++
		}
		if i >= len(p) {
			return ""
		}
		cmd := p[i]
		i++
		switch cmd {
		case '{', '}', '=', 'd', 'D', 'g', 'G', 'h', 'H', 'n', 'N', 'p', 'P', 'x', 'z', 'F':
		case '#', ':', 'a', 'i', 'c', 'v':
			until("\n")
		case 'b', 't', 'T':
			until(";\n}")
		case 'q', 'Q', 'l', 'L':
			for i < len(p) && (p[i] == ' ' || p[i] >= '0' && p[i] <= '9') {
				i++
			}
		case 'r', 'R':
			file := strings.TrimSpace(until("\n"))
			if strings.Contains(file, sedRunTime) {
				return "reads a file named at run time"
			}
			if strings.HasPrefix(file, "/proc/") || strings.HasPrefix(file, "/sys/") ||
				strings.HasPrefix(file, "/dev/") && file != "/dev/stdin" {
				return "reads a file of the build host (" + file + ")"
			}
		case 's', 'y':
			if i >= len(p) || p[i] == '\n' || p[i] == '\\' {
				return "cannot be parsed"
			}
			d := p[i]
			i++
			// The regular expression, then the replacement (s) or the target characters (y).
			for range 2 {
				if !delimited(d) {
					return "cannot be parsed"
				}
			}
			for cmd == 's' && i < len(p) && strings.IndexByte(" \t\n;}#", p[i]) < 0 {
				switch f := p[i]; {
				case f == 'e':
					return "runs the pattern space as a command (s///e)"
				case f == 'w':
					return "writes to a file (s///w)"
				case strings.IndexByte("gpiImM0123456789", f) < 0:
					return "has an s flag that is not analysed"
				}
				i++
			}
		case 'e':
			return "runs commands (e)"
		case 'w', 'W':
			return "writes to a file (" + string(cmd) + ")"
		default:
			return "uses a command that is not analysed (" + string(cmd) + ")"
		}
	}
	return ""
}
