package installed

import (
	"bufio"
	"slices"
	"strings"
	"testing"
)

func TestParseCopyrightLicenses(t *testing.T) {
	for name, tc := range map[string]struct {
		text string
		want []string
	}{
		// abridged from Debian 12's /usr/share/doc/libgcrypt20/copyright
		"machine-readable": {`Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: libgcrypt

Files: *
Copyright: 1989,1991-2018 Free Software Foundation, Inc.
License: LGPL-2.1+
 This library is free software; …

Files: src/hmac256.c
Copyright: 2008 Free Software Foundation, Inc.
License: GPL-2+

Files: cipher/sha256.c
License: LGPL-2.1+

License: GPL-2+
 The full text is in /usr/share/common-licenses/GPL-2.
`, []string{"LGPL-2.1+", "GPL-2+"}},
		"dep5 draft": {"Format-Specification: x\n", nil},
		"old free-form": {`This is the Debian prepackaged version of bash.
License: GPL-3+
`, nil},
		"no trailing newline": {"Format: http://www.debian.org/doc/packaging-manuals/copyright-format/1.0\n\nFiles: *\nLicense: MIT", []string{"MIT"}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := parseCopyrightLicenses(bufio.NewReader(strings.NewReader(tc.text))); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSplitDpkgSource(t *testing.T) {
	for field, want := range map[string][2]string{
		"glibc":              {"glibc", ""},
		"gcc-12 (12.2.0-14)": {"gcc-12", "12.2.0-14"},
		"":                   {"", ""},
	} {
		if n, v := splitDpkgSource(field); n != want[0] || v != want[1] {
			t.Errorf("splitDpkgSource(%q) = %q, %q; want %q", field, n, v, want)
		}
	}
}

// FuzzParseCopyrightLicenses: a copyright file comes from the image; any bytes give a list or
// nil, never a panic, and no empty name.
func FuzzParseCopyrightLicenses(f *testing.F) {
	f.Add("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-2+\n")
	f.Add("Format: dep5\n\nFiles: a\nLicense:\n\nFiles: b\n\tLicense: x\n")
	f.Fuzz(func(t *testing.T, text string) {
		for _, l := range parseCopyrightLicenses(bufio.NewReader(strings.NewReader(text))) {
			if l == "" {
				t.Errorf("empty license name from %q", text)
			}
		}
	})
}
