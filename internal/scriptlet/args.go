package scriptlet

import (
	"path"
	"slices"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/refit-images/packer-plugin-refit/internal/evr"
)

// Conditions on the script's arguments. dpkg runs a maintainer script with arguments fixed by the
// transaction (Debian policy, chapter 6: the new preinst with "upgrade <old> <new>", the new postinst
// with "configure <most-recently-configured-version>" …), offline as at first boot. With
// Script.Args the analysis decides the tests of those arguments the scripts make:
// "dpkg --compare-versions "$2" lt-nl 1.4.0-5", "[ "$1" = upgrade ]", "[ -z "$2" ]" and
// "case "$1" in upgrade) …"; a branch decided false is dead code, as after "if false".

// positionalsKept reports whether the script's top level reads the arguments it was run with: nothing
// outside its functions sets the positional parameters (set with operands, shift, eval, sourcing a
// file that is not a known library, bash's ". file args").
func (w *walker) positionalsKept(file *syntax.File) bool {
	kept := true
	syntax.Walk(file, func(node syntax.Node) bool {
		switch n := node.(type) {
		case *syntax.FuncDecl:
			return false // a function's own positional parameters
		case *syntax.CallExpr:
			if len(n.Args) == 0 {
				return true
			}
			name, static := staticWord(n.Args[0])
			if !static {
				// A command name known at run time could be shift or set.
				if vs, ok := w.commandValues(n); ok {
					for _, v := range vs {
						if name := resolveName(v.words[0]); name == "shift" || name == "set" || name == "eval" ||
							name == "." || name == "source" {
							kept = false
						}
					}
				} else {
					kept = false
				}
				return kept
			}
			switch name {
			case "eval":
				// eval $(apt-config shell NAME Key) only assigns NAME
				kept = kept && len(n.Args) == 2 && aptConfigShell.MatchString(w.raw(n.Args[1]))
			case "shift":
				kept = false
			case "set":
				kept = kept && setKeepsPositionals(n.Args[1:])
			case ".", "source":
				file, ok := "", len(n.Args) == 2
				if ok {
					file, ok = staticWord(n.Args[1])
				}
				file = path.Clean(file)
				if !ok || file != "/usr/share/debconf/confmodule" && sourcedLibraries[file] == nil {
					kept = false
				}
			}
		}
		return kept
	})
	return kept
}

// neverSets reports whether nothing in the script may set variable name: no assignment, read or
// the like (collect's values and changing), no eval, and no sourced file but the known libraries.
func (w *walker) neverSets(file *syntax.File, name string) bool {
	if w.changing[name] || w.otherwise[name] || len(w.values[name]) > 0 {
		return false
	}
	never := true
	syntax.Walk(file, func(node syntax.Node) bool {
		call, ok := node.(*syntax.CallExpr)
		if !ok || len(call.Args) == 0 || !never {
			return never
		}
		cmd, static := staticWord(call.Args[0])
		switch {
		case !static && isAllArgs(call.Args[0]):
			// a function forwarding its arguments: the commands it runs are the calls' (below)
		case !static:
			never = false // a command chosen at run time could be eval or .
		case w.functions[cmd] && len(call.Args) > 1:
			arg, _ := staticWord(call.Args[1])
			never = !slices.Contains([]string{"eval", ".", "source", "read", "export", "declare", "typeset",
				"local", "readonly", "unset", "getopts", "printf", "mapfile", "readarray"}, arg)
		case cmd == "eval":
			never = len(call.Args) == 2 && aptConfigShell.MatchString(w.raw(call.Args[1])) &&
				!strings.Contains(w.raw(call.Args[1]), " "+name+" ")
		case cmd == "." || cmd == "source":
			file, ok := "", len(call.Args) == 2
			if ok {
				file, ok = staticWord(call.Args[1])
			}
			file = path.Clean(file)
			never = ok && (file == "/usr/share/debconf/confmodule" || sourcedLibraries[file] != nil)
		}
		return never
	})
	return never
}

// setKeepsPositionals reports whether "set args…" only changes options: every word is an option
// ("-e", "+x", "-o name").
func setKeepsPositionals(args []*syntax.Word) bool {
	for i := 0; i < len(args); i++ {
		v, static := staticWord(args[i])
		switch {
		case !static, v == "-", v == "--", len(v) < 2 || v[0] != '-' && v[0] != '+':
			return false
		case strings.ContainsRune(v, 'o'):
			i++ // the option's name
		}
	}
	return true
}

// positional returns parameter $n when the script was given its arguments and node reads them.
func (w *walker) positional(name string, node syntax.Node) (string, bool) {
	n, err := strconv.Atoi(name)
	if err != nil || n < 1 || n > len(w.a.args) || !w.argsKept || w.inFunction(node) {
		return "", false
	}
	return w.a.args[n-1], true
}

