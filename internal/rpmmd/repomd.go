package rpmmd

import (
	"encoding/xml"
	"io"
	"strings"
)

// Data is one <data> entry of repomd.xml: a metadata file of the
// repository.
type Data struct {
	// Type is the kind of metadata: "primary", "filelists", "other",
	// "updateinfo", "modules", "primary_db", "primary_zck"...
	Type string
	// Location is the file's href relative to the repository's base URL,
	// e.g. "repodata/<hash>-primary.xml.gz".
	Location string
	// Checksum is the digest of the file as stored (compressed);
	// OpenChecksum that of its decompressed contents (zero when absent).
	Checksum     Checksum
	OpenChecksum Checksum
	// Size and OpenSize are the stored and decompressed sizes in bytes (0
	// when absent).
	Size     int64
	OpenSize int64
	// Timestamp is the file's modification time in seconds since the epoch.
	Timestamp int64
}

// Repomd is the index of a repository's metadata (repodata/repomd.xml).
type Repomd struct {
	// Revision is the repository's revision, often a timestamp.
	Revision string
	Data     []Data
}

// ParseRepomd reads repomd.xml. Every <data> must have a type and a
// location; unknown elements are skipped.
func ParseRepomd(r io.Reader) (*Repomd, error) {
	s := newXMLStream(r, "repomd.xml")
	root, err := s.root("repomd")
	if err != nil {
		return nil, err
	}
	m := new(Repomd)
	for {
		tok, err := s.token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "revision":
				m.Revision, err = s.text(t.Name)
			case "data":
				var d Data
				if d, err = s.data(t); err == nil {
					m.Data = append(m.Data, d)
				}
			default:
				err = s.skip(t.Name)
			}
			if err != nil {
				return nil, err
			}
		case xml.EndElement:
			return m, s.closes(t, root.Name)
		}
	}
}

// data reads one <data> element.
func (s *xmlStream) data(start xml.StartElement) (Data, error) {
	d := Data{Type: strings.TrimSpace(attr(start, "type"))}
	for {
		tok, err := s.token()
		if err != nil {
			return d, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			var text string
			switch t.Name.Local {
			case "location":
				d.Location = attr(t, "href")
				err = s.skip(t.Name)
			case "checksum", "open-checksum":
				typ := attr(t, "type")
				if text, err = s.text(t.Name); err == nil {
					if t.Name.Local == "checksum" {
						d.Checksum = newChecksum(typ, text)
					} else {
						d.OpenChecksum = newChecksum(typ, text)
					}
				}
			case "size", "open-size", "timestamp":
				if text, err = s.text(t.Name); err != nil {
					break
				}
				var n int64
				if n, err = parseRepomdNumber(text); err != nil {
					return d, s.invalidf("<data type=%q>: <%s>: %v", d.Type, t.Name.Local, err)
				}
				switch t.Name.Local {
				case "size":
					d.Size = n
				case "open-size":
					d.OpenSize = n
				default:
					d.Timestamp = n
				}
			default:
				err = s.skip(t.Name)
			}
			if err != nil {
				return d, err
			}
		case xml.EndElement:
			if err := s.closes(t, start.Name); err != nil {
				return d, err
			}
			switch {
			case d.Type == "":
				return d, s.invalidf("<data> without a type")
			case d.Location == "":
				return d, s.invalidf("<data type=%q> has no <location href=...>", d.Type)
			}
			return d, nil
		}
	}
}

// parseRepomdNumber reads a size or timestamp. Old yum wrote timestamps
// with a fraction ("1704067200.12"); the fraction is dropped.
func parseRepomdNumber(s string) (int64, error) {
	if whole, _, ok := strings.Cut(s, "."); ok {
		s = whole
	}
	return parseSize(s)
}

// Find returns the metadata file of type typ ("primary", "updateinfo",
// "modules"...). Only the exact type matches, so Find("primary") returns
// the plain XML entry and never its "primary_zck" (zchunk) or
// "primary_db" (SQLite) variants, which must be asked for by name.
func (m *Repomd) Find(typ string) (Data, bool) {
	for _, d := range m.Data {
		if d.Type == typ {
			return d, true
		}
	}
	return Data{}, false
}
