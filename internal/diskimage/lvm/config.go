package lvm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrConfigSyntax is returned for LVM2 text metadata that does not parse.
var ErrConfigSyntax = errors.New("lvm: LVM metadata syntax error")

// LVM2 writes its volume group metadata in the text format of libdevmapper's config
// files (ref. lvm2 device_mapper/libdm-config.c): "key = value" assignments and
// "name { ... }" sections, values being integers, floats, double-quoted strings with
// backslash escapes, or flat arrays of those; "#" starts a comment.

// Limits keeping a hostile metadata area from exhausting the stack or memory.
const (
	maxConfigDepth = 32      // LVM nests 4 deep (vg / logical_volumes / lv / segment)
	maxConfigSize  = 8 << 20 // the default metadata area is 1 MiB
)

type configValueKind int

const (
	configString configValueKind = iota
	configInt
	configFloat
	configArray
)

// configValue is one scalar or array value.
type configValue struct {
	kind  configValueKind
	str   string // configString; configFloat keeps its text
	num   int64  // configInt
	array []configValue
}

// configEntry is an assignment (section == nil) or a section.
type configEntry struct {
	key     string
	value   configValue
	section *configSection
}

// configSection is an ordered list of entries; keys may repeat, the first wins.
type configSection struct {
	entries []configEntry
}

func (s *configSection) lookup(key string) *configEntry {
	for i := range s.entries {
		if s.entries[i].key == key {
			return &s.entries[i]
		}
	}
	return nil
}

// section returns the subsection key, or nil.
func (s *configSection) section(key string) *configSection {
	if e := s.lookup(key); e != nil {
		return e.section
	}
	return nil
}

// str returns the string value of key.
func (s *configSection) str(key string) (string, bool) {
	e := s.lookup(key)
	if e == nil || e.section != nil || e.value.kind != configString {
		return "", false
	}
	return e.value.str, true
}

// int returns the integer value of key.
func (s *configSection) int(key string) (int64, bool) {
	e := s.lookup(key)
	if e == nil || e.section != nil || e.value.kind != configInt {
		return 0, false
	}
	return e.value.num, true
}

// array returns the array value of key.
func (s *configSection) array(key string) ([]configValue, bool) {
	e := s.lookup(key)
	if e == nil || e.section != nil || e.value.kind != configArray {
		return nil, false
	}
	return e.value.array, true
}

// subsections returns the entries of s that are sections, in order.
func (s *configSection) subsections() []configEntry {
	var out []configEntry
	for _, e := range s.entries {
		if e.section != nil {
			out = append(out, e)
		}
	}
	return out
}

// parseLVMConfig parses LVM2 text metadata into its top-level section.
func parseLVMConfig(text []byte) (*configSection, error) {
	if len(text) > maxConfigSize {
		return nil, fmt.Errorf("%w: %d bytes is more than the %d a metadata area holds", ErrConfigSyntax, len(text), maxConfigSize)
	}
	p := &configParser{src: text, line: 1}
	root, err := p.parseEntries(0)
	if err != nil {
		return nil, err
	}
	if p.peek() != tokEOF {
		return nil, p.errorf("unexpected %q", p.tokText())
	}
	return root, nil
}

type configToken int

const (
	tokEOF configToken = iota
	tokIdent
	tokString
	tokNumber
	tokEquals
	tokLBrace
	tokRBrace
	tokLBracket
	tokRBracket
	tokComma
	tokInvalid
)

// punctuation maps the one-byte tokens.
var punctuation = map[byte]configToken{'=': tokEquals, '{': tokLBrace, '}': tokRBrace, '[': tokLBracket, ']': tokRBracket, ',': tokComma}

type configParser struct {
	src  []byte
	pos  int
	line int

	// the token found by the last peek
	tok        configToken
	tokStart   int
	tokEnd     int
	tokLine    int
	tokPending bool
}

func (p *configParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrConfigSyntax, p.tokLine, fmt.Sprintf(format, args...))
}

func (p *configParser) tokText() string {
	t := string(p.src[p.tokStart:p.tokEnd])
	if len(t) > 40 {
		t = t[:40] + "..."
	}
	return t
}

// isIdentByte reports whether c may appear in an identifier or a bare number.
func isIdentByte(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '\v', '\f', '=', '{', '}', '[', ']', '"', ',', '#', 0:
		return false
	}
	return true
}