// inFunction reports whether node is in a function's body, where $1 is the function's argument.
func (w *walker) inFunction(node syntax.Node) bool {
	for p := w.parents[node]; p != nil; p = w.parents[p] {
		if _, ok := p.(*syntax.FuncDecl); ok {
			return true
		}
	}
	return false
}

// positionalParam returns the parameter a plain $1, ${1} expands; "" otherwise.
func positionalParam(part syntax.WordPart) string {
	pe, ok := part.(*syntax.ParamExp)
	if !ok || pe.Param == nil || pe.Exp != nil || pe.Index != nil || pe.Slice != nil || pe.Repl != nil ||
		pe.Length || pe.Excl || pe.Width || pe.Names != 0 {
		return ""
	}
	if _, err := strconv.Atoi(pe.Param.Value); err != nil {
		return ""
	}
	return pe.Param.Value
}

// wordValue returns the one field a word expands to when it is known before the script runs:
// literals, the script's arguments and variables whose value is known (a single literal value
// reaches the word, or RET after db_get with Script.Debconf), quoted ("$2") or, when splitting
// cannot change them, unquoted.
func (w *walker) wordValue(word *syntax.Word) (string, bool) {
	if v, ok := staticWord(word); ok {
		return v, true
	}
	if len(word.Parts) == 1 {
		if _, isParam := word.Parts[0].(*syntax.ParamExp); isParam {
			v, ok := w.paramValue(word.Parts[0], word)
			if !ok || v == "" || w.ifsChanged() || strings.ContainsAny(v, " \t\n*?[\\") {
				return "", false
			}
			return v, true
		}
	}
	var b strings.Builder
	for _, part := range word.Parts {
		dq, ok := part.(*syntax.DblQuoted)
		if !ok {
			v, ok := staticWord(&syntax.Word{Parts: []syntax.WordPart{part}})
			if !ok {
				return "", false
			}
			b.WriteString(v)
			continue
		}
		for _, inner := range dq.Parts {
			if lit, ok := inner.(*syntax.Lit); ok {
				b.WriteString(unescapeDouble(lit.Value))
				continue
			}
			v, ok := w.paramValue(inner, word)
			if !ok {
				return "", false
			}
			b.WriteString(v)
		}
	}
	return b.String(), true
}

// paramValue returns the value of a plain parameter expansion ($1, ${name}) at use, when known.
func (w *walker) paramValue(part syntax.WordPart, use syntax.Node) (string, bool) {
	if name := positionalParam(part); name != "" {
		return w.positional(name, use)
	}
	if pe, ok := part.(*syntax.ParamExp); ok && pe.Param != nil && pe.Param.Value == "DPKG_ROOT" && w.dpkgRootEmpty &&
		pe.Index == nil && pe.Slice == nil && pe.Repl == nil && !pe.Length && !pe.Excl && !pe.Width && pe.Names == 0 &&
		(pe.Exp == nil || (pe.Exp.Op == syntax.DefaultUnset || pe.Exp.Op == syntax.DefaultUnsetOrNull) &&
			(pe.Exp.Word == nil || len(pe.Exp.Word.Parts) == 0)) {
		return "", true // $DPKG_ROOT, ${DPKG_ROOT:-}
	}
	pe, ok := part.(*syntax.ParamExp)
	if !ok || pe.Param == nil || pe.Exp != nil || pe.Index != nil || pe.Slice != nil || pe.Repl != nil ||
		pe.Length || pe.Excl || pe.Width || pe.Names != 0 || !isVariableName(pe.Param.Value) {
		return "", false
	}
	values, ok := w.reaching(use, pe.Param.Value)
	if !ok || len(values) == 0 {
		return "", false
	}
	var out string
	for i, value := range values {
		v, static := staticWord(value)
		if !static || i > 0 && v != out {
			return "", false
		}
		out = v
	}
	return out, true
}

