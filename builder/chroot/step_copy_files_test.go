package chroot

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// dirResolver resolves image paths under a plain folder, for tests (no symlinks
// followed: the tests do not need them).
type dirResolver string

func (d dirResolver) ResolvePath(name string) (string, error) {
	return filepath.Join(string(d), filepath.Clean("/"+name)), nil
}

func TestStepCopyFiles(t *testing.T) {
	// A host file is copied to the same path inside the image: here a temporary
	// path, whose folder the image (a plain folder) gets too.
	tests := []struct {
		name string
		// original prepares the image's own file at target (a host path inside the image folder).
		original func(t *testing.T, target string)
		// check runs after the cleanup.
		check func(t *testing.T, target string)
	}{
		{
			name:     "regular file put back",
			original: func(t *testing.T, target string) { mustWrite(t, target, "nameserver 127.0.0.53\n") },
			check: func(t *testing.T, target string) {
				if got := mustRead(t, target); got != "nameserver 127.0.0.53\n" {
					t.Errorf("after cleanup the file holds %q", got)
				}
			},
		},
		{
			name: "symlink replaced, not followed, and put back",
			original: func(t *testing.T, target string) {
				mustWrite(t, filepath.Join(filepath.Dir(target), "stub"), "stub\n")
				if err := os.Symlink("stub", target); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, target string) {
				if link, err := os.Readlink(target); err != nil || link != "stub" {
					t.Errorf("after cleanup the file links to %q (%v)", link, err)
				}
				if got := mustRead(t, filepath.Join(filepath.Dir(target), "stub")); got != "stub\n" {
					t.Errorf("the symlink's target was written: %q", got)
				}
			},
		},
		{
			name:     "absent file removed again",
			original: func(*testing.T, string) {},
			check: func(t *testing.T, target string) {
				if _, err := os.Lstat(target); !os.IsNotExist(err) {
					t.Errorf("the copy remains after cleanup (%v)", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hostFile := filepath.Join(t.TempDir(), "resolv.conf")
			if err := os.WriteFile(hostFile, []byte("nameserver 192.0.2.1\n"), 0o640); err != nil {
				t.Fatal(err)
			}
			image := t.TempDir()
			target := filepath.Join(image, hostFile)
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				t.Fatal(err)
			}
			tt.original(t, target)
			state := testState(dirResolver(image))
			step := &StepCopyFiles{Files: []string{hostFile}}
			if got := step.Run(t.Context(), state); got != multistep.ActionContinue {
				t.Fatalf("Run: %v", state.Get("error"))
			}
			if got := mustRead(t, target); got != "nameserver 192.0.2.1\n" {
				t.Fatalf("the copy holds %q", got)
			}
			if fi, err := os.Lstat(target); err != nil || fi.Mode().Perm() != 0o640 {
				t.Errorf("the copy's mode is %v (%v), want the host file's 0640", fi.Mode(), err)
			}
			mustWrite(t, target, "changed by a provisioner\n") // discarded: the original comes back
			for i := 1; i <= 2; i++ {                          // idempotent
				if err := step.CleanupFunc(state); err != nil {
					t.Fatalf("CleanupFunc (call %d): %v", i, err)
				}
			}
			tt.check(t, target)
			if saved, _ := filepath.Glob(filepath.Join(filepath.Dir(target), "*"+savedSuffix)); len(saved) > 0 {
				t.Errorf("saved files remain: %v", saved)
			}
		})
	}
}

func TestStepCopyFilesErrors(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"missing host file", "/nonexistent/refit-test-file", "reading /nonexistent/refit-test-file on the host"},
		{"not a regular file", "/dev/null", "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			image := t.TempDir()
			for _, d := range []string{"nonexistent", "dev"} {
				if err := os.MkdirAll(filepath.Join(image, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			state := testState(dirResolver(image))
			step := &StepCopyFiles{Files: []string{tt.file}}
			if got := step.Run(t.Context(), state); got != multistep.ActionHalt {
				t.Fatal("Run continued, want a halt")
			}
			if err, _ := state.Get("error").(error); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// testState returns a state bag with a discarding Ui and mounts.
func testState(mounts pathResolver) multistep.StateBag {
	state := new(multistep.BasicStateBag)
	state.Put(stateUI, &packersdk.BasicUi{Writer: io.Discard, ErrorWriter: io.Discard})
	state.Put(stateMounts, mounts)
	return state
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
