package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/osrelease"
)

// The formats of sbom_formats.
const (
	FormatCycloneDX = "cyclonedx-json"
	FormatSPDX      = "spdx-json"
)

// DefaultFormats is what sbom_formats is when unset.
var DefaultFormats = []string{FormatCycloneDX, FormatSPDX}

// suffixes are appended to the image's path to name its SBOMs.
var suffixes = map[string]string{
	FormatCycloneDX: ".cdx.json",
	FormatSPDX:      ".spdx.json",
}

// ErrUnknownFormat is returned for a format other than FormatCycloneDX and FormatSPDX.
var ErrUnknownFormat = errors.New("sbom: unknown format")

// CheckFormats reports the first entry of formats that is not a known format, or one given
// twice; nil for an empty list (no SBOM).
func CheckFormats(formats []string) error {
	for i, f := range formats {
		if _, ok := suffixes[f]; !ok {
			return fmt.Errorf("%w %q: sbom_formats takes %q and %q (or [] for none)", ErrUnknownFormat, f, FormatCycloneDX, FormatSPDX)
		}
		if slices.Contains(formats[:i], f) {
			return fmt.Errorf("sbom: %q is listed twice in sbom_formats", f)
		}
	}
	return nil
}

// Path returns where the SBOM of format beside image goes: image + ".cdx.json" or ".spdx.json".
func Path(image, format string) string { return image + suffixes[format] }

// Image is the disk image an SBOM describes: its subject.
type Image struct {
	// Name is the file name of the image, e.g. "debian-12-golden.qcow2".
	Name string
	// SHA256 is the hex sha256 of the image file; for a container image, of its manifest
	// (the digest without "sha256:").
	SHA256 string
	// Format is "qcow2" or "raw", or a container format: "oci-layout", "oci-archive",
	// "docker-archive".
	Format string
}

// isDisk reports whether the image is a disk image (qcow2, raw) rather than a container image
// (oci-layout, oci-archive, docker-archive), whose SHA256 is its manifest digest.
func (img Image) isDisk() bool {
	return img.Format == "qcow2" || img.Format == "raw" || img.Format == ""
}

// Inventory is everything an SBOM says.
type Inventory struct {
	Image Image
	// OS is the image's os-release.
	OS osrelease.Info
	// Manifest holds the installed packages, as installed.FromRoot reads them.
	Manifest *installed.Manifest
	// ToolName and ToolVersion name what wrote the SBOM, e.g. "packer-plugin-refit" "0.1.0".
	ToolName, ToolVersion string
	// Created is when the SBOM was made; the zero time means now.
	Created time.Time
}

// FromRoot reads the inventory of the root filesystem at root (os-release and package
// database, as installed.FromRoot does; nothing under root changes). Image is left for the
// caller: the image file is usually written, and hashed, only after its root is unmounted.
func FromRoot(root string) (*Inventory, error) {
	info, err := osrelease.Read(root)
	if err != nil {
		return nil, err
	}
	m, err := installed.FromRoot(root)
	if err != nil {
		return nil, err
	}
	return &Inventory{OS: info, Manifest: m}, nil
}

// Write writes one SBOM per format beside image (Path(image, format)), each atomically
// (a temporary file renamed into place), and returns their paths in the order of formats.
// inv.Image must have been set.
func (inv *Inventory) Write(image string, formats []string) ([]string, error) {
	if err := CheckFormats(formats); err != nil {
		return nil, err
	}
	if inv.Image.SHA256 == "" || inv.Manifest == nil {
		return nil, errors.New("sbom: the inventory has no image hash or no packages")
	}
	var paths []string
	for _, f := range formats {
		var buf bytes.Buffer
		var err error
		switch f {
		case FormatCycloneDX:
			err = inv.EncodeCycloneDX(&buf)
		case FormatSPDX:
			err = inv.EncodeSPDX(&buf)
		}
		if err != nil {
			return paths, fmt.Errorf("sbom: encoding %s: %w", f, err)
		}
		p := Path(image, f)
		if err := writeFileAtomic(p, buf.Bytes()); err != nil {
			return paths, fmt.Errorf("sbom: writing %s: %w", p, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// created returns the creation time, truncated to seconds as both formats write it.
func (inv *Inventory) created() time.Time {
	t := inv.Created
	if t.IsZero() {
		t = time.Now()
	}
	return t.UTC().Truncate(time.Second)
}

// uuidURN derives a stable urn:uuid (RFC 9562 version 8, name-based on sha256) from the
// image's hash and what it is for, so one image always gets the same serial number and
// namespace.
func (inv *Inventory) uuidURN(purpose string) string {
	h := sha256.Sum256([]byte(purpose + "\x00" + inv.Image.SHA256))
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	x := hex.EncodeToString(h[:16])
	return "urn:uuid:" + x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// osName is the name of the operating system component: os-release's ID.
func (inv *Inventory) osName() string { return inv.OS.ID }

// writeFileAtomic writes data to a temporary file beside path and renames it over path.
func writeFileAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// person splits "Name <email>" (a dpkg Maintainer field, sometimes an rpm Vendor).
func person(s string) (name, email string) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 && strings.HasSuffix(s, ">") {
		return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1 : len(s)-1])
	}
	return s, ""
}
