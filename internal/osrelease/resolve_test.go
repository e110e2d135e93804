package osrelease

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// makeTree creates files (path -> content) and symlinks (path -> target) below dir.
func makeTree(t *testing.T, dir string, files, links map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range links {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestResolveInRoot(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root,
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
		{"/etc/loop1", "", ErrTooManyLinks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveInRoot(root, tt.name)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ResolveInRoot(%q) error = %v, want %v", tt.name, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveInRoot(%q): %v", tt.name, err)
			}
			if want := filepath.Join(root, tt.want); got != want {
				t.Errorf("ResolveInRoot(%q) = %q, want %q", tt.name, got, want)
			}
		})
	}
}

func TestRead(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "os-release")
	if err := os.WriteFile(outside, []byte("ID=outside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		files  map[string]string
		links  map[string]string
		wantID string // "" means ErrNotFound
	}{
		{
			name:   "relative symlink as distributions ship it",
			files:  map[string]string{"usr/lib/os-release": "ID=inside\n"},
			links:  map[string]string{"etc/os-release": "../usr/lib/os-release"},
			wantID: "inside",
		},
		{
			name:   "absolute symlink stays in root",
			files:  map[string]string{"usr/lib/os-release": "ID=inside\n"},
			links:  map[string]string{"etc/os-release": "/usr/lib/os-release"},
			wantID: "inside",
		},
		{
			name:   "absolute symlink to a host file is not followed out of root",
			files:  map[string]string{"usr/lib/os-release": "ID=fallback\n"},
			links:  map[string]string{"etc/os-release": outside},
			wantID: "fallback",
		},
		{
			name:   "etc wins over usr/lib",
			files:  map[string]string{"etc/os-release": "ID=etc\n", "usr/lib/os-release": "ID=usr\n"},
			wantID: "etc",
		},
		{
			name:   "usr/lib only",
			files:  map[string]string{"usr/lib/os-release": "ID=usr\n"},
			wantID: "usr",
		},
		{
			name:  "none",
			files: map[string]string{"etc/hostname": "x\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			makeTree(t, root, tt.files, tt.links)
			info, err := Read(root)
			if tt.wantID == "" {
				if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), root) {
					t.Fatalf("Read error = %v, want ErrNotFound naming %s", err, root)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if info.ID != tt.wantID {
				t.Errorf("ID = %q, want %q", info.ID, tt.wantID)
			}
		})
	}
}

func TestReadSyntaxErrorNamesFile(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, map[string]string{"etc/os-release": "NAME=x\nID=\"broken\n"}, nil)
	_, err := Read(root)
	if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), filepath.Join(root, "etc/os-release")) ||
		!strings.Contains(err.Error(), "line 2") {
		t.Fatalf("Read error = %v, want ErrSyntax naming the file and line 2", err)
	}
}
