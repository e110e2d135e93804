package scriptlet

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// This file judges "python3 -c PROGRAM" by what the program can do, as oneliners.go does for perl, awk
// and sed. The check is an allow-list over the program's tokens, not an interpreter: a program is safe
// only when every module it imports is one of a few that cannot run programs, write files or open
// sockets, every use of a module goes to a function or value listed for it, every builtin it names is
// one that only computes or reads (open() only with a literal read mode), and it names nothing that
// reaches Python's internals (no __dunder__ names, getattr, eval, exec, compile, f-strings). Anything
// else is refused, even where it would be harmless.

// pyModuleAttrs lists, for each module a program may import, the names it may use from it (dotted
// below the module); a name of a submodule (os.path) is never itself a value, only its listed members.
// Each listed name is a function or value that only computes, reads files or the environment, or
// writes to the standard streams.
var pyModuleAttrs = map[string][]string{
	"sys": {"argv", "exit", "stdin", "stdout", "stderr", "version", "version_info", "hexversion",
		"platform", "byteorder", "maxsize", "maxunicode", "getdefaultencoding", "getfilesystemencoding"},
	"os": {"environ.get", "getenv", "listdir", "stat", "lstat", "readlink", "sep", "linesep", "curdir",
		"pardir", "getcwd", "walk", "path.exists", "path.lexists", "path.isdir", "path.isfile",
		"path.islink", "path.join", "path.basename", "path.dirname", "path.abspath", "path.normpath",
		"path.realpath", "path.split", "path.splitext", "path.getsize", "path.getmtime", "path.sep"},
	"os.path": {"exists", "lexists", "isdir", "isfile", "islink", "join", "basename", "dirname", "abspath",
		"normpath", "realpath", "split", "splitext", "getsize", "getmtime", "sep"},
	"re": {"compile", "match", "search", "fullmatch", "sub", "subn", "split", "findall", "finditer",
		"escape", "error", "I", "IGNORECASE", "M", "MULTILINE", "S", "DOTALL", "X", "VERBOSE", "A", "ASCII"},
	"json":         {"load", "loads", "dumps", "dump", "JSONDecodeError"},
	"glob":         {"glob", "iglob", "escape"},
	"fnmatch":      {"fnmatch", "fnmatchcase", "filter"},
	"string":       {"ascii_letters", "ascii_lowercase", "ascii_uppercase", "digits", "hexdigits", "punctuation", "whitespace", "printable"},
	"shlex":        {"split", "quote", "join"},
	"textwrap":     {"dedent", "indent", "fill", "wrap", "shorten"},
	"configparser": {"ConfigParser", "RawConfigParser", "Error", "NoSectionError", "NoOptionError"},
	"math":         {"floor", "ceil", "sqrt", "pow", "log", "log2", "log10", "inf", "nan", "isnan", "pi", "e"},
	"collections":  {"OrderedDict", "defaultdict", "Counter", "namedtuple", "deque"},
	"itertools":    {"chain", "groupby", "islice", "count", "product", "permutations", "combinations"},
	"functools":    {"reduce", "cmp_to_key"},
	"base64":       {"b64encode", "b64decode", "b32encode", "b32decode", "b16encode", "b16decode"},
	"hashlib":      {"md5", "sha1", "sha256", "sha512"},
}

// pyBuiltins are the names of Python 3's builtins (dir(builtins) of python3.11, without the
// __dunder__ names, which are refused anyway): true for those a program may use, false for those that
// run text as code, reach objects' internals or start a debugger or pager. TestPythonBuiltinsComplete
// checks the list against the host's python3.
var pyBuiltins = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`ArithmeticError AssertionError AttributeError BaseException
		BaseExceptionGroup BlockingIOError BrokenPipeError BufferError BytesWarning ChildProcessError
		ConnectionAbortedError ConnectionError ConnectionRefusedError ConnectionResetError
		DeprecationWarning EOFError Ellipsis EncodingWarning EnvironmentError Exception ExceptionGroup False
		FileExistsError FileNotFoundError FloatingPointError FutureWarning GeneratorExit IOError ImportError
		ImportWarning IndentationError IndexError InterruptedError IsADirectoryError KeyError
		KeyboardInterrupt LookupError MemoryError ModuleNotFoundError NameError None NotADirectoryError
		NotImplemented NotImplementedError OSError OverflowError PendingDeprecationWarning PermissionError
		ProcessLookupError RecursionError ReferenceError ResourceWarning RuntimeError RuntimeWarning
		StopAsyncIteration StopIteration SyntaxError SyntaxWarning SystemError SystemExit TabError
		TimeoutError True TypeError UnboundLocalError UnicodeDecodeError UnicodeEncodeError UnicodeError
		UnicodeTranslateError UnicodeWarning UserWarning ValueError Warning ZeroDivisionError abs aiter all
		anext any ascii bin bool bytearray bytes callable chr classmethod complex dict divmod enumerate
		exit filter float format frozenset hash hex id int isinstance issubclass iter len list map max
		min next object oct ord pow print property quit range repr reversed round set slice sorted
		staticmethod str sum super tuple type zip`) {
		pyBuiltins[n] = true
	}
	// open is allowed only in the call form checked by pyOpenReadOnly.
	for _, n := range strings.Fields(`breakpoint compile copyright credits delattr dir eval exec getattr
		globals hasattr help input license locals memoryview open setattr vars`) {
		pyBuiltins[n] = false
	}
}

