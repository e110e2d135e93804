package scriptlet

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"
)

// analysis collects the findings of one script.
type analysis struct {
	findings  []Finding
	notes     []string
	initramfs bool
	unsafe    bool
	rewrites  int
	rewritten string
	// args are the script's arguments ($1, $2 …) when known (Script.Args).
	args []string
	// debconf are the answers of db_get (Script.Debconf), nil when not known.
	debconf map[string]string
	// debian reports a Debian maintainer script, which dpkg runs with DPKG_ROOT empty (the root is /).
	debian bool
	// dead marks the findings of replacements in code that never runs: they do not make the script
	// Rewritable.
	dead map[int]bool
	// depth counts the scripts this one is nested in (sh -c, trap).
	depth int
}

// refuse records a command that cannot run offline.
func (a *analysis) refuse(line int, cmd, reason string) {
	a.unsafe = true
	a.findings = append(a.findings, Finding{Line: line, Command: cmd, Reason: reason})
}

// note records a note once.
func (a *analysis) note(text string) {
	if text != "" && !slices.Contains(a.notes, text) {
		a.notes = append(a.notes, text)
	}
}

// result returns the verdict.
func (a *analysis) result() Analysis {
	res := Analysis{Findings: a.findings, Initramfs: a.initramfs}
	switch {
	case a.unsafe:
		res.Verdict = Unsafe
	case a.rewrites > 0:
		res.Verdict = Rewritable
		res.Rewritten = a.rewritten
		res.Notes = a.notes
	default:
		res.Verdict = Safe
		res.Findings = nil
		for i, f := range a.findings {
			if !a.dead[i] {
				res.Findings = append(res.Findings, f)
			}
		}
	}
	return res
}

// isShell reports whether prog is a POSIX shell this package parses.
func isShell(prog string) bool {
	switch prog {
	case "/bin/sh", "/usr/bin/sh", "/bin/bash", "/usr/bin/bash", "/bin/dash", "/usr/bin/dash", "sh", "bash",
		"dash":
		return true
	}
	return false
}

// dialect is the language prog speaks: bash for rpm's /bin/sh (bash on every rpm distribution),
// POSIX for Debian's /bin/sh (dash).
func dialect(prog string, kind Kind) syntax.LangVariant {
	switch path.Base(prog) {
	case "bash":
		return syntax.LangBash
	case "dash":
		return syntax.LangPOSIX
	}
	if kind.Debian() {
		return syntax.LangPOSIX
	}
	return syntax.LangBash
}

// maxCommandText bounds Finding.Command.
const maxCommandText = 200

// program judges rpm's "-p program" form: the program runs with no script.
func (a *analysis) program(argv []string) {
	c := staticCommand(argv, a.depth)
	text := strings.Join(argv, " ")
	switch r := judge(c); r.effect {
	case bootImage:
		a.initramfs = true
	case replace, refuse:
		// A program cannot be rewritten into a script here: the caller would have to change the
		// interpreter, so anything but a safe program is unsafe.
		reason := r.reason
		if r.effect == replace {
			reason += " (the -p program cannot be rewritten)"
		}
		a.refuse(0, text, reason)
	}
}

// shell analyses a shell script and, when every finding can be replaced, prints the rewritten script.
func (a *analysis) shell(body string, lang syntax.LangVariant) {
	a.shellWith(body, lang, nil)
}

