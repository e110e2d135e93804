// Command render prints the refit-harden program for a configuration: the JSON form of
// hardening.Config (Go field names), applied on top of hardening.DefaultConfig. The bench
// scripts use it to run refit-harden without Packer.
//
// Usage: go run ./bench/harden/render [-config config.json] [-o program.sh]
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
	flag.Parse()
	if err := run(*configPath, *out); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(configPath, out string) error {
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
	if out == "-" {
		_, err = os.Stdout.Write(program)
		return err
	}
	return os.WriteFile(out, program, 0o755)
}
