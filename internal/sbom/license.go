package sbom

import (
	"strings"

	"github.com/github/go-spdx/v2/spdxexp"
)

// isLicenseID reports whether s is one current SPDX license identifier.
func isLicenseID(s string) bool {
	if strings.ContainsAny(s, " ()") {
		return false
	}
	ok, _ := spdxexp.ActiveLicense(s)
	return ok
}

// isSPDXExpression reports whether s is a valid SPDX license expression of current
// identifiers (e.g. "GPL-2.0-or-later AND MIT").
func isSPDXExpression(s string) bool {
	ok, _ := spdxexp.ValidateLicenses([]string{s})
	return ok
}

// licenseRef makes an SPDX LicenseRef- identifier for a license name that is not an SPDX
// expression: letters, digits, '.' and '-' only.
func licenseRef(name string) string {
	var b strings.Builder
	b.WriteString("LicenseRef-")
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			b.WriteRune(r)
		case r == '+':
			b.WriteString("-or-later")
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}