// shellWith analyses a shell script that knows the functions of outer (for a trap's text); outer may
// be nil.
func (a *analysis) shellWith(body string, lang syntax.LangVariant, outer *walker) {
	body, encoded := encodeInvalidUTF8(body)
	parser := syntax.NewParser(syntax.KeepComments(true), syntax.Variant(lang))
	file, err := parser.Parse(strings.NewReader(body), "")
	if err != nil {
		line := 0
		var perr syntax.ParseError
		if errors.As(err, &perr) {
			line = int(perr.Pos.Line())
		}
		a.refuse(line, "", fmt.Sprintf("cannot be parsed as %s: %v", lang, err))
		return
	}
	w := &walker{a: a, lang: lang, heredocs: map[*syntax.Word]bool{}, functions: map[string]bool{},
		forwarders: map[string][]forwardedCall{}, forwarding: map[*syntax.CallExpr]bool{},
		values: map[string][]string{}, changing: map[string]bool{}, stmtOf: map[*syntax.CallExpr]*syntax.Stmt{},
		src: body, statuses: map[*syntax.Stmt][2]bool{}, parents: map[syntax.Node]syntax.Node{},
		bodies: map[string]*syntax.Stmt{}, assigned: map[string][]*syntax.Word{}, otherwise: map[string]bool{}}
	if outer != nil {
		for name := range outer.functions {
			w.functions[name] = true
		}
		for name, calls := range outer.forwarders {
			w.forwarders[name] = calls
		}
	}
	syntax.Walk(file, w.collect)
	w.unused = w.unusedFunctions(file)
	w.argsKept = len(a.args) > 0 && w.positionalsKept(file)
	w.dpkgRootEmpty = a.debian && w.neverSets(file, "DPKG_ROOT")
	syntax.Walk(file, w.visit)
	if a.rewrites > 0 && !a.unsafe {
		var buf bytes.Buffer
		if err := printNode(&buf, file); err != nil {
			a.refuse(0, "", fmt.Sprintf("cannot print the rewritten script: %v", err))
			return
		}
		a.rewritten = buf.String()
		if encoded {
			a.rewritten = decodeInvalidUTF8(a.rewritten)
		}
	}
	if encoded {
		for i := range a.findings {
			a.findings[i].Command = strings.Map(func(r rune) rune {
				if isByteRune(r) {
					return utf8.RuneError
				}
				return r
			}, a.findings[i].Command)
		}
	}
}

// walker visits a parsed script.
type walker struct {
	a    *analysis
	lang syntax.LangVariant
	// heredocs are here-document bodies: data, not paths the script opens.
	heredocs map[*syntax.Word]bool
	// functions are the functions the script defines (and those of the libraries it sources); their
	// bodies are analysed where they are defined, so calling them is safe.
	functions map[string]bool
	// forwarders are the functions that pass their arguments on ("$@") to a command, with those
	// commands: a call of the function is judged as the command with the call's arguments.
	forwarders map[string][]forwardedCall
	// forwarding are the commands inside forwarders; they are judged at every call of their function.
	forwarding map[*syntax.CallExpr]bool
	// dead counts the enclosing branches that never run offline (if false; then …); refusals there
	// do not count.
	dead int
	// values are the literal values assigned to each variable; a variable in changing is assigned
	// otherwise too (an expansion, read, for …), so its values are unknown.
	values   map[string][]string
	changing map[string]bool
	// stmtOf maps each simple command to its statement, whose redirections move with a replacement.
	stmtOf map[*syntax.CallExpr]*syntax.Stmt
	// forwardings counts the commands judged for calls of forwarders, bounded by maxForwardings.
	forwardings int
	// src is the script's text, for quoting commands as written.
	src string
	// statuses memoises exitStatus.
	statuses map[*syntax.Stmt][2]bool
	// parents maps each node of the script to the node that holds it, stack is the path to the node
	// collect is at.
	parents map[syntax.Node]syntax.Node
	stack   []syntax.Node
	// bodies are the bodies of the script's own functions; unused are the functions nothing calls,
	// whose bodies never run.
	bodies map[string]*syntax.Stmt
	unused map[*syntax.FuncDecl]bool
	// assigned holds every value assigned to a variable by name=value; otherwise marks the variables
	// also set in other ways (read, for, +=, arrays).
	assigned  map[string][]*syntax.Word
	otherwise map[string]bool
	// ifs memoises ifsChanged: 1 changed, -1 not, 0 not known yet.
	ifs int
	// argsKept reports that the script's top level sees the arguments it was given (analysis.args).
	argsKept bool
	// dpkgRootEmpty reports a Debian script that never sets DPKG_ROOT, which dpkg exports empty for
	// the root / (offline in the chroot as at first boot).
	dpkgRootEmpty bool
}

// forwardedCall is a command inside a function that passes the function's arguments on, with the
// walker of the script it is written in (a trap's text may call the functions of its script).
type forwardedCall struct {
	call  *syntax.CallExpr
	owner *walker
}

