package osrelease_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/osrelease"
)

func TestRead(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "os-release")
	if err := os.WriteFile(outside, []byte("ID=outside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		files  map[string]string
		links  map[string]string
		wantID string // "" means osrelease.ErrNotFound
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
			fixture.WriteTree(t, root, tt.files, tt.links)
			info, err := osrelease.Read(root)
			if tt.wantID == "" {
				if !errors.Is(err, osrelease.ErrNotFound) || !strings.Contains(err.Error(), root) {
					t.Fatalf("Read error = %v, want osrelease.ErrNotFound naming %s", err, root)
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
	fixture.WriteTree(t, root, map[string]string{"etc/os-release": "NAME=x\nID=\"broken\n"}, nil)
	_, err := osrelease.Read(root)
	if !errors.Is(err, osrelease.ErrSyntax) || !strings.Contains(err.Error(), filepath.Join(root, "etc/os-release")) ||
		!strings.Contains(err.Error(), "line 2") {
		t.Fatalf("Read error = %v, want osrelease.ErrSyntax naming the file and line 2", err)
	}
}