// pyKeywords are Python's keywords and soft keywords; they are not names.
var pyKeywords = strings.Fields(`False None True and as assert async await break case class continue def del
	elif else except finally for from global if import in is lambda match nonlocal not or pass raise return
	try while with yield`)

// pyToken is one token of a Python program.
type pyToken struct {
	kind byte // 'n' name, 's' string, 'o' operator or punctuation, '0' number
	text string
}

// pyTokens splits a program into tokens, without comments and line structure. It reports why it
// cannot when the program has a construct it does not read (an f-string, whose braces hold code).
func pyTokens(prog string) ([]pyToken, string) {
	var out []pyToken
	for i := 0; i < len(prog); {
		c := prog[i]
		switch {
		case c == '#':
			for i < len(prog) && prog[i] != '\n' {
				i++
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\\':
			i++
		case c == '\'' || c == '"':
			end, ok := pyStringEnd(prog, i)
			if !ok {
				return nil, "has a string that does not end"
			}
			out = append(out, pyToken{'s', prog[i:end]})
			i = end
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(prog) && prog[i+1] >= '0' && prog[i+1] <= '9':
			j := i
			for j < len(prog) && (isPyNameByte(prog[j]) || prog[j] == '.' ||
				(prog[j] == '+' || prog[j] == '-') && (prog[j-1] == 'e' || prog[j-1] == 'E')) {
				j++
			}
			out = append(out, pyToken{'0', prog[i:j]})
			i = j
		case c >= utf8.RuneSelf:
			// Python folds names by NFKC: a fullwidth "ｅｖａｌ" is eval.
			return nil, "has a character outside ASCII outside its strings"
		case isPyNameByte(c):
			j := i
			for j < len(prog) && isPyNameByte(prog[j]) {
				j++
			}
			name := prog[i:j]
			if j < len(prog) && (prog[j] == '\'' || prog[j] == '"') && len(name) <= 2 {
				prefix := strings.ToLower(name)
				if strings.Contains(prefix, "f") {
					return nil, "has an f-string, whose fields are code (not analysed)"
				}
				if prefix == "r" || prefix == "b" || prefix == "u" || prefix == "rb" || prefix == "br" {
					end, ok := pyStringEnd(prog, j)
					if !ok {
						return nil, "has a string that does not end"
					}
					out = append(out, pyToken{'s', prog[i:end]})
					i = end
					continue
				}
			}
			out = append(out, pyToken{'n', name})
			i = j
		default:
			out = append(out, pyToken{'o', string(c)})
			i++
		}
	}
	return out, ""
}

func isPyNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// pyStringEnd returns the index after the string literal starting with the quote at i.
func pyStringEnd(prog string, i int) (int, bool) {
	q := prog[i : i+1]
	if strings.HasPrefix(prog[i:], q+q+q) {
		q = q + q + q
	}
	for j := i + len(q); j < len(prog); j++ {
		switch {
		case prog[j] == '\\':
			j++
		case strings.HasPrefix(prog[j:], q):
			return j + len(q), true
		case len(q) == 1 && prog[j] == '\n':
			return 0, false
		}
	}
	return 0, false
}

// pythonProgram returns why a Python program may do more than read files and write to its output,
// or "".
func pythonProgram(prog string) string {
	toks, why := pyTokens(prog)
	if why != "" {
		return why
	}
	// bound maps the names imports bind to the module path they stand for ("os", "os.path.join").
	bound := map[string]string{}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.kind == 's' {
			if why := pyLivePath(t.text); why != "" {
				return why
			}
		}
		if t.kind != 'n' {
			continue
		}
		if strings.HasPrefix(t.text, "__") || strings.HasSuffix(t.text, "__") {
			return "uses " + t.text + ", which reaches the interpreter's internals"
		}
		prevDot := i > 0 && toks[i-1].text == "."
		if prevDot && pyInternalAttr(t.text) {
			return "uses ." + t.text + ", which reaches frames, code or namespaces"
		}
		switch {
		case t.text == "import" || t.text == "from":
			n, why := pyImport(toks, i, bound)
			if why != "" {
				return why
			}
			i = n - 1
			continue
		case slices.Contains(pyKeywords, t.text), prevDot:
			continue
		}
		if module, ok := bound[t.text]; ok {
			chain := module
			j := i + 1
			for j+1 < len(toks) && toks[j].text == "." && toks[j+1].kind == 'n' {
				chain += "." + toks[j+1].text
				j += 2
			}
			if !pyAllowedChain(chain) {
				return "uses " + chain + ", which is not known to only read or compute"
			}
			i = j - 1
			continue
		}
		if allowed, builtin := pyBuiltins[t.text]; builtin && !allowed {
			if t.text == "open" && i+1 < len(toks) && toks[i+1].text == "(" && (i == 0 || toks[i-1].text != ".") {
				if why := pyOpenReadOnly(toks, i+1); why != "" {
					return why
				}
				continue
			}
			return "uses " + t.text + ", which runs text as code, reaches objects' internals or interacts"
		}
	}
	return ""
}

