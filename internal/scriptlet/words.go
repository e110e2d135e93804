package scriptlet

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"
)

// byteRunes is the start of the private-use runes that stand for the bytes of a script that are not
// UTF-8 (Latin-1 comments are common), which the parser refuses.
const byteRunes = 0xF700

func isByteRune(r rune) bool { return r >= byteRunes && r < byteRunes+256 }

// encodeInvalidUTF8 replaces every byte of body that is not part of valid UTF-8 by a private-use rune;
// it reports whether it did. A body that already holds such runes is returned as it is (and fails to
// parse).
func encodeInvalidUTF8(body string) (string, bool) {
	if utf8.ValidString(body) || strings.ContainsFunc(body, isByteRune) {
		return body, false
	}
	var b strings.Builder
	for i := 0; i < len(body); {
		r, size := utf8.DecodeRuneInString(body[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(byteRunes + rune(body[i]))
		} else {
			b.WriteString(body[i : i+size])
		}
		i += size
	}
	return b.String(), true
}

// decodeInvalidUTF8 undoes encodeInvalidUTF8.
func decodeInvalidUTF8(text string) string {
	var b strings.Builder
	for _, r := range text {
		if isByteRune(r) {
			b.WriteByte(byte(r - byteRunes))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// printers reuses printers, which are costly to make (each holds a buffered writer).
var printers = sync.Pool{New: func() any { return syntax.NewPrinter() }}

// printNode prints node n with a printer from the pool.
func printNode(w io.Writer, n syntax.Node) error {
	p := printers.Get().(*syntax.Printer)
	defer printers.Put(p)
	return p.Print(w, n)
}

// reparseWord returns a copy of word parsed from its printed text, on line 1; nil if that fails.
func reparseWord(word *syntax.Word, lang syntax.LangVariant) *syntax.Word {
	var buf bytes.Buffer
	if err := printNode(&buf, word); err != nil {
		return nil
	}
	file, err := syntax.NewParser(syntax.Variant(lang)).Parse(strings.NewReader(": "+buf.String()), "")
	if err != nil || len(file.Stmts) != 1 {
		return nil
	}
	call, ok := file.Stmts[0].Cmd.(*syntax.CallExpr)
	if !ok || len(call.Args) != 2 {
		return nil
	}
	return call.Args[1]
}

// literalAt returns a word made of one literal placed at pos, so that the printer keeps the
// statement's line and its comments where they were.
func literalAt(s string, pos syntax.Pos) *syntax.Word {
	return &syntax.Word{Parts: []syntax.WordPart{&syntax.Lit{ValuePos: pos, ValueEnd: pos, Value: s}}}
}

// shorten puts text on one line (line continuations and runs of blanks become one space) and cuts
// it to maxCommandText.
func shorten(text string) string {
	if len(text) > 4*maxCommandText {
		text = text[:4*maxCommandText]
	}
	s := strings.Join(strings.Fields(strings.ReplaceAll(text, "\\\n", " ")), " ")
	if len(s) > maxCommandText {
		s = s[:maxCommandText-3] + "..."
	}
	return s
}

// line returns the 1-based line where n starts.
func line(n syntax.Node) int { return int(n.Pos().Line()) }

// oneLine prints n on one line, shortened to maxCommandText.
func oneLine(n syntax.Node) string {
	var buf bytes.Buffer
	if err := printNode(&buf, n); err != nil {
		return fmt.Sprintf("<%T>", n)
	}
	return shorten(buf.String())
}

// staticWord returns the value of a word that needs no expansion: literals and quoted literals.
func staticWord(w *syntax.Word) (string, bool) {
	var b strings.Builder
	for _, part := range w.Parts {
		switch p := part.(type) {
		case *syntax.Lit:
			if strings.ContainsAny(p.Value, "\\") {
				b.WriteString(unescapeLit(p.Value))
			} else {
				b.WriteString(p.Value)
			}
		case *syntax.SglQuoted:
			if p.Dollar {
				return "", false
			}
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, inner := range p.Parts {
				lit, ok := inner.(*syntax.Lit)
				if !ok {
					return "", false
				}
				b.WriteString(unescapeDouble(lit.Value))
			}
		default:
			return "", false
		}
	}
	return b.String(), true
}

// unescapeLit removes the backslashes of an unquoted literal (a\ b → a b, line continuations gone).
func unescapeLit(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unescapeDouble removes the backslashes that escape $ ` " \ and newlines inside double quotes.
func unescapeDouble(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// harmlessDevices are the /dev paths that are the same on every machine.
var harmlessDevices = []string{
	"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/stdin", "/dev/stdout",
	"/dev/stderr", "/dev/tty", "/dev/console",
}

// livePath returns why a word names a file of the live host (/proc, /sys, /dev), or "".
func livePath(w *syntax.Word) string {
	prefix := staticPrefix(w)
	full, static := staticWord(w)
	if _, value, ok := strings.Cut(prefix, "="); ok && strings.HasPrefix(value, "/") {
		// if=/dev/sda, --config=/proc/x
		prefix = value
		_, full, _ = strings.Cut(full, "=")
	}
	switch {
	case strings.HasPrefix(prefix, "/proc/"):
		return "reads or writes /proc of the build host, not of the image"
	case strings.HasPrefix(prefix, "/sys/"):
		return "reads or writes /sys of the build host, not of the image"
	case strings.HasPrefix(prefix, "/dev/"):
		if static && (slices.Contains(harmlessDevices, full) || strings.HasPrefix(full, "/dev/fd/")) {
			return ""
		}
		return "uses a device of the build host, not of the image"
	}
	return ""
}

// staticPrefix returns the literal text a word starts with.
func staticPrefix(w *syntax.Word) string {
	var b strings.Builder
	for _, part := range w.Parts {
		switch p := part.(type) {
		case *syntax.Lit:
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, inner := range p.Parts {
				lit, ok := inner.(*syntax.Lit)
				if !ok {
					return b.String()
				}
				b.WriteString(lit.Value)
			}
		default:
			return b.String()
		}
	}
	return b.String()
}
