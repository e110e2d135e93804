package evr

import (
	"math"
	"strings"
)

// ParseRPM splits an rpm "[epoch:]version[-release]" string as rpm's rpmverParse does. It
// never fails:
//   - the epoch is the run of leading digits, and only when a ':' follows it ("1a:2" has no
//     epoch and the version "1a:2"); an empty epoch (":1.0") is 0, and so is a missing one;
//     epochs beyond math.MaxInt (rpm headers hold 32 bits) saturate at math.MaxInt;
//   - the release is everything after the last '-' (so the version may hold '-' and ':');
//   - a trailing '-' gives an empty release that rpm keeps and sorts after a missing one;
//     the EVR remembers it, and String writes the '-' back.
func ParseRPM(s string) EVR {
	s = cutNUL(s)
	var e EVR
	digits := 0
	for digits < len(s) && isDigit(s[digits]) {
		digits++
	}
	rest := s
	if digits < len(s) && s[digits] == ':' {
		e.Epoch = saturatingAtoi(s[:digits])
		rest = s[digits+1:]
	}
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		e.Version, e.Release = rest[:i], rest[i+1:]
		e.emptyRelease = e.Release == ""
	} else {
		e.Version = rest
	}
	return e
}

// saturatingAtoi converts a run of ASCII digits, returning math.MaxInt when it overflows.
func saturatingAtoi(digits string) int {
	n := 0
	for i := 0; i < len(digits); i++ {
		d := int(digits[i] - '0')
		if n > (math.MaxInt-d)/10 {
			return math.MaxInt
		}
		n = n*10 + d
	}
	return n
}

// CompareRPM compares two rpm EVRs as rpm's rpmverCmp (lua rpm.vercmp) does: epochs as numbers,
// then versions with RPMVerCmp, then releases with RPMVerCmp. An EVR without a release is older
// than the same version with any release (rpm.vercmp("1.0", "1.0-1") == -1); for the
// dependency-range meaning, where "= 1.0" matches every release, blank both releases first.
// The result is -1, 0 or 1.
func CompareRPM(a, b EVR) int {
	if a.Epoch != b.Epoch {
		if a.Epoch < b.Epoch {
			return -1
		}
		return 1
	}
	if c := RPMVerCmp(a.Version, b.Version); c != 0 {
		return c
	}
	hasA := a.Release != "" || a.emptyRelease
	hasB := b.Release != "" || b.emptyRelease
	switch {
	case !hasA && !hasB:
		return 0
	case !hasB:
		return 1
	case !hasA:
		return -1
	}
	return RPMVerCmp(a.Release, b.Release)
}

// RPMVerCmp compares two version (or release) strings as rpm's rpmvercmp does and returns -1,
// 0 or 1. The strings are read as runs of digits and runs of ASCII letters; every other byte
// separates runs and is otherwise ignored ("1.0a" == "1.0.a", "1..0" == "1.0"). Runs compare
// pairwise: digit runs as numbers of any length (leading zeros ignored, "1.01" == "1.1"),
// letter runs bytewise, and a digit run is newer than a letter run. '~' sorts before
// everything, even the end of the string ("1.0~rc1" < "1.0"); '^' sorts after the end but
// before anything else ("1.0" < "1.0^git1" < "1.0.1"). When all runs match, the string with
// runs left over is newer.
func RPMVerCmp(a, b string) int {
	a, b = cutNUL(a), cutNUL(b)
	if a == b {
		return 0
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for i < len(a) && !isRPMRunStart(a[i]) {
			i++
		}
		for j < len(b) && !isRPMRunStart(b[j]) {
			j++
		}
		endA, endB := i == len(a), j == len(b)

		if !endA && a[i] == '~' || !endB && b[j] == '~' {
			if endA || a[i] != '~' {
				return 1
			}
			if endB || b[j] != '~' {
				return -1
			}
			i++
			j++
			continue
		}
		if !endA && a[i] == '^' || !endB && b[j] == '^' {
			switch {
			case endA:
				return -1
			case endB:
				return 1
			case a[i] != '^':
				return 1
			case b[j] != '^':
				return -1
			}
			i++
			j++
			continue
		}
		if endA || endB {
			break
		}

		startA, startB := i, j
		if isDigit(a[i]) {
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			if startB == j {
				return 1 // a digit run against a letter run
			}
			for startA < i && a[startA] == '0' {
				startA++
			}
			for startB < j && b[startB] == '0' {
				startB++
			}
			if la, lb := i-startA, j-startB; la != lb {
				if la > lb {
					return 1
				}
				return -1
			}
		} else {
			for i < len(a) && isAlpha(a[i]) {
				i++
			}
			for j < len(b) && isAlpha(b[j]) {
				j++
			}
			if startB == j {
				return -1 // a letter run against a digit run
			}
		}
		if c := strings.Compare(a[startA:i], b[startB:j]); c != 0 {
			return c
		}
	}
	switch {
	case i == len(a) && j == len(b):
		return 0
	case i == len(a):
		return -1
	}
	return 1
}

// isRPMRunStart reports whether rpmvercmp stops skipping separators at c.
func isRPMRunStart(c byte) bool { return isAlnum(c) || c == '~' || c == '^' }