// isVariableName reports whether name is a shell variable's name (not a special parameter).
func isVariableName(name string) bool {
	for i, c := range name {
		if c != '_' && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return name != ""
}

// argStatus returns the exit status of a command that tests the script's arguments, when it is known:
// dpkg --compare-versions, and test or [ with -z, -n, = and !=.
func (w *walker) argStatus(c *syntax.CallExpr) (status, known bool) {
	if len(c.Assigns) > 0 || len(c.Args) == 0 {
		return false, false
	}
	name, _ := staticWord(c.Args[0])
	words := c.Args[1:]
	switch name {
	case "dpkg":
		if len(words) != 4 {
			return false, false
		}
		var vals [4]string
		for i, word := range words {
			v, ok := w.wordValue(word)
			if !ok {
				return false, false
			}
			vals[i] = v
		}
		if vals[0] != "--compare-versions" {
			return false, false
		}
		return CompareVersions(vals[1], vals[2], vals[3])
	case "[":
		if len(words) == 0 {
			return false, false
		}
		if end, _ := staticWord(words[len(words)-1]); end != "]" {
			return false, false
		}
		words = words[:len(words)-1]
	case "test":
	default:
		return false, false
	}
	vals := make([]string, len(words))
	for i, word := range words {
		v, ok := w.wordValue(word)
		if !ok {
			return false, false
		}
		vals[i] = v
	}
	// An operator must be written as one: a value that looks like one is an operand only where
	// POSIX's rules by argument count say so, which is how they are read below.
	op := func(i string, at int) bool {
		v, static := staticWord(words[at])
		return static && v == i
	}
	switch len(vals) {
	case 1:
		return vals[0] != "", true
	case 2:
		switch {
		case op("-z", 0):
			return vals[1] == "", true
		case op("-n", 0):
			return vals[1] != "", true
		case op("!", 0):
			return vals[1] == "", true
		}
	case 3:
		switch {
		case op("=", 1):
			return vals[0] == vals[2], true
		case op("!=", 1):
			return vals[0] != vals[2], true
		}
	}
	return false, false
}

// CompareVersions returns what "dpkg --compare-versions a op b" answers (status true for exit 0),
// and whether dpkg answers at all: ok is false for an unknown operator or a version dpkg rejects.
// An empty version (or "<unknown>") is earlier than every other version, except for the -nl
// operators, for which it is later than every other version.
func CompareVersions(a, op, b string) (status, ok bool) {
	rel, nl := op, strings.HasSuffix(op, "-nl")
	if nl {
		rel = strings.TrimSuffix(op, "-nl")
	}
	var want func(c int) bool
	switch rel {
	case "lt", "<<":
		want = func(c int) bool { return c < 0 }
	case "le", "<=", "<":
		want = func(c int) bool { return c <= 0 }
	case "eq", "=":
		want = func(c int) bool { return c == 0 }
	case "ne":
		want = func(c int) bool { return c != 0 }
	case "ge", ">=", ">":
		want = func(c int) bool { return c >= 0 }
	case "gt", ">>":
		want = func(c int) bool { return c > 0 }
	}
	if want == nil || nl && !(rel == "lt" || rel == "le" || rel == "ge" || rel == "gt") {
		return false, false
	}
	blank := func(v string) bool { return v == "" || v == "<unknown>" }
	parse := func(v string) (evr.EVR, bool) {
		if blank(v) {
			return evr.EVR{}, true
		}
		e, err := evr.ParseDeb(v)
		return e, err == nil
	}
	ea, okA := parse(a)
	eb, okB := parse(b)
	if !okA || !okB {
		return false, false
	}
	if nl && blank(a) != blank(b) {
		if blank(a) {
			return want(1), true
		}
		return want(-1), true
	}
	return want(evr.CompareDeb(ea, eb)), true
}

// caseBranches decides which items of case "$1" in … run: live[i] is false for an item that never
// runs. ok is false when the word or a pattern before the match is not known.
func (w *walker) caseBranches(n *syntax.CaseClause) (live []bool, ok bool) {
	value, ok := w.wordValue(n.Word)
	if !ok {
		return nil, false
	}
	for _, item := range n.Items {
		if item.Op != syntax.Break {
			return nil, false // ;& and ;;& run on into the next item
		}
	}
	live = make([]bool, len(n.Items))
	for i, item := range n.Items {
		match := false
		for _, pat := range item.Patterns {
			m, known := casePattern(pat, value)
			if !known {
				// Undecided from here on: this item and the rest may run.
				for j := i; j < len(live); j++ {
					live[j] = true
				}
				return live, true
			}
			match = match || m
		}
		if match {
			live[i] = true
			return live, true
		}
	}
	return live, true
}

// casePattern matches value against a case pattern written as a literal, quoted or not; an unquoted
// pattern may use * and ?.
func casePattern(pat *syntax.Word, value string) (match, known bool) {
	for i := 0; i < len(value); i++ {
		if value[i] >= 0x80 {
			return false, false // ? matches a character, not a byte
		}
	}
	if len(pat.Parts) == 1 {
		if lit, ok := pat.Parts[0].(*syntax.Lit); ok {
			if strings.ContainsAny(lit.Value, "[\\") {
				return false, false
			}
			return globMatch(lit.Value, value), true
		}
	}
	for _, part := range pat.Parts {
		switch part.(type) {
		case *syntax.SglQuoted, *syntax.DblQuoted:
		default:
			return false, false
		}
	}
	v, ok := staticWord(pat)
	return ok && v == value, ok
}

// globMatch matches s against a pattern of literal characters, * and ?.
func globMatch(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if globMatch(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && globMatch(pattern[1:], s[1:])
	}
	return s != "" && s[0] == pattern[0] && globMatch(pattern[1:], s[1:])
}
