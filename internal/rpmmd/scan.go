package rpmmd

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
)

// ScanPrimary is ParsePrimary for when only some packages matter, as when an image's
// installed packages are diffed against a repository of tens of thousands: it calls fn
// only for packages whose name keep accepts, or that obsolete a name keep accepts, and
// gives them exactly as ParsePrimary would.
//
// It finds package boundaries with a byte scanner that knows comments, CDATA sections
// and processing instructions, reads each package's name and obsoletes directly, and
// runs the full XML parser on the packages it keeps. Packages it skips are not checked
// for well-formedness (the file's checksum from repomd.xml has been verified before);
// structural damage — a missing root, a truncated file, a package without a name —
// is still an error wrapping ErrInvalid. Documents that do not bind the prefix "rpm:"
// to the rpm-md namespace, as every known repository generator does, are read with
// ParsePrimary instead.
func ScanPrimary(r io.Reader, keep func(name string) bool, fn func(*Package) error) error {
	s := &scanner{r: r, buf: make([]byte, 0, 1<<20)}
	header, err := s.header()
	if err != nil {
		return err
	}
	if !bytes.Contains(header, []byte(`xmlns:rpm="`+NamespaceRPM+`"`)) &&
		!bytes.Contains(header, []byte(`xmlns:rpm='`+NamespaceRPM+`'`)) {
		return ParsePrimary(io.MultiReader(bytes.NewReader(header), s.rest()), func(p *Package) error {
			if keepPackage(p, keep) {
				return fn(p)
			}
			return nil
		})
	}
	for index := 1; ; index++ {
		block, done, err := s.nextPackage()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		name, ok := blockName(block)
		if !ok {
			return fmt.Errorf("primary.xml: package %d has no readable <name>: %w", index, ErrInvalid)
		}
		if !keep(name) && !obsoletesKept(block, keep) {
			continue
		}
		doc := io.MultiReader(bytes.NewReader(header), bytes.NewReader(block), bytes.NewReader([]byte("</metadata>")))
		err = ParsePrimary(doc, func(p *Package) error {
			if err := fn(p); err != nil {
				return callbackError{err}
			}
			return nil
		})
		if err != nil {
			var fnErr callbackError
			if errors.As(err, &fnErr) {
				return fnErr.err
			}
			return fmt.Errorf("package %d (%s): %w", index, name, err)
		}
	}
}

// callbackError marks an error returned by the caller's fn, returned unchanged.
type callbackError struct{ err error }

func (c callbackError) Error() string { return c.err.Error() }

func keepPackage(p *Package, keep func(string) bool) bool {
	if keep(p.Name) {
		return true
	}
	for _, o := range p.Obsoletes {
		if keep(o.Name) {
			return true
		}
	}
	return false
}

// scanner splits primary.xml into the root start tag and one byte block per package.
type scanner struct {
	r    io.Reader
	buf  []byte // input; buf[off:] is unconsumed
	off  int
	done int // bytes after off handed out by the last nextPackage, consumed on the next call
	eof  bool
	err  error
}

// fill reads more input; it reports false at the end of input.
func (s *scanner) fill() bool {
	if s.eof {
		return false
	}
	if len(s.buf) == cap(s.buf) {
		if s.off > 0 { // reuse the consumed space before growing
			n := copy(s.buf, s.buf[s.off:])
			s.buf, s.off = s.buf[:n], 0
		}
		if len(s.buf) > cap(s.buf)/2 {
			nb := make([]byte, len(s.buf), 2*cap(s.buf))
			copy(nb, s.buf)
			s.buf = nb
		}
	}
	n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if err != nil {
		s.eof = true
		if err != io.EOF {
			s.err = err
		}
	}
	return true
}

func (s *scanner) readErr(what string) error {
	if s.err != nil {
		return s.err
	}
	return fmt.Errorf("primary.xml: %s: %w", what, ErrInvalid)
}

// rest returns the unconsumed input followed by the rest of the reader.
func (s *scanner) rest() io.Reader {
	if s.eof {
		return bytes.NewReader(s.buf[s.off:])
	}
	return io.MultiReader(bytes.NewReader(s.buf[s.off:]), s.r)
}

// skipMarkup returns the index just past a comment, CDATA section, processing instruction
// or declaration starting at b[i] ('<'), or -1 when b[i] starts an element tag; -2 means
// more input is needed.
func skipMarkup(b []byte, i int) int {
	rest := b[i:]
	var end []byte
	switch {
	case bytes.HasPrefix(rest, []byte("<!--")):
		end = []byte("-->")
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		end = []byte("]]>")
	case bytes.HasPrefix(rest, []byte("<?")):
		end = []byte("?>")
	case bytes.HasPrefix(rest, []byte("<!")):
		end = []byte(">")
	case len(rest) < 9 && (bytes.HasPrefix([]byte("<![CDATA["), rest) || bytes.HasPrefix([]byte("<!--"), rest)):
		return -2
	default:
		return -1
	}
	j := bytes.Index(rest[2:], end)
	if j < 0 {
		return -2
	}
	return i + 2 + j + len(end)
}

