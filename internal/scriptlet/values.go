package scriptlet

import (
	"regexp"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// This file follows the values a script assigns to a variable to the commands that use it as their
// program (idl="invoke-rc.d $service" … $idl restart), and finds the functions a script defines but
// never calls.

// fields are the words a variable's value becomes where it is expanded as a command name, in the
// form of command's slices.
type fields struct {
	words, prefix, source []string
	static                []bool
}

// valueLiteral matches the literal text a value may hold to be split into fields here: no quotes,
// globs, escapes or other characters the shell would read again after the expansion.
var valueLiteral = regexp.MustCompile(`^[A-Za-z0-9._/+=:@%,\-\s]*$`)

// fieldsOf returns the words value becomes when a command name $x (split) or "$x" expands to it: the
// literal text is split at blanks, and each expansion (${service}) makes the word it is in known only
// at run time, as one word (as the rules see every unquoted expansion). ok is false when the value
// holds anything else (command substitutions, quotes, globs).
func fieldsOf(value *syntax.Word, split bool) (f fields, ok bool) {
	var cur, curPrefix strings.Builder
	inWord, static := false, true
	flush := func() {
		if !inWord {
			return
		}
		f.words = append(f.words, cur.String())
		f.source = append(f.source, cur.String())
		f.prefix = append(f.prefix, curPrefix.String())
		f.static = append(f.static, static)
		cur.Reset()
		curPrefix.Reset()
		inWord, static = false, true
	}
	literal := func(text string) bool {
		if !valueLiteral.MatchString(text) {
			return false
		}
		for _, r := range text {
			if split && strings.ContainsRune(" \t\n", r) {
				flush()
				continue
			}
			if !split && strings.ContainsRune("\t\n", r) {
				return false
			}
			inWord = true
			cur.WriteRune(r)
			if static {
				curPrefix.WriteRune(r)
			}
		}
		return true
	}
	param := func(pe *syntax.ParamExp) bool {
		if pe.Param == nil || pe.Exp != nil || pe.Index != nil || pe.Slice != nil || pe.Repl != nil ||
			pe.Length || pe.Excl || pe.Width || pe.Names != 0 {
			return false
		}
		inWord, static = true, false
		cur.WriteString("${" + pe.Param.Value + "}")
		return true
	}
	for _, part := range value.Parts {
		switch p := part.(type) {
		case *syntax.Lit:
			if !literal(p.Value) {
				return fields{}, false
			}
		case *syntax.SglQuoted:
			if p.Dollar || !literal(p.Value) {
				return fields{}, false
			}
		case *syntax.DblQuoted:
			for _, inner := range p.Parts {
				switch ip := inner.(type) {
				case *syntax.Lit:
					if !literal(ip.Value) {
						return fields{}, false
					}
				case *syntax.ParamExp:
					if !param(ip) {
						return fields{}, false
					}
				default:
					return fields{}, false
				}
			}
		case *syntax.ParamExp:
			// Unquoted in the assignment: no splitting there, but the value is split where it is used.
			if !param(p) {
				return fields{}, false
			}
		default:
			return fields{}, false
		}
	}
	flush()
	return f, len(f.words) > 0
}

// commandVariable returns the name of the variable a command name of the form $x, "$x" or ${x}
// expands, and whether it is split (unquoted).
func commandVariable(word *syntax.Word) (name string, split, ok bool) {
	if len(word.Parts) != 1 {
		return "", false, false
	}
	part := word.Parts[0]
	split = true
	if dq, ok := part.(*syntax.DblQuoted); ok && len(dq.Parts) == 1 {
		part, split = dq.Parts[0], false
	}
	pe, isParam := part.(*syntax.ParamExp)
	if !isParam || pe.Param == nil || pe.Exp != nil || pe.Index != nil || pe.Slice != nil || pe.Repl != nil ||
		pe.Length || pe.Excl || pe.Width || pe.Names != 0 {
		return "", false, false
	}
	return pe.Param.Value, split, true
}

// reaching returns the values variable name may hold at use: the value of the last assignment
// "name=value" that every path to use goes through, with the values of the conditional assignments
// after it ([ -x … ] && name=…). ok is false when there is no such assignment in use's own function
// (or in the script, outside functions), or when something between may set the variable otherwise
// (read, for, a function that assigns it, a loop that assigns it after use).
func (w *walker) reaching(use syntax.Node, name string) (values []*syntax.Word, ok bool) {
	node := use
	for {
		parent := w.parents[node]
		if _, ok := parent.(*syntax.FuncDecl); ok || parent == nil {
			return nil, false
		}
		if s, isStmt := node.(*syntax.Stmt); isStmt {
			for _, list := range stmtLists(parent) {
				at := slices.Index(list, s)
				for j := at - 1; j >= 0; j-- {
					if v := plainAssignment(list[j], name); v != nil {
						return append(values, v), true
					}
					if v := w.debconfAssignment(list[j], name); v != nil {
						return append(values, v), true
					}
					if vs := w.branchAssignments(list[j], name); vs != nil {
						return append(values, vs...), true
					}
					vs, known := w.assignmentsIn(list[j], name)
					if !known {
						return nil, false
					}
					values = append(values, vs...)
				}
			}
		}
		switch parent.(type) {
		case *syntax.WhileClause, *syntax.ForClause:
			// No assignment in the loop comes before use every time: the loop's later statements reach
			// use through the next iteration.
			if w.mayAssign(parent, name) {
				return nil, false
			}
		}
		node = parent
	}
}

// branchAssignments returns the values an if statement assigns to name when every branch (then, each
// elif, and an else) ends its own list with a plain assignment to it and nothing else in the statement
// may set it otherwise: the if then assigns it on every path, as debhelper's
// "if [ -n "$2" ]; then _dh_action=restart; else _dh_action=start; fi" does. Nil otherwise.
func (w *walker) branchAssignments(s *syntax.Stmt, name string) []*syntax.Word {
	clause, ok := s.Cmd.(*syntax.IfClause)
	if !ok || s.Negated || s.Background || s.Coprocess {
		return nil
	}
	if _, known := w.assignmentsIn(clause, name); !known {
		return nil
	}
	var values []*syntax.Word
	for c := clause; c != nil; c = c.Else {
		if len(c.Then) == 0 {
			return nil
		}
		v := plainAssignment(c.Then[len(c.Then)-1], name)
		if v == nil {
			return nil
		}
		if c.Else == nil && len(c.Cond) > 0 {
			return nil // no else: a path assigns nothing
		}
		values = append(values, v)
	}
	return values
}

// stmtLists returns the statement lists of a node that holds some.
func stmtLists(n syntax.Node) [][]*syntax.Stmt {
	switch n := n.(type) {
	case *syntax.File:
		return [][]*syntax.Stmt{n.Stmts}
	case *syntax.Block:
		return [][]*syntax.Stmt{n.Stmts}
	case *syntax.Subshell:
		return [][]*syntax.Stmt{n.Stmts}
	case *syntax.IfClause:
		return [][]*syntax.Stmt{n.Cond, n.Then}
	case *syntax.WhileClause:
		return [][]*syntax.Stmt{n.Cond, n.Do}
	case *syntax.ForClause:
		return [][]*syntax.Stmt{n.Do}
	case *syntax.CaseItem:
		return [][]*syntax.Stmt{n.Stmts}
	case *syntax.CmdSubst:
		return [][]*syntax.Stmt{n.Stmts}
	}
	return nil
}

// plainAssignment returns the value s assigns to name when s is an assignment statement that always
// runs whole (name=value, possibly with other assignments).
func plainAssignment(s *syntax.Stmt, name string) *syntax.Word {
	call, ok := s.Cmd.(*syntax.CallExpr)
	if !ok || len(call.Args) > 0 || s.Background || s.Coprocess || s.Negated {
		return nil
	}
	var value *syntax.Word
	for _, as := range call.Assigns {
		if as.Name == nil || as.Name.Value != name {
			continue
		}
		if as.Naked || as.Append || as.Array != nil || as.Index != nil || as.Value == nil {
			return nil
		}
		value = as.Value
	}
	return value
}

// assignmentsIn returns the values of the assignment statements to name inside node; known is false
// when node may set name in another way.
func (w *walker) assignmentsIn(node syntax.Node, name string) (values []*syntax.Word, known bool) {
	known = true
	syntax.Walk(node, func(n syntax.Node) bool {
		if !known {
			return false
		}
		if s, ok := n.(*syntax.Stmt); ok {
			if v := plainAssignment(s, name); v != nil {
				values = append(values, v)
				return false
			}
		}
		if w.setsVariable(n, name, map[string]bool{}) {
			known = false
			return false
		}
		return true
	})
	return values, known
}

// mayAssign reports whether anything inside node may set name.
func (w *walker) mayAssign(node syntax.Node, name string) bool {
	return w.bodyMaySet(node, name, map[string]bool{})
}

// setsVariable reports whether node itself (not its children) may set name other than by an
// assignment statement: an assignment as part of a command or a declaration, read and its kin,
// for, ${name=…}, sourcing or eval, and the call of a function that may set it.
func (w *walker) setsVariable(node syntax.Node, name string, seen map[string]bool) bool {
	switch n := node.(type) {
	case *syntax.Assign:
		return n.Name != nil && n.Name.Value == name
	case *syntax.DeclClause:
		for _, as := range n.Args {
			if as.Name != nil && as.Name.Value == name || as.Naked && as.Value != nil {
				return true
			}
		}
	case *syntax.ForClause:
		if it, ok := n.Loop.(*syntax.WordIter); ok && it.Name.Value == name {
			return true
		}
	case *syntax.ParamExp:
		return n.Exp != nil && n.Param != nil && n.Param.Value == name &&
			(n.Exp.Op == syntax.AssignUnset || n.Exp.Op == syntax.AssignUnsetOrNull)
	case *syntax.CallExpr:
		if len(n.Args) == 0 {
			return false
		}
		cmd, static := staticWord(n.Args[0])
		if !static {
			return w.mayCallFunction(n.Args[0]) || name == "RET"
		}
		if name == "RET" && setsRET(cmd) {
			return true
		}
		switch cmd {
		case "read", "getopts", "mapfile", "readarray", "printf", "let", "unset", "export", "readonly",
			"local", "declare", "typeset":
			for _, arg := range n.Args[1:] {
				if v, ok := staticWord(arg); !ok || v == name || strings.HasPrefix(v, name+"=") {
					return true
				}
			}
		case ".", "source", "eval", "trap", "command", "builtin", "exec":
			return true
		}
		if body, ok := w.bodies[cmd]; ok && !seen[cmd] {
			seen[cmd] = true
			return w.bodyMaySet(body, name, seen)
		}
	}
	return false
}

// bodyMaySet reports whether anything inside node (a function body) may set name, following the
// functions it calls (seen holds those already followed).
func (w *walker) bodyMaySet(node syntax.Node, name string, seen map[string]bool) bool {
	found := false
	syntax.Walk(node, func(n syntax.Node) bool {
		if found {
			return false
		}
		if s, ok := n.(*syntax.Stmt); ok && plainAssignment(s, name) != nil {
			found = true
			return false
		}
		found = w.setsVariable(n, name, seen)
		return !found
	})
	return found
}

// mayCallFunction reports whether a command name known only at run time may name one of the script's
// functions: when it is a variable whose every assignment starts with a literal that is not a
// function's name (or holds a slash, which makes the shell look for a file), it may not.
func (w *walker) mayCallFunction(word *syntax.Word) bool {
	if len(w.bodies) == 0 {
		return false
	}
	name, split, ok := commandVariable(word)
	if !ok || w.changing[name] && len(w.assigned[name]) == 0 {
		return true
	}
	for _, value := range w.assigned[name] {
		f, ok := fieldsOf(value, split)
		if !ok {
			return true
		}
		head := f.prefix[0]
		if strings.Contains(head, "/") {
			continue
		}
		if !f.static[0] {
			return true
		}
		if _, isFunc := w.bodies[head]; isFunc {
			return true
		}
	}
	return w.otherwise[name]
}

// unusedFunctions returns the functions that nothing in the script can call: their name appears only
// where they are defined, and no command of the script has a name known only at run time that could
// be theirs (a trap's or eval's text holds the name, so it counts).
func (w *walker) unusedFunctions(file *syntax.File) map[*syntax.FuncDecl]bool {
	var decls []*syntax.FuncDecl
	dynamic := false
	syntax.Walk(file, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.FuncDecl:
			decls = append(decls, n)
		case *syntax.CallExpr:
			if len(n.Args) > 0 {
				if _, static := staticWord(n.Args[0]); !static && w.mayCallFunction(n.Args[0]) {
					dynamic = true
				}
			}
		}
		return true
	})
	unused := map[*syntax.FuncDecl]bool{}
	if dynamic {
		return unused
	}
	for _, d := range decls {
		token := regexp.MustCompile(`(^|[^A-Za-z0-9_-])` + regexp.QuoteMeta(d.Name.Value) + `($|[^A-Za-z0-9_-])`)
		if len(token.FindAllStringIndex(w.src, 2)) == 1 && w.definedOnce(decls, d.Name.Value) {
			unused[d] = true
		}
	}
	return unused
}

