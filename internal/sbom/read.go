package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	packageurl "github.com/package-url/packageurl-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"

	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/osrelease"
)

// ErrNotSBOM is wrapped by Read's errors about a file that is not an SBOM refit can read.
var ErrNotSBOM = errors.New("sbom: not a readable SBOM")

// Record is what Read takes from an SBOM: the image it describes and its packages.
type Record struct {
	// Image is the SBOM's subject; SHA256 and Format are empty when the document does not
	// give them.
	Image Image
	// Manifest holds the operating system and the packages, as a refit-manifest/v1 manifest
	// would; it passes installed.Manifest.Validate.
	Manifest *installed.Manifest
}

// Read reads a CycloneDX JSON (bomFormat "CycloneDX", any 1.x spec version) or SPDX 2.x JSON
// document, such as the ones refit writes beside its images, and returns its subject and
// packages. Packages are the components (SPDX: packages with a purl external reference) whose
// purl has type rpm or deb: name, epoch, version, release and arch come from the purl, the
// source package from its "upstream" qualifier. The operating system is the
// operating-system component (SPDX: the OPERATING-SYSTEM package), else the purls' distro
// qualifier; its family is refit's property when present, else told from its ID (unknown
// IDs: "debian" for deb purls, "rhel" for rpm). Other components are ignored; a document with
// no rpm or deb package, or with both, is an error wrapping ErrNotSBOM.
func Read(path string) (*Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading SBOM: %w", err)
	}
	var head struct {
		BOMFormat   string `json:"bomFormat"`
		SPDXVersion string `json:"spdxVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotSBOM, path, err)
	}
	var r *Record
	switch {
	case head.BOMFormat == "CycloneDX":
		r, err = readCycloneDX(data)
	case strings.HasPrefix(head.SPDXVersion, "SPDX-2."):
		r, err = readSPDX(data)
	default:
		return nil, fmt.Errorf("%w: %s has neither bomFormat \"CycloneDX\" nor an spdxVersion \"SPDX-2.x\"", ErrNotSBOM, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// osFacts is what a document says about its operating system.
type osFacts struct{ id, versionID, family string }

func readCycloneDX(data []byte) (*Record, error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSBOM, err)
	}
	r := &Record{}
	if bom.Metadata != nil && bom.Metadata.Component != nil {
		c := bom.Metadata.Component
		r.Image.Name = c.Name
		if c.Hashes != nil {
			for _, h := range *c.Hashes {
				if h.Algorithm == cdx.HashAlgoSHA256 {
					r.Image.SHA256 = h.Value
				}
			}
		}
		r.Image.Format = property(c, propImageFormat)
	}
	var facts osFacts
	var purls []purlEntry
	if bom.Components != nil {
		for _, c := range *bom.Components {
			if c.Type == cdx.ComponentTypeOS {
				facts = osFacts{id: c.Name, versionID: c.Version, family: property(&c, propOSFamily)}
				continue
			}
			if c.PackageURL != "" {
				var provides []string
				if c.Properties != nil {
					for _, p := range *c.Properties {
						if p.Name == propProvides {
							provides = append(provides, p.Value)
						}
					}
				}
				purls = append(purls, purlEntry{purl: c.PackageURL, provides: provides})
			}
		}
	}
	m, err := manifestOf(facts, purls)
	if err != nil {
		return nil, err
	}
	r.Manifest = m
	return r, nil
}

// property returns the value of the named property of c, or "".
func property(c *cdx.Component, name string) string {
	if c.Properties != nil {
		for _, p := range *c.Properties {
			if p.Name == name {
				return p.Value
			}
		}
	}
	return ""
}

func readSPDX(data []byte) (*Record, error) {
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSBOM, err)
	}
	described := map[common.ElementID]bool{}
	for _, rel := range doc.Relationships {
		if rel.Relationship == common.TypeRelationshipDescribe && rel.RefA.ElementRefID == "DOCUMENT" {
			described[rel.RefB.ElementRefID] = true
		}
	}
	r := &Record{}
	var facts osFacts
	var purls []purlEntry
	for _, p := range doc.Packages {
		switch {
		case described[p.PackageSPDXIdentifier] && r.Image.Name == "":
			r.Image.Name = p.PackageName
			for _, c := range p.PackageChecksums {
				if c.Algorithm == common.SHA256 {
					r.Image.SHA256 = c.Value
				}
			}
			r.Image.Format = strings.TrimPrefix(p.PackageComment, "disk image format: ")
			if r.Image.Format == p.PackageComment {
				r.Image.Format = ""
			}
		case p.PrimaryPackagePurpose == "OPERATING_SYSTEM":
			facts = osFacts{id: p.PackageName, versionID: p.PackageVersion}
			if _, rest, ok := strings.Cut(p.PackageComment, "family: "); ok {
				facts.family, _, _ = strings.Cut(rest, ";")
			}
		default:
			for _, ref := range p.PackageExternalReferences {
				if ref.RefType == common.TypePackageManagerPURL {
					e := purlEntry{purl: ref.Locator}
					if rest, ok := strings.CutPrefix(p.PackageComment, provideComment); ok {
						e.provides = strings.Fields(rest)
					}
					purls = append(purls, e)
				}
			}
		}
	}
	m, err := manifestOf(facts, purls)
	if err != nil {
		return nil, err
	}
	r.Manifest = m
	return r, nil
}

// purlEntry is one package's purl and the install-only provides refit recorded beside it.
type purlEntry struct {
	purl     string
	provides []string
}

// manifestOf builds and validates the manifest of the rpm or deb purls.
func manifestOf(facts osFacts, entries []purlEntry) (*installed.Manifest, error) {
	m := &installed.Manifest{Format: installed.ManifestFormat, Packages: []installed.Package{}}
	distro := ""
	for _, e := range entries {
		u, err := packageurl.FromString(e.purl)
		if err != nil {
			return nil, fmt.Errorf("%w: purl %q: %w", ErrNotSBOM, e.purl, err)
		}
		var pm string
		switch u.Type {
		case packageurl.TypeRPM:
			pm = osrelease.PackageManagerRPM
		case packageurl.TypeDebian:
			pm = osrelease.PackageManagerDpkg
		default:
			continue
		}
		if m.PackageManager != "" && m.PackageManager != pm {
			return nil, fmt.Errorf("%w: it lists both rpm and deb packages; refit reads the SBOM of one image at a time", ErrNotSBOM)
		}
		m.PackageManager = pm
		p, err := packageOf(u)
		if err != nil {
			return nil, fmt.Errorf("%w: purl %q: %w", ErrNotSBOM, e.purl, err)
		}
		p.Provides = e.provides
		if d := u.Qualifiers.Map()["distro"]; distro == "" {
			distro = d
		}
		m.Packages = append(m.Packages, p)
	}
	if m.PackageManager == "" {
		return nil, fmt.Errorf("%w: no component has an rpm or deb purl", ErrNotSBOM)
	}
	if facts.id == "" && distro != "" { // "<id>-<version_id>"; IDs may contain '-', VERSION_IDs do not
		if i := strings.LastIndexByte(distro, '-'); i > 0 {
			facts.id, facts.versionID = distro[:i], distro[i+1:]
		} else {
			facts.id = distro
		}
	}
	m.OS = installed.OS{ID: facts.id, VersionID: facts.versionID, Family: facts.family}
	if m.OS.Family == "" {
		m.OS.Family = osrelease.Info{ID: facts.id}.Family()
	}
	if m.OS.Family == "" || (m.PackageManager == osrelease.PackageManagerDpkg) != (m.OS.Family == osrelease.FamilyDebian) {
		m.OS.Family = map[string]string{osrelease.PackageManagerRPM: osrelease.FamilyRHEL, osrelease.PackageManagerDpkg: osrelease.FamilyDebian}[m.PackageManager]
	}
	slices.SortStableFunc(m.Packages, func(a, b installed.Package) int {
		return strings.Compare(a.Name+"\x00"+a.Arch, b.Name+"\x00"+b.Arch)
	})
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// packageOf reads one package from its purl.
func packageOf(u packageurl.PackageURL) (installed.Package, error) {
	q := u.Qualifiers.Map()
	p := installed.Package{Name: u.Name, Arch: q["arch"]}
	if u.Type == packageurl.TypeDebian {
		var err error
		p.Epoch, p.Version, p.Release, err = installed.SplitDebianVersion(u.Version)
		if err != nil {
			return p, err
		}
		p.SourceRPM, p.SourceVersion, _ = strings.Cut(q["upstream"], "@")
		if p.SourceRPM == p.Name { // as installed reads dpkg: "" when the source has the package's name
			p.SourceRPM = ""
		}
		return p, nil
	}
	p.Version = u.Version
	if i := strings.LastIndexByte(u.Version, '-'); i > 0 {
		p.Version, p.Release = u.Version[:i], u.Version[i+1:]
	}
	if e, ok := q["epoch"]; ok {
		n, err := strconv.Atoi(e)
		if err != nil || n < 0 {
			return p, fmt.Errorf("epoch %q is not a number", e)
		}
		p.Epoch, p.EpochTagged = n, true
	}
	p.SourceRPM = q["upstream"]
	return p, nil
}
