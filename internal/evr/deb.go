package evr

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

var (
	// ErrInvalidDebVersion is wrapped by ParseDeb and ParseDebStrict for a string dpkg refuses
	// to parse at all (dpkg --compare-versions exits with status 2).
	ErrInvalidDebVersion = errors.New("evr: invalid Debian version")
	// ErrNonconformingDebVersion is wrapped by ParseDebStrict for a string dpkg parses but warns
	// about: an upstream version not starting with a digit, or a character deb-version(7) does
	// not allow.
	ErrNonconformingDebVersion = errors.New("evr: nonconforming Debian version")
)

// debSyntaxHint ends every parse error, telling the user what a valid version looks like.
const debSyntaxHint = "a Debian version is [epoch:]upstream_version[-debian_revision], see deb-version(7)"

// ParseDeb parses a Debian version as dpkg's parseversion does, and fails (wrapping
// ErrInvalidDebVersion) exactly where dpkg fails: a string that is empty or only blanks, has
// blanks inside, has an empty, non-numeric, negative or too big (> 2147483647) epoch, nothing
// after the epoch's ':', an empty revision ("1.0-") or an empty upstream version ("-1").
//
// Leading and trailing blanks are trimmed; the epoch is read with C's strtol (so "+1:2" has
// epoch 1); the revision is everything after the last '-'. Like dpkg --compare-versions,
// ParseDeb accepts what dpkg only warns about (an upstream version not starting with a digit,
// characters outside deb-version(7)); use ParseDebStrict to reject those too.
// (dpkg --compare-versions takes "" to mean no version at all and orders it before every
// version, even "~", where CompareDeb would put EVR{} after "~".)
func ParseDeb(s string) (EVR, error) {
	e, problem, fatal := parseDeb(s)
	if problem != "" && fatal {
		return EVR{}, fmt.Errorf("%w %q: %s; %s", ErrInvalidDebVersion, s, problem, debSyntaxHint)
	}
	return e, nil
}

// ParseDebStrict is ParseDeb that also rejects, wrapping ErrNonconformingDebVersion, the
// versions dpkg only warns about: those that strict checks such as Dpkg::Version's
// version_check refuse.
func ParseDebStrict(s string) (EVR, error) {
	e, problem, fatal := parseDeb(s)
	switch {
	case problem == "":
		return e, nil
	case fatal:
		return EVR{}, fmt.Errorf("%w %q: %s; %s", ErrInvalidDebVersion, s, problem, debSyntaxHint)
	}
	return EVR{}, fmt.Errorf("%w %q: %s; %s", ErrNonconformingDebVersion, s, problem, debSyntaxHint)
}

// parseDeb splits s as dpkg's parseversion does. problem is dpkg's message for what is wrong
// ("" when nothing is) and fatal says whether dpkg gives up (true) or only warns (false);
// after a warning e holds what dpkg goes on with.
func parseDeb(s string) (e EVR, problem string, fatal bool) {
	s = cutNUL(s)
	start := 0
	for start < len(s) && isBlank(s[start]) {
		start++
	}
	s = s[start:]
	if s == "" {
		return EVR{}, "version string is empty", true
	}
	end := 0
	for end < len(s) && !isBlank(s[end]) {
		end++
	}
	for i := end; i < len(s); i++ {
		if !isBlank(s[i]) {
			return EVR{}, "version string has embedded spaces", true
		}
	}

	versionStart := 0
	if colon := strings.IndexByte(s, ':'); colon >= 0 {
		epoch, problem := parseDebEpoch(s, colon)
		switch {
		case problem != "":
			return EVR{}, problem, true
		case colon+1 == len(s):
			return EVR{}, "nothing after colon in version number", true
		}
		e.Epoch = epoch
		versionStart = colon + 1
	}
	version := s[versionStart:end]
	if hyphen := strings.LastIndexByte(version, '-'); hyphen >= 0 {
		version, e.Release = version[:hyphen], version[hyphen+1:]
		if e.Release == "" {
			return EVR{}, "revision number is empty", true
		}
	}
	if version == "" {
		return EVR{}, "version number is empty", true
	}
	e.Version = version

	if !isDigit(version[0]) {
		return e, "version number does not start with digit", false
	}
	for i := 1; i < len(version); i++ {
		if c := version[i]; !isAlnum(c) && strings.IndexByte(".-+~:", c) < 0 {
			return e, "invalid character in version number", false
		}
	}
	for i := 0; i < len(e.Release); i++ {
		if c := e.Release[i]; !isAlnum(c) && strings.IndexByte(".+~", c) < 0 {
			return e, "invalid character in revision number", false
		}
	}
	return e, "", false
}

