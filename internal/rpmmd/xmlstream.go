package rpmmd

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// xmlStream is an xml.Decoder read with RawToken, which costs less than
// Token because it skips namespace translation and bookkeeping. Elements are
// matched by local name, and xmlStream checks itself that every end tag
// closes the element it should. Errors name the file and the input position.
type xmlStream struct {
	d     *xml.Decoder
	in    *readRecorder
	file  string
	stack []xml.Name // open elements inside skip
}

func newXMLStream(r io.Reader, file string) *xmlStream {
	in := &readRecorder{r: r}
	return &xmlStream{d: xml.NewDecoder(in), in: in, file: file}
}

// readRecorder remembers the error its reader returned, to tell a failed
// read (network, decompression limit) from malformed content: the XML
// decoder returns both unmarked.
type readRecorder struct {
	r   io.Reader
	err error
}

func (rr *readRecorder) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	if err != nil && err != io.EOF {
		rr.err = err
	}
	return n, err
}

// token returns the next token. The end of input is an error: every caller
// is inside an element whose end tag it still expects.
func (s *xmlStream) token() (xml.Token, error) {
	tok, err := s.d.RawToken()
	if err != nil {
		return nil, s.wrap(err)
	}
	return tok, nil
}

// wrap adds the file name and input position to err. The reader's own
// errors come back as they are; everything else (syntax errors, premature
// ends, unsupported XML declarations) wraps ErrInvalid.
func (s *xmlStream) wrap(err error) error {
	line, col := s.d.InputPos()
	switch {
	case s.in.err != nil && errors.Is(err, s.in.err):
		return fmt.Errorf("reading %s at line %d, column %d: %w", s.file, line, col, err)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %s ends early at line %d, column %d (offset %d): the file is truncated; fetch it again",
			ErrInvalid, s.file, line, col, s.d.InputOffset())
	default:
		return fmt.Errorf("%w: %s line %d, column %d (offset %d): %w", ErrInvalid, s.file, line, col, s.d.InputOffset(), err)
	}
}

// invalidf reports malformed content at the current position.
func (s *xmlStream) invalidf(format string, args ...any) error {
	line, col := s.d.InputPos()
	return fmt.Errorf("%w: %s line %d, column %d: %s", ErrInvalid, s.file, line, col, fmt.Sprintf(format, args...))
}

// closes checks that end is the end tag of the element opened as start.
func (s *xmlStream) closes(end xml.EndElement, start xml.Name) error {
	if end.Name != start {
		return s.invalidf("element <%s> closed by </%s>", qualified(start), qualified(end.Name))
	}
	return nil
}

// qualified spells a raw name as it appears in the file (prefix:local).
func qualified(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// root reads up to the document's root element and checks its local name.
func (s *xmlStream) root(want string) (xml.StartElement, error) {
	for {
		tok, err := s.d.RawToken()
		if errors.Is(err, io.EOF) {
			return xml.StartElement{}, s.invalidf("no <%s> element: the file is empty or not %s", want, s.file)
		}
		if err != nil {
			return xml.StartElement{}, s.wrap(err)
		}
		if start, ok := tok.(xml.StartElement); ok {
			if start.Name.Local != want {
				return start, s.invalidf("root element is <%s>, want <%s>: this is not %s", qualified(start.Name), want, s.file)
			}
			return start, nil
		}
	}
}

// skip consumes the rest of the element opened as start.
func (s *xmlStream) skip(start xml.Name) error {
	s.stack = append(s.stack[:0], start)
	for len(s.stack) > 0 {
		tok, err := s.token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			s.stack = append(s.stack, t.Name)
		case xml.EndElement:
			if err := s.closes(t, s.stack[len(s.stack)-1]); err != nil {
				return err
			}
			s.stack = s.stack[:len(s.stack)-1]
		}
	}
	return nil
}

// text returns the trimmed character data of the element opened as start,
// up to and including its end tag; nested elements are skipped.
func (s *xmlStream) text(start xml.Name) (string, error) {
	var text string
	var buf []byte // only for text split into several tokens (CDATA, comments)
	parts := 0
	for {
		tok, err := s.token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			parts++
			switch parts {
			case 1:
				text = string(t)
			case 2:
				buf = append([]byte(text), t...)
			default:
				buf = append(buf, t...)
			}
		case xml.StartElement:
			if err := s.skip(t.Name); err != nil {
				return "", err
			}
		case xml.EndElement:
			if err := s.closes(t, start); err != nil {
				return "", err
			}
			if parts > 1 {
				text = string(buf)
			}
			return strings.TrimSpace(text), nil
		}
	}
}

// attr returns the value of the attribute named local in any namespace.
func attr(start xml.StartElement, local string) string {
	for _, a := range start.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// xmlBase returns the xml:base attribute of start (a raw token: the prefix
// is "xml", which XML reserves for this one namespace).
func xmlBase(start xml.StartElement) string {
	for _, a := range start.Attr {
		if a.Name.Local == "base" && a.Name.Space == "xml" {
			return a.Value
		}
	}
	return ""
}

// parseEpoch parses an rpm epoch: absent means 0, otherwise a decimal
// between 0 and 2^31-1.
func parseEpoch(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("epoch %q is not a non-negative number", s)
	}
	return int(n), nil
}

// parseSize parses a byte count; absent means 0.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q is not a non-negative number", s)
	}
	return n, nil
}
