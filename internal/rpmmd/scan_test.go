package rpmmd

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// scanAll runs ScanPrimary and ParsePrimary (filtered the same way) over doc.
func scanBoth(t testing.TB, doc []byte, keep func(string) bool) (scanned, parsed []*Package, scanErr, parseErr error) {
	scanErr = ScanPrimary(bytes.NewReader(doc), keep, func(p *Package) error { scanned = append(scanned, p); return nil })
	parseErr = ParsePrimary(bytes.NewReader(doc), func(p *Package) error {
		if keepPackage(p, keep) {
			parsed = append(parsed, p)
		}
		return nil
	})
	return
}

func TestScanPrimaryMatchesParsePrimary(t *testing.T) {
	var synthetic bytes.Buffer
	writeSyntheticPrimary(&synthetic, 2000)
	docs := map[string][]byte{"fixture": fixtureBytes(t, "primary"), "synthetic": synthetic.Bytes()}
	keeps := map[string]func(string) bool{
		"all":      func(string) bool { return true },
		"none":     func(string) bool { return false },
		"some":     func(n string) bool { return len(n)%3 == 0 },
		"prefix f": func(n string) bool { return strings.HasPrefix(n, "f") },
	}
	for dn, doc := range docs {
		for kn, keep := range keeps {
			t.Run(dn+"/"+kn, func(t *testing.T) {
				scanned, parsed, serr, perr := scanBoth(t, doc, keep)
				if serr != nil || perr != nil {
					t.Fatalf("scan: %v, parse: %v", serr, perr)
				}
				if !reflect.DeepEqual(scanned, parsed) {
					t.Fatalf("ScanPrimary kept %d packages, ParsePrimary %d, or they differ", len(scanned), len(parsed))
				}
				if kn == "all" && len(scanned) == 0 {
					t.Fatal("nothing parsed")
				}
			})
		}
	}
}

func TestScanPrimaryEdgeCases(t *testing.T) {
	pkg := func(name, extra string) string {
		return `<package type="rpm"><name>` + name + `</name><arch>noarch</arch><version epoch="0" ver="1" rel="1"/>` +
			`<location href="` + name + `.rpm"/><format>` + extra + `</format></package>`
	}
	all := func(string) bool { return true }
	cases := []struct {
		name    string
		doc     string
		keep    func(string) bool
		want    []string
		wantErr bool
	}{
		{"comments and CDATA hiding a package end", primaryHead + `<!-- </package> --><?pi </package>?>` +
			pkg("a", `<rpm:provides><rpm:entry name="x"/></rpm:provides>`) + `<![CDATA[</package>]]>` + pkg("b", "") + `</metadata>`, all, []string{"a", "b"}, false},
		{"kept by obsoletes only", primaryHead + pkg("new", `<rpm:obsoletes><rpm:entry
 name="old" flags="LT" ver="2"/></rpm:obsoletes>`) + pkg("other", "") + `</metadata>`,
			func(n string) bool { return n == "old" }, []string{"new"}, false},
		{"escaped name", primaryHead + pkg("a&amp;b", "") + `</metadata>`, func(n string) bool { return n == "a&b" }, []string{"a&b"}, false},
		{"no rpm prefix binding: slow path", `<metadata xmlns="` + NamespaceCommon + `" xmlns:r="` + NamespaceRPM + `">` +
			strings.ReplaceAll(pkg("a", ""), "rpm:", "r:") + `</metadata>`, all, []string{"a"}, false},
		{"truncated", primaryHead + pkg("a", "")[:40], all, nil, true},
		{"no end of root", primaryHead + pkg("a", ""), all, nil, true},
		{"package without name", primaryHead + `<package type="rpm"><arch>x</arch></package></metadata>`, all, nil, true},
		{"wrong root", `<repomd></repomd>`, all, nil, true},
		{"empty", ``, all, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := ScanPrimary(strings.NewReader(tc.doc), tc.keep, func(p *Package) error { got = append(got, p.Name); return nil })
			if tc.wantErr {
				if err == nil || !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	stop := errors.New("stop")
	err := ScanPrimary(strings.NewReader(primaryHead+pkg("a", "")+`</metadata>`), all, func(*Package) error { return stop })
	if err != stop {
		t.Fatalf("callback error = %v, want it unchanged", err)
	}
}

// FuzzScanPrimary: never panics, and agrees with ParsePrimary whenever ParsePrimary accepts the document.
func FuzzScanPrimary(f *testing.F) {
	f.Add(fixtureBytes(f, "primary"), uint8(3))
	f.Add([]byte(primaryHead+`<!-- x --><package type="rpm"><name>a</name><arch>noarch</arch><version ver="1"/></package></metadata>`), uint8(1))
	f.Fuzz(func(t *testing.T, doc []byte, mod uint8) {
		keep := func(n string) bool { return mod == 0 || len(n)%int(mod) == 0 }
		scanned, parsed, serr, perr := scanBoth(t, doc, keep)
		if perr != nil {
			return // ScanPrimary may accept what it does not look at
		}
		if serr != nil {
			if strings.Contains(string(doc), "<!DOCTYPE") || !errors.Is(serr, ErrInvalid) {
				return
			}
			// ParsePrimary skips unknown elements between packages; ScanPrimary refuses them.
			if strings.Contains(serr.Error(), "between packages") {
				return
			}
			t.Fatalf("ScanPrimary failed where ParsePrimary succeeded: %v", serr)
		}
		if !reflect.DeepEqual(scanned, parsed) {
			t.Fatalf("ScanPrimary and ParsePrimary disagree:\nscan  %+v\nparse %+v", scanned, parsed)
		}
	})
}

// BenchmarkScanPrimary scans a Fedora-sized primary.xml (70,000 packages) for 1,000 installed names.
func BenchmarkScanPrimary(b *testing.B) {
	const packages = 70000
	var doc bytes.Buffer
	writeSyntheticPrimary(&doc, packages)
	wanted := map[string]bool{}
	n := 0
	if err := ParsePrimary(bytes.NewReader(doc.Bytes()), func(p *Package) error {
		if n%70 == 0 {
			wanted[p.Name] = true
		}
		n++
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(doc.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		kept := 0
		err := ScanPrimary(bytes.NewReader(doc.Bytes()), func(n string) bool { return wanted[n] }, func(*Package) error { kept++; return nil })
		if err != nil {
			b.Fatal(err)
		}
		if kept < len(wanted) {
			b.Fatalf("kept %d, want at least %d", kept, len(wanted))
		}
	}
}
