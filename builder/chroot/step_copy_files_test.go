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

// The host file every case copies in, and what cases write instead.
const (
	hostContent  = "nameserver 192.0.2.1\n"
	imageContent = "nameserver 127.0.0.53\n"
	buildContent = "# Managed by refit-harden (network.dns)\nnameserver 198.51.100.53\n"
)

func TestStepCopyFiles(t *testing.T) {
	// A host file is copied to the same path inside the image: here a temporary
	// path, whose folder the image (a plain folder) gets too. After the build the
	// image's own file comes back only when the copy is untouched; a copy the build
	// changed stays, and the Ui says so.
	writeStub := func(t *testing.T, target string) {
		mustWrite(t, filepath.Join(filepath.Dir(target), "stub"), "stub\n")
		mustSymlink(t, "stub", target)
	}
	tests := []struct {
		name string
		// original prepares the image's own file at target (a host path inside the image folder).
		original func(t *testing.T, target string)
		// build does what a provisioner does to the copy; nil leaves it alone.
		build func(t *testing.T, target string)
		// kept is true when the build's version must stay (and be announced).
		kept bool
		// check runs after the cleanup.
		check func(t *testing.T, target string)
	}{
		{
			name:     "regular file put back",
			original: func(t *testing.T, target string) { mustWrite(t, target, imageContent) },
			check:    wantContent(imageContent),
		},
		{
			name:     "symlink replaced, not followed, and put back",
			original: writeStub,
			check: func(t *testing.T, target string) {
				wantLink("stub")(t, target)
				if got := mustRead(t, filepath.Join(filepath.Dir(target), "stub")); got != "stub\n" {
					t.Errorf("the symlink's target was written: %q", got)
				}
			},
		},
		{
			name:     "absent file removed again",
			original: func(*testing.T, string) {},
			check:    wantAbsent,
		},
		{
			name:     "rewritten with the same bytes: the original comes back",
			original: func(t *testing.T, target string) { mustWrite(t, target, imageContent) },
			build: func(t *testing.T, target string) {
				mustRemove(t, target) // a new inode, as tools that write a temporary file and rename it make
				mustWrite(t, target, hostContent)
			},
			check: wantContent(imageContent),
		},
		{
			name:     "rewritten by the build: kept",
			original: func(t *testing.T, target string) { mustWrite(t, target, imageContent) },
			build:    func(t *testing.T, target string) { mustWrite(t, target, buildContent) },
			kept:     true,
			check:    wantContent(buildContent),
		},
		{
			name:     "rewritten by the build, the image had none: kept",
			original: func(*testing.T, string) {},
			build:    func(t *testing.T, target string) { mustWrite(t, target, buildContent) },
			kept:     true,
			check:    wantContent(buildContent),
		},
		{
			name:     "rewritten by the build over the image's symlink: kept",
			original: writeStub,
			build:    func(t *testing.T, target string) { mustWrite(t, target, buildContent) },
			kept:     true,
			check:    wantContent(buildContent),
		},
		{
			name:     "replaced by a symlink: kept",
			original: func(t *testing.T, target string) { mustWrite(t, target, imageContent) },
			build: func(t *testing.T, target string) {
				mustRemove(t, target)
				mustSymlink(t, "../run/systemd/resolve/stub-resolv.conf", target)
			},
			kept:  true,
			check: wantLink("../run/systemd/resolve/stub-resolv.conf"),
		},
		{
			// Same bytes behind the link, but no longer a regular file: the build's work.
			name:     "replaced by a symlink to the same bytes: kept",
			original: writeStub,
			build: func(t *testing.T, target string) {
				mustWrite(t, filepath.Join(filepath.Dir(target), "same"), hostContent)
				mustRemove(t, target)
				mustSymlink(t, "same", target)
			},
			kept:  true,
			check: wantLink("same"),
		},
		{
			name:     "deleted by the build, the image had none: absent, nothing to say",
			original: func(*testing.T, string) {},
			build:    mustRemove,
			check:    wantAbsent,
		},
		{
			name:     "deleted by the build: stays deleted",
			original: func(t *testing.T, target string) { mustWrite(t, target, imageContent) },
			build:    mustRemove,
			kept:     true,
			check:    wantAbsent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hostFile := filepath.Join(t.TempDir(), "resolv.conf")
			if err := os.WriteFile(hostFile, []byte(hostContent), 0o640); err != nil {
				t.Fatal(err)
			}
			image := t.TempDir()
			target := filepath.Join(image, hostFile)
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				t.Fatal(err)
			}
			tt.original(t, target)
			var ui strings.Builder
			state := testState(dirResolver(image), &ui)
			step := &StepCopyFiles{Files: []string{hostFile}}
			if got := step.Run(t.Context(), state); got != multistep.ActionContinue {
				t.Fatalf("Run: %v", state.Get("error"))
			}
			if got := mustRead(t, target); got != hostContent {
				t.Fatalf("the copy holds %q", got)
			}
			if fi, err := os.Lstat(target); err != nil || fi.Mode().Perm() != 0o640 {
				t.Errorf("the copy's mode is %v (%v), want the host file's 0640", fi.Mode(), err)
			}
			if tt.build != nil {
				tt.build(t, target)
			}
			for i := 1; i <= 2; i++ { // idempotent
				if err := step.CleanupFunc(state); err != nil {
					t.Fatalf("CleanupFunc (call %d): %v", i, err)
				}
			}
			tt.check(t, target)
			if saved, _ := filepath.Glob(filepath.Join(filepath.Dir(target), "*"+savedSuffix)); len(saved) > 0 {
				t.Errorf("saved files remain: %v", saved)
			}
			said := strings.Contains(ui.String(), "keeping the build's version") && strings.Contains(ui.String(), hostFile)
			if said != tt.kept {
				t.Errorf("the Ui said %q; want a note that the build's %s is kept: %v", ui.String(), hostFile, tt.kept)
			}
		})
	}
}

