package chroot

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// checkNoLeftovers fails the test if anything of the builds in dirs remains: a
// loop device backed by a file under them, a mount point under them in any
// process's mount namespace, a process whose command line, root or working
// folder names one of them or one of the markers, or a temporary folder of refit's
// ("refit-…": mount folders, staged-ESP read-back folders) in a build's TMPDIR.
func checkNoLeftovers(t *testing.T, dirs []string, markers []string) {
	t.Helper()
	for _, d := range dirs {
		entries, _ := os.ReadDir(filepath.Join(d, "tmp"))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "refit-") {
				t.Errorf("temporary folder left behind: %s", filepath.Join(d, "tmp", e.Name()))
			}
		}
	}
	under := func(p string) bool {
		for _, d := range dirs {
			if strings.HasPrefix(p, d+"/") || p == d {
				return true
			}
		}
		return false
	}
	out, err := exec.Command("losetup", "--list", "--noheadings", "--raw", "-O", "NAME,BACK-FILE").Output()
	if err != nil {
		t.Fatalf("losetup --list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && under(f[1]) {
			t.Errorf("loop device left behind: %s", line)
		}
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	seenNS := map[string]bool{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		base := fmt.Sprintf("/proc/%d", pid)
		cmdline, _ := os.ReadFile(base + "/cmdline")
		args := strings.ReplaceAll(string(cmdline), "\x00", " ")
		for _, m := range markers {
			if strings.Contains(args, m) {
				t.Errorf("process left behind: %d %s", pid, args)
			}
		}
		for _, link := range []string{"root", "cwd"} {
			if p, err := os.Readlink(base + "/" + link); err == nil && under(p) {
				t.Errorf("process %d (%s) left behind with its %s in %s", pid, args, link, p)
			}
		}
		ns, err := os.Readlink(base + "/ns/mnt")
		if err != nil || seenNS[ns] {
			continue
		}
		seenNS[ns] = true
		mountinfo, err := os.ReadFile(base + "/mountinfo")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(mountinfo), "\n") {
			if f := strings.Fields(line); len(f) > 4 && under(f[4]) {
				t.Errorf("mount left behind in the mount namespace of process %d (%s): %s", pid, args, line)
			}
		}
	}
}
