package rpmmd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// parseAll collects every package of a primary.xml.
func parseAll(r io.Reader) ([]*Package, error) {
	var pkgs []*Package
	err := ParsePrimary(r, func(p *Package) error {
		pkgs = append(pkgs, p)
		return nil
	})
	return pkgs, err
}

func TestParsePrimaryFixture(t *testing.T) {
	rc := openFixture(t, fixtureRepo, "primary")
	defer rc.Close()
	pkgs, err := parseAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Package{}
	var names []string
	for _, p := range pkgs {
		byName[p.Name+"-"+p.Version] = p
		names = append(names, p.Name+"-"+p.Version)
	}
	if got, want := strings.Join(names, " "), "nodejs-18.19.0 nodejs-20.11.0 rmd-data-1.0 rmd-kernel-6.1.0 rmd-lib-1.1 rmd-snap-2.0^git20240101.abc rmd-tool-3.1~rc1"; got != want {
		t.Fatalf("packages %s\nwant     %s", got, want)
	}

	tests := []struct {
		key   string
		check func(p *Package) string
	}{
		{"rmd-data-1.0", func(p *Package) string {
			return fmt.Sprintf("%s %d %s %s %v %v", p.Arch, p.Epoch, p.Release, p.SourceRPM, p.Provides[1], p.Obsoletes)
		}},
		{"rmd-lib-1.1", func(p *Package) string {
			return fmt.Sprintf("%s %s %d %v %v %v", p.Arch, p.Location, p.Size, p.Requires, p.Files, p.Provides[0])
		}},
		{"rmd-tool-3.1~rc1", func(p *Package) string {
			return fmt.Sprintf("%v %v %v", p.Requires, p.Conflicts, p.Files)
		}},
		{"rmd-kernel-6.1.0", func(p *Package) string {
			return fmt.Sprintf("%s %v %d", p.Release, p.Provides[0], len(p.Files))
		}},
		{"nodejs-20.11.0", func(p *Package) string {
			return fmt.Sprintf("%d %s %s %s", p.Epoch, p.Release, p.Checksum.Type, p.LocationBase)
		}},
	}
	want := map[string]string{
		"rmd-data-1.0":     "noarch 2 3 rmd-data-1.0-3.src.rpm {rmd-data-compat EQ 2 1.0 3 false} [{rmd-data-old LT 0 2.0  false} {rmd-olddata LT 0 1.0  false}]",
		"rmd-lib-1.1":      "x86_64 Packages/rmd-lib-1.1-1.x86_64.rpm 6648 [{/bin/sh  0   true}] [/etc/rmd-lib.conf] {librmd.so.1()(64bit)  0   false}",
		"rmd-tool-3.1~rc1": "[{(rmd-data or rmd-olddata)  0   false} {rmd-kernel  0   false} {rmd-lib GE 0 1.1  false}] [{rmd-legacy LE 0 1.0  false}] [/usr/bin/rmd-tool]",
		"rmd-kernel-6.1.0": "3.el9 {installonlypkg(kernel)  0   false} 0",
		"nodejs-20.11.0":   "1 1.module+el9.3.0+200+bbbb0020 sha256 ",
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			p := byName[tt.key]
			if p == nil {
				t.Fatalf("no package %s", tt.key)
			}
			if got := tt.check(p); got != want[tt.key] {
				t.Errorf("got  %s\nwant %s", got, want[tt.key])
			}
		})
	}
}

// rpmQueryFormat prints what ParsePrimary reads, one item a line.
const rpmQueryFormat = `N %{NAME}\nE %|EPOCH?{%{EPOCH}}:{0}|\nV %{VERSION}\nR %{RELEASE}\nA %{ARCH}\nS %{SOURCERPM}\n` +
	`[P %{PROVIDENAME}\t%{PROVIDEFLAGS}\t%{PROVIDEVERSION}\n]` +
	`[O %{OBSOLETENAME}\t%{OBSOLETEFLAGS}\t%{OBSOLETEVERSION}\n]` +
	`[Q %{REQUIRENAME}\t%{REQUIREFLAGS}\t%{REQUIREVERSION}\n]` +
	`[C %{CONFLICTNAME}\t%{CONFLICTFLAGS}\t%{CONFLICTVERSION}\n]`

