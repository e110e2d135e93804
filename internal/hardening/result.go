package hardening

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Status is the outcome of one rule.
type Status string

// Rule statuses.
const (
	StatusChanged Status = "changed" // the rule was not in effect and now is
	StatusOK      Status = "ok"      // the rule was already in effect
	StatusSkipped Status = "skipped" // skipped by configuration, or not applicable to this system
	StatusFailed  Status = "failed"  // the change failed, or verification found it not in effect (audit: the check could not tell)

	// Audit mode (nothing changes):
	StatusCompliant     Status = "compliant"      // the rule is in effect
	StatusWouldChange   Status = "would change"   // applying would change the system: not compliant
	StatusNotApplicable Status = "not applicable" // the rule does not apply to this system
)

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusChanged, StatusOK, StatusSkipped, StatusFailed, StatusCompliant, StatusWouldChange, StatusNotApplicable:
		return true
	}
	return false
}

// verifyPrefix starts the detail of a rule whose change was made but did not verify.
const verifyPrefix = "verify: "

// Result is one rule's line of the program's output.
type Result struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail,omitempty"`
}

// VerifyFailed reports whether the rule failed its verification (the change was made without
// error but the rule is still not in effect), as opposed to failing to apply.
func (r Result) VerifyFailed() bool {
	return r.Status == StatusFailed && strings.HasPrefix(r.Detail, verifyPrefix)
}

// Report is everything the program printed that ParseReport understands.
type Report struct {
	// OSID, OSVersion and Family describe the system (os-release ID and VERSION_ID; debian, rhel
	// or fedora).
	OSID      string `json:"os_id"`
	OSVersion string `json:"os_version_id"`
	Family    string `json:"os_family"`
	// Live is true when the program ran on a booted system rather than in a chroot or image.
	Live bool `json:"live"`
	// Profile is the rule profile; Audit is true when the program only checked.
	Profile string `json:"profile,omitempty"`
	Audit   bool   `json:"audit"`
	// Results has one entry per rule, in the order they ran.
	Results []Result `json:"results"`
	// Counts are the program's own totals from its last line.
	Counts Counts `json:"counts"`
	// Complete is true when the program reached its last line.
	Complete bool `json:"complete"`
	// HostChecks are the nftables ruleset files the program wrote without validating them,
	// because the image's nft could not reach nf_tables (it runs under qemu-user): the build
	// host checks them (CheckRulesetsOnHost).
	HostChecks []string `json:"-"`
}

// Counts are the number of rules per status.
type Counts struct {
	Changed int `json:"changed"`
	OK      int `json:"ok"`
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
	// Audit mode.
	Compliant     int `json:"compliant,omitempty"`
	WouldChange   int `json:"would_change,omitempty"`
	NotApplicable int `json:"not_applicable,omitempty"`
}

// PassRate is the audit's share of compliant rules among those that apply and could be checked:
// compliant / (compliant + would change), in percent; 0 when none.
func (c Counts) PassRate() float64 {
	if c.Compliant+c.WouldChange == 0 {
		return 0
	}
	return 100 * float64(c.Compliant) / float64(c.Compliant+c.WouldChange)
}

// CountResults totals results by status.
func CountResults(results []Result) Counts {
	var c Counts
	for _, r := range results {
		switch r.Status {
		case StatusChanged:
			c.Changed++
		case StatusOK:
			c.OK++
		case StatusSkipped:
			c.Skipped++
		case StatusFailed:
			c.Failed++
		case StatusCompliant:
			c.Compliant++
		case StatusWouldChange:
			c.WouldChange++
		case StatusNotApplicable:
			c.NotApplicable++
		}
	}
	return c
}

// ParseResults returns the rule results in the program's output. Lines that are not REFIT- lines
// (output of tools the program ran) are ignored. The error wraps ErrProgram when the program
// stopped with an error of its own, ErrIncomplete when it did not reach its end, and ErrMalformed
// for a REFIT- line it cannot read; the results parsed so far are returned with it.
func ParseResults(output []byte) ([]Result, error) {
	r, err := ParseReport(output)
	return r.Results, err
}

