// Package packertest runs the real Packer binary against this plugin in acceptance tests:
// it builds the plugin once per test process, installs it into a private
// PACKER_PLUGIN_PATH, and runs packer commands there.
package packertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Env is a Packer installation with the plugin installed.
type Env struct {
	Packer     string
	PluginPath string
	ConfigDir  string
}

var (
	once    sync.Once
	env     *Env
	envErr  error
	tempDir string
)

// RepoRoot returns the root of this checkout.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Setup skips the test unless PACKER_ACC is set, then returns the shared Env.
func Setup(tb testing.TB) *Env {
	tb.Helper()
	if os.Getenv("PACKER_ACC") == "" {
		tb.Skip("acceptance test: set PACKER_ACC=1 (make testacc) to run it with the real Packer")
	}
	once.Do(func() { env, envErr = build() })
	if envErr != nil {
		tb.Fatalf("setting up Packer: %v", envErr)
	}
	return env
}

func build() (*Env, error) {
	root := RepoRoot()
	packer := os.Getenv("PACKER")
	if packer == "" {
		packer = filepath.Join(root, ".tools", "bin", "packer")
	}
	if _, err := os.Stat(packer); err != nil {
		return nil, fmt.Errorf("no Packer binary at %s: run `make tools` (or set PACKER)", packer)
	}
	dir, err := os.MkdirTemp("", "refit-packertest-")
	if err != nil {
		return nil, err
	}
	tempDir = dir
	bin := filepath.Join(dir, "packer-plugin-refit")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the plugin: %v\n%s", err, out)
	}
	e := &Env{Packer: packer, PluginPath: filepath.Join(dir, "plugins"), ConfigDir: filepath.Join(dir, "config")}
	if out, err := e.run(context.Background(), dir, "", "plugins", "install", "--path", bin, "github.com/refit-images/refit"); err != nil {
		return nil, fmt.Errorf("packer plugins install: %v\n%s", err, out)
	}
	return e, nil
}

// Cleanup removes the shared plugin folder; call it from TestMain after m.Run.
func Cleanup() {
	if tempDir != "" {
		os.RemoveAll(tempDir)
	}
}

func (e *Env) run(ctx context.Context, dir, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, e.Packer, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(),
		"PACKER_PLUGIN_PATH="+e.PluginPath,
		"PACKER_CONFIG_DIR="+e.ConfigDir,
		"CHECKPOINT_DISABLE=1",
		"PACKER_NO_COLOR=1",
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Run runs `packer args...` in dir and returns its combined output.
func (e *Env) Run(tb testing.TB, dir string, args ...string) (string, error) {
	tb.Helper()
	return e.RunInput(tb, dir, "", args...)
}

// RunInput runs `packer args...` in dir with stdin as its standard input (for packer console).
func (e *Env) RunInput(tb testing.TB, dir, stdin string, args ...string) (string, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	out, err := e.run(ctx, dir, stdin, args...)
	tb.Logf("$ packer %s\n%s", strings.Join(args, " "), out)
	return out, err
}

// Template writes an HCL template into a new temp folder and returns the folder.
func Template(tb testing.TB, hcl string) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "template.pkr.hcl"), []byte(hcl), 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// HCLList renders strings as an HCL list of quoted strings (for a template or -var).
func HCLList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