// reservedNames are the builtins a script must not redefine as functions: the dead-branch analysis
// and the replacements rely on what they do.
var reservedNames = []string{":", "true", "false", "test", "[", "command", "builtin", "eval", "exec", "trap",
	".", "source", "set", "exit", "return"}

// maxForwardings bounds the work on functions that forward to functions: each call of a forwarder
// judges every command it forwards to, which multiplies along a chain of forwarders.
const maxForwardings = 2000

// collect finds functions, forwarders, sourced libraries and here-documents before the analysis.
func (w *walker) collect(node syntax.Node) bool {
	if node == nil {
		w.stack = w.stack[:len(w.stack)-1]
		return true
	}
	if len(w.stack) > 0 {
		w.parents[node] = w.stack[len(w.stack)-1]
	}
	w.stack = append(w.stack, node)
	switch n := node.(type) {
	case *syntax.FuncDecl:
		name := n.Name.Value
		w.functions[name] = true
		w.bodies[name] = n.Body
		syntax.Walk(n.Body, func(inner syntax.Node) bool {
			if call, ok := inner.(*syntax.CallExpr); ok && slices.ContainsFunc(call.Args, isAllArgs) {
				w.forwarders[name] = append(w.forwarders[name], forwardedCall{call: call, owner: w})
				w.forwarding[call] = true
			}
			return true
		})
	case *syntax.Redirect:
		if n.Hdoc != nil {
			w.heredocs[n.Hdoc] = true
		}
	case *syntax.CallExpr:
		if len(n.Args) == 2 {
			name, _ := staticWord(n.Args[0])
			file, static := staticWord(n.Args[1])
			if (name == "." || name == "source") && static {
				for _, fn := range sourcedLibraries[path.Clean(file)] {
					w.functions[fn] = true
				}
			}
		}
		if len(n.Args) > 0 {
			// Builtins that assign the variables named in their arguments.
			switch name, _ := staticWord(n.Args[0]); name {
			case "read", "getopts", "mapfile", "readarray", "printf", "let", "unset":
				for _, arg := range n.Args[1:] {
					if v, ok := staticWord(arg); ok {
						w.changing[v] = true
						w.otherwise[v] = true
					}
				}
			}
		}
	case *syntax.Assign:
		switch {
		case n.Name == nil || n.Naked:
		case n.Append || n.Array != nil || n.Index != nil:
			w.changing[n.Name.Value] = true
			w.otherwise[n.Name.Value] = true
		case n.Value == nil:
			w.values[n.Name.Value] = append(w.values[n.Name.Value], "")
		default:
			w.assigned[n.Name.Value] = append(w.assigned[n.Name.Value], n.Value)
			if v, ok := staticWord(n.Value); ok {
				w.values[n.Name.Value] = append(w.values[n.Name.Value], v)
			} else {
				w.changing[n.Name.Value] = true
			}
		}
	case *syntax.ForClause:
		if it, ok := n.Loop.(*syntax.WordIter); ok {
			w.changing[it.Name.Value] = true
			w.otherwise[it.Name.Value] = true
		}
	case *syntax.ParamExp:
		if n.Exp != nil && n.Param != nil && (n.Exp.Op == syntax.AssignUnset || n.Exp.Op == syntax.AssignUnsetOrNull) {
			w.changing[n.Param.Value] = true
			w.otherwise[n.Param.Value] = true
		}
	}
	return true
}

// candidates returns the literal values a command name of the form $x, "$x" or ${x} can take: every
// value the script assigns to x, when all of them are literals. Unquoted, a value is split into
// words (split reports it).
func (w *walker) candidates(word *syntax.Word) (values []string, split, ok bool) {
	name, split, ok := commandVariable(word)
	if !ok {
		return nil, false, false
	}
	for _, v := range w.values[name] {
		if strings.TrimSpace(v) != "" && !slices.Contains(values, v) {
			values = append(values, v)
		}
	}
	return values, split, !w.changing[name] && len(values) > 0
}