// ParseReport is ParseResults with the program's header and totals.
func ParseReport(output []byte) (Report, error) {
	var rep Report
	sc := bufio.NewScanner(bytes.NewReader(output))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSuffix(sc.Text(), "\r")
		tag, rest, _ := strings.Cut(line, "\t")
		switch tag {
		case "REFIT-RULE":
			f := strings.Split(rest, "\t")
			if len(f) != 4 {
				return rep, fmt.Errorf("%w: line %d has %d fields, want id, status, title and detail", ErrMalformed, n, len(f))
			}
			res := Result{ID: f[0], Status: Status(f[1])}
			if res.ID == "" || !res.Status.Valid() {
				return rep, fmt.Errorf("%w: line %d: bad id %q or status %q", ErrMalformed, n, f[0], f[1])
			}
			var err error
			if res.Title, err = Unescape(f[2]); err != nil {
				return rep, fmt.Errorf("%w: line %d: title: %v", ErrMalformed, n, err)
			}
			if res.Detail, err = Unescape(f[3]); err != nil {
				return rep, fmt.Errorf("%w: line %d: detail: %v", ErrMalformed, n, err)
			}
			rep.Results = append(rep.Results, res)
		case "REFIT-OS":
			f := strings.Split(rest, "\t")
			if len(f) != 4 {
				return rep, fmt.Errorf("%w: line %d: REFIT-OS has %d fields, want 4", ErrMalformed, n, len(f))
			}
			rep.OSID, rep.OSVersion, rep.Family, rep.Live = f[0], f[1], f[2], f[3] == "live"
		case "REFIT-PROFILE":
			f := strings.Split(rest, "\t")
			if len(f) != 2 || (f[1] != "audit" && f[1] != "apply") {
				return rep, fmt.Errorf("%w: line %d: REFIT-PROFILE wants a profile and audit or apply", ErrMalformed, n)
			}
			rep.Profile, rep.Audit = f[0], f[1] == "audit"
		case "REFIT-DONE":
			f := strings.Split(rest, "\t")
			if len(f) != 4 && len(f) != 7 {
				return rep, fmt.Errorf("%w: line %d: REFIT-DONE has %d fields, want 4 or 7", ErrMalformed, n, len(f))
			}
			var nums [7]int
			for i, s := range f {
				v, err := strconv.Atoi(s)
				if err != nil || v < 0 {
					return rep, fmt.Errorf("%w: line %d: REFIT-DONE count %q", ErrMalformed, n, s)
				}
				nums[i] = v
			}
			rep.Counts = Counts{Changed: nums[0], OK: nums[1], Skipped: nums[2], Failed: nums[3],
				Compliant: nums[4], WouldChange: nums[5], NotApplicable: nums[6]}
			rep.Complete = true
		case hostCheckTag:
			rep.HostChecks = append(rep.HostChecks, rest)
		case "REFIT-ERROR":
			msg, err := Unescape(rest)
			if err != nil {
				msg = rest
			}
			return rep, fmt.Errorf("%w: %s", ErrProgram, msg)
		}
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("%w: reading the output: %v", ErrMalformed, err)
	}
	if !rep.Complete {
		return rep, fmt.Errorf("%w: %d rule results, no REFIT-DONE line (the program was interrupted or crashed; see its output above)", ErrIncomplete, len(rep.Results))
	}
	if got := CountResults(rep.Results); got != rep.Counts {
		return rep, fmt.Errorf("%w: REFIT-DONE totals %+v do not match the %d result lines %+v", ErrMalformed, rep.Counts, len(rep.Results), got)
	}
	return rep, nil
}

// Escape encodes a field the way the program does: backslash, tab, carriage return and newline
// become \\, \t, \r and \n.
func Escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\r", `\r`, "\n", `\n`).Replace(s)
}

// Unescape reverses Escape. A backslash before any other character, or at the end, is an error.
func Unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			return "", fmt.Errorf("dangling backslash at the end of %q", s)
		}
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			return "", fmt.Errorf("unknown escape \\%c in %q", s[i], s)
		}
	}
	return b.String(), nil
}