// definedOnce reports whether exactly one of decls defines name.
func (w *walker) definedOnce(decls []*syntax.FuncDecl, name string) bool {
	n := 0
	for _, d := range decls {
		if d.Name.Value == name {
			n++
		}
	}
	return n == 1
}

// commandValues returns what a command name $x, "$x" or ${x} expands to, for each value x may hold
// there: the values reaching the command when the script assigns x on every path to it, or else
// every literal value the script assigns to x anywhere.
func (w *walker) commandValues(n *syntax.CallExpr) ([]fields, bool) {
	name, split, ok := commandVariable(n.Args[0])
	if !ok || split && w.ifsChanged() {
		return nil, false
	}
	if values, ok := w.reaching(n, name); ok {
		var out []fields
		for _, v := range values {
			f, ok := fieldsOf(v, split)
			if !ok {
				return nil, false
			}
			out = append(out, f)
		}
		return out, len(out) > 0
	}
	values, split, ok := w.candidates(n.Args[0])
	if !ok {
		return nil, false
	}
	var out []fields
	for _, v := range values {
		words := []string{v}
		if split {
			words = strings.Fields(v)
		}
		out = append(out, fields{words: words, prefix: words, source: words,
			static: slices.Repeat([]bool{true}, len(words))})
	}
	return out, true
}