// pyImport reads the import statement at toks[i] ("import a.b as c, d" or "from a import b as c, d"),
// records what it binds, and returns the index after it.
func pyImport(toks []pyToken, i int, bound map[string]string) (int, string) {
	dotted := func(j int) (string, int) {
		name := ""
		for j < len(toks) && toks[j].kind == 'n' {
			name += toks[j].text
			j++
			if j < len(toks) && toks[j].text == "." {
				name += "."
				j++
				continue
			}
			break
		}
		return name, j
	}
	alias := func(j int, name string) (string, int) {
		if j+1 < len(toks) && toks[j].text == "as" && toks[j+1].kind == 'n' {
			return toks[j+1].text, j + 2
		}
		return name, j
	}
	if toks[i].text == "from" {
		module, j := dotted(i + 1)
		if _, ok := pyModuleAttrs[module]; !ok {
			return 0, "imports from " + pyShown(module) + ", which is not known to be harmless"
		}
		if j >= len(toks) || toks[j].text != "import" {
			return 0, "has a from statement that is not analysed"
		}
		j++
		paren := j < len(toks) && toks[j].text == "("
		if paren {
			j++
		}
		for j < len(toks) && toks[j].kind == 'n' {
			name := toks[j].text
			as, next := alias(j+1, name)
			if !pyAllowedChain(module + "." + name) {
				if _, sub := pyModuleAttrs[module+"."+name]; !sub {
					return 0, "imports " + module + "." + name + ", which is not known to only read or compute"
				}
			}
			bound[as] = module + "." + name
			j = next
			if j < len(toks) && toks[j].text == "," {
				j++
			}
		}
		if paren && j < len(toks) && toks[j].text == ")" {
			j++
		}
		if j < len(toks) && toks[j].text == "*" {
			return 0, "imports * from " + module
		}
		return j, ""
	}
	j := i + 1
	for {
		module, next := dotted(j)
		if _, ok := pyModuleAttrs[module]; !ok {
			return 0, "imports " + pyShown(module) + ", which is not known to be harmless"
		}
		as, next := alias(next, "")
		switch {
		case as != "":
			bound[as] = module
		default:
			// "import os.path" binds os, the whole package.
			top, _, _ := strings.Cut(module, ".")
			if _, ok := pyModuleAttrs[top]; !ok {
				return 0, "imports " + module + ", which binds " + top + ", not known to be harmless"
			}
			bound[top] = top
		}
		j = next
		if j < len(toks) && toks[j].text == "," {
			j++
			continue
		}
		return j, ""
	}
}

func pyShown(module string) string {
	if module == "" {
		return "a relative or unnamed module"
	}
	return module
}

// pyAllowedChain reports whether a dotted use of a module ("os.path.exists", "sys.stdout.write")
// starts with one of the module's listed names.
func pyAllowedChain(chain string) bool {
	for module, attrs := range pyModuleAttrs {
		rest, ok := strings.CutPrefix(chain, module+".")
		if !ok {
			continue
		}
		for _, a := range attrs {
			if rest == a || strings.HasPrefix(rest, a+".") {
				return true
			}
		}
	}
	return false
}

