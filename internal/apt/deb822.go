package apt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrSyntax is wrapped by every error about malformed deb822 text; the
// message names the line.
var ErrSyntax = errors.New("apt: malformed control data")

// maxLineBytes bounds one physical line. Description fields of real Packages
// files stay far below it; the bound only keeps garbage input from using
// unbounded memory.
const maxLineBytes = 16 << 20

// field is one "Name: value" entry of a paragraph. name is lower case;
// value holds the text after the colon and then one "\n"-separated line for
// every continuation line, each trimmed of surrounding white space.
type field struct {
	name  string
	value string
	line  int // line number of the "Name:" line
}

// paragraph is one deb822 paragraph (a "stanza"): the fields in file order.
type paragraph struct {
	fields []field
	line   int // line number of its first field
}

// get returns the field called name (lower case).
func (p *paragraph) get(name string) (field, bool) {
	for _, f := range p.fields {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

// value returns the raw value of field name, "" when absent.
func (p *paragraph) value(name string) string {
	f, _ := p.get(name)
	return f.value
}

// folded returns the value of field name with continuation lines joined by
// single spaces, as relationship fields are read.
func (p *paragraph) folded(name string) string {
	v := p.value(name)
	if strings.IndexByte(v, '\n') < 0 {
		return v
	}
	return strings.Join(strings.Fields(v), " ")
}

// paragraphReader reads deb822 paragraphs one at a time: the single parser
// behind Release, Packages and dpkg status files.
//
// It follows Debian Policy 5.1: fields are "Name: value"; a line starting
// with a space or tab continues the previous field; paragraphs are
// separated by lines that are empty or hold only white space. Field names
// are case-insensitive; a repeated field in one paragraph is an error.
// Comment lines are not part of these formats and are errors too.
type paragraphReader struct {
	scanner *bufio.Scanner
	line    int
	// keep, when set, lists the lower-case names whose values are stored;
	// others are checked for syntax and dropped, which saves allocating
	// large fields such as Description.
	keep map[string]bool
	// names interns field names, so each distinct name is allocated once.
	names map[string]string
	value []byte // value under construction
	seen  []string
}

// maxInternedNames bounds the name cache against hostile input with
// endless distinct field names.
const maxInternedNames = 1024

func newParagraphReader(r io.Reader, keep ...string) *paragraphReader {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	pr := &paragraphReader{scanner: s, names: make(map[string]string)}
	if len(keep) > 0 {
		pr.keep = make(map[string]bool, len(keep))
		for _, k := range keep {
			pr.keep[k] = true
		}
	}
	return pr
}

// next reads the next paragraph into p, reusing its storage. It returns
// io.EOF when no paragraph is left.
func (pr *paragraphReader) next(p *paragraph) error {
	p.fields = p.fields[:0]
	p.line = 0
	pr.seen = pr.seen[:0]
	var (
		cur     field
		inField bool
		keepCur bool
	)
	finish := func() {
		if inField && keepCur {
			cur.value = string(pr.value)
			p.fields = append(p.fields, cur)
		}
		inField = false
	}
	for pr.scanner.Scan() {
		pr.line++
		raw := pr.scanner.Bytes()
		line := bytes.TrimRight(raw, " \t\r")
		if len(line) == 0 {
			if p.line != 0 {
				finish()
				return nil
			}
			continue // blank lines before a paragraph
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !inField {
				return fmt.Errorf("%w: line %d: continuation line outside a field", ErrSyntax, pr.line)
			}
			if keepCur {
				pr.value = append(pr.value, '\n')
				pr.value = append(pr.value, bytes.TrimLeft(line, " \t")...)
			}
			continue
		}
		finish()
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return fmt.Errorf("%w: line %d: %q is neither \"Field: value\" nor a continuation line", ErrSyntax, pr.line, truncate(line))
		}
		rawName := line[:colon]
		if line[0] == '#' || line[0] == '-' || bytes.ContainsAny(rawName, " \t") {
			return fmt.Errorf("%w: line %d: invalid field name %q", ErrSyntax, pr.line, truncate(rawName))
		}
		name := pr.intern(rawName)
		for _, seen := range pr.seen {
			if seen == name {
				return fmt.Errorf("%w: line %d: field %q appears twice in the paragraph", ErrSyntax, pr.line, rawName)
			}
		}
		pr.seen = append(pr.seen, name)
		if p.line == 0 {
			p.line = pr.line
		}
		inField = true
		keepCur = pr.keep == nil || pr.keep[name]
		cur = field{name: name, line: pr.line}
		if keepCur {
			pr.value = append(pr.value[:0], bytes.TrimLeft(line[colon+1:], " \t")...)
		}
	}
	if err := pr.scanner.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%w: line %d: longer than %d bytes", ErrSyntax, pr.line+1, maxLineBytes)
		}
		return fmt.Errorf("reading line %d: %w", pr.line+1, err)
	}
	if p.line == 0 {
		return io.EOF
	}
	finish()
	return nil
}

// intern returns the lower-case field name for raw, allocating it once.
func (pr *paragraphReader) intern(raw []byte) string {
	if name, ok := pr.names[string(raw)]; ok {
		return name
	}
	name := strings.ToLower(string(raw))
	if len(pr.names) < maxInternedNames {
		pr.names[string(raw)] = name
	}
	return name
}

// truncate shortens b for an error message.
func truncate(b []byte) string {
	const max = 80
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
