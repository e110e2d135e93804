package apt

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func collectPackages(t *testing.T, input string) ([]*Package, error) {
	t.Helper()
	var pkgs []*Package
	err := ParsePackages(strings.NewReader(input), func(p *Package) error {
		pkgs = append(pkgs, p)
		return nil
	})
	return pkgs, err
}

func TestParsePackagesFixture(t *testing.T) {
	tests := []struct {
		suite string
		want  []string // "name version arch source-name source-version"
	}{
		{suite: "demo", want: []string{
			"refit-data 1.0-1 all refit-data 1.0-1",
			"refit-demo 1.0-1 amd64 refit-demo 1.0-1",
			"refit-epoch 1:2.0-1 amd64 refit-tools 2.0-1",
			"refit-tilde 2.0~rc1-1 amd64 refit-tilde 2.0~rc1-1",
		}},
		{suite: "demo-security", want: []string{
			"refit-demo 1.0-2 amd64 refit-demo 1.0-2",
			"refit-tilde 2.0-1 amd64 refit-tilde 2.0-1",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.suite, func(t *testing.T) {
			var got []string
			err := ParsePackages(openFixture(t, filepath.Join(repoDir, "dists", tt.suite, "main/binary-amd64/Packages")), func(p *Package) error {
				got = append(got, fmt.Sprintf("%s %s %s %s %s", p.Package, p.Version, p.Architecture, p.SourceName(), p.SourceVersion()))
				// Every index entry must describe the .deb in the pool exactly.
				deb, err := os.ReadFile(filepath.Join(repoDir, filepath.FromSlash(p.Filename)))
				if err != nil {
					t.Errorf("%s: %v", p.Package, err)
					return nil
				}
				sum := sha256.Sum256(deb)
				if hex.EncodeToString(sum[:]) != p.SHA256 || int64(len(deb)) != p.Size {
					t.Errorf("%s: index says %d bytes sha256 %s, file has %d bytes sha256 %x", p.Filename, p.Size, p.SHA256, len(deb), sum)
				}
				switch p.Package {
				case "refit-demo":
					if p.Depends != "refit-data (>= 1.0)" || p.Provides != "refit-demo-api" {
						t.Errorf("refit-demo relations: Depends %q Provides %q", p.Depends, p.Provides)
					}
				case "refit-data":
					if p.MultiArch != "foreign" {
						t.Errorf("refit-data Multi-Arch = %q, want foreign", p.MultiArch)
					}
				}
				if p.Section != "misc" || p.Priority != "optional" {
					t.Errorf("%s: Section %q Priority %q", p.Package, p.Section, p.Priority)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("packages =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestParsePackagesFields(t *testing.T) {
	input := `Package: libc6
Source: glibc (2.36-9+deb12u4)
Version: 2.36-9+deb12u4+b1
Architecture: amd64
Essential: yes
Multi-Arch: same
Priority: required
Section: libs
Pre-Depends: libgcc-s1
Depends: libgcc-s1,
 libcrypt1 (>= 1:4.4.10-10~)
Breaks: hurd (<< 1:0.9.git20220301-2),
 nocache (<< 1.1-1~)
Conflicts: libc6-dev (<< 2.36)
Replaces: libc6-amd64
Provides: libc6-x86-64
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u4+b1_amd64.deb
Size: 2757936
SHA256: 0b9d4b8f7f2c7a3b2d3c4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.
`
	pkgs, err := collectPackages(t, input)
	if err != nil {
		t.Fatal(err)
	}
	want := &Package{
		Package: "libc6", Version: "2.36-9+deb12u4+b1", Architecture: "amd64",
		Source: "glibc (2.36-9+deb12u4)", Filename: "pool/main/g/glibc/libc6_2.36-9+deb12u4+b1_amd64.deb",
		SHA256: "0b9d4b8f7f2c7a3b2d3c4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293", MultiArch: "same",
		Size: 2757936, Essential: true, Priority: "required", Section: "libs",
		Depends: "libgcc-s1, libcrypt1 (>= 1:4.4.10-10~)", PreDepends: "libgcc-s1", Provides: "libc6-x86-64",
		Replaces: "libc6-amd64", Breaks: "hurd (<< 1:0.9.git20220301-2), nocache (<< 1.1-1~)", Conflicts: "libc6-dev (<< 2.36)",
	}
	if len(pkgs) != 1 || *pkgs[0] != *want {
		t.Fatalf("got %+v\nwant %+v", pkgs, want)
	}
	if got := pkgs[0].SourceName(); got != "glibc" {
		t.Errorf("SourceName = %q, want glibc", got)
	}
	if got := pkgs[0].SourceVersion(); got != "2.36-9+deb12u4" {
		t.Errorf("SourceVersion = %q, want 2.36-9+deb12u4 (binNMU source version)", got)
	}
}

func TestParsePackagesErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantMsg string
	}{
		{name: "no Package field", input: "Version: 1\nArchitecture: all\n", wantMsg: "paragraph at line 1 has no Package field"},
		{name: "no Version field", input: "Package: a\nVersion: 1\nArchitecture: all\n\nPackage: b\nArchitecture: all\n", wantMsg: "package b at line 5 has no Version field"},
		{name: "no Architecture field", input: "Package: a\nVersion: 1\n", wantMsg: "package a at line 1 has no Architecture field"},
		{name: "bad Size", input: "Package: a\nVersion: 1\nArchitecture: all\nSize: big\n", wantMsg: "line 4: package a: Size \"big\""},
		{name: "negative Size", input: "Package: a\nVersion: 1\nArchitecture: all\nSize: -5\n", wantMsg: "line 4: package a: Size"},
		{name: "name with white space", input: "Package: a\n b\nVersion: 1\nArchitecture: all\n", wantMsg: "line 1: package name"},
		{name: "malformed line in the second paragraph", input: "Package: a\nVersion: 1\nArchitecture: all\n\nPackage: b\noops\n", wantMsg: "line 6:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := collectPackages(t, tt.input)
			if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error = %v, want ErrSyntax containing %q", err, tt.wantMsg)
			}
		})
	}
}

func TestParsePackagesCallbackErrorStops(t *testing.T) {
	errStop := errors.New("stop here")
	calls := 0
	input := "Package: a\nVersion: 1\nArchitecture: all\n\nPackage: b\nVersion: 1\nArchitecture: all\n\nPackage: c\nVersion: 1\nArchitecture: all\n"
	err := ParsePackages(strings.NewReader(input), func(p *Package) error {
		calls++
		if p.Package == "b" {
			return errStop
		}
		return nil
	})
	if err != errStop {
		t.Errorf("error = %v, want the callback's own error", err)
	}
	if calls != 2 {
		t.Errorf("callback ran %d times, want 2", calls)
	}
}

// TestParsePackagesLongField checks a Description far longer than bufio's
// default 64 KiB token limit.
func TestParsePackagesLongField(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	input := "Package: a\nVersion: 1\nArchitecture: all\nDescription: " + long + "\n " + long + "\n\nPackage: b\nVersion: 2\nArchitecture: all\n"
	pkgs, err := collectPackages(t, input)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 2 || pkgs[1].Version != "2" {
		t.Errorf("got %d packages, want a and b", len(pkgs))
	}
}

func TestSourceFields(t *testing.T) {
	tests := []struct {
		source, binary, version string
		wantName, wantVersion   string
	}{
		{"", "bash", "5.2.15-2+b2", "bash", "5.2.15-2+b2"},
		{"glibc", "libc6", "2.36-9", "glibc", "2.36-9"},
		{"glibc (2.36-9+deb12u4)", "libc6", "2.36-9+deb12u4+b1", "glibc", "2.36-9+deb12u4"},
		{"  openssl   ( 3.0.11-1 ) ", "libssl3", "3.0.11-1+b1", "openssl", "3.0.11-1"},
		{"weird ()", "w", "1", "weird", "1"},
		{"weird junk", "w", "1", "weird", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			e := StatusEntry{Package: tt.binary, Version: tt.version, Source: tt.source}
			p := &Package{Package: tt.binary, Version: tt.version, Source: tt.source}
			if e.SourceName() != tt.wantName || p.SourceName() != tt.wantName {
				t.Errorf("SourceName = %q / %q, want %q", e.SourceName(), p.SourceName(), tt.wantName)
			}
			if e.SourceVersion() != tt.wantVersion || p.SourceVersion() != tt.wantVersion {
				t.Errorf("SourceVersion = %q / %q, want %q", e.SourceVersion(), p.SourceVersion(), tt.wantVersion)
			}
		})
	}
}
