package sbom_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/sbom"
	"github.com/refit-images/packer-plugin-refit/internal/sbom/sbomtest"
)

// almaRoot extracts the real AlmaLinux 9.0 rpmdb internal/installed tests with.
func almaRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	out, err := exec.Command("tar", "--numeric-owner", "-xJf",
		filepath.Join("..", "installed", "testdata", "real", "almalinux-9.0-aarch64-bdb-rpmdb.tar.xz"), "-C", root).CombinedOutput()
	if err != nil {
		t.Fatalf("extracting the AlmaLinux rpmdb: %v\n%s", err, out)
	}
	return root
}

// inventory reads root and gives it an image: a small file standing in for the disk image.
func inventory(t *testing.T, root string) *sbom.Inventory {
	t.Helper()
	inv, err := sbom.FromRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("not really a disk image"))
	inv.Image = sbom.Image{Name: "golden.qcow2", SHA256: hex.EncodeToString(sum[:]), Format: "qcow2"}
	inv.ToolName, inv.ToolVersion = "packer-plugin-refit", "0.0.0-test"
	inv.Created = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	return inv
}

// TestDocumentsConformAndReadBack writes both SBOMs of a Debian root and of a real AlmaLinux
// rpmdb, validates them against the official schemas, and reads them back: every package
// comes back with the name, epoch, version, release, arch, source and install-only provides
// the package database holds.
func TestDocumentsConformAndReadBack(t *testing.T) {
	for name, root := range map[string]string{
		"debian-12":   filepath.Join("..", "installed", "testdata", "roots", "debian-12"),
		"almalinux-9": almaRoot(t),
	} {
		t.Run(name, func(t *testing.T) {
			inv := inventory(t, root)
			image := filepath.Join(t.TempDir(), inv.Image.Name)
			paths, err := inv.Write(image, sbom.DefaultFormats)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{image + ".cdx.json", image + ".spdx.json"}; !slices.Equal(paths, want) {
				t.Fatalf("Write wrote %v, want %v", paths, want)
			}
			for _, p := range paths {
				if err := sbomtest.ValidateFile(p); err != nil {
					t.Fatal(err)
				}
				rec, err := sbom.Read(p)
				if err != nil {
					t.Fatal(err)
				}
				if rec.Image != inv.Image {
					t.Errorf("%s: subject %+v, want %+v", p, rec.Image, inv.Image)
				}
				if rec.Manifest.OS != inv.Manifest.OS || rec.Manifest.PackageManager != inv.Manifest.PackageManager {
					t.Errorf("%s: os %+v %s, want %+v %s", p, rec.Manifest.OS, rec.Manifest.PackageManager, inv.Manifest.OS, inv.Manifest.PackageManager)
				}
				if got, want := identities(rec.Manifest.Packages), identities(inv.Manifest.Packages); !slices.Equal(got, want) {
					t.Errorf("%s: read back\n%s\nwant\n%s", p, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
		})
	}
}

func identities(pkgs []installed.Package) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, strings.Join([]string{p.Name, p.EVR(), p.Arch, p.SourceRPM, p.SourceVersion, strings.Join(p.Provides, ",")}, " "))
	}
	slices.Sort(out)
	return out
}

