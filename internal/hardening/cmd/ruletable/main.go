// Command ruletable fills the rule table of refit-harden's documentation from the catalogue in
// internal/hardening, between the markers hardening.RuleTableBegin and hardening.RuleTableEnd.
// `go generate ./provisioner/harden` runs it.
//
// Usage: go run ./internal/hardening/cmd/ruletable -o docs/provisioners/harden.mdx
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/refit-images/packer-plugin-refit/internal/hardening"
)

func main() {
	path := flag.String("o", "", "the documentation file whose rule table is rewritten")
	flag.Parse()
	if err := run(*path); err != nil {
		fmt.Fprintln(os.Stderr, "ruletable:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	if path == "" {
		return fmt.Errorf("-o is required")
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	updated, err := hardening.ReplaceRuleTable(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if bytes.Equal(updated, doc) {
		return nil
	}
	return os.WriteFile(path, updated, 0o644)
}