// TestStepCopyFilesFailedCopyRestores: a copy that failed half-way is never taken
// for the build's work; the image's own file comes back. /proc/self/mem is a
// regular file on the host whose first read fails (address 0 is not mapped).
func TestStepCopyFilesFailedCopyRestores(t *testing.T) {
	const name = "/proc/self/mem"
	if f, err := os.Open(name); err != nil {
		t.Skipf("needs %s to read from: %v", name, err)
	} else {
		_, err := f.Read(make([]byte, 1))
		f.Close()
		if err == nil {
			t.Skipf("reading %s succeeded here: it cannot make the copy fail", name)
		}
	}
	image := t.TempDir()
	target := filepath.Join(image, name)
	mustWrite(t, target, imageContent)
	state := testState(dirResolver(image), io.Discard)
	step := &StepCopyFiles{Files: []string{name}}
	if got := step.Run(t.Context(), state); got != multistep.ActionHalt {
		t.Fatal("Run continued, want a halt: the copy cannot be read")
	}
	if err, _ := state.Get("error").(error); err == nil || !strings.Contains(err.Error(), "writing "+name+" into the image") {
		t.Errorf("error %v, want it to say the copy failed", err)
	}
	step.Cleanup(state)
	wantContent(imageContent)(t, target)
	if _, err := os.Lstat(target + savedSuffix); !os.IsNotExist(err) {
		t.Errorf("the saved original remains: %v", err)
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
			state := testState(dirResolver(image), io.Discard)
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

// testState returns a state bag with mounts and a Ui writing to ui.
func testState(mounts pathResolver, ui io.Writer) multistep.StateBag {
	state := new(multistep.BasicStateBag)
	state.Put(stateUI, &packersdk.BasicUi{Writer: ui, ErrorWriter: ui})
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

func mustSymlink(t *testing.T, oldname, newname string) {
	t.Helper()
	if err := os.Symlink(oldname, newname); err != nil {
		t.Fatal(err)
	}
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// wantContent checks that the file is a regular file holding want.
func wantContent(want string) func(*testing.T, string) {
	return func(t *testing.T, target string) {
		t.Helper()
		if fi, err := os.Lstat(target); err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("after cleanup %s is not a regular file: %v %v", target, fi, err)
		}
		if got := mustRead(t, target); got != want {
			t.Errorf("after cleanup the file holds %q, want %q", got, want)
		}
	}
}

// wantLink checks that the file is a symlink to want.
func wantLink(want string) func(*testing.T, string) {
	return func(t *testing.T, target string) {
		t.Helper()
		if link, err := os.Readlink(target); err != nil || link != want {
			t.Errorf("after cleanup the file links to %q (%v), want %q", link, err, want)
		}
	}
}

func wantAbsent(t *testing.T, target string) {
	t.Helper()
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Errorf("%s exists after cleanup (%v), want it absent", target, err)
	}
}
