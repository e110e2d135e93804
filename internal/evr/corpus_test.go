package evr

import (
	"math/rand/v2"
	"strings"
)

// The oracle corpus is generated, not stored: the same seed gives the same pairs everywhere,
// so a failure names pairs anyone can reproduce. Most pairs are a version and a small
// mutation of it (a digit changed, a separator swapped, a leading zero, a '~' or '^' added,
// a part cut off), because two unrelated versions usually differ in their first run already.

// Sizes of the generated corpora.
const (
	rpmSegmentPairs = 250_000
	rpmEVRPairs     = 250_000
	debVersionPairs = 270_000
	debPartPairs    = 100_000
	dpkgFromPerl    = 2_000 // pairs of the Dpkg::Version corpus also run through dpkg itself
	dpkgEdgePairs   = 1_200 // pairs outside what Dpkg::Version handles like dpkg, dpkg only
)

// alphabet says which pieces a generated version is made of.
type alphabet struct {
	letters    []string
	separators []string
	maxDigits  int // longest digit run, not counting zero padding
	maxZeros   int // most leading zeros put before a digit run
}

var (
	// rpmAlphabet covers everything rpmvercmp distinguishes: digits, ASCII letters, '~', '^'
	// and separators of every kind, including '-', ':', control and non-ASCII bytes, and
	// digit runs far beyond 64 bits.
	rpmAlphabet = alphabet{
		letters:    []string{"a", "b", "z", "A", "Z", "rc", "RC", "alpha", "beta", "pre", "git", "p", "el", "fc", "svn", "x"},
		separators: []string{".", ".", ".", "+", "_", "-", ":", "~", "~", "^", "^", "~~", "^^", "..", "/", " ", "\x01", "\x7f", "\xc3", "\xff"},
		maxDigits:  40,
		maxZeros:   4,
	}
	// debAlphabet is what deb-version(7) allows, with digit runs Perl compares exactly;
	// debVersion adds ':' and characters deb-version(7) forbids now and then.
	debAlphabet = alphabet{
		letters:    []string{"a", "b", "z", "A", "Z", "rc", "alpha", "beta", "dfsg", "ubuntu", "deb", "bpo", "git", "really", "ds", "build"},
		separators: []string{".", ".", ".", "+", "+", "~", "~", "-", "~~", "+~"},
		maxDigits:  18,
		maxZeros:   3,
	}
	// debForbidden are characters deb-version(7) does not allow (dpkg warns, Perl refuses).
	debForbidden = []string{"_", "^", "/", "@", "=", "!", ","}
	// dpkgEdgeAlphabet adds what only dpkg itself can judge: blanks and other white space,
	// non-ASCII bytes, and digit runs beyond 64 bits.
	dpkgEdgeAlphabet = alphabet{
		letters:    debAlphabet.letters,
		separators: append(append(append([]string{}, debAlphabet.separators...), debForbidden...), ":", " ", "\t", "\n", "\v", "\r", "\xc3", "\xa9", "\x80", "\xff"),
		maxDigits:  40,
		maxZeros:   30,
	}
)

// corpusRand draws corpus pieces from a seeded generator.
type corpusRand struct{ r *rand.Rand }

