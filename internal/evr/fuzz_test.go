package evr

import (
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fuzzSeeds are the seed corpus shared by the fuzz targets: the tricky cases of the tables.
var fuzzSeeds = [][2]string{
	{"1.0~rc1", "1.0"}, {"1.0^", "1.0"}, {"1.0^git1", "1.0.1"}, {"1:1.0", "2.0"},
	{"1.01", "1.1"}, {"1.0a", "1.0.a"}, {"", ""}, {"", "~"}, {"", "^"},
	{"1.0-1", "1.0-1~bpo12+1"}, {"1.0-", "1.0"}, {"0:1:2", "1:2"}, {"+1:2", "-0:2"},
	{"123456789012345678901234567890", "123456789012345678901234567889"},
	{"1\xc3", "1."}, {" 1.0-1\t", "1:"}, {"1a:2", "007:1-2-3"},
}

// rpmFuzzOracle is one rpm process per fuzzing worker, started on first use; nil when rpm is
// missing.
var rpmFuzzOracle = sync.OnceValue(func() *lineOracle {
	if _, err := exec.LookPath("rpm"); err != nil {
		return nil
	}
	o, err := startRPMOracle()
	if err != nil {
		return nil
	}
	return o
})

// FuzzRPMVerCmp checks that RPMVerCmp is reflexive and antisymmetric and, when rpm is
// installed, that it agrees with the real rpmvercmp.
func FuzzRPMVerCmp(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		c := RPMVerCmp(a, b)
		if c < -1 || c > 1 {
			t.Fatalf("RPMVerCmp(%q, %q) = %d, want -1, 0 or 1", a, b, c)
		}
		if r := RPMVerCmp(b, a); r != -c {
			t.Fatalf("RPMVerCmp(%q, %q) = %d but RPMVerCmp(%q, %q) = %d", a, b, c, b, a, r)
		}
		if r := RPMVerCmp(a, a); r != 0 {
			t.Fatalf("RPMVerCmp(%q, %q) = %d, want 0", a, a, r)
		}
		o := rpmFuzzOracle()
		if o == nil || strings.IndexByte(a+b, 0) >= 0 {
			return // rpm never sees what follows a NUL
		}
		want, err := o.ask(hexLine("", "0:"+a+"-r", "0:"+b+"-r"))
		if err != nil {
			t.Fatal(err)
		}
		if strconv.Itoa(c) != want {
			t.Fatalf("RPMVerCmp(%q, %q) = %d, rpm says %s", a, b, c, want)
		}
	})
}

// FuzzParseRPM checks that ParseRPM survives anything, that String gives back the same EVR,
// that CompareRPM is antisymmetric and, when rpm is installed, agrees with rpm.vercmp.
func FuzzParseRPM(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ea, eb := ParseRPM(a), ParseRPM(b)
		if again := ParseRPM(ea.String()); again != ea {
			t.Fatalf("ParseRPM(%q) = %#v, but ParseRPM(%q) = %#v", a, ea, ea.String(), again)
		}
		c := CompareRPM(ea, eb)
		if r := CompareRPM(eb, ea); r != -c || c < -1 || c > 1 {
			t.Fatalf("CompareRPM(%q, %q) = %d but CompareRPM(%q, %q) = %d", a, b, c, b, a, r)
		}
		o := rpmFuzzOracle()
		if o == nil || a == "" || b == "" || strings.IndexByte(a+b, 0) >= 0 || !rpmEpochFits(a) || !rpmEpochFits(b) {
			return
		}
		want, err := o.ask(hexLine("", a, b))
		if err != nil {
			t.Fatal(err)
		}
		if strconv.Itoa(c) != want {
			t.Fatalf("CompareRPM(ParseRPM(%q), ParseRPM(%q)) = %d, rpm says %s", a, b, c, want)
		}
	})
}

// FuzzDebVerCmp checks that DebVerCmp and CompareDeb are reflexive and antisymmetric.
func FuzzDebVerCmp(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		c := DebVerCmp(a, b)
		if c < -1 || c > 1 {
			t.Fatalf("DebVerCmp(%q, %q) = %d, want -1, 0 or 1", a, b, c)
		}
		if r := DebVerCmp(b, a); r != -c {
			t.Fatalf("DebVerCmp(%q, %q) = %d but DebVerCmp(%q, %q) = %d", a, b, c, b, a, r)
		}
		if r := DebVerCmp(a, a); r != 0 {
			t.Fatalf("DebVerCmp(%q, %q) = %d, want 0", a, a, r)
		}
		ea, eb := EVR{Epoch: len(a) % 3, Version: a, Release: b}, EVR{Epoch: len(b) % 3, Version: b, Release: a}
		if x, y := CompareDeb(ea, eb), CompareDeb(eb, ea); x != -y {
			t.Fatalf("CompareDeb(%#v, %#v) = %d but reversed %d", ea, eb, x, y)
		}
	})
}

// FuzzParseDeb checks that ParseDeb survives anything, fails only with ErrInvalidDebVersion,
// agrees with ParseDebStrict where that accepts, and that String gives back the same EVR.
func FuzzParseDeb(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s[0])
		f.Add(s[1])
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseDeb(s)
		strict, strictErr := ParseDebStrict(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidDebVersion) {
				t.Fatalf("ParseDeb(%q) error %v does not wrap ErrInvalidDebVersion", s, err)
			}
			if !errors.Is(strictErr, ErrInvalidDebVersion) {
				t.Fatalf("ParseDeb(%q) fails (%v) but ParseDebStrict gives %#v, %v", s, err, strict, strictErr)
			}
			return
		}
		switch {
		case strictErr == nil && strict != e:
			t.Fatalf("ParseDeb(%q) = %#v but ParseDebStrict = %#v", s, e, strict)
		case strictErr != nil && !errors.Is(strictErr, ErrNonconformingDebVersion):
			t.Fatalf("ParseDebStrict(%q) error %v, ParseDeb accepts it", s, strictErr)
		}
		again, err := ParseDeb(e.String())
		if err != nil || again != e {
			t.Fatalf("ParseDeb(%q) = %#v, but ParseDeb(%q) = %#v, %v", s, e, e.String(), again, err)
		}
		if CompareDeb(e, again) != 0 {
			t.Fatalf("CompareDeb(%#v, %#v) != 0", e, again)
		}
	})
}