// rpm's RPMSENSE_* bits (rpmds.h).
const (
	senseLess       = 1 << 1
	senseGreater    = 1 << 2
	senseEqual      = 1 << 3
	sensePrereq     = 1 << 6
	senseScriptPre  = 1 << 9
	senseScriptPost = 1 << 10
)

// rpmDependency renders an rpm -q dependency line as Entry would print it.
func rpmDependency(t *testing.T, line string, withPre bool) string {
	t.Helper()
	fields := strings.Split(line, "\t")
	if len(fields) != 3 {
		t.Fatalf("rpm printed %q", line)
	}
	flags, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatal(err)
	}
	e := Entry{Name: fields[0], Flags: map[int]string{
		0: "", senseEqual: "EQ", senseLess: "LT", senseGreater: "GT",
		senseLess | senseEqual: "LE", senseGreater | senseEqual: "GE",
	}[flags&(senseLess|senseGreater|senseEqual)]}
	if evr := fields[2]; evr != "" {
		if ep, rest, ok := strings.Cut(evr, ":"); ok {
			e.Epoch, _ = strconv.Atoi(ep)
			evr = rest
		}
		e.Ver, e.Rel, _ = strings.Cut(evr, "-")
	}
	e.Pre = withPre && flags&(sensePrereq|senseScriptPre|senseScriptPost) != 0
	return fmt.Sprint(e)
}

func entryStrings(list []Entry) []string {
	var out []string
	for _, e := range list {
		out = append(out, fmt.Sprint(e))
	}
	slices.Sort(out)
	return out
}

// TestParsePrimaryMatchesRPM builds the fixture packages, indexes them
// with createrepo_c and checks every package ParsePrimary reads against
// rpm -qp on the same .rpm file (the oracle) and sha256sum of the file.
func TestParsePrimaryMatchesRPM(t *testing.T) {
	repo := builtRepo(t)
	rc := openFixture(t, repo, "primary")
	defer rc.Close()
	pkgs, err := parseAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	rpms, _ := filepath.Glob(filepath.Join(repo, "Packages", "*.rpm"))
	if len(pkgs) != len(rpms) || len(pkgs) == 0 {
		t.Fatalf("primary.xml lists %d packages, the repository has %d .rpm files", len(pkgs), len(rpms))
	}
	for _, p := range pkgs {
		t.Run(p.Location, func(t *testing.T) {
			path := filepath.Join(repo, p.Location)
			out, err := exec.Command("rpm", "-qp", "--nosignature", "--qf", rpmQueryFormat, path).Output()
			if err != nil {
				t.Fatalf("rpm -qp %s: %v", path, err)
			}
			var provides, obsoletes, requires, conflicts []string
			fields := map[string]string{}
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				kind, rest, _ := strings.Cut(sc.Text(), " ")
				switch kind {
				case "P":
					provides = append(provides, rpmDependency(t, rest, false))
				case "O":
					obsoletes = append(obsoletes, rpmDependency(t, rest, false))
				case "Q":
					if !strings.HasPrefix(rest, "rpmlib(") { // createrepo_c leaves rpmlib() out
						requires = append(requires, rpmDependency(t, rest, true))
					}
				case "C":
					conflicts = append(conflicts, rpmDependency(t, rest, false))
				default:
					fields[kind] = rest
				}
			}
			got := fmt.Sprintf("%s %d %s %s %s %s", p.Name, p.Epoch, p.Version, p.Release, p.Arch, p.SourceRPM)
			want := fmt.Sprintf("%s %s %s %s %s %s", fields["N"], fields["E"], fields["V"], fields["R"], fields["A"], fields["S"])
			if got != want {
				t.Errorf("NEVRA: primary says %s, rpm says %s", got, want)
			}
			for _, c := range []struct {
				what      string
				got, want []string
			}{
				{"provides", entryStrings(p.Provides), sorted(provides)},
				{"obsoletes", entryStrings(p.Obsoletes), sorted(obsoletes)},
				{"requires", entryStrings(p.Requires), sorted(requires)},
				{"conflicts", entryStrings(p.Conflicts), sorted(conflicts)},
			} {
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s: primary says %q\nrpm says %q", c.what, c.got, c.want)
				}
			}

			sum, err := exec.Command("sha256sum", path).Output()
			if err != nil {
				t.Fatal(err)
			}
			if want := "sha256:" + strings.Fields(string(sum))[0]; p.Checksum.String() != want {
				t.Errorf("checksum %s, sha256sum says %s", p.Checksum, want)
			}
			if st, err := os.Stat(path); err != nil || st.Size() != p.Size {
				t.Errorf("size %d, file: %v %v", p.Size, st.Size(), err)
			}
		})
	}
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}

