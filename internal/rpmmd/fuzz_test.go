package rpmmd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fixtureBytes returns the decompressed metadata of type typ of the
// committed repository, as a fuzz seed.
func fixtureBytes(f testing.TB, typ string) []byte {
	rc := openFixture(f, fixtureRepo, typ)
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		f.Fatal(err)
	}
	return data
}

func FuzzParseRepomd(f *testing.F) {
	repomd, err := os.ReadFile(filepath.Join(fixtureRepo, "repodata", "repomd.xml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(repomd)
	f.Add([]byte(`<repomd><data type="primary"><location href="x"/><size>1.5</size></data></repomd>`))
	f.Add([]byte(`<repomd><revision>1</revision></repomd>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		md, err := ParseRepomd(bytes.NewReader(doc))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not wrapping ErrInvalid: %v", err)
			}
			return
		}
		for _, d := range md.Data {
			if d.Type == "" || d.Location == "" || d.Size < 0 || d.OpenSize < 0 || d.Timestamp < 0 {
				t.Fatalf("accepted incomplete data %+v", d)
			}
		}
	})
}

func FuzzParsePrimary(f *testing.F) {
	f.Add(fixtureBytes(f, "primary"))
	f.Add([]byte(primaryHead + `<package type="rpm"><name>a</name><arch>noarch</arch><version epoch="1" ver="1" rel="1"/>` +
		`<location xml:base="http://x/" href="a.rpm"/><format><rpm:provides><rpm:entry name="a" flags="EQ" epoch="1" ver="1"/></rpm:provides>` +
		`<file>/usr/bin/a</file></format></package></metadata>`))
	f.Add([]byte(`<metadata><package type="srpm"/><package><name><![CDATA[x]]></name></package></metadata>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		err := ParsePrimary(bytes.NewReader(doc), func(p *Package) error {
			if p.Name == "" || p.Arch == "" || p.Version == "" || p.Epoch < 0 || p.Size < 0 {
				t.Fatalf("accepted incomplete package %+v", p)
			}
			for _, list := range [][]Entry{p.Provides, p.Requires, p.Obsoletes, p.Conflicts} {
				for _, e := range list {
					if e.Name == "" || e.Epoch < 0 {
						t.Fatalf("accepted bad entry %+v", e)
					}
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error not wrapping ErrInvalid: %v", err)
		}
	})
}

func FuzzParseUpdateinfo(f *testing.F) {
	updateinfo, err := os.ReadFile("testdata/updateinfo.xml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(updateinfo)
	f.Add([]byte(`<updates><update type="security"><id>A</id><reboot_suggested>1</reboot_suggested><references>` +
		`<reference type="cve" id="CVE-2"/><reference type="CVE" id="CVE-1"/></references></update></updates>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		advisories, err := ParseUpdateinfo(bytes.NewReader(doc))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not wrapping ErrInvalid: %v", err)
			}
			return
		}
		for _, a := range advisories {
			if a.ID == "" {
				t.Fatalf("accepted an advisory without id: %+v", a)
			}
			if !slices.IsSorted(a.CVEs) || len(slices.Compact(slices.Clone(a.CVEs))) != len(a.CVEs) {
				t.Fatalf("CVEs not sorted and unique: %q", a.CVEs)
			}
			for _, p := range a.Packages {
				if p.Name == "" || p.Epoch < 0 {
					t.Fatalf("accepted bad package %+v", p)
				}
			}
		}
	})
}

func FuzzParseModules(f *testing.F) {
	modules, err := os.ReadFile("testdata/modules.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(modules)
	f.Add([]byte("document: modulemd\nversion: 1\ndata:\n  name: perl\n  stream: 5.30\n"))
	f.Add([]byte("---\n...\n---\ndocument: modulemd-defaults\nversion: 1\ndata: {module: a, stream: &s b}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		mods, err := ParseModules(bytes.NewReader(doc))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not wrapping ErrInvalid: %v", err)
			}
			return
		}
		for _, s := range mods.Streams {
			if s.Name == "" || s.Stream == "" {
				t.Fatalf("accepted a stream without name or stream: %+v", s)
			}
			for _, a := range s.Artifacts {
				if _, _, _, _, _, err := ParseNEVRA(a); err != nil {
					t.Fatalf("accepted artifact %q: %v", a, err)
				}
			}
		}
	})
}

func FuzzParseNEVRA(f *testing.F) {
	f.Add("nodejs-1:18.19.0-1.module+el9.3.0+100+aaaa0018.x86_64")
	f.Add("python3-pip-wheel-21.2.3-7.el9.noarch")
	f.Fuzz(func(t *testing.T, s string) {
		name, epoch, version, release, arch, err := ParseNEVRA(s)
		if err != nil {
			return
		}
		// Joining the parts and splitting again gives the same parts.
		joined := fmt.Sprintf("%s-%d:%s-%s.%s", name, epoch, version, release, arch)
		n2, e2, v2, r2, a2, err := ParseNEVRA(joined)
		if err != nil || n2 != name || e2 != epoch || v2 != version || r2 != release || a2 != arch {
			t.Fatalf("ParseNEVRA(%q) = %q %d %q %q %q, but its join %q gives %q %d %q %q %q, %v",
				s, name, epoch, version, release, arch, joined, n2, e2, v2, r2, a2, err)
		}
	})
}