func (p *configParser) skipSpaceAndComments() {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f':
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

// peek scans the next token without consuming it.
func (p *configParser) peek() configToken {
	if p.tokPending {
		return p.tok
	}
	p.skipSpaceAndComments()
	p.tokStart, p.tokLine, p.tokPending = p.pos, p.line, true
	if p.pos >= len(p.src) {
		p.tok, p.tokEnd = tokEOF, p.pos
		return p.tok
	}
	c := p.src[p.pos]
	if t, ok := punctuation[c]; ok {
		p.tok, p.tokEnd = t, p.pos+1
		return p.tok
	}
	if c == '"' {
		end := p.pos + 1
		for end < len(p.src) && p.src[end] != '"' {
			if p.src[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(p.src) {
			p.tok, p.tokEnd = tokInvalid, len(p.src)
			return p.tok
		}
		p.tok, p.tokEnd = tokString, end+1
		return p.tok
	}
	end := p.pos
	for end < len(p.src) && isIdentByte(p.src[end]) {
		end++
	}
	if end == p.pos {
		p.tok, p.tokEnd = tokInvalid, p.pos+1
		return p.tok
	}
	p.tok, p.tokEnd = tokIdent, end
	if c == '-' || c == '+' || (c >= '0' && c <= '9') {
		p.tok = tokNumber
	}
	return p.tok
}

// next consumes the peeked token and returns its kind and text.
func (p *configParser) next() (configToken, string) {
	t := p.peek()
	text := string(p.src[p.tokStart:p.tokEnd])
	for i := p.tokStart; i < p.tokEnd; i++ {
		if p.src[i] == '\n' {
			p.line++
		}
	}
	p.pos, p.tokPending = p.tokEnd, false
	return t, text
}

// parseEntries reads entries up to a closing brace (depth > 0) or the end of input.
func (p *configParser) parseEntries(depth int) (*configSection, error) {
	if depth > maxConfigDepth {
		return nil, p.errorf("sections nested more than %d deep", maxConfigDepth)
	}
	sec := &configSection{}
	for {
		switch p.peek() {
		case tokEOF:
			if depth > 0 {
				return nil, p.errorf("missing \"}\" at end of input")
			}
			return sec, nil
		case tokRBrace:
			if depth == 0 {
				return nil, p.errorf("unexpected \"}\"")
			}
			return sec, nil
		case tokIdent, tokNumber:
			// LV and VG names may start with a digit or "+", so numbers are keys too.
		default:
			return nil, p.errorf("expected a name, found %q", p.tokText())
		}
		_, key := p.next()
		switch p.peek() {
		case tokEquals:
			p.next()
			v, err := p.parseValue(true)
			if err != nil {
				return nil, err
			}
			sec.entries = append(sec.entries, configEntry{key: key, value: v})
		case tokLBrace:
			p.next()
			sub, err := p.parseEntries(depth + 1)
			if err != nil {
				return nil, err
			}
			p.next() // the closing brace parseEntries stopped at
			sec.entries = append(sec.entries, configEntry{key: key, section: sub})
		default:
			return nil, p.errorf("expected \"=\" or \"{\" after %q, found %q", key, p.tokText())
		}
	}
}

// parseValue reads a scalar, or an array when allowArray is set (arrays do not nest).
func (p *configParser) parseValue(allowArray bool) (configValue, error) {
	t, text := p.next()
	switch t {
	case tokString:
		s, err := unquoteConfigString(text)
		if err != nil {
			return configValue{}, p.errorf("%v", err)
		}
		return configValue{kind: configString, str: s}, nil
	case tokNumber:
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return configValue{kind: configInt, num: n}, nil
		}
		if _, err := strconv.ParseFloat(text, 64); err == nil {
			return configValue{kind: configFloat, str: text}, nil
		}
		return configValue{}, p.errorf("bad number %q", text)
	case tokLBracket:
		if !allowArray {
			return configValue{}, p.errorf("nested arrays are not allowed")
		}
		v := configValue{kind: configArray}
		if p.peek() == tokRBracket {
			p.next()
			return v, nil
		}
		for {
			item, err := p.parseValue(false)
			if err != nil {
				return configValue{}, err
			}
			v.array = append(v.array, item)
			switch t, _ := p.next(); t {
			case tokComma:
			case tokRBracket:
				return v, nil
			default:
				return configValue{}, p.errorf("expected \",\" or \"]\" in array")
			}
		}
	default:
		return configValue{}, p.errorf("expected a value, found %q", text)
	}
}

// unquoteConfigString strips the quotes of a config string and resolves "\x" to "x".
func unquoteConfigString(text string) (string, error) {
	if len(text) < 2 || text[0] != '"' || text[len(text)-1] != '"' {
		return "", fmt.Errorf("unterminated string %q", text)
	}
	body := text[1 : len(text)-1]
	if !strings.Contains(body, `\`) {
		return body, nil
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		if body[i] == '\\' && i+1 < len(body) {
			i++
		}
		b.WriteByte(body[i])
	}
	return b.String(), nil
}
