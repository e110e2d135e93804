package hardening

import (
	"errors"
	"strings"
	"testing"
)

func TestParseReport(t *testing.T) {
	const header = "REFIT-OS\tdebian\t12\tdebian\toffline\n"
	cases := []struct {
		name    string
		out     string
		want    []Result
		live    bool
		wantErr error
	}{
		{
			name: "complete run with tool noise",
			out: header + "Reading package lists...\n" +
				"REFIT-RULE\tsysctl.fs.suid_dumpable\tchanged\tfs.suid_dumpable = 0\tset it\n" +
				"REFIT-RULE\tssh.ciphers\tok\tstrong SSH ciphers only\t\n" +
				"REFIT-RULE\tmodules.vfat\tskipped\tvfat\tthe image boots with UEFI\n" +
				"REFIT-RULE\tpam.nullok\tfailed\tempty passwords are refused\tverify: nullok in /etc/pam.d/common-auth\n" +
				"REFIT-DONE\t1\t1\t1\t1\n",
			want: []Result{
				{ID: "sysctl.fs.suid_dumpable", Status: StatusChanged, Title: "fs.suid_dumpable = 0", Detail: "set it"},
				{ID: "ssh.ciphers", Status: StatusOK, Title: "strong SSH ciphers only"},
				{ID: "modules.vfat", Status: StatusSkipped, Title: "vfat", Detail: "the image boots with UEFI"},
				{ID: "pam.nullok", Status: StatusFailed, Title: "empty passwords are refused", Detail: "verify: nullok in /etc/pam.d/common-auth"},
			},
		},
		{
			name: "escapes and CRLF",
			out:  "REFIT-OS\tubuntu\t24.04\tdebian\tlive\r\nREFIT-RULE\ta.b\tok\tt\\tt\tline1\\nline2\\\\x\\r\r\nREFIT-DONE\t0\t1\t0\t0\r\n",
			want: []Result{{ID: "a.b", Status: StatusOK, Title: "t\tt", Detail: "line1\nline2\\x\r"}},
			live: true,
		},
		{name: "no done line", out: header + "REFIT-RULE\ta\tok\tt\t\n", want: []Result{{ID: "a", Status: StatusOK, Title: "t"}}, wantErr: ErrIncomplete},
		{name: "empty output", out: "", wantErr: ErrIncomplete},
		{name: "program error", out: "REFIT-ERROR\tunsupported operating system alpine\\n\n", wantErr: ErrProgram},
		{name: "too few fields", out: "REFIT-RULE\ta\tok\tt\n", wantErr: ErrMalformed},
		{name: "too many fields", out: "REFIT-RULE\ta\tok\tt\td\te\n", wantErr: ErrMalformed},
		{name: "bad status", out: "REFIT-RULE\ta\tdone\tt\td\n", wantErr: ErrMalformed},
		{name: "empty id", out: "REFIT-RULE\t\tok\tt\td\n", wantErr: ErrMalformed},
		{name: "bad escape", out: "REFIT-RULE\ta\tok\tt\td\\q\n", wantErr: ErrMalformed},
		{name: "totals disagree", out: "REFIT-RULE\ta\tok\tt\t\nREFIT-DONE\t1\t0\t0\t0\n", wantErr: ErrMalformed},
		{name: "bad totals", out: "REFIT-DONE\t1\tx\t0\t0\n", wantErr: ErrMalformed},
		{name: "bad os line", out: "REFIT-OS\tdebian\n", wantErr: ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := ParseReport([]byte(tc.out))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if len(tc.want) > 0 || tc.wantErr == nil {
				if len(rep.Results) != len(tc.want) {
					t.Fatalf("%d results, want %d: %+v", len(rep.Results), len(tc.want), rep.Results)
				}
				for i := range tc.want {
					if rep.Results[i] != tc.want[i] {
						t.Errorf("result %d = %+v, want %+v", i, rep.Results[i], tc.want[i])
					}
				}
			}
			if tc.wantErr == nil {
				if !rep.Complete || rep.Live != tc.live || rep.OSID == "" {
					t.Errorf("report header/trailer: %+v", rep)
				}
				if CountResults(rep.Results) != rep.Counts {
					t.Errorf("counts %+v, results say %+v", rep.Counts, CountResults(rep.Results))
				}
			}
		})
	}
}

func TestVerifyFailed(t *testing.T) {
	cases := []struct {
		r    Result
		want bool
	}{
		{Result{Status: StatusFailed, Detail: "verify: still 0644"}, true},
		{Result{Status: StatusFailed, Detail: "chage failed"}, false},
		{Result{Status: StatusChanged, Detail: "verify: no"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.r.Detail, func(t *testing.T) {
			if got := tc.r.VerifyFailed(); got != tc.want {
				t.Errorf("VerifyFailed = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEscapeUnescape(t *testing.T) {
	cases := []struct{ plain, escaped string }{
		{"", ""},
		{"a b", "a b"},
		{"a\tb", `a\tb`},
		{"a\nb\r", `a\nb\r`},
		{`C:\path`, `C:\\path`},
		{"\\t", `\\t`},
	}
	for _, tc := range cases {
		t.Run(tc.escaped, func(t *testing.T) {
			if got := Escape(tc.plain); got != tc.escaped {
				t.Errorf("Escape(%q) = %q, want %q", tc.plain, got, tc.escaped)
			}
			got, err := Unescape(tc.escaped)
			if err != nil || got != tc.plain {
				t.Errorf("Unescape(%q) = %q, %v; want %q", tc.escaped, got, err, tc.plain)
			}
		})
	}
	for _, bad := range []string{`\`, `a\x`, `\\\`} {
		if _, err := Unescape(bad); err == nil {
			t.Errorf("Unescape(%q) accepted a bad escape", bad)
		}
	}
}

// FuzzParseReport feeds arbitrary program output to the parser: it must not panic, and whatever
// it accepts as a complete report must be self-consistent.
func FuzzParseReport(f *testing.F) {
	f.Add([]byte("REFIT-OS\tdebian\t12\tdebian\toffline\nREFIT-RULE\ta\tok\tt\td\\n\nREFIT-DONE\t0\t1\t0\t0\n"))
	f.Add([]byte("REFIT-ERROR\tunsupported\n"))
	f.Add([]byte("REFIT-RULE\t\t\t\t\n"))
	f.Add([]byte("noise\nREFIT-DONE\t0\t0\t0\t0"))
	f.Add([]byte("REFIT-RULE\tx\tfailed\tt\tverify: \\\\\\t\nREFIT-DONE\t0\t0\t0\t1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := ParseReport(data)
		for _, r := range rep.Results {
			if r.ID == "" || !r.Status.Valid() {
				t.Fatalf("accepted a bad result %+v", r)
			}
		}
		if err == nil && (!rep.Complete || CountResults(rep.Results) != rep.Counts) {
			t.Fatalf("accepted an inconsistent report %+v", rep)
		}
	})
}

// FuzzUnescape checks that Unescape inverts Escape and rejects what Escape never writes.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{"", "a\tb", "\\", "x\\ny", "\r\n\\\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, err := Unescape(Escape(s)); err != nil || got != s {
			t.Fatalf("Unescape(Escape(%q)) = %q, %v", s, got, err)
		}
		if plain, err := Unescape(s); err == nil && Escape(plain) != s && !strings.ContainsAny(s, "\t\n\r") {
			t.Fatalf("Unescape(%q) = %q, which escapes to %q", s, plain, Escape(plain))
		}
	})
}
