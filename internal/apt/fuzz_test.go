package apt

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func addFixtureSeeds(f *testing.F, names ...string) {
	f.Helper()
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatalf("reading seed (regenerate with testdata/gen.sh): %v", err)
		}
		f.Add(data)
	}
}

// FuzzParseRelease checks that no input panics ParseRelease, that every
// error wraps a sentinel, and that accepted files only hold safe paths.
func FuzzParseRelease(f *testing.F) {
	addFixtureSeeds(f, filepath.Join(repoDir, "dists/demo/Release"), filepath.Join(repoDir, "dists/demo-security/Release"))
	f.Add([]byte("SHA256:\n 5bf07795310aee64c3b8f571c53af0e95a4ef13180de5ab57741ab1258fefd50 1 ../x\n"))
	f.Add([]byte("A: 1\n\nB: 2\n"))
	f.Add([]byte(" orphan\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rel, err := ParseRelease(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrNoSHA256) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if len(rel.Files) == 0 {
			t.Fatal("accepted a Release without files")
		}
		for p, fh := range rel.Files {
			if p != fh.Path || !isRelativePath(p) || !isSHA256Hex(fh.SHA256) || fh.Size < 0 {
				t.Fatalf("accepted bad entry %q: %+v", p, fh)
			}
			_ = ByHashPath(p, fh.SHA256)
		}
		_, _, _ = rel.IndexPath("main", "amd64")
	})
}

// FuzzParsePackages checks that no input panics ParsePackages and that
// every package it reports has the required fields.
func FuzzParsePackages(f *testing.F) {
	addFixtureSeeds(f, filepath.Join(repoDir, "dists/demo/main/binary-amd64/Packages"), filepath.Join(repoDir, "dists/demo-security/main/binary-amd64/Packages"))
	f.Add([]byte("Package: a\nVersion: 1\nArchitecture: all\nSize: 9\nDepends: b,\n c\n"))
	f.Add([]byte("Package: a\nPackage: b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := ParsePackages(bytes.NewReader(data), func(p *Package) error {
			if p.Package == "" || p.Version == "" || p.Architecture == "" || p.Size < 0 {
				t.Fatalf("reported an incomplete package: %+v", p)
			}
			_, _ = p.SourceName(), p.SourceVersion()
			return nil
		})
		if err != nil && !errors.Is(err, ErrSyntax) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
	})
}

// FuzzParseStatus checks that no input panics ParseStatus and that every
// entry has a name and a three-word status.
func FuzzParseStatus(f *testing.F) {
	addFixtureSeeds(f, "testdata/status")
	f.Add([]byte("Package: a\nStatus: install ok installed\n"))
	f.Add([]byte("Package: a\nStatus: install ok\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseStatus(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		for _, e := range entries {
			if e.Package == "" || e.State() == "" {
				t.Fatalf("bad entry: %+v", e)
			}
			_, _, _ = e.Installed(), e.SourceName(), e.SourceVersion()
		}
	})
}