// parseDebEpoch reads the epoch before the ':' at s[colon] as dpkg does: with C's strtol
// (white space, an optional sign, decimal digits), which must stop right at the ':', and
// checks the value fits an int. It returns dpkg's complaint about the epoch, if any.
func parseDebEpoch(s string, colon int) (epoch int, problem string) {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	negative := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		negative = s[i] == '-'
		i++
	}
	digitsStart := i
	overflow := false
	for ; i < len(s) && isDigit(s[i]); i++ {
		if epoch > math.MaxInt32 {
			overflow = true // the value is too big already; only where the digits end matters now
			continue
		}
		epoch = epoch*10 + int(s[i]-'0')
	}
	switch {
	case i == digitsStart:
		return 0, "epoch in version is empty" // strtol's end pointer is s itself
	case i != colon:
		return 0, "epoch in version is not number"
	case negative && (overflow || epoch != 0):
		return 0, "epoch in version is negative"
	case overflow || epoch > math.MaxInt32:
		return 0, "epoch in version is too big"
	}
	return epoch, ""
}

// isBlank is C's isblank: the characters dpkg trims around a version.
func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// isCSpace is C's isspace in the C locale: what strtol skips.
func isCSpace(c byte) bool { return c == ' ' || '\t' <= c && c <= '\r' }

// CompareDeb compares two Debian versions as dpkg does: epochs as numbers, then upstream
// versions with DebVerCmp, then revisions with DebVerCmp (a missing revision equals "0").
// The result is -1, 0 or 1.
func CompareDeb(a, b EVR) int {
	if a.Epoch != b.Epoch {
		if a.Epoch < b.Epoch {
			return -1
		}
		return 1
	}
	if c := DebVerCmp(a.Version, b.Version); c != 0 {
		return c
	}
	return DebVerCmp(a.Release, b.Release)
}

// DebVerCmp compares two upstream versions (or two revisions) as dpkg's verrevcmp does and
// returns -1, 0 or 1. The strings alternate non-digit and digit parts, compared pairwise.
// Non-digit parts compare character by character: '~' sorts before everything, even the end
// of the part ("1.0~rc1" < "1.0"), then the end of the part, then ASCII letters, then bytes
// 0x80-0xFF, then every other character by its code ("1.0a" < "1.0+a" < "1.0.a"). Digit parts compare as
// numbers of any length (leading zeros ignored). Bytes 0x80-0xFF sort as dpkg on amd64, where
// C's char is signed; dpkg warns about them anyway.
func DebVerCmp(a, b string) int {
	a, b = cutNUL(a), cutNUL(b)
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for i < len(a) && !isDigit(a[i]) || j < len(b) && !isDigit(b[j]) {
			oa, ob := debOrder(a, i), debOrder(b, j)
			if oa != ob {
				return sign(oa - ob)
			}
			// Equal orders of non-digits: both strings are at a non-digit, not at the end.
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		firstDiff := 0
		for i < len(a) && j < len(b) && isDigit(a[i]) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}

// debOrder is dpkg's order() for the byte at s[i]: 0 for a digit or the end, -1 for '~', the
// byte for a letter, and the byte as a signed C char plus 256 for anything else.
func debOrder(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	switch c := s[i]; {
	case isDigit(c):
		return 0
	case isAlpha(c):
		return int(c)
	case c == '~':
		return -1
	default:
		return int(int8(c)) + 256
	}
}
