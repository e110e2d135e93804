package scriptlet

import (
	"slices"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// luaTokenKind classifies Lua tokens.
type luaTokenKind int

const (
	luaName luaTokenKind = iota
	luaString
	luaNumber
	luaPunct
)

// luaToken is one token of a Lua chunk; comments and blanks are dropped.
type luaToken struct {
	kind luaTokenKind
	text string // the name, the punctuation, or the string's value
	line int
}

// luaLibraries are the standard and rpm library tables: every use of one of their functions must be
// in luaAllowed (or be one of the program starters judged like shell commands).
var luaLibraries = []string{"os", "io", "posix", "rpm", "string", "table", "math", "utf8", "coroutine",
	"debug", "package", "bit32"}

// luaAllowed are the library functions that only compute or act on files inside the root.
var luaAllowed = func() map[string]bool {
	m := map[string]bool{}
	for _, group := range []string{
		"os.remove os.rename os.getenv os.time os.date os.clock os.difftime os.tmpname os.setlocale",
		"io.open io.lines io.write io.read io.close io.output io.input io.stdout io.stderr io.stdin io.type",
		"posix.access posix.stat posix.mkdir posix.rmdir posix.symlink posix.link posix.unlink posix.chmod " +
			"posix.chown posix.readlink posix.utime posix.files posix.dir posix.glob posix.getcwd posix.umask " +
			"posix.getpid posix.getenv posix.setenv posix.errno posix.fork posix.wait posix.redirect2null " +
			"posix.mkfifo posix.sleep posix.getpasswd posix.getgroup posix.uname",
		"rpm.vercmp rpm.define rpm.undefine rpm.open rpm.glob rpm.b64encode rpm.b64decode rpm.ver",
	} {
		for _, name := range strings.Fields(group) {
			m[name] = true
		}
	}
	return m
}()

// luaAllowedTables are the library tables whose every function only computes.
var luaAllowedTables = []string{"string", "table", "math", "utf8", "coroutine"}

// luaDenied are the globals that reach code or environments the analysis cannot see. Other globals
// called by bare name are Lua's own functions (print, pairs …) or functions and variables the chunk
// defines, whose values came from sources the analysis has checked.
var luaDenied = map[string]string{
	"require":    "loads a Lua module, which is not analysed",
	"load":       "runs Lua text built at run time",
	"loadstring": "runs Lua text built at run time",
	"loadfile":   "runs a Lua file, which is not analysed",
	"dofile":     "runs a Lua file, which is not analysed",
	"module":     "defines a Lua module",
	"setfenv":    "changes a function's environment",
	"getfenv":    "reaches a function's environment",
	"_G":         "reaches every global, including the unsafe ones",
	"_ENV":       "reaches every global, including the unsafe ones",
}

// luaMethods are the methods of strings and files.
var luaMethods = []string{
	"byte", "char", "find", "format", "gmatch", "gsub", "len", "lower", "match", "rep", "reverse", "sub",
	"upper", "close", "flush", "lines", "read", "seek", "setvbuf", "write",
}

// lua analyses an rpm Lua scriptlet from its tokens.
func (a *analysis) lua(body string) {
	toks := luaTokens(body)
	forwarders, forwarding := luaForwarders(toks)
	lines := strings.Split(body, "\n")
	text := func(line int) string {
		if line < 1 || line > len(lines) {
			return ""
		}
		s := strings.Join(strings.Fields(lines[line-1]), " ")
		if len(s) > maxCommandText {
			s = s[:maxCommandText-3] + "..."
		}
		return s
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.kind == luaString {
			if reason := liveLuaPath(t.text); reason != "" {
				a.refuse(t.line, text(t.line), reason)
			}
			continue
		}
		if t.kind != luaName || i > 0 && (toks[i-1].text == "." || toks[i-1].text == ":") &&
			toks[i-1].kind == luaPunct {
			continue
		}
		// A name chain a.b.c.
		chain := t.text
		j := i + 1
		for j+1 < len(toks) && toks[j].kind == luaPunct && toks[j].text == "." && toks[j+1].kind == luaName {
			chain += "." + toks[j+1].text
			j += 2
		}
		if reason, ok := luaDenied[t.text]; ok {
			a.refuse(t.line, text(t.line), reason)
			continue
		}
		if j+1 < len(toks) && toks[j].kind == luaPunct && toks[j].text == ":" && toks[j+1].kind == luaName {
			if !slices.Contains(luaMethods, toks[j+1].text) {
				a.refuse(t.line, text(t.line), "Lua method "+toks[j+1].text+" is not known to be safe offline")
			}
		}
		first, _, dotted := strings.Cut(chain, ".")
		if !dotted && forwarders[chain] && (i == 0 || toks[i-1].text != "function") {
			a.luaProgram(toks[j:], t.line, text(t.line), chain)
			continue
		}
		if !dotted && slices.Contains(luaLibraries, first) && !slices.Contains(luaAllowedTables, first) {
			// os, io, posix … used as a value (o = os; posix["exec"]) escape the allow-list.
			a.refuse(t.line, text(t.line), "Lua library table "+first+" is used other than by its functions")
			continue
		}
		if !dotted || !slices.Contains(luaLibraries, first) {
			continue
		}
		fn := first + "." + strings.SplitN(chain, ".", 3)[1]
		switch {
		case (fn == "posix.exec" || fn == "posix.execp" || fn == "rpm.execute") && forwarding[i]:
			// Judged where the function that passes its arguments on is called.
		case fn == "posix.exec" || fn == "posix.execp" || fn == "rpm.execute":
			a.luaProgram(toks[j:], t.line, text(t.line), fn)
		case fn == "os.execute":
			a.luaShell(toks[j:], t.line, text(t.line))
		case fn == "rpm.expand":
			if arg, ok := luaLiteralArgs(toks[j:]); !ok || len(arg) != 1 {
				a.refuse(t.line, text(t.line), "rpm.expand of text built at run time may run shell commands")
			} else if strings.Contains(arg[0], "%(") {
				a.refuse(t.line, text(t.line), "the rpm macro runs a shell command (%(...))")
			}
		case fn == "io.popen":
			a.refuse(t.line, text(t.line), "io.popen runs a shell command built at run time")
		case fn == "posix.kill":
			a.refuse(t.line, text(t.line), "signals processes, which in a chroot are the build host's")
		case luaAllowed[fn] || slices.Contains(luaAllowedTables, first):
		default:
			a.refuse(t.line, text(t.line), "Lua function "+fn+" is not known to be safe offline")
		}
		i = j - 1
	}
}

// luaProgram judges posix.exec("/prog", "arg", x) and rpm.execute(…) like a shell command: the program
// must be a literal; other arguments may be expressions (known at run time only).
func (a *analysis) luaProgram(after []luaToken, line int, text, fn string) {
	args, ok := luaArgs(after)
	if !ok || len(args) == 0 || !args[0].literal {
		a.refuse(line, text, fn+" runs a program chosen at run time")
		return
	}
	c := command{depth: a.depth + 1}
	for _, arg := range args {
		c.words = append(c.words, arg.text)
		c.static = append(c.static, arg.literal)
		prefix := ""
		if arg.literal {
			prefix = arg.text
		}
		c.prefix = append(c.prefix, prefix)
	}
	c.name = resolveName(c.words[0])
	switch r := judge(c); {
	case r.effect == bootImage:
		a.initramfs = true
	case r.effect == replace && r.with == ":" && c.name == "systemctl":
		// Lua cannot be rewritten, but systemctl itself ignores requests to the manager when
		// SYSTEMD_OFFLINE=1 is set, as the caller must (see the package documentation).
	case r.effect == replace:
		a.refuse(line, text, r.reason+" (Lua scriptlets are not rewritten)")
	case r.effect == refuse:
		a.refuse(line, text, r.reason)
	}
}

// luaArg is one argument of a Lua call: a string literal, or the source of an expression.
type luaArg struct {
	text    string
	literal bool
}

// maxLuaArgTokens bounds the tokens read for one argument list, so that many unclosed calls cost
// linear time.
const maxLuaArgTokens = 4096

// luaArgs returns the arguments of the call that starts at toks[0]: f("a", x .. "b"), f "a". ok is
// false when toks[0] does not start an argument list or the list is not closed.
func luaArgs(toks []luaToken) (args []luaArg, ok bool) {
	if len(toks) == 0 {
		return nil, false
	}
	if toks[0].kind == luaString {
		return []luaArg{{text: toks[0].text, literal: true}}, true
	}
	if toks[0].kind != luaPunct || toks[0].text != "(" {
		return nil, false
	}
	depth := 0
	var cur []luaToken
	if len(toks) > maxLuaArgTokens {
		toks = toks[:maxLuaArgTokens]
	}
	flush := func() {
		if len(cur) == 1 && cur[0].kind == luaString {
			args = append(args, luaArg{text: cur[0].text, literal: true})
		} else if len(cur) > 0 {
			parts := make([]string, len(cur))
			for i, t := range cur {
				parts[i] = t.text
			}
			args = append(args, luaArg{text: strings.Join(parts, " ")})
		}
		cur = nil
	}
	for _, t := range toks[1:] {
		if t.kind == luaPunct {
			switch t.text {
			case "(", "{", "[":
				depth++
			case ")", "}", "]":
				if depth == 0 && t.text == ")" {
					flush()
					return args, true
				}
				depth--
			case ",":
				if depth == 0 {
					flush()
					continue
				}
			}
		}
		cur = append(cur, t)
	}
	return nil, false
}

// luaLiteralArgs returns the arguments of the call that starts at toks[0] when all are string
// literals.
func luaLiteralArgs(toks []luaToken) ([]string, bool) {
	args, ok := luaArgs(toks)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(args))
	for _, arg := range args {
		if !arg.literal {
			return nil, false
		}
		out = append(out, arg.text)
	}
	return out, true
}

