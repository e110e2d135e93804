package installed

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden manifests in testdata/manifests")

func TestEVR(t *testing.T) {
	tests := []struct {
		p    Package
		want string
	}{
		{Package{Version: "5.1.8", Release: "6.el9"}, "5.1.8-6.el9"},
		{Package{Epoch: 1, Version: "3.0.7", Release: "24.el9"}, "1:3.0.7-24.el9"},
		{Package{Version: "12.4+deb12u11"}, "12.4+deb12u11"},
		{Package{Epoch: 2, Version: "1.0~rc1"}, "2:1.0~rc1"},
		{Package{Version: "1.0^git1", Release: "1"}, "1.0^git1-1"},
		{Package{Version: "2:3", Release: "1"}, "0:2:3-1"}, // Debian "0:2:3-1": the colon needs the epoch
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.p.EVR(); got != tt.want {
				t.Errorf("EVR() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadManifest(t *testing.T) {
	m, err := ReadManifest(filepath.Join("testdata", "manifests", "rocky-9.3.json"))
	if err != nil {
		t.Fatalf("ReadManifest: %v", err)
	}
	if m.OS != (OS{ID: "rocky", VersionID: "9.3", Family: "rhel"}) || m.PackageManager != "rpm" || len(m.Packages) != 4 {
		t.Fatalf("unexpected manifest %+v", m)
	}
	kernel := m.Packages[1]
	if kernel.Name != "kernel-core" || !reflect.DeepEqual(kernel.Provides, []string{"installonlypkg(kernel)"}) {
		t.Errorf("kernel-core entry = %+v", kernel)
	}
	if got := m.Packages[2].EVR(); got != "1:3.0.7-24.el9" {
		t.Errorf("openssl EVR = %q", got)
	}
}

func TestReadManifestInvalid(t *testing.T) {
	const head = `{"format": "refit-manifest/v1", "os": {"id": "rocky", "version_id": "9", "family": "rhel"}, "package_manager": "rpm", `
	tests := []struct {
		name, json, wantMsg string
	}{
		{"not JSON", `format: refit`, "invalid character"},
		{"wrong format", `{"format": "refit-manifest/v2", "os": {"family": "rhel"}, "package_manager": "rpm", "packages": []}`, `format is "refit-manifest/v2"`},
		{"missing format", `{"os": {"family": "rhel"}, "package_manager": "rpm", "packages": []}`, `format is ""`},
		{"bad package manager", `{"format": "refit-manifest/v1", "os": {"family": "rhel"}, "package_manager": "apk", "packages": []}`, `package_manager is "apk"`},
		{"bad family", `{"format": "refit-manifest/v1", "os": {"family": "arch"}, "package_manager": "rpm", "packages": []}`, `os.family is "arch"`},
		{"family and package manager disagree", `{"format": "refit-manifest/v1", "os": {"family": "debian"}, "package_manager": "rpm", "packages": []}`, "uses dpkg"},
		{"no packages list", `{"format": "refit-manifest/v1", "os": {"family": "rhel"}, "package_manager": "rpm"}`, "no \"packages\" list"},
		{"empty name", head + `"packages": [{"name": "a", "version": "1"}, {"name": "", "version": "1"}]}`, "packages[1]"},
		{"name with space", head + `"packages": [{"name": "a b", "version": "1"}]}`, "packages[0]"},
		{"empty version", head + `"packages": [{"name": "a", "version": "1"}, {"name": "b", "version": "1"}, {"name": "c"}]}`, "packages[2] (c): empty version"},
		{"negative epoch", head + `"packages": [{"name": "a", "epoch": -1, "version": "1"}]}`, "packages[0] (a): negative epoch"},
		{"misspelt field", head + `"packages": [{"name": "a", "verison": "1"}]}`, `unknown field "verison"`},
		{"epoch as string", head + `"packages": [{"name": "a", "epoch": "1", "version": "1"}]}`, "epoch"},
		{"trailing data", head + `"packages": []} {}`, "after the JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "image.manifest.json")
			if err := os.WriteFile(path, []byte(tt.json), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadManifest(path)
			if !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("ReadManifest error = %v, want ErrInvalidManifest naming %s and saying %q", err, path, tt.wantMsg)
			}
		})
	}
	if _, err := ReadManifest(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error = %v, want os.ErrNotExist", err)
	}
}

// TestWriteRoundTrip writes a manifest with unsorted packages and requires the exact bytes of
// the golden file (sorted, two-space indent, trailing newline) and an identical read-back.
func TestWriteRoundTrip(t *testing.T) {
	golden := filepath.Join("testdata", "manifests", "rocky-9.3.json")
	want, err := ReadManifest(golden)
	if err != nil {
		t.Fatal(err)
	}
	shuffled := *want
	shuffled.Format = ""
	shuffled.Packages = []Package{want.Packages[3], want.Packages[1], want.Packages[0], want.Packages[2]}
	orig := append([]Package(nil), shuffled.Packages...)
	path := filepath.Join(t.TempDir(), "out.json")
	if err := shuffled.Write(path); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if !reflect.DeepEqual(shuffled.Packages, orig) {
		t.Error("Write reordered the caller's packages")
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wantBytes, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, wantBytes) {
		t.Errorf("Write output differs from %s:\n%s", golden, got)
	}
	back, err := ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, want) {
		t.Errorf("read back %+v, want %+v", back, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("written file mode = %v, %v; want 0644", fi.Mode(), err)
	}
}

func TestWriteRefusesInvalidAndLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.json")
	if err := os.WriteFile(path, []byte("previous\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := Manifest{OS: OS{Family: "rhel"}, PackageManager: "rpm", Packages: []Package{{Name: "x"}}}
	if err := bad.Write(path); !errors.Is(err, ErrInvalidManifest) {
		t.Fatalf("Write of a package without version: error = %v, want ErrInvalidManifest", err)
	}
	if err := (&Manifest{OS: OS{Family: "rhel"}, PackageManager: "rpm"}).Write(filepath.Join(dir, "missing-dir", "m.json")); err == nil {
		t.Fatal("Write into a missing directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after failed writes, want only the previous file", len(entries))
	}
	if b, _ := os.ReadFile(path); string(b) != "previous\n" {
		t.Errorf("previous file changed to %q", b)
	}
}

func TestWriteEmptyPackagesIsAList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.json")
	if err := (&Manifest{OS: OS{ID: "debian", Family: "debian"}, PackageManager: "dpkg"}).Write(path); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(path)
	if err != nil || m.Packages == nil || len(m.Packages) != 0 {
		t.Fatalf("ReadManifest = %+v, %v; want an empty, non-nil package list", m, err)
	}
}

func FuzzReadManifest(f *testing.F) {
	for _, name := range []string{"rocky-9.3.json", "debian-12.json"} {
		if b, err := os.ReadFile(filepath.Join("testdata", "manifests", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"format": "refit-manifest/v1", "os": {"family": "rhel"}, "package_manager": "rpm", "packages": [{"name": "a", "epoch": 1e3, "version": "1"}]}`))
	f.Add([]byte(`{"format":"refit-manifest/v1","packages":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseManifest(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidManifest) {
				t.Fatalf("error does not wrap ErrInvalidManifest: %v", err)
			}
			return
		}
		// Anything accepted writes and reads back to the same manifest, sorted.
		path := filepath.Join(t.TempDir(), "m.json")
		if err := m.Write(path); err != nil {
			t.Fatalf("accepted manifest does not write: %v", err)
		}
		back, err := ReadManifest(path)
		if err != nil {
			t.Fatalf("written manifest does not read back: %v", err)
		}
		if len(back.Packages) != len(m.Packages) || back.OS != m.OS || back.PackageManager != m.PackageManager {
			t.Fatalf("round trip changed the manifest: %+v -> %+v", m, back)
		}
	})
}