const primaryHead = `<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
`

func TestParsePrimaryVariants(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string // fmt of the parsed packages
	}{
		{
			name: "minimal package, no epoch anywhere",
			body: `<package type="rpm"><name>a</name><arch>noarch</arch><version ver="1" rel="2"/>
<format><rpm:provides><rpm:entry name="a" flags="EQ" ver="1" rel="2"/></rpm:provides></format></package>`,
			want: `a 0 1 2 noarch [{a EQ 0 1 2 false}]`,
		},
		{
			name: "xml:base location",
			body: `<package type="rpm"><name>a</name><arch>x86_64</arch><version epoch="3" ver="1" rel="2"/>
<location xml:base="https://elsewhere.invalid/pub/" href="Packages/a.rpm"/></package>`,
			want: `a 3 1 2 x86_64 [] https://elsewhere.invalid/pub/ Packages/a.rpm`,
		},
		{
			name: "unknown elements and other package types are skipped",
			body: `<future-thing><package type="rpm"><name>ignored</name></package></future-thing>
<package type="srpm"><name>src-only</name></package>
<package type="rpm"><name>b</name><x:new xmlns:x="urn:x"><name>not-the-name</name></x:new><arch>noarch</arch><version ver="1"/>
<format><rpm:suggests><rpm:entry name="c"/></rpm:suggests><rpm:provides><rpm:entry name="b"/><rpm:future/></rpm:provides></format></package>`,
			want: `b 0 1  noarch [{b  0   false}]`,
		},
		{
			name: "text split by CDATA and comments",
			body: `<package type="rpm"><name>na<!-- c -->me<![CDATA[-x]]></name><arch> noarch </arch><version ver="1"/></package>`,
			want: `name-x 0 1  noarch []`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkgs, err := parseAll(strings.NewReader(primaryHead + tt.body + "\n</metadata>\n"))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range pkgs {
				s := fmt.Sprintf("%s %d %s %s %s %v", p.Name, p.Epoch, p.Version, p.Release, p.Arch, p.Provides)
				if p.LocationBase != "" {
					s += " " + p.LocationBase + " " + p.Location
				}
				got = append(got, s)
			}
			if strings.Join(got, "\n") != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestParsePrimaryErrors(t *testing.T) {
	ok := `<package type="rpm"><name>ok</name><arch>noarch</arch><version ver="1" rel="1"/></package>` + "\n"
	tests := []struct {
		name, doc, want string
	}{
		{"missing name", primaryHead + ok + `<package type="rpm"><arch>noarch</arch><version ver="1"/></package></metadata>`, "package 2: no <name>"},
		{"missing arch", primaryHead + ok + ok + `<package type="rpm"><name>x</name><version ver="1"/></package></metadata>`, "package 3 (x): no <arch>"},
		{"missing version", primaryHead + `<package><name>x</name><arch>noarch</arch></package></metadata>`, "package 1 (x): no <version ver=...>"},
		{"empty version", primaryHead + `<package><name>x</name><arch>noarch</arch><version ver=""/></package></metadata>`, "package 1 (x): no <version"},
		{"bad epoch", primaryHead + `<package><name>x</name><arch>a</arch><version epoch="one" ver="1"/></package></metadata>`, `package 1 (x): epoch "one"`},
		{"negative epoch", primaryHead + `<package><name>x</name><arch>a</arch><version epoch="-1" ver="1"/></package></metadata>`, `epoch "-1"`},
		{"bad entry flags", primaryHead + `<package><name>x</name><format><rpm:requires><rpm:entry name="y" flags="NE"/></rpm:requires></format></package></metadata>`, `unknown flags "NE"`},
		{"bad entry epoch", primaryHead + `<package><name>x</name><format><rpm:provides><rpm:entry name="y" epoch="z"/></rpm:provides></format></package></metadata>`, `dependency "y": epoch "z"`},
		{"nameless entry", primaryHead + `<package><name>x</name><format><rpm:provides><rpm:entry flags="EQ"/></rpm:provides></format></package></metadata>`, "entry without a name"},
		{"bad size", primaryHead + `<package><name>x</name><size package="big"/></package></metadata>`, `size "big"`},
		{"truncated in a package", primaryHead + ok + `<package type="rpm"><name>tr`, "primary.xml ends early at line 4"},
		{"truncated after a package", primaryHead + ok, "primary.xml ends early at line 4"},
		{"mismatched end tag", primaryHead + `<package><name>x</arch></package></metadata>`, "line 3, column 24: element <name> closed by </arch>"},
		{"mismatched inside skipped element", primaryHead + `<package><summary><b>x</i></summary></package></metadata>`, "element <b> closed by </i>"},
		{"undefined entity", primaryHead + `<package><name>&nbsp;</name></package></metadata>`, "line 3"},
		{"wrong root", `<updates></updates>`, "root element is <updates>, want <metadata>"},
		{"empty", ``, "no <metadata> element"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseAll(strings.NewReader(tt.doc))
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v\nwant an ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

// An error from the callback stops parsing and comes back unchanged.
func TestParsePrimaryCallbackError(t *testing.T) {
	rc := openFixture(t, fixtureRepo, "primary")
	defer rc.Close()
	stop := errors.New("enough")
	calls := 0
	err := ParsePrimary(rc, func(*Package) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 2 {
		t.Fatalf("got %v after %d calls, want the callback's error after 2", err, calls)
	}
}

// Read errors from the underlying stream (a failed download, a
// decompression limit) come back wrapped, not as ErrInvalid.
func TestParsePrimaryReadError(t *testing.T) {
	broken := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader(primaryHead+"<package><name>x"), iotestErrReader{broken})
	err := ParsePrimary(r, func(*Package) error { return nil })
	if !errors.Is(err, broken) || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "reading primary.xml at line 3") {
		t.Fatalf("got %v, want the read error with its position", err)
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

// Every prefix of a real primary.xml short of its end tag fails with
// ErrInvalid; none panics or ends quietly.
func TestParsePrimaryTruncatedEverywhere(t *testing.T) {
	rc := openFixture(t, fixtureRepo, "primary")
	full, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	end := bytes.LastIndex(full, []byte("</metadata>"))
	for cut := 0; cut < end+len("</metadata>")-1; cut++ {
		err := ParsePrimary(bytes.NewReader(full[:cut]), func(*Package) error { return nil })
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("cut at %d of %d: got %v, want ErrInvalid", cut, len(full), err)
		}
	}
}

// ParsePrimary holds one package at a time: parsing a 20,000-package
// stream fed through a pipe keeps the heap far below the document's size.
func TestParsePrimaryStreams(t *testing.T) {
	const packages = 20000
	pr, pw := io.Pipe()
	counter := &countingWriter{w: pw}
	go func() {
		writeSyntheticPrimary(counter, packages)
		pw.Close()
	}()
	var peak uint64
	n := 0
	err := ParsePrimary(pr, func(p *Package) error {
		n++
		if n%500 == 0 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != packages {
		t.Fatalf("parsed %d packages, want %d", n, packages)
	}
	t.Logf("document %d bytes, peak heap %d bytes", counter.n, peak)
	if peak > uint64(counter.n)/3 {
		t.Errorf("peak heap %d bytes for a %d-byte document: not streaming", peak, counter.n)
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