// luaForwarders finds the functions that run their first parameter as a program, as glibc's
//
//	function post_exec (program, ...) … posix.exec (program, ...) … end
//
// does: calls of such a function are judged like posix.exec, and the posix.exec inside (its token
// index in forwarding) is not judged on its own.
func luaForwarders(toks []luaToken) (forwarders map[string]bool, forwarding map[int]bool) {
	forwarders, forwarding = map[string]bool{}, map[int]bool{}
	for i := 0; i+3 < len(toks); i++ {
		if toks[i].kind != luaName || toks[i].text != "function" || toks[i+1].kind != luaName ||
			toks[i+2].text != "(" || toks[i+3].kind != luaName {
			continue
		}
		name, param := toks[i+1].text, toks[i+3].text
		at := func(j int) string {
			if j < len(toks) {
				return toks[j].text
			}
			return ""
		}
		// The body runs to the "end" that closes the function.
		depth := 0
	body:
		for j := i + 2; j < len(toks); j++ {
			if toks[j].kind != luaName {
				continue
			}
			switch toks[j].text {
			case "function", "if", "do":
				depth++
			case "end":
				depth--
				if depth < 0 {
					break body
				}
			case "posix", "rpm":
				exec := at(j+1) == "." && (at(j+2) == "exec" || at(j+2) == "execp" || at(j+2) == "execute") &&
					at(j+3) == "(" && at(j+4) == param && j+4 < len(toks) && toks[j+4].kind == luaName
				passes := at(j+5) == ")" || at(j+5) == "," && at(j+6) == "..." && at(j+7) == ")"
				if exec && passes {
					forwarders[name] = true
					forwarding[j] = true
				}
			}
		}
	}
	return forwarders, forwarding
}

