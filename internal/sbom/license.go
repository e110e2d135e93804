package sbom

import (
	"strings"

	"github.com/github/go-spdx/v2/spdxexp"
)

// spdxExpression returns license as a valid SPDX license expression of current identifiers in
// their canonical spelling ("bsd-3-clause" → "BSD-3-Clause"), or ok false for anything else
// (old-style rpm tags such as "GPLv2+", Debian short names such as "GPL-2+").
func spdxExpression(license string) (expr string, ok bool) {
	norm, invalid := spdxexp.ValidateAndNormalizeLicensesWithOptions([]string{license}, spdxexp.ValidateLicensesOptions{FailDeprecatedLicenses: true})
	if len(invalid) > 0 || len(norm) != 1 {
		return "", false
	}
	return norm[0], true
}

// spdxConjunction joins licenses that are all SPDX expressions with AND, compound ones in
// parentheses; ok is false when any is not an SPDX expression.
func spdxConjunction(licenses []string) (string, bool) {
	parts := make([]string, 0, len(licenses))
	for _, l := range licenses {
		e, ok := spdxExpression(l)
		if !ok {
			return "", false
		}
		if len(licenses) > 1 && strings.Contains(e, " ") {
			e = "(" + e + ")"
		}
		parts = append(parts, e)
	}
	return strings.Join(parts, " AND "), true
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
