// Command testreport reads `go test -json` on stdin, prints the usual test output, and ends
// with a summary: the skipped tests with their reasons and a closing line
// "N passed, N failed, N skipped". With -no-skip (as in CI, where every tool is
// installed and tests run as root) a skipped test fails the run.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
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
	flag.Parse()
	var passed, failed, skipped int
	var failures, skips []string
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
				skipped++
				skips = append(skips, key+": "+skipReason(output[key]))
			}
		}
	}
	sort.Strings(skips)
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
