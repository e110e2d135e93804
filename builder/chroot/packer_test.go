package chroot

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/packertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	packertest.Cleanup()
	os.Exit(code)
}

// accBuild is one `packer build` of a template in its own folder. Packer (and so
// the plugin) runs with TMPDIR inside that folder, so every mount point, working
// file and loop device backing file of the build lies under Dir, which is what the
// leftover checks look for.
type accBuild struct {
	env    *packertest.Env
	Dir    string
	Marker string // a unique word for names of processes the template starts

	mu     sync.Mutex
	output bytes.Buffer
	seen   map[string]chan struct{}
}

// newAccBuild writes hcl (after replacing MARKER with a unique word) into a new folder.
func newAccBuild(t *testing.T, env *packertest.Env, hcl string) *accBuild {
	t.Helper()
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatal(err)
	}
	b := &accBuild{env: env, Dir: t.TempDir(), Marker: "refitacc" + hex.EncodeToString(r[:]), seen: map[string]chan struct{}{}}
	hcl = strings.ReplaceAll(hcl, "MARKER", b.Marker)
	if err := os.WriteFile(filepath.Join(b.Dir, "template.pkr.hcl"), []byte(pluginBlock+hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(b.Dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	return b
}

// pluginBlock makes templates name the plugin the way users do.
const pluginBlock = `packer {
  required_plugins {
    refit = {
      source  = "github.com/refit-images/refit"
      version = ">= 0.0.1"
    }
  }
}
`

// command returns the packer command for args, not yet started.
func (b *accBuild) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, b.env.Packer, args...)
	cmd.Dir = b.Dir
	cmd.Env = append(os.Environ(),
		"PACKER_PLUGIN_PATH="+b.env.PluginPath,
		"PACKER_CONFIG_DIR="+b.env.ConfigDir,
		"CHECKPOINT_DISABLE=1",
		"PACKER_NO_COLOR=1",
		"TMPDIR="+filepath.Join(b.Dir, "tmp"),
	)
	return cmd
}

// start starts `packer build` with extra arguments; the returned function waits
// for it to end and for its output to be read.
func (b *accBuild) start(t *testing.T, ctx context.Context, args ...string) (*exec.Cmd, func() error) {
	t.Helper()
	cmd := b.command(ctx, append(append([]string{"build"}, args...), ".")...)
	cmd.WaitDelay = 30 * time.Second
	// Its own process group, so that interrupt reaches packer, its plugins and the
	// provisioners' commands as a Ctrl-C in a terminal does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting packer: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			b.mu.Lock()
			b.output.WriteString(line + "\n")
			for word, ch := range b.seen {
				if strings.Contains(line, word) {
					close(ch)
					delete(b.seen, word)
				}
			}
			b.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return cmd, func() error {
		err := cmd.Wait()
		pw.Close()
		<-done
		return err
	}
}

// interrupt sends SIGINT to the process group of a build started with start, as
// Ctrl-C in a terminal does. (Packer runs as two processes, a wrapper that ignores
// SIGINT and the real one, so signalling only the first would do nothing.)
func interrupt(cmd *exec.Cmd) error {
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
}

// waitFor returns a channel closed when the output shows word (call before start).
func (b *accBuild) waitFor(word string) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan struct{})
	b.seen[word] = ch
	return ch
}

// Output returns what packer printed so far.
func (b *accBuild) Output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.output.String()
}

// run runs `packer build` to the end and returns its output and error.
func (b *accBuild) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	_, wait := b.start(t, ctx, args...)
	err := wait()
	out := b.Output()
	t.Logf("$ packer build %s (in %s)\n%s", strings.Join(args, " "), b.Dir, out)
	return out, err
}
