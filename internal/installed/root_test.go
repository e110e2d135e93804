package installed

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/osrelease"
)

// TestFromRootDebian builds the manifest of the Debian fixture root and compares it, as written,
// with testdata/manifests/debian-12.json (go test -update rewrites it).
func TestFromRootDebian(t *testing.T) {
	root := filepath.Join("testdata", "roots", "debian-12")
	before := snapshotTree(t, root)
	m, err := FromRoot(root)
	if err != nil {
		t.Fatalf("FromRoot: %v", err)
	}
	requireUnchanged(t, before, snapshotTree(t, root))
	if m.OS != (OS{ID: "debian", VersionID: "12", Family: "debian"}) || m.PackageManager != "dpkg" {
		t.Errorf("OS %+v, package manager %q", m.OS, m.PackageManager)
	}
	path := filepath.Join(t.TempDir(), "m.json")
	if err := m.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "manifests", "debian-12.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("manifest differs from %s (go test -update rewrites it):\n%s", golden, got)
	}
}

// TestFromRootRPM builds the manifest of a generated rpm root that says it is Rocky Linux 9.3.
func TestFromRootRPM(t *testing.T) {
	root := t.TempDir()
	copyDir(t, rpmRoot(t), root)
	copyFileContent(t, filepath.Join(root, "usr", "lib", "os-release"), "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n")
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../usr/lib/os-release", filepath.Join(root, "etc", "os-release")); err != nil {
		t.Fatal(err)
	}
	before := snapshotTree(t, root)
	m, err := FromRoot(root)
	if err != nil {
		t.Fatalf("FromRoot: %v", err)
	}
	requireUnchanged(t, before, snapshotTree(t, root))
	if m.Format != ManifestFormat || m.OS != (OS{ID: "rocky", VersionID: "9.3", Family: "rhel"}) || m.PackageManager != "rpm" {
		t.Errorf("manifest header %q %+v %q", m.Format, m.OS, m.PackageManager)
	}
	requireSameSet(t, "NEVRAs vs rpm -qa", nevras(m.Packages), rpmQueryAll(t, filepath.Join(root, "var", "lib", "rpm")))
	if err := m.validate(); err != nil {
		t.Errorf("FromRoot made an invalid manifest: %v", err)
	}
}

func TestFromRootErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		wantErr error
	}{
		{"no os-release", map[string]string{"var/lib/dpkg/status": "Package: a\n"}, osrelease.ErrNotFound},
		{"unsupported distribution", map[string]string{"etc/os-release": "ID=alpine\n"}, ErrUnsupportedOS},
		{"rpm distribution without rpmdb", map[string]string{"etc/os-release": "ID=rocky\n", "var/lib/dpkg/status": "Package: a\n"}, ErrNoRPMDB},
		{"debian without dpkg status", map[string]string{"etc/os-release": "ID=debian\n"}, ErrNoDpkgStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for p, content := range tt.files {
				copyFileContent(t, filepath.Join(root, p), content)
			}
			if _, err := FromRoot(root); !errors.Is(err, tt.wantErr) {
				t.Fatalf("FromRoot error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