func newCorpusRand(seed uint64) corpusRand {
	return corpusRand{rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

func (c corpusRand) pick(xs []string) string { return xs[c.r.IntN(len(xs))] }

func (c corpusRand) chance(p float64) bool { return c.r.Float64() < p }

// digits returns a digit run: mostly short, sometimes long, sometimes zero-padded.
func (c corpusRand) digits(al alphabet) string {
	n := 1
	switch x := c.r.IntN(100); {
	case x < 25:
		n = 2 + c.r.IntN(2)
	case x < 32:
		n = 4 + c.r.IntN(6)
	case x < 37:
		n = 10 + c.r.IntN(al.maxDigits-9)
	}
	var b strings.Builder
	if c.chance(0.12) {
		b.WriteString(strings.Repeat("0", 1+c.r.IntN(al.maxZeros)))
	}
	for i := 0; i < n; i++ {
		b.WriteByte(byte('0' + c.r.IntN(10)))
	}
	return b.String()
}

// token returns one digit run, letter run or separator.
func (c corpusRand) token(al alphabet) string {
	switch x := c.r.IntN(10); {
	case x < 4:
		return c.digits(al)
	case x < 7:
		return c.pick(al.letters)
	}
	return c.pick(al.separators)
}

// segment returns up to maxTokens tokens, usually starting with a digit run.
func (c corpusRand) segment(al alphabet, maxTokens int) string {
	n := c.r.IntN(maxTokens + 1)
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i == 0 && c.chance(0.7) {
			b.WriteString(c.digits(al))
			continue
		}
		b.WriteString(c.token(al))
	}
	return b.String()
}

// mutate returns s changed in one to three small ways.
func (c corpusRand) mutate(s string, al alphabet) string {
	for n := 1 + c.r.IntN(3); n > 0; n-- {
		pos := 0
		if len(s) > 0 {
			pos = c.r.IntN(len(s) + 1)
		}
		switch c.r.IntN(9) {
		case 0: // insert a token
			s = s[:pos] + c.token(al) + s[pos:]
		case 1: // delete a few bytes
			end := min(len(s), pos+1+c.r.IntN(3))
			s = s[:pos] + s[end:]
		case 2: // replace a few bytes with a token
			end := min(len(s), pos+1+c.r.IntN(2))
			s = s[:pos] + c.token(al) + s[end:]
		case 3: // append a typical suffix
			s += c.pick([]string{"~rc1", "~", "^", "^git1", ".1", "a", "0", ".0", "-1", "+b1", "~bpo12+1", "^20240101git0abc"})
		case 4: // pad a digit with a zero
			if i := c.indexOfDigit(s); i >= 0 {
				s = s[:i] + "0" + s[i:]
			}
		case 5: // change a digit by one
			if i := c.indexOfDigit(s); i >= 0 {
				d := s[i] + 1
				if d > '9' || c.chance(0.5) && s[i] > '0' {
					d = s[i] - 1
				}
				s = s[:i] + string(d) + s[i+1:]
			}
		case 6: // cut the end off
			s = s[:pos]
		case 7: // swap a byte's letter case
			if pos < len(s) && isAlpha(s[pos]) {
				s = s[:pos] + string(s[pos]^0x20) + s[pos+1:]
			}
		case 8: // swap a separator for another
			for i := 0; i < len(s); i++ {
				if j := (pos + i) % len(s); !isAlnum(s[j]) {
					s = s[:j] + c.pick(al.separators) + s[j+1:]
					break
				}
			}
		}
	}
	return s
}

// indexOfDigit returns a random digit's index in s, or -1.
func (c corpusRand) indexOfDigit(s string) int {
	if len(s) == 0 {
		return -1
	}
	start := c.r.IntN(len(s))
	for i := 0; i < len(s); i++ {
		if j := (start + i) % len(s); isDigit(s[j]) {
			return j
		}
	}
	return -1
}

// pair returns two versions from gen: equal, unrelated, or one a mutation of the other.
func (c corpusRand) pair(gen func() string, al alphabet) (string, string) {
	a := gen()
	var b string
	switch x := c.r.IntN(20); {
	case x == 0:
		b = a
	case x < 4:
		b = gen()
	default:
		b = c.mutate(a, al)
	}
	if c.chance(0.5) {
		a, b = b, a
	}
	return a, b
}

// rpmSegmentCorpus returns pairs of single version or release strings for RPMVerCmp.
func rpmSegmentCorpus(seed uint64, n int) [][2]string {
	c := newCorpusRand(seed)
	gen := func() string { return c.segment(rpmAlphabet, 7) }
	pairs := make([][2]string, n)
	for i := range pairs {
		a, b := c.pair(gen, rpmAlphabet)
		pairs[i] = [2]string{a, b}
	}
	return pairs
}

// rpmEVRCorpus returns pairs of full "[epoch:]version[-release]" strings for CompareRPM:
// missing, empty, zero-padded and large epochs, releases missing, empty or holding '-'.
func rpmEVRCorpus(seed uint64, n int) [][2]string {
	c := newCorpusRand(seed)
	epochs := []string{"0", "1", "2", "10", "007", "00", "", "4294967296", "999999999999999999"}
	gen := func() string {
		var b strings.Builder
		if c.chance(0.35) {
			b.WriteString(c.pick(epochs) + ":")
		}
		b.WriteString(c.segment(rpmAlphabet, 6))
		if c.chance(0.7) {
			b.WriteString("-" + c.segment(rpmAlphabet, 4))
		}
		return b.String()
	}
	pairs := make([][2]string, 0, n)
	for len(pairs) < n {
		a, b := c.pair(gen, rpmAlphabet)
		if rpmEpochFits(a) && rpmEpochFits(b) {
			pairs = append(pairs, [2]string{a, b})
		}
	}
	return pairs
}

// rpmEpochFits reports whether the epoch of s, if any, has at most 18 significant digits:
// rpm compares epochs of any length, EVR.Epoch is an int (rpm headers hold 32 bits).
func rpmEpochFits(s string) bool {
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	if n == len(s) || s[n] != ':' {
		return true
	}
	return len(strings.TrimLeft(s[:n], "0")) <= 18
}

// debVersionCorpus returns pairs of full Debian versions on which Dpkg::Version and dpkg agree
// (see inDpkgPerlDomain); about one version in eight is invalid.
func debVersionCorpus(seed uint64, n int) [][2]string {
	c := newCorpusRand(seed)
	gen := func() string { return c.debVersion(debAlphabet) }
	pairs := make([][2]string, 0, n)
	for len(pairs) < n {
		a, b := c.pair(gen, debAlphabet)
		if inDpkgPerlDomain(a) && inDpkgPerlDomain(b) {
			pairs = append(pairs, [2]string{a, b})
		}
	}
	return pairs
}

// debVersion returns "[epoch:]upstream[-revision]" made of al's pieces, now and then with a
// ':' in the upstream version, a forbidden character or an invalid epoch.
func (c corpusRand) debVersion(al alphabet) string {
	var b strings.Builder
	epoch := false
	switch x := c.r.IntN(100); {
	case x < 20:
		b.WriteString(c.pick([]string{"0", "1", "1", "2", "3", "10", "01", "007", "2147483647"}) + ":")
		epoch = true
	case x < 21:
		b.WriteString(c.pick([]string{"", "a", "1a", "1.0", "x1"}) + ":")
	}
	if c.chance(0.98) {
		b.WriteString(c.digits(al))
	} else {
		b.WriteString(c.pick(al.letters))
	}
	b.WriteString(c.segment(al, 5))
	if epoch && c.chance(0.1) {
		b.WriteString(":" + c.segment(al, 2))
	}
	if c.chance(0.02) {
		b.WriteString(c.pick(debForbidden))
	}
	if c.chance(0.7) {
		b.WriteByte('-')
		if c.chance(0.95) {
			b.WriteString(c.pick([]string{c.digits(al), c.pick(al.letters)}))
		}
		b.WriteString(c.segment(al, 3))
	}
	return b.String()
}

// inDpkgPerlDomain reports whether Dpkg::Version is known to judge s exactly as dpkg does.
// Outside it Dpkg::Version differs from dpkg (dpkg is the judge there, in TestDebAgainstDpkg):
//   - digit runs over 18 digits (not counting leading zeros): Perl compares numbers as 64-bit integers or doubles;
//   - C white space, control or non-ASCII bytes: dpkg trims blanks and strtol skips white
//     space before an epoch, Perl rejects both; Perl sorts bytes >= 0x80 as unsigned;
//   - an epoch with a sign ("+1:", "-0:") or above 2147483647: dpkg reads it with strtol and
//     limits it to an int, Perl wants plain digits of any size;
//   - nothing after the first ':' ("1:"): dpkg rejects it, Perl reads it as a version;
//   - a ':' in the revision: dpkg warns, Perl accepts it.
func inDpkgPerlDomain(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	if !significantDigitsAtMost(s, 18) {
		return false
	}
	colon := strings.IndexByte(s, ':')
	if colon < 0 {
		return true
	}
	if colon == len(s)-1 {
		return false
	}
	if epoch := s[:colon]; epoch != "" && (epoch[0] == '+' || epoch[0] == '-') {
		return false
	} else if strings.Trim(epoch, "0123456789") == "" && epoch != "" {
		if len(strings.TrimLeft(epoch, "0")) > 10 || saturatingAtoi(epoch) > 2147483647 {
			return false
		}
	}
	if hyphen := strings.LastIndexByte(s, '-'); hyphen > colon && strings.IndexByte(s[hyphen:], ':') >= 0 {
		return false
	}
	return true
}

// debPartCorpus returns pairs of upstream versions or revisions for DebVerCmp, within what
// Dpkg::Version's version_compare_part compares like dpkg (ASCII, digit runs up to 18).
func debPartCorpus(seed uint64, n int) [][2]string {
	c := newCorpusRand(seed)
	gen := func() string { return c.segment(debAlphabet, 7) }
	pairs := make([][2]string, 0, n)
	for len(pairs) < n {
		a, b := c.pair(gen, debAlphabet)
		if significantDigitsAtMost(a, 18) && significantDigitsAtMost(b, 18) {
			pairs = append(pairs, [2]string{a, b})
		}
	}
	return pairs
}

// significantDigitsAtMost reports whether no digit run of s has more than n digits after its
// leading zeros.
func significantDigitsAtMost(s string, n int) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		switch {
		case !isDigit(s[i]):
			run = 0
		case run > 0 || s[i] != '0':
			if run++; run > n {
				return false
			}
		}
	}
	return true
}

