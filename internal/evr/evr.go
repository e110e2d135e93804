// Package evr parses and compares package versions exactly as rpm and dpkg do.
//
// It owns the [epoch:]version[-release] value type EVR, the two parsers (ParseRPM, which follows
// rpm's rpmverParse, and ParseDeb, which follows dpkg's parseversion), the two segment
// comparisons (RPMVerCmp is rpm's rpmvercmp, DebVerCmp is dpkg's verrevcmp) and the full
// comparisons built on them (CompareRPM is rpm's rpmverCmp, CompareDeb is dpkg's
// dpkg_version_compare). The tests hold every function against the real rpm 4.18 and dpkg
// over a generated corpus of several hundred thousand version pairs.
//
// The compare functions never allocate. Like the C code they mirror, they ignore everything
// from a NUL byte on.
package evr

import (
	"strconv"
	"strings"
)

// Scheme selects the versioning rules: rpm's or dpkg's.
type Scheme int

// The versioning schemes.
const (
	// RPM is the scheme of rpm, dnf and yum (RHEL, Fedora, SUSE).
	RPM Scheme = iota
	// Deb is the scheme of dpkg and APT (Debian, Ubuntu).
	Deb
)

// String returns "rpm" or "deb".
func (s Scheme) String() string {
	switch s {
	case RPM:
		return "rpm"
	case Deb:
		return "deb"
	}
	return "Scheme(" + strconv.Itoa(int(s)) + ")"
}

// EVR is a package version split into epoch, version and release.
//
// For dpkg, Version is the upstream version and Release the Debian revision. An empty Release
// means the version has none. The zero EVR is the empty version.
type EVR struct {
	// Epoch is the number before the first ':'; 0 when absent.
	Epoch int
	// Version is the rpm version or the Debian upstream version.
	Version string
	// Release is the rpm release or the Debian revision, "" when there is none.
	Release string

	// emptyRelease records an rpm string ending in '-': rpm keeps an empty release there,
	// which sorts after a missing one (rpm.vercmp("1.0-", "1.0") == 1). Only ParseRPM sets it.
	emptyRelease bool
}

// String formats e as "[epoch:]version[-release]". The epoch is shown when it is not 0, and
// also when Version holds a ':' (as dpkg does), since the string would otherwise parse back to
// a different epoch. "-release" is shown when Release is not empty (or, for a string ParseRPM
// read with a trailing '-', as that '-').
func (e EVR) String() string {
	var b strings.Builder
	b.Grow(len(e.Version) + len(e.Release) + 8)
	if e.Epoch != 0 || strings.IndexByte(e.Version, ':') >= 0 {
		b.WriteString(strconv.Itoa(e.Epoch))
		b.WriteByte(':')
	}
	b.WriteString(e.Version)
	if e.Release != "" || e.emptyRelease {
		b.WriteByte('-')
		b.WriteString(e.Release)
	}
	return b.String()
}

// Compare compares a and b under scheme s: CompareRPM for RPM, CompareDeb for Deb. It
// returns -1 if a is older than b, 0 if they are equal and 1 if a is newer. An unknown scheme
// compares as RPM.
func Compare(s Scheme, a, b EVR) int {
	if s == Deb {
		return CompareDeb(a, b)
	}
	return CompareRPM(a, b)
}

// Parse parses s under scheme s: ParseDeb for Deb, ParseRPM (which never fails) for RPM.
func Parse(scheme Scheme, s string) (EVR, error) {
	if scheme == Deb {
		return ParseDeb(s)
	}
	return ParseRPM(s), nil
}

// cutNUL returns s up to its first NUL byte, which is where the C implementations stop.
func cutNUL(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// sign maps a difference to -1, 0 or 1.
func sign(d int) int {
	switch {
	case d < 0:
		return -1
	case d > 0:
		return 1
	}
	return 0
}
