// Command testreport reads `go test -json` on stdin, prints the usual test output, and ends
// with a summary: the skipped tests with their reasons and a closing line
// "N passed, N failed, N skipped". With -no-skip (as in CI, where every tool is
// installed and tests run as root) a skipped test fails the run, except skips whose
// reason matches -allow-skip (kernel features these machines lack, or a day when the Debian
// archive has no kernel update to patch).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func main() {
	noSkip := flag.Bool("no-skip", false, "fail when any test was skipped")
	allowSkip := flag.String("allow-skip", "", "with -no-skip: a regular expression; skips whose reason matches it are allowed (a capability this kind of machine lacks, such as device-mapper)")
	flag.Parse()
	allowed := regexp.MustCompile("^$")
	if *allowSkip != "" {
		allowed = regexp.MustCompile(*allowSkip)
	}
	var passed, failed, skipped int
	var failures, skips, allowedSkips []string
	output := map[string][]string{} // package/test -> output lines, for skip reasons
	buildFailed := false
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			fmt.Println(string(line)) // build errors and other plain text
			if len(line) > 0 {
				buildFailed = buildFailed || strings.Contains(string(line), "FAIL")
			}
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			fmt.Print(e.Output)
			if e.Test != "" {
				output[key] = append(output[key], e.Output)
			}
		case "pass":
			if e.Test != "" {
				passed++
			}
		case "fail":
			if e.Test != "" {
				failed++
				failures = append(failures, key)
			} else {
				buildFailed = true
			}
		case "skip":
			if e.Test != "" {
				reason := skipReason(output[key])
				if *allowSkip != "" && allowed.MatchString(reason) {
					allowedSkips = append(allowedSkips, key+": "+reason)
					continue
				}
				skipped++
				skips = append(skips, key+": "+reason)
			}
		}
	}
	sort.Strings(skips)
	if len(allowedSkips) > 0 {
		fmt.Println("\nSkipped for lack of a capability this machine does not have (allowed):")
		for _, s := range allowedSkips {
			fmt.Println("  " + s)
		}
	}
	if len(skips) > 0 {
		fmt.Println("\nSkipped tests:")
		for _, s := range skips {
			fmt.Println("  " + s)
		}
	}
	if len(failures) > 0 {
		fmt.Println("\nFailed tests:")
		for _, f := range failures {
			fmt.Println("  " + f)
		}
	}
	fmt.Printf("\n%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	switch {
	case failed > 0 || buildFailed:
		os.Exit(1)
	case *noSkip && skipped > 0:
		fmt.Println("testreport: tests were skipped; in CI every tool is installed and tests run as root, so a skip is a failure")
		os.Exit(1)
	case passed == 0:
		fmt.Println("testreport: no test ran")
		os.Exit(1)
	}
}

// skipReason picks the t.Skip message out of a test's output.
func skipReason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "--- SKIP") || strings.HasPrefix(l, "=== ") {
			continue
		}
		return l
	}
	return "(no reason given)"
}
