package patch

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/scriptlet"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// ReportFormat names the JSON report's format.
const ReportFormat = "refit-patch-report/v1"

// Report is what a run did: the JSON `report` of refit-patch.
type Report struct {
	Format         string       `json:"format"`
	OS             installed.OS `json:"os"`
	PackageManager string       `json:"package_manager"`
	// Updated are the packages upgraded offline.
	Updated []PackageReport `json:"updated"`
	// Deferred are the packages placed in the image for the first-boot unit, each with
	// the reason (the unsafe scripts).
	Deferred []PackageReport `json:"deferred"`
	// HeldBack are updates not applied at all (unmet dependencies, kernel = "skip").
	HeldBack []PackageReport `json:"held_back"`
	// Advisories and CVEs are those fixed by the updates found.
	Advisories []updates.AdvisoryRef `json:"advisories,omitempty"`
	CVEs       []string              `json:"cves"`
	// Notes are effects postponed to the next boot (services to restart …), one line each.
	Notes []string `json:"notes,omitempty"`
	// Verified says how the applied packages were checked afterwards.
	Verified string `json:"verified,omitempty"`
	// Image are the sizes of the input and output images (set by PatchImage).
	Image *ImageSizes `json:"image,omitempty"`
	// Container describes a patched container image (set by PatchContainer).
	Container *ContainerSummary `json:"container,omitempty"`
}

// ImageSizes are the sizes of the patched image before and after.
type ImageSizes struct {
	Input  diskimage.Size `json:"input"`
	Output diskimage.Size `json:"output"`
	// Compressed is set when the output qcow2 was written compressed.
	Compressed bool `json:"compressed,omitempty"`
	// Compression is how it was compressed: "zlib" or "zstd".
	Compression diskimage.Compression `json:"compression,omitempty"`
}

// PackageReport is one package of the report.
type PackageReport struct {
	Name string `json:"name"`
	Arch string `json:"arch"`
	// Action is "upgrade", "install" (an install-only package such as a kernel, beside the
	// old ones) or "obsolete" (replacing the installed packages in Replaces).
	Action     string         `json:"action,omitempty"`
	Replaces   []string       `json:"replaces,omitempty"`
	From       string         `json:"from"`
	To         string         `json:"to"`
	Advisories []string       `json:"advisories,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	Scripts    []ScriptReport `json:"scripts,omitempty"`
}

// ScriptReport is the analysis of one script the transaction runs.
type ScriptReport struct {
	// Kind is the script's name (preinst, postinst, prerm, postrm, config).
	Kind scriptlet.Kind `json:"kind"`
	// Side is "new" (the package being installed) or "old" (the installed one).
	Side     string            `json:"side"`
	Verdict  scriptlet.Verdict `json:"verdict"`
	Findings []string          `json:"findings,omitempty"`
}

// Write writes the report as indented JSON to path, through a temporary file.
func (r *Report) Write(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".refit-report-*")
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the report %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Summary returns a few lines for the Packer UI.
func (r *Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d package(s) updated offline, %d deferred to the first boot, %d held back; %d CVE(s) fixed",
		len(r.Updated), len(r.Deferred), len(r.HeldBack), len(r.CVEs))
	for _, p := range r.Deferred {
		fmt.Fprintf(&b, "\n  deferred %s %s: %s", p.Name, p.To, p.Reason)
	}
	for _, p := range r.HeldBack {
		fmt.Fprintf(&b, "\n  held back %s %s: %s", p.Name, p.To, p.Reason)
	}
	return b.String()
}