// dpkgEdgeCorpus returns pairs only dpkg itself can judge: white space, signed and huge
// epochs, "1:", ':' in revisions, non-ASCII bytes, digit runs beyond 64 bits, empty strings.
func dpkgEdgeCorpus(seed uint64, n int) [][2]string {
	c := newCorpusRand(seed)
	epochs := []string{"+1", "-0", "-1", " 1", "\v2", "\n3", "2147483648", "99999999999999999999", "-99999999999999999999", "0000000000000000000001", "", "a", "1 "}
	gen := func() string {
		var s string
		switch x := c.r.IntN(100); {
		case x < 3:
			return ""
		case x < 25:
			s = c.pick(epochs) + ":" + c.debVersion(dpkgEdgeAlphabet)
		case x < 30:
			s = c.debVersion(dpkgEdgeAlphabet) + ":"
		case x < 40:
			s = c.debVersion(dpkgEdgeAlphabet) + "-" + c.segment(dpkgEdgeAlphabet, 2) + ":" + c.digits(dpkgEdgeAlphabet)
		default:
			s = c.debVersion(dpkgEdgeAlphabet)
		}
		if c.chance(0.1) {
			s = c.pick([]string{" ", "\t", "  "}) + s
		}
		if c.chance(0.1) {
			s += c.pick([]string{" ", "\t", " \t"})
		}
		return s
	}
	pairs := make([][2]string, n)
	for i := range pairs {
		a, b := c.pair(gen, dpkgEdgeAlphabet)
		pairs[i] = [2]string{a, b}
	}
	return pairs
}
