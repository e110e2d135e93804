package evr

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// TestRPMVerCmp pins rpmvercmp's known tricky cases; the oracle tests cover the rest.
func TestRPMVerCmp(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0", "2.0", -1},
		{"2.0", "10", -1},
		{"1.0~rc1", "1.0", -1},
		{"1.0~rc1", "1.0~rc2", -1},
		{"1.0~~", "1.0~", -1},
		{"1.0~", "1.0^", -1},
		{"1.0^", "1.0", 1},
		{"1.0^git1", "1.0", 1},
		{"1.0^git1", "1.0.1", -1},
		{"1.0^git1", "1.0^git2", -1},
		{"1.0^", "1.0a", -1},
		{"1.0~rc1^git1", "1.0~rc1", 1},
		{"1.01", "1.1", 0},
		{"0001", "1", 0},
		{"1.0a", "1.0.a", 0},
		{"1..0", "1.0", 0},
		{"1.0.", "1.0", 0},
		{"1.0_1", "1.0.1", 0},
		{"1.0", "1.0.0", -1},
		{"1.0", "1.0a", -1},
		{"1.0a", "1.0.1", -1},
		{"a", "1", -1},
		{"A", "a", -1},
		{"5.5p1", "5.5p10", -1},
		{"xyz10", "xyz10.1", -1},
		{"123456789012345678901234567890", "123456789012345678901234567889", 1},
		{"", "", 0},
		{"", "1", -1},
		{"", "~", 1},
		{"", "^", -1},
		{"", ".", 0},
		{"1\x002", "1", 0}, // rpm stops at the NUL
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			if got := RPMVerCmp(tt.a, tt.b); got != tt.want {
				t.Errorf("RPMVerCmp(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := RPMVerCmp(tt.b, tt.a); got != -tt.want {
				t.Errorf("RPMVerCmp(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

// TestCompareRPM pins epoch and release handling on full EVR strings, as rpm.vercmp sees them.
func TestCompareRPM(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1:1.0", "2.0", 1},
		{"0:1.0", "1.0", 0},
		{":1.0", "1.0", 0},
		{"007:1", "7:1", 0},
		{"1.0-1", "1.0", 1},              // a missing release is older than any release
		{"1.0", "1.0-~", -1},             // ... even one rpmvercmp puts before ""
		{"1.0-", "1.0", 1},               // rpm keeps an empty release after a trailing '-'
		{"1.0-", "1.0-0", -1},            // and compares it like any other
		{"1.0-", "1.0-~", 1},             // "" > "~"
		{"1.0-1.el9", "1.0-1.el9_2", -1}, //
		{"1.0-1~bpo", "1.0-1", -1},
		{"2.0-1", "10-1", -1},
		{"1.0-1-2", "1.0-1-3", -1}, // the release is after the last '-'
		{"1a:2", "1a:2", 0},        // no epoch: "1a:2" is a version
		{"1:2", "1a:2", 1},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			a, b := ParseRPM(tt.a), ParseRPM(tt.b)
			if got := CompareRPM(a, b); got != tt.want {
				t.Errorf("CompareRPM(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := Compare(RPM, b, a); got != -tt.want {
				t.Errorf("Compare(RPM, %q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestParseRPM(t *testing.T) {
	tests := []struct {
		in         string
		want       EVR
		wantString string
	}{
		{"1.0", EVR{Version: "1.0"}, "1.0"},
		{"1.0-1.el9", EVR{Version: "1.0", Release: "1.el9"}, "1.0-1.el9"},
		{"2:1.0-1", EVR{Epoch: 2, Version: "1.0", Release: "1"}, "2:1.0-1"},
		{"0:1.0-1", EVR{Version: "1.0", Release: "1"}, "1.0-1"},
		{"007:1", EVR{Epoch: 7, Version: "1"}, "7:1"},
		{":1.0", EVR{Version: "1.0"}, "1.0"},
		{"1a:2", EVR{Version: "1a:2"}, "0:1a:2"},
		{"0:1:2", EVR{Version: "1:2"}, "0:1:2"},
		{"1.0-1-2", EVR{Version: "1.0-1", Release: "2"}, "1.0-1-2"},
		{"1.0-", EVR{Version: "1.0", emptyRelease: true}, "1.0-"},
		{"-1", EVR{Release: "1"}, "-1"},
		{"", EVR{}, ""},
		{"99999999999999999999999:1", EVR{Epoch: math.MaxInt, Version: "1"}, "9223372036854775807:1"},
		{"1.0\x00-1", EVR{Version: "1.0"}, "1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := ParseRPM(tt.in)
			if got != tt.want {
				t.Errorf("ParseRPM(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.wantString {
				t.Errorf("ParseRPM(%q).String() = %q, want %q", tt.in, s, tt.wantString)
			}
			if again := ParseRPM(got.String()); again != got {
				t.Errorf("ParseRPM(%q) = %#v, does not survive String (%#v)", tt.in, got, again)
			}
		})
	}
}

// TestDebVerCmp pins verrevcmp's known tricky cases; the oracle tests cover the rest.
func TestDebVerCmp(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0~rc1", "1.0", -1},
		{"1.0~~", "1.0~", -1},
		{"1.0~", "1.0", -1},
		{"1.0", "1.0a", -1},
		{"1.0a", "1.0+a", -1}, // letters before non-letters
		{"1.0+a", "1.0.a", -1},
		{"1.01", "1.1", 0},
		{"1.0", "1.0.0", -1},
		{"", "0", 0},
		{"", "a", -1},
		{"", "~", 1},
		{"1\xc3", "1z", 1},  // a byte >= 0x80 after the letters...
		{"1\xc3", "1.", -1}, // ...and before ASCII punctuation (signed char on amd64)
		{"123456789012345678901234567890", "123456789012345678901234567889", 1},
		{"000000000000000000000000000001", "1", 0},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			if got := DebVerCmp(tt.a, tt.b); got != tt.want {
				t.Errorf("DebVerCmp(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := DebVerCmp(tt.b, tt.a); got != -tt.want {
				t.Errorf("DebVerCmp(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestCompareDeb(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1:1.0", "2.0", 1},
		{"0:1.0", "1.0", 0},
		{"1.0-1", "1.0-1~bpo12+1", 1},
		{"1.0-1", "1.0", 1},
		{"1.0", "1.0-0", 0}, // a missing revision is "0"
		{"1.0~rc1-1", "1.0-1", -1},
		{"2.30-1+deb12u1", "2.30-1", 1},
		{"1.2.3-1ubuntu1", "1.2.3-1", 1},
		{"1.0+dfsg-2", "1.0-2", 1},
		{"1.0-1-1", "1.0-1", 1}, // upstream "1.0-1" > "1.0"
		{"1:2:3", "1:2.3", 1},   // ':' sorts after '.'
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			a, err := ParseDeb(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := ParseDeb(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if got := CompareDeb(a, b); got != tt.want {
				t.Errorf("CompareDeb(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := Compare(Deb, b, a); got != -tt.want {
				t.Errorf("Compare(Deb, %q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

// TestParseDeb pins dpkg's parseversion: what it refuses (ParseDeb fails), what it only warns
// about (ParseDeb accepts, ParseDebStrict refuses), and how it splits the rest.
func TestParseDeb(t *testing.T) {
	tests := []struct {
		in         string
		want       EVR
		wantString string
		fatal      bool // dpkg refuses: both parsers fail with ErrInvalidDebVersion
		warn       bool // dpkg warns: ParseDebStrict fails with ErrNonconformingDebVersion
	}{
		{in: "1.0", want: EVR{Version: "1.0"}, wantString: "1.0"},
		{in: "1:2.30-1+deb12u1", want: EVR{Epoch: 1, Version: "2.30", Release: "1+deb12u1"}, wantString: "1:2.30-1+deb12u1"},
		{in: "0:1.0", want: EVR{Version: "1.0"}, wantString: "1.0"},
		{in: "007:1.0", want: EVR{Epoch: 7, Version: "1.0"}, wantString: "7:1.0"},
		{in: "1.0-1-2", want: EVR{Version: "1.0-1", Release: "2"}, wantString: "1.0-1-2"},
		{in: "1:2:3-4", want: EVR{Epoch: 1, Version: "2:3", Release: "4"}, wantString: "1:2:3-4"},
		{in: "0:1:2", want: EVR{Version: "1:2"}, wantString: "0:1:2"},
		{in: " \t1.0-1 \t", want: EVR{Version: "1.0", Release: "1"}, wantString: "1.0-1"},
		{in: "+1:2", want: EVR{Epoch: 1, Version: "2"}, wantString: "1:2"}, // strtol takes a sign
		{in: "-0:2", want: EVR{Version: "2"}, wantString: "2"},
		{in: "\n3:2", want: EVR{Epoch: 3, Version: "2"}, wantString: "3:2"}, // and skips white space
		{in: "2147483647:1", want: EVR{Epoch: math.MaxInt32, Version: "1"}, wantString: "2147483647:1"},
		{in: "a1.0", want: EVR{Version: "a1.0"}, wantString: "a1.0", warn: true},
		{in: "1.0_1", want: EVR{Version: "1.0_1"}, wantString: "1.0_1", warn: true},
		{in: "1.0-1:2", fatal: true}, // the ':' makes "1.0-1" the epoch
		{in: "1:1.0-1:2", want: EVR{Epoch: 1, Version: "1.0", Release: "1:2"}, wantString: "1:1.0-1:2", warn: true},
		{in: "1.0-a_b", want: EVR{Version: "1.0", Release: "a_b"}, wantString: "1.0-a_b", warn: true},
		{in: "", fatal: true},
		{in: " \t ", fatal: true},
		{in: "1.0 1", fatal: true},
		{in: ":1.0", fatal: true},
		{in: "a:1.0", fatal: true},
		{in: "1a:1.0", fatal: true},
		{in: "-1:1.0", fatal: true},
		{in: "2147483648:1.0", fatal: true},
		{in: "99999999999999999999:1.0", fatal: true},
		{in: "1:", fatal: true},
		{in: "1.0-", fatal: true},
		{in: "-1", fatal: true},
		{in: "1:-1", fatal: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDeb(tt.in)
			if tt.fatal {
				if !errors.Is(err, ErrInvalidDebVersion) {
					t.Errorf("ParseDeb(%q) = %#v, %v; want an error wrapping ErrInvalidDebVersion", tt.in, got, err)
				}
				if _, err := ParseDebStrict(tt.in); !errors.Is(err, ErrInvalidDebVersion) {
					t.Errorf("ParseDebStrict(%q) error = %v, want one wrapping ErrInvalidDebVersion", tt.in, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDeb(%q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
			}
			if s := got.String(); s != tt.wantString {
				t.Errorf("ParseDeb(%q).String() = %q, want %q", tt.in, s, tt.wantString)
			}
			strict, err := ParseDebStrict(tt.in)
			switch {
			case tt.warn && !errors.Is(err, ErrNonconformingDebVersion):
				t.Errorf("ParseDebStrict(%q) error = %v, want one wrapping ErrNonconformingDebVersion", tt.in, err)
			case !tt.warn && (err != nil || strict != tt.want):
				t.Errorf("ParseDebStrict(%q) = %#v, %v; want %#v", tt.in, strict, err, tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	if e, err := Parse(RPM, "1:2-3"); err != nil || e != (EVR{Epoch: 1, Version: "2", Release: "3"}) {
		t.Errorf("Parse(RPM, 1:2-3) = %#v, %v", e, err)
	}
	if e, err := Parse(Deb, "1:2-3"); err != nil || e != (EVR{Epoch: 1, Version: "2", Release: "3"}) {
		t.Errorf("Parse(Deb, 1:2-3) = %#v, %v", e, err)
	}
	if _, err := Parse(Deb, "1:"); !errors.Is(err, ErrInvalidDebVersion) {
		t.Errorf("Parse(Deb, 1:) error = %v, want ErrInvalidDebVersion", err)
	}
}

func TestSchemeString(t *testing.T) {
	for s, want := range map[Scheme]string{RPM: "rpm", Deb: "deb", Scheme(7): "Scheme(7)"} {
		if got := s.String(); got != want {
			t.Errorf("Scheme(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}

// TestCompareDoesNotAllocate keeps the comparison hot path free of allocations.
func TestCompareDoesNotAllocate(t *testing.T) {
	a, b := ParseRPM("1:2.30.1^git20240101-1.el9_3"), ParseRPM("1:2.30.1~rc1-1.el9")
	da, _ := ParseDeb("1:2.36-9+deb12u4")
	db, _ := ParseDeb("1:2.36-9+deb12u10~bpo1")
	allocs := testing.AllocsPerRun(100, func() {
		CompareRPM(a, b)
		CompareDeb(da, db)
		RPMVerCmp("1.0~rc1", "1.0^git1")
		DebVerCmp("1.0~rc1", "1.0+git1")
		ParseRPM("1:2.30-1.el9")
	})
	if allocs != 0 {
		t.Errorf("comparing allocates %v times per run, want 0", allocs)
	}
}

// TestCompareIsOrder checks that both comparisons order a sample of the corpora consistently:
// after sorting, no later element compares before an earlier one.
func TestCompareIsOrder(t *testing.T) {
	for _, tt := range []struct {
		name  string
		pairs [][2]string
		cmp   func(a, b string) int
	}{
		{"RPMVerCmp", rpmSegmentCorpus(rpmSegmentSeed, 1000), RPMVerCmp},
		{"CompareRPM", rpmEVRCorpus(rpmEVRSeed, 1000), func(a, b string) int { return CompareRPM(ParseRPM(a), ParseRPM(b)) }},
		{"DebVerCmp", debPartCorpus(debPartSeed, 1000), DebVerCmp},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var xs []string
			for _, p := range tt.pairs {
				xs = append(xs, p[0], p[1])
			}
			slices.SortStableFunc(xs, tt.cmp)
			bad := 0
			for i := range xs {
				for j := i + 1; j < len(xs); j++ {
					if tt.cmp(xs[i], xs[j]) > 0 {
						if bad++; bad <= 5 {
							t.Errorf("after sorting, %q comes before %q but compares after it", xs[i], xs[j])
						}
					}
				}
			}
		})
	}
}
