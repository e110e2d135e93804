package evr

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Seeds of the generated corpora; change one only together with the sizes in the report.
const (
	rpmSegmentSeed = 1
	rpmEVRSeed     = 2
	debVersionSeed = 3
	debPartSeed    = 4
	dpkgEdgeSeed   = 5
)

// TestRPMVerCmpAgainstRPM holds RPMVerCmp against rpmvercmp in the real rpm, pair by pair. The
// lua oracle only takes full EVRs, so each string s goes in as "0:" + s + "-r": epochs and
// releases are then equal and the result is rpmvercmp on s, whatever '-' or ':' s holds.
func TestRPMVerCmpAgainstRPM(t *testing.T) {
	t.Parallel()
	requireTool(t, "rpm", "the rpm command, whose lua rpm.vercmp is the oracle")
	pairs := rpmSegmentCorpus(rpmSegmentSeed, rpmSegmentPairs)
	lines := make([]string, len(pairs))
	for i, p := range pairs {
		lines[i] = hexLine("", "0:"+p[0]+"-r", "0:"+p[1]+"-r")
	}
	answers := askRPM(t, lines)
	var d disagreements
	for i, p := range pairs {
		if got, want := RPMVerCmp(p[0], p[1]), answers[i]; strconv.Itoa(got) != want {
			d.add("RPMVerCmp(%q, %q) = %d, rpm says %s", p[0], p[1], got, want)
		}
	}
	d.report(t, "RPMVerCmp vs rpm 4.18 rpmvercmp", len(pairs), "pairs")
}

// TestCompareRPMAgainstRPM holds ParseRPM and CompareRPM on full EVR strings against the real
// rpm.vercmp (rpmverParse + rpmverCmp), which rejects only the empty string.
func TestCompareRPMAgainstRPM(t *testing.T) {
	t.Parallel()
	requireTool(t, "rpm", "the rpm command, whose lua rpm.vercmp is the oracle")
	pairs := rpmEVRCorpus(rpmEVRSeed, rpmEVRPairs)
	lines := make([]string, len(pairs))
	for i, p := range pairs {
		lines[i] = hexLine("", p[0], p[1])
	}
	answers := askRPM(t, lines)
	var d disagreements
	for i, p := range pairs {
		want := answers[i]
		if p[0] == "" || p[1] == "" {
			if want != "E" {
				d.add("rpm.vercmp(%q, %q) = %s, expected rpm to reject the empty version", p[0], p[1], want)
			}
			continue
		}
		if got := CompareRPM(ParseRPM(p[0]), ParseRPM(p[1])); strconv.Itoa(got) != want {
			d.add("CompareRPM(%q, %q) = %d, rpm says %s", p[0], p[1], got, want)
		}
	}
	d.report(t, "CompareRPM vs rpm 4.18 rpm.vercmp", len(pairs), "pairs")
}

func askRPM(t *testing.T, lines []string) []string {
	t.Helper()
	o, err := startRPMOracle()
	if err != nil {
		t.Fatalf("starting rpm: %v", err)
	}
	answers, err := o.bulk(lines)
	if err != nil {
		t.Fatal(err)
	}
	return answers
}

// TestDebAgainstDpkgPerl holds ParseDebStrict, CompareDeb and DebVerCmp against Dpkg::Version,
// dpkg's own Perl implementation: version_check against ParseDebStrict for every string,
// version_compare against CompareDeb for every pair of valid versions, version_compare_part
// against DebVerCmp for every pair of parts.
func TestDebAgainstDpkgPerl(t *testing.T) {
	t.Parallel()
	requireDpkgPerl(t)
	versions := debVersionCorpus(debVersionSeed, debVersionPairs)
	parts := debPartCorpus(debPartSeed, debPartPairs)
	lines := make([]string, 0, len(versions)+len(parts))
	for _, p := range versions {
		lines = append(lines, hexLine("v", p[0], p[1]))
	}
	for _, p := range parts {
		lines = append(lines, hexLine("p", p[0], p[1]))
	}
	o, err := startDpkgPerlOracle()
	if err != nil {
		t.Fatalf("starting perl: %v", err)
	}
	answers, err := o.bulk(lines)
	if err != nil {
		t.Fatal(err)
	}

	var validity, order disagreements
	compared, invalid := 0, 0
	for i, p := range versions {
		var valid [2]bool
		var parsed [2]EVR
		for k, s := range p {
			e, err := ParseDebStrict(s)
			parsed[k], valid[k] = e, err == nil
			if perlValid := answers[i][k] == '1'; valid[k] != perlValid {
				validity.add("ParseDebStrict(%q) error = %v, Dpkg::Version version_check says valid=%v", s, err, perlValid)
			}
			if !valid[k] {
				invalid++
			}
		}
		if !valid[0] || !valid[1] {
			continue
		}
		compared++
		want := strings.TrimPrefix(answers[i][2:], " ")
		if got := CompareDeb(parsed[0], parsed[1]); strconv.Itoa(got) != want {
			order.add("CompareDeb(%q, %q) = %d, Dpkg::Version says %s", p[0], p[1], got, want)
		}
	}
	validity.report(t, "ParseDebStrict validity vs Dpkg::Version version_check", 2*len(versions), "strings")
	t.Logf("versions: %d pairs, %d invalid strings, %d pairs of valid versions compared", len(versions), invalid, compared)
	order.report(t, "CompareDeb vs Dpkg::Version version_compare", compared, "pairs")

	var partOrder disagreements
	for i, p := range parts {
		want := answers[len(versions)+i]
		if got := DebVerCmp(p[0], p[1]); strconv.Itoa(got) != want {
			partOrder.add("DebVerCmp(%q, %q) = %d, Dpkg::Version version_compare_part says %s", p[0], p[1], got, want)
		}
	}
	partOrder.report(t, "DebVerCmp vs Dpkg::Version version_compare_part", len(parts), "pairs")
}