// luaShell judges os.execute("literal") as a shell script.
func (a *analysis) luaShell(after []luaToken, line int, text string) {
	args, ok := luaLiteralArgs(after)
	switch {
	case ok && len(args) == 0:
		return // os.execute() only asks whether a shell exists
	case !ok || len(args) != 1:
		a.refuse(line, text, "os.execute runs a shell command built at run time")
		return
	}
	var inner analysis
	inner.depth = a.depth + 1
	inner.shell(args[0], syntax.LangBash)
	res := inner.result()
	if res.Initramfs {
		a.initramfs = true
	}
	if res.Verdict != Safe {
		reason := "os.execute runs a command that is not safe offline"
		if len(res.Findings) > 0 {
			reason = "os.execute runs " + res.Findings[0].Command + ": " + res.Findings[0].Reason
		}
		a.refuse(line, text, reason+" (Lua scriptlets are not rewritten)")
	}
}

// liveLuaPath returns why a Lua string names a file of the live host, or "".
func liveLuaPath(s string) string {
	switch {
	case strings.HasPrefix(s, "/proc/"):
		return "reads or writes /proc of the build host, not of the image"
	case strings.HasPrefix(s, "/sys/"):
		return "reads or writes /sys of the build host, not of the image"
	case strings.HasPrefix(s, "/dev/") && !slices.Contains(harmlessDevices, s):
		return "uses a device of the build host, not of the image"
	}
	return ""
}