// ifsChanged reports whether the script may change how unquoted expansions are split: it assigns
// IFS other than for one command (IFS= read …) or inside a function that makes IFS local.
func (w *walker) ifsChanged() bool {
	if w.ifs != 0 {
		return w.ifs > 0
	}
	changed := w.otherwise["IFS"]
	for node, parent := range w.parents {
		as, ok := node.(*syntax.Assign)
		if changed || !ok || as.Name == nil || as.Name.Value != "IFS" {
			continue
		}
		if call, ok := parent.(*syntax.CallExpr); ok && len(call.Args) > 0 {
			continue // IFS= read …: for that command only
		}
		if _, ok := parent.(*syntax.DeclClause); ok {
			continue // local IFS=…
		}
		changed = !w.inFunctionWithLocal(as, "IFS")
	}
	w.ifs = 1
	if !changed {
		w.ifs = -1
	}
	return changed
}

// inFunctionWithLocal reports whether node is inside a function that declares name local.
func (w *walker) inFunctionWithLocal(node syntax.Node, name string) bool {
	for p := w.parents[node]; p != nil; p = w.parents[p] {
		fd, ok := p.(*syntax.FuncDecl)
		if !ok {
			continue
		}
		local := false
		syntax.Walk(fd.Body, func(n syntax.Node) bool {
			switch n := n.(type) {
			case *syntax.DeclClause: // bash
				if n.Variant.Value == "local" || n.Variant.Value == "declare" || n.Variant.Value == "typeset" {
					for _, as := range n.Args {
						local = local || as.Name != nil && as.Name.Value == name
					}
				}
			case *syntax.CallExpr: // dash's local is a builtin
				if cmd, _ := staticWord(n.Args[0]); len(n.Args) > 1 && cmd == "local" {
					for _, arg := range n.Args[1:] {
						v, _ := staticWord(arg)
						local = local || v == name || strings.HasPrefix(v, name+"=")
					}
				}
			}
			return !local
		})
		return local
	}
	return false
}
