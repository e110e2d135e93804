package rpmmd

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseUpdateinfoFixture(t *testing.T) {
	f, err := os.Open("testdata/updateinfo.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseUpdateinfo(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []Advisory{
		{
			ID: "RMD-2024:0101", Type: "security", Severity: "Important", Title: "Important: rmd-lib security update",
			Issued: "2024-01-02 00:00:00", Updated: "2024-01-09 12:30:00",
			CVEs: []string{"CVE-2099-1001", "CVE-2099-1002"}, // sorted, deduplicated, only type="cve"
			References: []Reference{
				{"bugzilla", "2001", "https://bugzilla.example.invalid/2001", "CVE-2099-9998 rmd-lib: heap overflow"},
				{"cve", "CVE-2099-1002", "https://cve.example.invalid/CVE-2099-1002", "CVE-2099-1002"},
				{"cve", "CVE-2099-1001", "https://cve.example.invalid/CVE-2099-1001", "CVE-2099-1001"},
				{"cve", "CVE-2099-1002", "https://cve.example.invalid/CVE-2099-1002", "CVE-2099-1002 (listed twice)"},
				{"self", "RMD-2024:0101", "https://errata.example.invalid/RMD-2024:0101", "RMD-2024:0101"},
			},
			Packages: []AdvisoryPackage{{Name: "rmd-lib", Arch: "x86_64", Version: "1.1", Release: "1", Filename: "rmd-lib-1.1-1.x86_64.rpm"}},
		},
		{
			ID: "RMD-2024:0102", Type: "security", Severity: "Moderate", Title: "Moderate: rmd-kernel security update",
			Issued: "1704412800", Updated: "1704412800",
			CVEs:            []string{"CVE-2099-1003"},
			References:      []Reference{{"cve", "CVE-2099-1003", "https://cve.example.invalid/CVE-2099-1003", "CVE-2099-1003"}},
			Packages:        []AdvisoryPackage{{Name: "rmd-kernel", Arch: "noarch", Version: "6.1.0", Release: "3.el9", Filename: "rmd-kernel-6.1.0-3.el9.noarch.rpm"}},
			RebootSuggested: true,
		},
		{
			ID: "RMD-2024:0103", Type: "bugfix", Title: "rmd-data and rmd-tool bug fix update", Issued: "2024-01-03 00:00:00",
			Packages: []AdvisoryPackage{
				{Name: "rmd-data", Arch: "noarch", Epoch: 2, Version: "1.0", Release: "3", Filename: "rmd-data-1.0-3.noarch.rpm"},
				{Name: "rmd-tool", Arch: "noarch", Version: "3.1~rc1", Release: "1", Filename: "rmd-tool-3.1~rc1-1.noarch.rpm"},
			},
		},
		{
			ID: "RMD-2024:0104", Type: "enhancement", Severity: "None", Title: "nodejs:20 enhancement update",
			Issued: "2024-01-04 00:00:00", Updated: "2024-01-04 00:00:00",
			Packages: []AdvisoryPackage{{
				Name: "nodejs", Arch: "x86_64", Epoch: 1, Version: "20.11.0", Release: "1.module+el9.3.0+200+bbbb0020",
				Filename: "nodejs-20.11.0-1.module+el9.3.0+200+bbbb0020.x86_64.rpm", Module: "nodejs:20",
			}},
		},
		{
			ID: "RMD-2024:0105", Type: "newpackage", Title: "New package: rmd-snap", Issued: "2024-01-05 00:00:00",
			Packages:        []AdvisoryPackage{{Name: "rmd-snap", Arch: "noarch", Version: "2.0^git20240101.abc", Release: "1", Filename: "rmd-snap-2.0^git20240101.abc-1.noarch.rpm"}},
			RebootSuggested: true, // set on the update itself
		},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d advisories, want %d", len(got), len(want))
	}
	for i := range want {
		t.Run(want[i].ID, func(t *testing.T) {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("got  %+v\nwant %+v", got[i], want[i])
			}
		})
	}

	// The repository's compressed copy (added by modifyrepo_c) says the same.
	rc := openFixture(t, fixtureRepo, "updateinfo")
	defer rc.Close()
	fromRepo, err := ParseUpdateinfo(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromRepo, got) {
		t.Error("repodata's updateinfo differs from testdata/updateinfo.xml")
	}
}

func TestParseUpdateinfoErrors(t *testing.T) {
	const head = `<?xml version="1.0" encoding="UTF-8"?>` + "\n<updates>\n"
	tests := []struct {
		name, doc, want string
	}{
		{"no id", head + `<update type="bugfix"><title>t</title></update></updates>`, "update 1 has no <id>"},
		{"second without id", head + `<update><id>A</id></update><update><title>t</title></update></updates>`, "update 2 has no <id>"},
		{"bad epoch", head + `<update><id>A</id><pkglist><collection><package name="p" epoch="x"/></collection></pkglist></update></updates>`, `update A: package p: epoch "x"`},
		{"nameless package", head + `<update><id>A</id><pkglist><collection><package arch="noarch"/></collection></pkglist></update></updates>`, "update A: <package> without a name"},
		{"truncated", head + `<update><id>A</id><references><reference type="cve" id="CVE-1"/>`, "updateinfo.xml ends early at line 3"},
		{"mismatched", head + `<update><id>A</title></update></updates>`, "line 3, column 22: element <id> closed by </title>"},
		{"wrong root", `<metadata/>`, "root element is <metadata>, want <updates>"},
		{"empty", ``, "no <updates> element"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseUpdateinfo(strings.NewReader(tt.doc))
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v\nwant an ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

func TestParseUpdateinfoEmpty(t *testing.T) {
	for _, doc := range []string{`<updates/>`, `<?xml version="1.0"?><updates><!-- none --></updates>`} {
		t.Run(doc, func(t *testing.T) {
			got, err := ParseUpdateinfo(strings.NewReader(doc))
			if err != nil || len(got) != 0 {
				t.Fatalf("got %v, %v; want no advisories", got, err)
			}
		})
	}
}