// luaTokens splits a Lua chunk into tokens, dropping comments. It never fails: what it does not
// understand becomes punctuation.
func luaTokens(src string) []luaToken {
	var toks []luaToken
	line := 1
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
		case strings.HasPrefix(src[i:], "--"):
			if level, ok := longBracket(src[i+2:]); ok {
				body, n := longString(src[i+2:], level)
				line += strings.Count(body, "\n")
				i += 2 + n
				continue
			}
			end := strings.IndexByte(src[i:], '\n')
			if end < 0 {
				end = len(src) - i
			}
			i += end
		case c == '[':
			if level, ok := longBracket(src[i:]); ok {
				body, n := longString(src[i:], level)
				toks = append(toks, luaToken{kind: luaString, text: strings.TrimPrefix(body, "\n"), line: line})
				line += strings.Count(body, "\n")
				i += n
				continue
			}
			toks = append(toks, luaToken{kind: luaPunct, text: "[", line: line})
			i++
		case c == '"' || c == '\'':
			value, n, newlines := shortString(src[i:])
			toks = append(toks, luaToken{kind: luaString, text: value, line: line})
			line += newlines
			i += n
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(src) && (src[j] == '_' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' ||
				src[j] >= '0' && src[j] <= '9') {
				j++
			}
			toks = append(toks, luaToken{kind: luaName, text: src[i:j], line: line})
			i = j
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(src) && (src[j] == '.' || src[j] == '_' || src[j] >= '0' && src[j] <= '9' ||
				src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z') {
				j++
			}
			toks = append(toks, luaToken{kind: luaNumber, text: src[i:j], line: line})
			i = j
		default:
			n := 1
			for _, op := range []string{"...", "..", "::", "==", "~=", "<=", ">=", "//", "<<", ">>"} {
				if strings.HasPrefix(src[i:], op) {
					n = len(op)
					break
				}
			}
			toks = append(toks, luaToken{kind: luaPunct, text: src[i : i+n], line: line})
			i += n
		}
	}
	return toks
}

// longBracket reports whether s starts with a long bracket [[ or [==[ and returns its level.
func longBracket(s string) (int, bool) {
	if !strings.HasPrefix(s, "[") {
		return 0, false
	}
	level := 0
	for level+1 < len(s) && s[level+1] == '=' {
		level++
	}
	return level, level+1 < len(s) && s[level+1] == '['
}

// longString returns the body of the long bracket string at the start of s and the length consumed
// (to the end of s when it is not closed).
func longString(s string, level int) (string, int) {
	open := level + 2
	closer := "]" + strings.Repeat("=", level) + "]"
	end := strings.Index(s[open:], closer)
	if end < 0 {
		return s[open:], len(s)
	}
	return s[open : open+end], open + end + len(closer)
}

// shortString reads the quoted string at the start of s; it returns its value, the length consumed and
// the newlines inside (escaped ones).
func shortString(s string) (string, int, int) {
	quote := s[0]
	var b strings.Builder
	newlines := 0
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == quote:
			return b.String(), i + 1, newlines
		case c == '\n':
			return b.String(), i, newlines // unfinished string: stop at the line's end
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '\n':
				newlines++
				b.WriteByte('\n')
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), len(s), newlines
}
