package rpmmd

import (
	"encoding/xml"
	"io"
	"slices"
	"strings"
)

// Reference is a <reference> of an advisory: a CVE, a bug, the advisory's
// own page.
type Reference struct {
	// Type is "cve", "bugzilla", "self"... as in the file.
	Type string
	// ID is the identifier within Type, e.g. "CVE-2024-1234" or "2251021".
	ID    string
	Href  string
	Title string
}

// AdvisoryPackage is a package an advisory ships (a <pkglist> entry).
type AdvisoryPackage struct {
	Name     string
	Arch     string
	Epoch    int
	Version  string
	Release  string
	Filename string
	// Module is the "name:stream" of the collection's <module> when the
	// package belongs to a module stream (EL8/EL9 AppStream), else "".
	Module string
}

// Advisory is one <update> of updateinfo.xml.
type Advisory struct {
	ID string
	// Type is "security", "bugfix", "enhancement" or "newpackage".
	Type string
	// Severity is as the file spells it ("Important", "moderate"...), ""
	// when the advisory has none.
	Severity string
	Title    string
	// Issued and Updated are the date attributes as in the file: either
	// "2024-01-02 00:00:00" or seconds since the epoch, depending on who
	// wrote the file.
	Issued  string
	Updated string
	// CVEs are the sorted, unique ids of the <reference type="cve">
	// elements. CVE ids that only appear in other references' titles
	// (bugzilla entries, descriptions) are not collected: distributions
	// that fix a CVE list it as a cve reference.
	CVEs       []string
	References []Reference
	Packages   []AdvisoryPackage
	// RebootSuggested is set when the update or any of its packages
	// carries <reboot_suggested> true.
	RebootSuggested bool
}

// ParseUpdateinfo reads updateinfo.xml. It streams the document, keeping
// only the advisories found so far; unknown elements are skipped. An
// <update> without an <id>, or XML that is malformed or truncated, fails
// with an error wrapping [ErrInvalid] that gives the line in the file.
func ParseUpdateinfo(r io.Reader) ([]Advisory, error) {
	s := newXMLStream(r, "updateinfo.xml")
	root, err := s.root("updates")
	if err != nil {
		return nil, err
	}
	var advisories []Advisory
	for {
		tok, err := s.token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "update" {
				if err := s.skip(t.Name); err != nil {
					return nil, err
				}
				continue
			}
			a, err := s.update(t, len(advisories)+1)
			if err != nil {
				return nil, err
			}
			advisories = append(advisories, a)
		case xml.EndElement:
			return advisories, s.closes(t, root.Name)
		}
	}
}

// update reads the index-th <update> element.
func (s *xmlStream) update(start xml.StartElement, index int) (Advisory, error) {
	a := Advisory{Type: attr(start, "type")}
	for {
		tok, err := s.token()
		if err != nil {
			return a, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "id":
				a.ID, err = s.text(t.Name)
			case "title":
				a.Title, err = s.text(t.Name)
			case "severity":
				a.Severity, err = s.text(t.Name)
			case "issued":
				a.Issued = attr(t, "date")
				err = s.skip(t.Name)
			case "updated":
				a.Updated = attr(t, "date")
				err = s.skip(t.Name)
			case "reboot_suggested":
				var v string
				v, err = s.text(t.Name)
				a.RebootSuggested = a.RebootSuggested || isTrue(v)
			case "references":
				err = s.references(t.Name, &a)
			case "pkglist":
				err = s.pkglist(t.Name, &a)
			default:
				err = s.skip(t.Name)
			}
			if err != nil {
				return a, err
			}
		case xml.EndElement:
			if err := s.closes(t, start.Name); err != nil {
				return a, err
			}
			if a.ID == "" {
				return a, s.invalidf("update %d has no <id>", index)
			}
			slices.Sort(a.CVEs)
			a.CVEs = slices.Compact(a.CVEs)
			return a, nil
		}
	}
}

// references reads <references>, collecting CVE ids along the way.
func (s *xmlStream) references(start xml.Name, a *Advisory) error {
	for {
		tok, err := s.token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "reference" {
				ref := Reference{Type: attr(t, "type"), ID: strings.TrimSpace(attr(t, "id")), Href: attr(t, "href"), Title: attr(t, "title")}
				a.References = append(a.References, ref)
				if strings.EqualFold(ref.Type, "cve") && ref.ID != "" {
					a.CVEs = append(a.CVEs, ref.ID)
				}
			}
			if err := s.skip(t.Name); err != nil {
				return err
			}
		case xml.EndElement:
			return s.closes(t, start)
		}
	}
}

// pkglist reads <pkglist> and its <collection>s.
func (s *xmlStream) pkglist(start xml.Name, a *Advisory) error {
	for {
		tok, err := s.token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "collection" {
				err = s.collection(t.Name, a)
			} else {
				err = s.skip(t.Name)
			}
			if err != nil {
				return err
			}
		case xml.EndElement:
			return s.closes(t, start)
		}
	}
}

// collection reads one <collection> of a <pkglist>. The <module> element,
// when present, comes before the packages it qualifies.
func (s *xmlStream) collection(start xml.Name, a *Advisory) error {
	module := ""
	for {
		tok, err := s.token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "module":
				if name, stream := attr(t, "name"), attr(t, "stream"); name != "" {
					module = name + ":" + stream
				}
				err = s.skip(t.Name)
			case "package":
				err = s.advisoryPackage(t, a, module)
			default:
				err = s.skip(t.Name)
			}
			if err != nil {
				return err
			}
		case xml.EndElement:
			return s.closes(t, start)
		}
	}
}

// advisoryPackage reads one <package> of a collection.
func (s *xmlStream) advisoryPackage(start xml.StartElement, a *Advisory, module string) error {
	p := AdvisoryPackage{
		Name:    attr(start, "name"),
		Arch:    attr(start, "arch"),
		Version: attr(start, "version"),
		Release: attr(start, "release"),
		Module:  module,
	}
	var err error
	if p.Epoch, err = parseEpoch(attr(start, "epoch")); err != nil {
		return s.invalidf("update %s: package %s: %v", a.ID, p.Name, err)
	}
	if p.Name == "" {
		return s.invalidf("update %s: <package> without a name", a.ID)
	}
	for {
		tok, err := s.token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "filename":
				p.Filename, err = s.text(t.Name)
			case "reboot_suggested":
				var v string
				v, err = s.text(t.Name)
				a.RebootSuggested = a.RebootSuggested || isTrue(v)
			default:
				err = s.skip(t.Name)
			}
			if err != nil {
				return err
			}
		case xml.EndElement:
			if err := s.closes(t, start.Name); err != nil {
				return err
			}
			a.Packages = append(a.Packages, p)
			return nil
		}
	}
}

// isTrue reads the booleans of updateinfo: "True", "true", "1", "yes".
func isTrue(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes":
		return true
	}
	return false
}