// isAllArgs reports whether w is "$@", $@, "$*" or $*.
func isAllArgs(w *syntax.Word) bool {
	if len(w.Parts) != 1 {
		return false
	}
	part := w.Parts[0]
	if dq, ok := part.(*syntax.DblQuoted); ok && len(dq.Parts) == 1 {
		part = dq.Parts[0]
	}
	pe, ok := part.(*syntax.ParamExp)
	return ok && pe.Param != nil && (pe.Param.Value == "@" || pe.Param.Value == "*") && pe.Exp == nil &&
		pe.Index == nil && pe.Slice == nil && pe.Repl == nil && !pe.Length && !pe.Excl
}

// refuse records a refusal unless the command sits in a branch that never runs offline.
func (w *walker) refuse(line int, cmd, reason string) {
	if w.dead == 0 {
		w.a.refuse(line, cmd, reason)
	}
}

// rewrote records a replacement. One in a branch that never runs is made in the rewritten text too
// (harmless there) but does not make the script Rewritable.
func (w *walker) rewrote(f Finding) {
	a := w.a
	if w.dead > 0 {
		if a.dead == nil {
			a.dead = map[int]bool{}
		}
		a.dead[len(a.findings)] = true
	} else {
		a.rewrites++
	}
	a.findings = append(a.findings, f)
}

// walkStmts visits statements, dead when the branch never runs offline.
func (w *walker) walkStmts(stmts []*syntax.Stmt, dead bool) {
	if dead {
		w.dead++
		defer func() { w.dead-- }()
	}
	for i, s := range stmts {
		syntax.Walk(s, w.visit)
		if isExit(s) && i+1 < len(stmts) {
			// The statements after an exit never run (a stray "~" after "exit 0" in libnewt's preinst).
			w.dead++
			defer func() { w.dead-- }()
		}
	}
}

// isExit reports whether s is a plain exit, which ends the script (or the subshell it is in).
func isExit(s *syntax.Stmt) bool {
	call, ok := s.Cmd.(*syntax.CallExpr)
	if !ok || s.Negated || s.Background || s.Coprocess || len(call.Args) == 0 || len(call.Assigns) > 0 {
		return false
	}
	name, static := staticWord(call.Args[0])
	return static && name == "exit"
}