// TestDocumentContent checks what the documents say beyond the schema: licenses, suppliers,
// the operating system, the subject's hash.
func TestDocumentContent(t *testing.T) {
	inv := inventory(t, almaRoot(t))
	var cdx, spdx bytes.Buffer
	if err := inv.EncodeCycloneDX(&cdx); err != nil {
		t.Fatal(err)
	}
	if err := inv.EncodeSPDX(&spdx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"specVersion": "1.6"`,
		`"type": "operating-system"`,
		`"name": "almalinux"`,
		`"content": "` + inv.Image.SHA256 + `"`,
		`"purl": "pkg:rpm/almalinux/bash@5.1.8-4.el9?arch=aarch64\u0026distro=almalinux-9.0\u0026upstream=bash-5.1.8-4.el9.src.rpm"`,
		`"name": "AlmaLinux"`, // Vendor
		`"expression": "MIT"`, // ncurses-base
		`"name": "GPLv3+"`,    // bash: not an SPDX expression
	} {
		if !strings.Contains(strings.ReplaceAll(cdx.String(), "&", `\u0026`), want) {
			t.Errorf("CycloneDX document lacks %s", want)
		}
	}
	for _, want := range []string{
		`"spdxVersion": "SPDX-2.3"`,
		`"primaryPackagePurpose": "OPERATING_SYSTEM"`,
		`"relationshipType": "DESCRIBES"`,
		`"checksumValue": "` + inv.Image.SHA256 + `"`,
		`"supplier": "Organization: AlmaLinux"`,
		`"referenceLocator": "pkg:rpm/almalinux/bash@5.1.8-4.el9?arch=aarch64&distro=almalinux-9.0&upstream=bash-5.1.8-4.el9.src.rpm"`,
		`"licenseId": "LicenseRef-GPLv3-or-later"`,
	} {
		if !strings.Contains(spdx.String(), want) {
			t.Errorf("SPDX document lacks %s", want)
		}
	}
}

// TestPURL checks purls against the purl specification's own rpm example and Debian's
// version rules (the epoch stays in a deb version; an rpm epoch is a qualifier).
func TestPURL(t *testing.T) {
	rpm := &installed.Manifest{OS: installed.OS{ID: "fedora", VersionID: "25", Family: "fedora"}, PackageManager: "rpm"}
	rhel := &installed.Manifest{OS: installed.OS{ID: "rhel", VersionID: "9.3", Family: "rhel"}, PackageManager: "rpm"}
	deb := &installed.Manifest{OS: installed.OS{ID: "debian", VersionID: "12", Family: "debian"}, PackageManager: "dpkg"}
	for _, tc := range []struct {
		m    *installed.Manifest
		p    installed.Package
		want string
	}{
		// the purl spec's example: PURL-TYPES, rpm
		{rpm, installed.Package{Name: "curl", Version: "7.50.3", Release: "1.fc25", Arch: "i386"},
			"pkg:rpm/fedora/curl@7.50.3-1.fc25?arch=i386&distro=fedora-25"},
		{rhel, installed.Package{Name: "shadow-utils", Epoch: 2, Version: "4.9", Release: "8.el9", Arch: "x86_64", SourceRPM: "shadow-utils-4.9-8.el9.src.rpm"},
			"pkg:rpm/redhat/shadow-utils@4.9-8.el9?arch=x86_64&distro=rhel-9.3&epoch=2&upstream=shadow-utils-4.9-8.el9.src.rpm"},
		{rhel, installed.Package{Name: "x", Epoch: 0, EpochTagged: true, Version: "1", Release: "1", Arch: "noarch", SourceRPM: "x-1-1.src.rpm"},
			"pkg:rpm/redhat/x@1-1?arch=noarch&distro=rhel-9.3&epoch=0&upstream=x-1-1.src.rpm"},
		{deb, installed.Package{Name: "libc6", Version: "2.36", Release: "9+deb12u4", Arch: "amd64", SourceRPM: "glibc"},
			"pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"},
		{deb, installed.Package{Name: "libstdc++6", Version: "12.2.0", Release: "14", Arch: "amd64", SourceRPM: "gcc-12", SourceVersion: "12.2.0-14"},
			"pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64&distro=debian-12&upstream=gcc-12%4012.2.0-14"},
		{deb, installed.Package{Name: "adduser", Epoch: 1, Version: "3.134", Arch: "all"},
			"pkg:deb/debian/adduser@1:3.134?arch=all&distro=debian-12"},
	} {
		if got := sbom.PURL(tc.m, tc.p); got != tc.want {
			t.Errorf("PURL(%s) = %s, want %s", tc.p.Name, got, tc.want)
		}
	}
}

func TestCheckFormats(t *testing.T) {
	for _, ok := range [][]string{nil, {}, {"spdx-json"}, sbom.DefaultFormats} {
		if err := sbom.CheckFormats(ok); err != nil {
			t.Errorf("CheckFormats(%q) = %v", ok, err)
		}
	}
	if err := sbom.CheckFormats([]string{"cyclonedx-xml"}); !errors.Is(err, sbom.ErrUnknownFormat) || !strings.Contains(err.Error(), `"spdx-json"`) {
		t.Errorf("CheckFormats(cyclonedx-xml) = %v, want ErrUnknownFormat naming the formats", err)
	}
	if err := sbom.CheckFormats([]string{"spdx-json", "spdx-json"}); err == nil {
		t.Error("a format listed twice was accepted")
	}
}

func TestReadRejects(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"manifest.json": `{"format": "refit-manifest/v1"}`,
		"npm.cdx.json":  `{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": [{"type": "library", "name": "x", "purl": "pkg:npm/x@1"}]}`,
		"mixed.cdx.json": `{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": [
			{"type": "library", "name": "a", "purl": "pkg:deb/debian/a@1?arch=all"},
			{"type": "library", "name": "b", "purl": "pkg:rpm/fedora/b@1-1?arch=noarch"}]}`,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := sbom.Read(p); !errors.Is(err, sbom.ErrNotSBOM) {
			t.Errorf("Read(%s) = %v, want ErrNotSBOM", name, err)
		}
	}
}