// pyOpenReadOnly checks the arguments of open( at toks[i]: a file and, if given, a literal mode that
// only reads ("r", "rb", "rt") and literal encoding or errors.
func pyOpenReadOnly(toks []pyToken, i int) string {
	depth, arg, start := 0, 0, false
	for j := i; j < len(toks); j++ {
		t := toks[j].text
		switch {
		case t == "(" || t == "[" || t == "{":
			depth++
			start = depth == 1
			continue
		case t == ")" || t == "]" || t == "}":
			depth--
			if depth == 0 {
				return ""
			}
			continue
		case depth == 1 && t == ",":
			arg++
			start = true
			continue
		}
		if depth != 1 || !start {
			continue
		}
		start = false
		// toks[j] starts an argument: "name=" for a keyword argument, or a positional one.
		keyword := toks[j].kind == 'n' && j+1 < len(toks) && toks[j+1].text == "="
		literal := func(k int) bool {
			return k+1 < len(toks) && toks[k].kind == 's' && (toks[k+1].text == "," || toks[k+1].text == ")")
		}
		switch {
		case t == "*":
			return "opens a file with unpacked arguments, which are not analysed"
		case keyword && t == "file", !keyword && arg == 0:
			// the file's name: its tokens are checked as all others are
		case keyword && (t == "encoding" || t == "errors"):
			if !literal(j + 2) {
				return "opens a file with an encoding chosen at run time"
			}
		case keyword && t == "mode":
			if !literal(j+2) || !pyReadMode(toks[j+2].text) {
				return "opens a file for writing, or with a mode chosen at run time"
			}
		case !keyword && arg == 1:
			if !literal(j) || !pyReadMode(t) {
				return "opens a file for writing, or with a mode chosen at run time"
			}
		default:
			return "opens a file with arguments that are not analysed (only a read mode, encoding and errors are)"
		}
	}
	return "has an open( that does not close"
}

// pyReadMode reports whether a string literal is a mode of open() that only reads.
func pyReadMode(lit string) bool {
	mode := strings.Trim(lit, `'"`)
	if mode == "" || strings.ContainsAny(lit[:1], "rbuRBU") {
		return false // empty, or a prefixed literal: not a plain mode
	}
	for _, c := range mode {
		if !strings.ContainsRune("rbt", c) {
			return false
		}
	}
	return strings.ContainsRune(mode, 'r')
}

// pythonValueOptions are python's options that take a separate value.
var pythonValueOptions = map[string]bool{"-W": true, "-X": true}

// pythonCommand judges "python3 [options] -c PROGRAM [args]" by its program; it returns false when
// the command is not of that form.
func pythonCommand(c command) (ruling, bool) {
	refused := func(reason string) (ruling, bool) {
		return ruling{effect: refuse, reason: "python " + reason}, true
	}
	for i := 1; i < len(c.words); i++ {
		w, static := c.arg(i)
		switch {
		case !static:
			return ruling{}, false
		case pythonValueOptions[w]:
			i++
		case w == "-c":
			text, static := c.arg(i + 1)
			if !static {
				return refused("-c program built at run time")
			}
			if why := pythonProgram(text); why != "" {
				return refused("program " + why)
			}
			return ruling{}, true
		case len(w) > 1 && w[0] == '-' && w[1] != '-':
			// a cluster of flags that take no value; -i (interactive) and -m are not analysed here
			for _, f := range w[1:] {
				if !strings.ContainsRune("bBdEhIOqsSuvVx", f) {
					return ruling{}, false
				}
			}
		default:
			return ruling{}, false
		}
	}
	return ruling{}, false
}

// pyInternalAttr reports whether an attribute name reaches an interpreter frame, code object or
// namespace (gen.gi_frame.f_globals …), from which builtins such as eval are reachable by a string.
func pyInternalAttr(name string) bool {
	for _, p := range []string{"gi_", "f_", "cr_", "ag_", "tb_", "co_", "func_", "im_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// pyLivePath returns why a string literal names a file of the live host (/proc, /sys, /dev), also as a
// part to be joined ("proc"), or "".
func pyLivePath(lit string) string {
	s := strings.TrimLeft(lit, "rbuRBU")
	s = strings.Trim(s, `'"`)
	if why := liveLuaPath(s); why != "" {
		return why
	}
	switch strings.Trim(s, "/") {
	case "proc", "sys", "dev":
		return "names /" + strings.Trim(s, "/") + ", the build host's, not the image's"
	}
	return ""
}