// visit judges one node; it returns false when it has visited the children itself or when they must
// not be visited (a replaced command).
func (w *walker) visit(node syntax.Node) bool {
	switch n := node.(type) {
	case *syntax.File:
		w.walkStmts(n.Stmts, false)
		return false
	case *syntax.Stmt:
		if n.Background {
			w.refuse(line(n), w.text(n.Cmd), "runs in the background, beyond the package transaction")
		}
		if n.Coprocess {
			w.refuse(line(n), w.text(n.Cmd), "runs a coprocess, beyond the package transaction")
		}
		if tc, ok := n.Cmd.(*syntax.TestClause); ok {
			w.testClause(n, tc)
		}
		if call, ok := n.Cmd.(*syntax.CallExpr); ok {
			w.stmtOf[call] = n
		}
	case *syntax.IfClause:
		w.walkStmts(n.Cond, false)
		status, known := w.exitStatus(n.Cond)
		w.walkStmts(n.Then, known && !status)
		if n.Else != nil {
			w.dead += boolInt(known && status)
			syntax.Walk(n.Else, w.visit)
			w.dead -= boolInt(known && status)
		}
		return false
	case *syntax.WhileClause:
		w.walkStmts(n.Cond, false)
		status, known := w.exitStatus(n.Cond)
		w.walkStmts(n.Do, known && status == n.Until)
		return false
	case *syntax.BinaryCmd:
		if n.Op != syntax.AndStmt && n.Op != syntax.OrStmt {
			return true
		}
		w.walkStmts([]*syntax.Stmt{n.X}, false)
		status, known := w.exitStatus([]*syntax.Stmt{n.X})
		w.walkStmts([]*syntax.Stmt{n.Y}, known && status == (n.Op == syntax.OrStmt))
		return false
	case *syntax.CaseClause:
		live, known := w.caseBranches(n)
		if !known {
			return true
		}
		syntax.Walk(n.Word, w.visit)
		for i, item := range n.Items {
			for _, pat := range item.Patterns {
				syntax.Walk(pat, w.visit)
			}
			w.walkStmts(item.Stmts, !live[i])
		}
		return false
	case *syntax.CoprocClause:
		w.refuse(line(n), w.text(n), "runs a coprocess, beyond the package transaction")
	case *syntax.FuncDecl:
		if slices.Contains(reservedNames, n.Name.Value) {
			w.refuse(line(n), n.Name.Value+"()", "redefines "+n.Name.Value+
				", which the analysis (and the rewriting) relies on")
		}
		if w.unused[n] {
			// Nothing calls it: its body never runs.
			w.walkStmts([]*syntax.Stmt{n.Body}, true)
			return false
		}
	case *syntax.Word:
		if !w.heredocs[n] {
			if reason := livePath(n); reason != "" {
				w.refuse(line(n), w.text(n), reason)
			}
		}
	case *syntax.CallExpr:
		if len(n.Args) == 0 || w.forwarding[n] {
			return true
		}
		return w.call(n)
	}
	return true
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// exitStatus returns the exit status of a list of statements when it is known before running it
// (true for success): ":" and "true" succeed, "false" fails, and && || ! combine them.
func (w *walker) exitStatus(stmts []*syntax.Stmt) (status, known bool) {
	if len(stmts) == 0 {
		return false, false
	}
	s := stmts[len(stmts)-1]
	if memo, ok := w.statuses[s]; ok {
		return memo[0], memo[1]
	}
	defer func() { w.statuses[s] = [2]bool{status, known} }()
	switch c := s.Cmd.(type) {
	case *syntax.CallExpr:
		if len(c.Assigns) == 0 && len(c.Args) == 1 {
			switch name, _ := staticWord(c.Args[0]); name {
			case ":", "true":
				status, known = true, true
			case "false":
				status, known = false, true
			}
		}
		if !known {
			status, known = w.argStatus(c)
		}
	case *syntax.BinaryCmd:
		x, kx := w.exitStatus([]*syntax.Stmt{c.X})
		y, ky := w.exitStatus([]*syntax.Stmt{c.Y})
		switch c.Op {
		case syntax.AndStmt:
			switch {
			case kx && !x, ky && !y:
				status, known = false, true
			case kx && ky:
				status, known = true, true
			}
		case syntax.OrStmt:
			switch {
			case kx && x, ky && y:
				status, known = true, true
			case kx && ky:
				status, known = false, true
			}
		}
	case *syntax.Block:
		status, known = w.exitStatus(c.Stmts)
	case *syntax.Subshell:
		status, known = w.exitStatus(c.Stmts)
	}
	if s.Negated {
		status = !status
	}
	return status, known
}

// testClause replaces [[ -d /run/systemd/system ]] by false, as testRule does for [ and test.
func (w *walker) testClause(s *syntax.Stmt, tc *syntax.TestClause) {
	u, ok := tc.X.(*syntax.UnaryTest)
	if !ok {
		return
	}
	word, ok := u.X.(*syntax.Word)
	if !ok {
		return
	}
	file, static := staticWord(word)
	if !static || !isLiveMarkerTest(u.Op.String(), file) {
		return
	}
	at, original := line(s), w.text(tc)
	s.Cmd = &syntax.CallExpr{Args: []*syntax.Word{literalAt("false", tc.Pos())}}
	w.rewrote(Finding{Line: at, Command: original, Reason: liveMarkerReason(file), Replacement: "false"})
}

// commandOf returns the words of a simple command as the rules see them.
func (w *walker) commandOf(args []*syntax.Word, depth int) command {
	c := command{depth: depth}
	for _, word := range args {
		text, static := staticWord(word)
		prefix, source := text, text
		if !static {
			source = w.raw(word)
			text, prefix = shorten(source), optionPrefix(word)
		}
		c.words = append(c.words, text)
		c.static = append(c.static, static)
		c.prefix = append(c.prefix, prefix)
		c.source = append(c.source, source)
	}
	if len(c.words) > 0 {
		c.name = resolveName(c.words[0])
	}
	return c
}

// optionPrefix returns the literal start of a word; for ${x:+--opt=…} (an option given only when x is
// set) it is the start of the alternative.
func optionPrefix(w *syntax.Word) string {
	if len(w.Parts) == 1 {
		if pe, ok := w.Parts[0].(*syntax.ParamExp); ok && pe.Exp != nil && pe.Exp.Word != nil &&
			(pe.Exp.Op == syntax.AlternateUnset || pe.Exp.Op == syntax.AlternateUnsetOrNull) {
			return staticPrefix(pe.Exp.Word)
		}
	}
	return staticPrefix(w)
}

// judgeCommand judges c, knowing the script's functions.
func (w *walker) judgeCommand(c command) ruling {
	if !c.static[0] || strings.Contains(c.words[0], "/") || !w.functions[c.words[0]] {
		if c.static[0] && c.words[0] == "trap" {
			return w.trap(c)
		}
		return judge(c)
	}
	calls := w.forwarders[c.words[0]]
	if len(calls) == 0 {
		return ruling{}
	}
	if c.depth > maxDepth {
		return ruling{effect: refuse, reason: "functions forward to each other too deeply to analyse"}
	}
	if w.forwardings += len(calls); w.forwardings > maxForwardings {
		return ruling{effect: refuse, reason: "functions forward to each other too often to analyse"}
	}
	// Each forwarding command runs with this call's arguments in place of "$@".
	var rulings []ruling
	for _, fwd := range calls {
		var words []*syntax.Word
		at := -1
		for _, word := range fwd.call.Args {
			if isAllArgs(word) {
				if at >= 0 {
					return ruling{effect: refuse, reason: "forwards its arguments twice in " + fwd.owner.text(fwd.call)}
				}
				at = len(words)
				continue
			}
			words = append(words, word)
		}
		inner := spliced(fwd.owner.commandOf(words, c.depth+1), at, c)
		if len(inner.words) == 0 {
			rulings = append(rulings, ruling{})
			continue
		}
		r := w.judgeCommand(inner)
		if r.effect == replace && len(r.insert) > 0 {
			return ruling{effect: refuse, reason: "forwards to " + inner.words[0] + ": " + r.reason}
		}
		if r.effect == replace && r.with == "" {
			// The dropped words must be the call's own arguments, which sit at at… in inner.
			drop := make([]int, 0, len(r.drop))
			for _, d := range r.drop {
				if d < at || d >= at+len(c.words)-1 {
					return ruling{effect: refuse, reason: "forwards to " + inner.words[0] + ": " + r.reason}
				}
				drop = append(drop, d-at+1)
			}
			r.drop = drop
		}
		if r.effect == refuse && fwd.owner.inDeadBranch(fwd.call) {
			continue // never runs: in_sysroot's chroot "$DPKG_ROOT" "$@" when DPKG_ROOT is empty
		}
		if r.effect == refuse {
			r.reason = "forwards to " + fwd.owner.text(fwd.call) + ": " + r.reason
		}
		rulings = append(rulings, r)
	}
	return combine(rulings)
}

// inDeadBranch reports whether node sits in a branch of an if that never runs: the then of a
// condition known to fail, or the else (or elif) of one known to succeed.
func (w *walker) inDeadBranch(node syntax.Node) bool {
	for child, p := node, w.parents[node]; p != nil; child, p = p, w.parents[p] {
		clause, ok := p.(*syntax.IfClause)
		if !ok {
			continue
		}
		status, known := w.exitStatus(clause.Cond)
		if !known {
			continue
		}
		if s, isStmt := child.(*syntax.Stmt); isStmt && !status && slices.Contains(clause.Then, s) {
			return true
		}
		if child == syntax.Node(clause.Else) && status {
			return true
		}
	}
	return false
}

// spliced inserts the arguments of call (without its name) into c at index at.
func spliced(c command, at int, call command) command {
	out := command{depth: c.depth}
	out.words = slices.Concat(c.words[:at], call.words[1:], c.words[at:])
	out.static = slices.Concat(c.static[:at], call.static[1:], c.static[at:])
	out.prefix = slices.Concat(c.prefix[:at], call.prefix[1:], c.prefix[at:])
	out.source = slices.Concat(c.source[:at], call.source[1:], c.source[at:])
	if len(out.words) == 0 {
		return out
	}
	out.name = resolveName(out.words[0])
	return out
}

// combine merges the rulings of the commands one call runs: a refusal wins, replacements must agree.
func combine(rs []ruling) ruling {
	out := ruling{}
	for i, r := range rs {
		switch {
		case r.effect == refuse:
			return r
		case r.effect == bootImage && out.effect == keep:
			out.effect = bootImage
		case r.effect == replace && i == 0:
			out = r
		case r.effect == replace && (out.effect != replace || out.with != r.with || r.with == ""):
			return ruling{effect: refuse, reason: "runs commands that need different replacements"}
		case r.effect != replace && out.effect == replace:
			return ruling{effect: refuse, reason: "runs commands that need different replacements"}
		}
	}
	return out
}

// trap analyses the command text of a trap, which may call the script's functions.
func (w *walker) trap(c command) ruling {
	if len(c.words) < 3 {
		return ruling{} // "trap", "trap -p", "trap -l": listing only
	}
	text, static := c.arg(1)
	if !static {
		if len(c.source) < 2 {
			return ruling{effect: refuse, reason: "the trap's command is built at run time"}
		}
		// trap "rm -f $tmp" EXIT: the text is analysed as written; its expansions happen when the
		// trap is set, so a command name built from them is still refused.
		text = strings.TrimSuffix(strings.TrimPrefix(c.source[1], `"`), `"`)
	}
	if text == "-" || text == "" {
		return ruling{}
	}
	inner := analysis{depth: c.depth + 1}
	inner.shellWith(text, w.lang, w)
	switch res := inner.result(); {
	case res.Verdict == Safe && res.Initramfs:
		return ruling{effect: bootImage}
	case res.Verdict == Safe:
		return ruling{}
	case len(res.Findings) > 0:
		return ruling{effect: refuse, reason: fmt.Sprintf("the trap runs %q: %s", res.Findings[0].Command,
			res.Findings[0].Reason)}
	}
	return ruling{effect: refuse, reason: "the trap's command is not safe offline"}
}

// call judges one simple command and applies the replacement when there is one.
func (w *walker) call(n *syntax.CallExpr) bool {
	a := w.a
	c := w.commandOf(n.Args, a.depth)
	var r ruling
	if heads, ok := w.commandValues(n); ok && !c.static[0] {
		// UPDATE_CACHE=gtk-update-icon-cache … "$UPDATE_CACHE" --force, idl="invoke-rc.d $service" …
		// $idl restart: judge every value.
		var rulings []ruling
		for _, head := range heads {
			alt := command{depth: c.depth, name: resolveName(head.words[0])}
			alt.words = slices.Concat(head.words, c.words[1:])
			alt.static = slices.Concat(head.static, c.static[1:])
			alt.prefix = slices.Concat(head.prefix, c.prefix[1:])
			alt.source = slices.Concat(head.source, c.source[1:])
			v := strings.Join(head.words, " ")
			r := w.judgeCommand(alt)
			switch {
			case r.effect == refuse:
				r.reason = fmt.Sprintf("when it is %q: %s", v, r.reason)
			case r.effect == replace && r.with == "":
				r = ruling{effect: refuse, reason: fmt.Sprintf("when it is %q: %s", v, r.reason)}
			}
			rulings = append(rulings, r)
		}
		r = combine(rulings)
	} else if rs, ok := w.argumentVariants(n, c); ok {
		r = combine(rs)
	} else {
		r = w.judgeCommand(c)
	}
	switch r.effect {
	case bootImage:
		if w.dead == 0 {
			a.initramfs = true
		}
	case refuse:
		w.refuse(line(n), w.text(n), r.reason)
	case replace:
		at, original := line(n), w.text(n)
		if r.with != "" {
			pos := n.Pos()
			n.Assigns = nil
			n.Args = []*syntax.Word{literalAt(r.with, pos)}
			if s := w.stmtOf[n]; s != nil {
				w.pullRedirects(s, pos, len(r.with))
			}
		} else {
			args := n.Args[:0:0]
			for i, word := range n.Args {
				if len(r.insert) > 0 && i == r.insertAt {
					for _, ins := range r.insert {
						args = append(args, literalAt(ins, n.Args[max(i-1, 0)].End()))
					}
				}
				if !slices.Contains(r.drop, i) {
					args = append(args, word)
				}
			}
			if len(r.insert) > 0 && r.insertAt >= len(n.Args) {
				for _, ins := range r.insert {
					args = append(args, literalAt(ins, n.Args[len(n.Args)-1].End()))
				}
			}
			n.Args = args
		}
		w.rewrote(Finding{Line: at, Command: original, Reason: r.reason, Replacement: oneLine(n)})
		a.note(r.note)
		return r.with == ""
	}
	return true
}

// argumentVariants judges a command with one argument that is a variable ($action, "$action") for
// every value that can reach it (w.reaching: debhelper's _dh_action=restart or start before
// "invoke-rc.d cron $_dh_action"), when every value is a literal that stays one word; ok is false
// otherwise, and the command is judged with the argument unknown.
func (w *walker) argumentVariants(n *syntax.CallExpr, c command) ([]ruling, bool) {
	at := -1
	for i := 1; i < len(c.static); i++ {
		if !c.static[i] {
			if at >= 0 {
				return nil, false
			}
			at = i
		}
	}
	if at < 0 || !c.static[0] {
		return nil, false
	}
	name, split, ok := commandVariable(n.Args[at])
	if !ok || !isVariableName(name) {
		return nil, false
	}
	values, ok := w.reaching(n, name)
	if !ok || len(values) == 0 || len(values) > 8 {
		return nil, false
	}
	var rs []ruling
	for _, value := range values {
		v, static := staticWord(value)
		if !static || v == "" || split && (w.ifsChanged() || strings.ContainsAny(v, " \t\n*?[\\")) {
			return nil, false
		}
		alt := c
		alt.words = slices.Clone(c.words)
		alt.static = slices.Clone(c.static)
		alt.prefix = slices.Clone(c.prefix)
		alt.words[at], alt.static[at], alt.prefix[at] = v, true, v
		r := w.judgeCommand(alt)
		if r.effect == refuse {
			r.reason = fmt.Sprintf("when $%s is %q: %s", name, v, r.reason)
		}
		rs = append(rs, r)
	}
	// One note for all values: the command's own when it is judged with the argument unknown
	// (deb-systemd-invoke $_dh_action: "not started or restarted"), else each value's.
	var notes []string
	for _, r := range rs {
		if r.note != "" && !slices.Contains(notes, r.note) {
			notes = append(notes, r.note)
		}
	}
	if len(notes) > 1 {
		note := strings.Join(notes, "; ")
		if r := w.judgeCommand(c); r.effect == replace && r.note != "" {
			note = r.note
		}
		for i := range rs {
			rs[i].note = note
		}
	}
	return rs, true
}

// pullRedirects moves the redirections of a statement whose command shrank to one word (of width
// characters, at pos) onto that word's line, after it, so that the printer does not keep them on the
// continuation lines they were on.
func (w *walker) pullRedirects(s *syntax.Stmt, pos syntax.Pos, width int) {
	after := syntax.NewPos(pos.Offset()+uint(width)+1, pos.Line(), pos.Col()+uint(width)+1)
	for _, r := range s.Redirs {
		if r.Op == syntax.Hdoc || r.Op == syntax.DashHdoc || !r.OpPos.After(pos) ||
			r.OpPos.Line() == pos.Line() && r.Word.End().Line() == pos.Line() {
			continue
		}
		r.OpPos = after
		if r.N != nil {
			r.N.ValuePos, r.N.ValueEnd = after, after
		}
		// The target word is printed again from its text, with positions that never ask for a new
		// line.
		if word := reparseWord(r.Word, w.lang); word != nil {
			r.Word = word
		}
	}
}

// text returns node n as written in the script, on one line and shortened; nodes the rewriting made
// are printed instead.
func (w *walker) text(n syntax.Node) string { return shorten(w.raw(n)) }

// raw returns node n as written in the script; nodes the rewriting made are printed instead.
func (w *walker) raw(n syntax.Node) string {
	start, end := n.Pos(), n.End()
	if !start.IsValid() || !end.IsValid() || end.Offset() > uint(len(w.src)) || start.Offset() >= end.Offset() {
		var buf bytes.Buffer
		if err := printNode(&buf, n); err != nil {
			return fmt.Sprintf("<%T>", n)
		}
		return buf.String()
	}
	return w.src[start.Offset():end.Offset()]
}
