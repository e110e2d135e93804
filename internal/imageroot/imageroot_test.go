package imageroot_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/imageroot"
	"golang.org/x/sys/unix"
)

func TestResolve(t *testing.T) {
	root := t.TempDir()
	fixture.WriteTree(t, root,
		map[string]string{
			"usr/lib/os-release":                "ID=inside\n",
			"usr/lib/sysimage/rpm/rpmdb.sqlite": "",
		},
		map[string]string{
			"etc/os-release":  "../usr/lib/os-release",
			"etc/absolute":    "/usr/lib/os-release",
			"etc/escape":      "../../../../../../usr/lib/os-release",
			"etc/chain1":      "chain2",
			"etc/chain2":      "/etc/os-release",
			"etc/loop1":       "loop2",
			"etc/loop2":       "./loop1",
			"etc/dangling":    "/does/not/exist",
			"var/lib/rpm":     "../../usr/lib/sysimage/rpm",
			"lib":             "/usr/lib",
			"usr/lib/selfref": ".",
		})
	tests := []struct {
		name    string
		want    string // below root
		wantErr error
	}{
		{"/etc/os-release", "usr/lib/os-release", nil},
		{"etc/os-release", "usr/lib/os-release", nil},
		{"/etc/absolute", "usr/lib/os-release", nil},
		{"/etc/escape", "usr/lib/os-release", nil},
		{"/../../../etc/os-release", "usr/lib/os-release", nil},
		{"/etc/chain1", "usr/lib/os-release", nil},
		{"/var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite", nil},
		{"/lib/os-release", "usr/lib/os-release", nil},
		{"/usr/lib/selfref/selfref/os-release", "usr/lib/os-release", nil},
		{"/etc/dangling", "does/not/exist", nil},
		{"/missing/dir/file", "missing/dir/file", nil},
		{"/usr/lib/os-release/below-a-file", "usr/lib/os-release/below-a-file", nil},
		{"/", "", nil},
		{"/etc/loop1", "", imageroot.ErrTooManyLinks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := imageroot.Resolve(root, tt.name)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("imageroot.Resolve(%q) error = %v, want %v", tt.name, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("imageroot.Resolve(%q): %v", tt.name, err)
			}
			if want := filepath.Join(root, tt.want); got != want {
				t.Errorf("imageroot.Resolve(%q) = %q, want %q", tt.name, got, want)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	root := t.TempDir()
	fixture.WriteTree(t, root, map[string]string{"usr/bin/dash": "elf"}, map[string]string{
		"bin":             "usr/bin",
		"usr/bin/sh":      "dash",
		"usr/bin/escape":  "/../../../usr/bin/dash",
		"usr/bin/loop1":   "loop2",
		"usr/bin/loop2":   "loop1",
		"usr/bin/dangles": "/nowhere",
	})
	for _, c := range []struct {
		path  string
		final bool
		want  string
		err   error
	}{
		{"/bin/sh", true, "/usr/bin/dash", nil},
		{"/bin/sh", false, "/usr/bin/sh", nil},
		{"/bin", false, "/bin", nil},
		{"/bin", true, "/usr/bin", nil},
		{"/bin/", false, "/bin", nil},
		{"/usr/bin/escape", true, "/usr/bin/dash", nil},
		{"/../bin/sh", true, "/usr/bin/dash", nil},
		{"/bin/../usr/bin/sh", true, "", fs.ErrNotExist}, // as the kernel: /bin/.. is /usr
		{"/usr/bin/loop1", true, "", imageroot.ErrTooManyLinks},
		{"/usr/bin/missing", true, "", fs.ErrNotExist},
		{"/usr/bin/dangles", true, "", fs.ErrNotExist},
		{"/usr/bin/dangles", false, "/usr/bin/dangles", nil},
	} {
		got, err := imageroot.Lookup(root, c.path, c.final)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("imageroot.Lookup(%s, final=%v) = %q, %v; want error %v", c.path, c.final, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("imageroot.Lookup(%s, final=%v) = %q, %v; want %q", c.path, c.final, got, err, c.want)
		}
	}
}

func TestMkdirAll(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	fixture.WriteTree(t, root, map[string]string{"etc/file": "x"}, map[string]string{"var/run": outside, "sbin": "usr/sbin"})
	old := unix.Umask(0o077) // the mode is 0755 whatever the umask of whoever runs refit
	got, err := imageroot.MkdirAll(root, "/usr/lib/refit/queue")
	unix.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "usr/lib/refit/queue"); got != want {
		t.Errorf("MkdirAll = %q, want %q", got, want)
	}
	for _, d := range []string{"usr/lib/refit", "usr/lib/refit/queue"} {
		if st, err := os.Stat(filepath.Join(root, d)); err != nil {
			t.Error(err)
		} else if !st.IsDir() || st.Mode().Perm() != 0o755 {
			t.Errorf("made %s with umask 077: %v; want a directory of mode 0755", d, st.Mode())
		}
	}
	if _, err := imageroot.MkdirAll(root, "/usr/lib/refit"); err != nil {
		t.Errorf("MkdirAll on an existing directory: %v", err)
	}
	for _, dir := range []string{"/var/run/refit", "/sbin"} {
		if _, err := imageroot.MkdirAll(root, dir); !errors.Is(err, imageroot.ErrSymlink) {
			t.Errorf("imageroot.MkdirAll(%s) through a symlink: err = %v, want imageroot.ErrSymlink", dir, err)
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("MkdirAll wrote outside the root: %v", entries)
	}
	if _, err := imageroot.MkdirAll(root, "/etc/file/sub"); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("MkdirAll below a file: err = %v", err)
	}
}

func TestReplaceRestore(t *testing.T) {
	for _, tt := range []struct {
		name     string
		own      string // the image's own file; "" for none
		meantime string // written over ours before Restore; "" for nothing
		want     string // the file after Restore; "" for absent
	}{
		{"the image has none", "", "", ""},
		{"the image's own comes back", "#!/bin/sh\nexit 0\n", "", "#!/bin/sh\nexit 0\n"},
		{"a package's newer file is kept", "own\n", "from a package\n", "from a package\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			host := filepath.Join(root, "usr/sbin/policy-rc.d")
			if tt.own != "" {
				fixture.WriteTree(t, root, map[string]string{"usr/sbin/policy-rc.d": tt.own}, nil)
			}
			r, err := imageroot.Replace(root, "/usr/sbin/policy-rc.d", []byte("exit 101\n"), 0o755)
			if err != nil {
				t.Fatal(err)
			}
			if data, err := os.ReadFile(host); err != nil || string(data) != "exit 101\n" {
				t.Fatalf("replaced file = %q, %v", data, err)
			}
			if st, _ := os.Stat(host); st.Mode().Perm() != 0o755 {
				t.Errorf("replaced file mode = %v, want 0755", st.Mode())
			}
			if (r.Saved() != "") != (tt.own != "") {
				t.Errorf("Saved() = %q with own file %q", r.Saved(), tt.own)
			}
			if tt.meantime != "" {
				if err := os.WriteFile(host, []byte(tt.meantime), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.Restore(); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(host)
			switch {
			case tt.want == "" && !errors.Is(err, fs.ErrNotExist):
				t.Errorf("after Restore the file is %q, %v; want none", data, err)
			case tt.want != "" && string(data) != tt.want:
				t.Errorf("after Restore the file is %q, %v; want %q", data, err, tt.want)
			}
			if left, _ := filepath.Glob(host + "*" + imageroot.SavedSuffix); len(left) > 0 {
				t.Errorf("saved copies left: %v", left)
			}
			if err := r.Restore(); err != nil {
				t.Errorf("second Restore: %v", err)
			}
		})
	}
}

func TestReplaceRefusesSymlinkedDir(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	fixture.WriteTree(t, root, nil, map[string]string{"usr/sbin": outside})
	if _, err := imageroot.Replace(root, "/usr/sbin/policy-rc.d", []byte("exit 101\n"), 0o755); !errors.Is(err, imageroot.ErrSymlink) {
		t.Fatalf("Replace through a symlinked directory: err = %v, want imageroot.ErrSymlink", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("Replace wrote outside the root: %v", entries)
	}
}

func TestRemoveAll(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	fixture.WriteTree(t, root, map[string]string{"var/lib/refit/queue/a.deb": "x", "etc/keep": "k"},
		map[string]string{"var/lib/link": outside, "etc/wants/unit.service": "/lib/systemd/unit.service"})
	fixture.WriteTree(t, outside, map[string]string{"queue/b.deb": "y"}, nil)
	for _, name := range []string{"/var/lib/refit/queue", "/etc/wants/unit.service", "/does/not/exist"} {
		if err := imageroot.RemoveAll(root, name); err != nil {
			t.Errorf("imageroot.RemoveAll(%s): %v", name, err)
		}
		if _, err := os.Lstat(filepath.Join(root, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("imageroot.RemoveAll(%s) left it: %v", name, err)
		}
	}
	if err := imageroot.RemoveAll(root, "/var/lib/link/queue"); !errors.Is(err, imageroot.ErrSymlink) {
		t.Errorf("RemoveAll through a symlink: err = %v, want imageroot.ErrSymlink", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "queue/b.deb")); err != nil {
		t.Errorf("RemoveAll reached outside the root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/keep")); err != nil {
		t.Errorf("RemoveAll removed a sibling: %v", err)
	}
}
