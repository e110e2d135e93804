package apt

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseStatusFixture(t *testing.T) {
	entries, err := ParseStatus(openFixture(t, "testdata/status"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, fmt.Sprintf("%s:%s %s %s installed=%v", e.Package, e.Architecture, e.Version, e.State(), e.Installed()))
	}
	want := []string{
		"refit-demo:amd64 1.0-1 installed installed=true",
		"refit-epoch:amd64 1:1.5-1 installed installed=true",
		"refit-tilde:amd64 2.0~rc1-1 unpacked installed=false",
		"refit-data:all 1.0-1 installed installed=true",
		"libexample1:amd64 3.1-2 installed installed=true",
		"libexample1:i386 3.1-2 installed installed=true",
		"oldconf:amd64 0.9-1 config-files installed=false",
		"purged:amd64  not-installed installed=false",
		"broken:amd64 1.0-1 half-installed installed=false",
		"pending:amd64 2.0-1 triggers-pending installed=true",
		"leaving:amd64 5.0-1 installed installed=true",
	}
	if !slices.Equal(got, want) {
		t.Errorf("entries =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	byName := map[string]StatusEntry{}
	for _, e := range entries {
		byName[e.Package] = e
	}
	if e := byName["refit-epoch"]; e.SourceName() != "refit-tools" || e.SourceVersion() != "2.0-1" {
		t.Errorf("refit-epoch source = %s %s, want refit-tools 2.0-1", e.SourceName(), e.SourceVersion())
	}
	if e := byName["leaving"]; !e.Essential || e.Provides != "leaving-virtual (= 5.0-1), leaving-other" {
		t.Errorf("leaving: Essential %v Provides %q", e.Essential, e.Provides)
	}
	if e := byName["refit-data"]; e.MultiArch != "foreign" {
		t.Errorf("refit-data Multi-Arch = %q", e.MultiArch)
	}
	// dpkg itself reads the same fixture as the oracle.
	compareWithDpkgQuery(t, fixtureAdmindir(t, "testdata/status"), entries)
}

func TestStatusEntryInstalled(t *testing.T) {
	tests := []struct {
		status string
		want   bool
	}{
		{"install ok installed", true},
		{"hold ok installed", true},
		{"deinstall ok installed", true},
		{"purge ok installed", true},
		{"install ok triggers-pending", true},
		{"install ok triggers-awaiting", true},
		{"install reinstreq installed", false},
		{"install ok half-installed", false},
		{"install reinstreq half-installed", false},
		{"install ok unpacked", false},
		{"install ok half-configured", false},
		{"deinstall ok config-files", false},
		{"purge ok not-installed", false},
		{"unknown ok not-installed", false},
		{"installed", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			if got := (StatusEntry{Status: tt.status}).Installed(); got != tt.want {
				t.Errorf("Installed() for %q = %v, want %v", tt.status, got, tt.want)
			}
		})
	}
}

func TestParseStatusErrors(t *testing.T) {
	tests := []struct {
		name, input, wantMsg string
	}{
		{name: "no Status", input: "Package: a\nVersion: 1\n", wantMsg: "package a at line 1 has no Status field"},
		{name: "two-word Status", input: "Package: a\nStatus: install ok\n", wantMsg: "line 2: package a: Status \"install ok\""},
		{name: "no Package", input: "Status: install ok installed\n", wantMsg: "no Package field"},
		{name: "malformed line", input: "Package: a\nStatus: install ok installed\nbroken line\n", wantMsg: "line 3:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, err := ParseStatus(strings.NewReader(tt.input))
			if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error = %v, want ErrSyntax containing %q", err, tt.wantMsg)
			}
			if entries != nil {
				t.Errorf("entries returned with error")
			}
		})
	}
}

func TestParseStatusEmpty(t *testing.T) {
	entries, err := ParseStatus(strings.NewReader("\n"))
	if err != nil || len(entries) != 0 {
		t.Errorf("ParseStatus(empty) = %v, %v; want no entries, no error", entries, err)
	}
}

// fixtureAdmindir makes a dpkg database directory whose status file is
// statusFile, for dpkg-query --admindir.
func fixtureAdmindir(t *testing.T, statusFile string) string {
	t.Helper()
	status, err := filepath.Abs(statusFile)
	if err != nil {
		t.Fatal(err)
	}
	admin := t.TempDir()
	for _, dir := range []string{"updates", "info"} {
		if err := os.Mkdir(filepath.Join(admin, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(status, filepath.Join(admin, "status")); err != nil {
		t.Fatal(err)
	}
	return admin
}

// compareWithDpkgQuery checks entries against what dpkg-query lists for
// the database in admin: the exact set of (package, version, architecture,
// state), not-installed entries excepted as dpkg-query -W leaves them out.
func compareWithDpkgQuery(t *testing.T, admin string, entries []StatusEntry) {
	t.Helper()
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skipf("needs dpkg-query (package dpkg) as the oracle: %v", err)
	}
	out, err := exec.Command("dpkg-query", "--admindir="+admin, "-W", "-f=${Package} ${Version} ${Architecture} ${db:Status-Status}\n").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	want := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	var got []string
	installed := 0
	for _, e := range entries {
		if e.State() != "not-installed" {
			got = append(got, fmt.Sprintf("%s %s %s %s", e.Package, e.Version, e.Architecture, e.State()))
		}
		if e.Installed() {
			installed++
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		for _, g := range got {
			if !slices.Contains(want, g) {
				t.Errorf("ParseStatus has %q, dpkg-query does not", g)
			}
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("dpkg-query has %q, ParseStatus does not", w)
			}
		}
	}
	t.Logf("%d entries, %d listed by dpkg-query, %d installed", len(entries), len(want), installed)
}