// TestDebAgainstDpkg ties this package and Dpkg::Version to dpkg itself: a sample of the
// Dpkg::Version corpus plus pairs only dpkg can judge go through the real
// "dpkg --compare-versions a lt|gt b". For each pair the test also checks dpkg's verdict on
// the syntax: exit status 2 exactly when ParseDeb fails, and each "has bad syntax" warning or
// error dpkg prints is the problem parseDeb names.
func TestDebAgainstDpkg(t *testing.T) {
	t.Parallel()
	requireTool(t, "dpkg", "the dpkg command, whose --compare-versions is the oracle")
	versions := debVersionCorpus(debVersionSeed, debVersionPairs)
	stride := len(versions) / dpkgFromPerl
	sample := make([][2]string, 0, dpkgFromPerl+dpkgEdgePairs)
	for i := 0; i < dpkgFromPerl; i++ {
		sample = append(sample, versions[i*stride])
	}
	sample = append(sample, dpkgEdgeCorpus(dpkgEdgeSeed, dpkgEdgePairs)...)

	results := make([]string, len(sample)) // "" when the pair agrees
	compared := make([]bool, len(sample))  // whether dpkg accepted both and ordered them
	var wg sync.WaitGroup
	const workers = 2
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(sample); i += workers {
				results[i], compared[i] = checkWithDpkg(sample[i][0], sample[i][1])
			}
		}()
	}
	wg.Wait()

	var fromPerl, edges disagreements
	for i, r := range results {
		if r == "" {
			continue
		}
		if i < dpkgFromPerl {
			fromPerl.add("%s", r)
		} else {
			edges.add("%s", r)
		}
	}
	ordered := [2]int{}
	for i, c := range compared {
		if c {
			ordered[min(i/dpkgFromPerl, 1)]++
		}
	}
	t.Logf("dpkg ordered %d of the %d Dpkg::Version pairs and %d of the %d edge pairs; it rejected the others' syntax",
		ordered[0], dpkgFromPerl, ordered[1], len(sample)-dpkgFromPerl)
	fromPerl.report(t, "sample of the Dpkg::Version corpus vs dpkg --compare-versions", dpkgFromPerl, "pairs")
	edges.report(t, "edge cases vs dpkg --compare-versions", len(sample)-dpkgFromPerl, "pairs")
}

// checkWithDpkg runs dpkg --compare-versions on a and b and returns "" when dpkg agrees with
// ParseDeb and CompareDeb, or what differs, and whether dpkg got as far as ordering them.
func checkWithDpkg(a, b string) (disagreement string, ordered bool) {
	var want []string // the "has bad syntax" messages dpkg should print, in order
	var parsed [2]EVR
	fatal := false
	for k, s := range []string{a, b} {
		if s == "" {
			continue // dpkg --compare-versions takes "" as the empty version
		}
		e, problem, isFatal := parseDeb(s)
		parsed[k] = e
		if problem != "" {
			want = append(want, fmt.Sprintf("version '%s' has bad syntax: %s", s, problem))
		}
		if isFatal {
			fatal = true
			break
		}
	}

	lt, stderr, err := runDpkgCompare(a, "lt", b)
	if err != nil {
		return err.Error(), false
	}
	if got := strings.Count(stderr, "has bad syntax"); got != len(want) {
		return fmt.Sprintf("dpkg --compare-versions %q lt %q printed %d syntax complaints, expected %q; stderr: %q", a, b, got, want, stderr), false
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			return fmt.Sprintf("dpkg --compare-versions %q lt %q: stderr %q lacks %q", a, b, stderr, w), false
		}
	}
	if fatal {
		if lt != 2 {
			return fmt.Sprintf("dpkg --compare-versions %q lt %q exited %d, ParseDeb rejects the syntax", a, b, lt), false
		}
		return "", false
	}
	if lt == 2 {
		return fmt.Sprintf("dpkg --compare-versions %q lt %q exited 2 (%q), ParseDeb accepts both", a, b, stderr), false
	}
	gt, _, err := runDpkgCompare(a, "gt", b)
	if err != nil {
		return err.Error(), false
	}
	dpkgCmp := 0
	switch {
	case lt == 0:
		dpkgCmp = -1
	case gt == 0:
		dpkgCmp = 1
	}
	got := CompareDeb(parsed[0], parsed[1])
	// dpkg --compare-versions puts "" (no version) before every version, whatever
	// dpkg_version_compare would say of the blank version ("~" < "" there).
	switch {
	case a == "" && b == "":
		got = 0
	case a == "":
		got = -1
	case b == "":
		got = 1
	}
	if got != dpkgCmp {
		return fmt.Sprintf("CompareDeb(%q, %q) = %d, dpkg says %d", a, b, got, dpkgCmp), true
	}
	return "", true
}

// runDpkgCompare runs dpkg --compare-versions and returns its exit status and stderr.
func runDpkgCompare(a, op, b string) (int, string, error) {
	cmd := exec.Command("dpkg", "--compare-versions", "--", a, op, b)
	cmd.Env = append(cmd.Environ(), "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String(), nil
	case errors.As(err, &exitErr):
		return exitErr.ExitCode(), stderr.String(), nil
	}
	return 0, "", fmt.Errorf("running dpkg --compare-versions %q %s %q: %w", a, op, b, err)
}