// header consumes everything up to and including the root <metadata ...> start tag.
func (s *scanner) header() ([]byte, error) {
	i := 0
	for {
		j := bytes.IndexByte(s.buf[i:], '<')
		if j < 0 {
			if !s.fill() {
				return nil, s.readErr("no <metadata> root element")
			}
			continue
		}
		k := skipMarkup(s.buf, i+j)
		switch k {
		case -2:
			if !s.fill() {
				return nil, s.readErr("unterminated markup before <metadata>")
			}
			continue
		case -1:
			end := bytes.IndexByte(s.buf[i+j:], '>')
			if end < 0 {
				if !s.fill() {
					return nil, s.readErr("unterminated root start tag")
				}
				continue
			}
			tag := s.buf[i+j : i+j+end+1]
			if !bytes.HasPrefix(tag, []byte("<metadata")) || bytes.HasSuffix(tag, []byte("/>")) {
				return nil, s.readErr(fmt.Sprintf("root element is %.40q, want <metadata>", tag))
			}
			header := append([]byte(nil), s.buf[:i+j+end+1]...)
			s.off = i + j + end + 1
			return header, nil
		default:
			i = k
		}
	}
}

// nextPackage returns the next <package>...</package> block, or done at </metadata>.
// The block is valid until the next call.
func (s *scanner) nextPackage() (block []byte, done bool, err error) {
	s.off += s.done
	s.done = 0
	start := -1
	i := 0
	for {
		buf := s.buf[s.off:]
		j := bytes.IndexByte(buf[i:], '<')
		if j < 0 {
			if !s.fill() {
				return nil, false, s.readErr("truncated: no </metadata>")
			}
			continue
		}
		at := i + j
		k := skipMarkup(buf, at)
		if k == -2 {
			if !s.fill() {
				return nil, false, s.readErr("truncated inside a comment or CDATA section")
			}
			continue
		}
		if k >= 0 {
			i = k
			continue
		}
		if len(buf)-at < len("</package>") && !s.eof {
			s.fill()
			continue
		}
		rest := buf[at:]
		switch {
		case start < 0 && bytes.HasPrefix(rest, []byte("</metadata")):
			return nil, true, nil
		case start < 0 && bytes.HasPrefix(rest, []byte("<package")) && len(rest) > 8 && (rest[8] == ' ' || rest[8] == '>' || rest[8] == '\t' || rest[8] == '\n' || rest[8] == '\r'):
			start = at
			i = at + 8
		case start >= 0 && bytes.HasPrefix(rest, []byte("</package>")):
			end := at + len("</package>")
			s.done = end
			return buf[start:end], false, nil
		case start < 0:
			return nil, false, s.readErr(fmt.Sprintf("unexpected %.30q between packages", rest))
		default:
			i = at + 1
		}
	}
}

// blockName returns the text of the package's first <name> element.
func blockName(block []byte) (string, bool) {
	i := bytes.Index(block, []byte("<name>"))
	if i < 0 {
		return "", false
	}
	rest := block[i+len("<name>"):]
	j := bytes.Index(rest, []byte("</name>"))
	if j <= 0 {
		return "", false
	}
	name := rest[:j]
	if bytes.IndexByte(name, '<') >= 0 {
		return "", false
	}
	if bytes.IndexByte(name, '&') >= 0 {
		return html.UnescapeString(string(bytes.TrimSpace(name))), true
	}
	return string(bytes.TrimSpace(name)), true
}

// obsoletesKept reports whether any <rpm:entry name="..."> inside <rpm:obsoletes> is kept.
func obsoletesKept(block []byte, keep func(string) bool) bool {
	i := bytes.Index(block, []byte("<rpm:obsoletes>"))
	if i < 0 {
		return false
	}
	sec := block[i:]
	if j := bytes.Index(sec, []byte("</rpm:obsoletes>")); j >= 0 {
		sec = sec[:j]
	}
	for {
		k := bytes.Index(sec, []byte("name="))
		if k < 0 {
			return false
		}
		ws := k > 0 && (sec[k-1] == ' ' || sec[k-1] == '\t' || sec[k-1] == '\n' || sec[k-1] == '\r')
		sec = sec[k+len("name="):]
		if !ws {
			continue
		}
		if len(sec) == 0 {
			return false
		}
		q := sec[0]
		if q != '"' && q != '\'' {
			continue
		}
		end := bytes.IndexByte(sec[1:], q)
		if end < 0 {
			return false
		}
		name := string(sec[1 : 1+end])
		if bytes.IndexByte(sec[1:1+end], '&') >= 0 {
			name = html.UnescapeString(name)
		}
		if keep(name) {
			return true
		}
		sec = sec[1+end:]
	}
}
