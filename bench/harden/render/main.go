// Command render prints the refit-harden program for a configuration: the JSON form of
// hardening.Config (Go field names), applied on top of hardening.DefaultConfig. The bench
// scripts use it to run refit-harden without Packer.
//
// Usage: go run ./bench/harden/render [-config config.json] [-o program.sh] [-ssg]
//
// With -ssg it prints instead, as JSON, the SCAP Security Guide rules each rule of the
// configuration's catalogue answers (bench/harden/agreement.py compares audit verdicts with the
// judge's through it).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/refit-images/packer-plugin-refit/internal/hardening"
)

func main() {
	configPath := flag.String("config", "", "JSON hardening.Config applied on top of the defaults (default: the defaults)")
	out := flag.String("o", "-", "where to write the program (- for standard output)")
	ssg := flag.Bool("ssg", false, "print the SSG rules each catalogue rule answers (JSON) instead of the program")
	flag.Parse()
	if err := run(*configPath, *out, *ssg); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(configPath, out string, ssg bool) error {
	cfg := hardening.DefaultConfig()
	if configPath != "" {
		data, err := os.ReadFile(configPath)
		if err != nil {
			return fmt.Errorf("reading the configuration: %w", err)
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			return fmt.Errorf("parsing %s: %w", configPath, err)
		}
	}
	program, err := hardening.Render(cfg)
	if err != nil {
		return err
	}
	if ssg {
		rules, err := hardening.Catalogue(cfg)
		if err != nil {
			return err
		}
		refs := map[string][]string{}
		for _, r := range rules {
			if ids := hardening.SSGRules(r.ID); len(ids) > 0 {
				refs[r.ID] = ids
			}
		}
		if program, err = json.MarshalIndent(refs, "", "  "); err != nil {
			return err
		}
	}
	if out == "-" {
		_, err = os.Stdout.Write(program)
		return err
	}
	return os.WriteFile(out, program, 0o755)
}
