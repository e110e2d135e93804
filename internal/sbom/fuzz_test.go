package sbom_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/sbom"
)

// FuzzRead feeds arbitrary documents to Read, which reads SBOMs a fleet hands in: it must
// return a manifest that validates, or an error, and never panic.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": [{"type": "library", "name": "a", "purl": "pkg:deb/debian/a@1:2-3?arch=all&distro=debian-12"}]}`))
	f.Add([]byte(`{"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "packages": [{"name": "b", "SPDXID": "SPDXRef-b", "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:rpm/fedora/b@1-1?arch=noarch&epoch=2"}]}]}`))
	f.Add([]byte(`{"bomFormat": "CycloneDX", "components": [{"type": "operating-system", "name": "x"}]}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "sbom.json")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		rec, err := sbom.Read(p)
		if err != nil {
			return
		}
		if err := rec.Manifest.Validate(); err != nil {
			t.Errorf("Read returned a manifest that does not validate: %v", err)
		}
	})
}
