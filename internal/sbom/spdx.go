package sbom

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/refit-images/packer-plugin-refit/internal/installed"
)

// SPDX element ids of the subject and the operating system.
const (
	spdxImageID common.ElementID = "Image"
	spdxOSID    common.ElementID = "OperatingSystem"
)

// noAssertion is SPDX's value for "not known".
const noAssertion = "NOASSERTION"

// EncodeSPDX writes the inventory as an SPDX 2.3 JSON document: the image as the package the
// document DESCRIBES (primary purpose FILE, with its SHA256 and format), the operating
// system as an OPERATING-SYSTEM package, and every installed package as a package with its
// purl (a PACKAGE-MANAGER external reference), supplier, declared license and source
// package; the image CONTAINS the operating system and every package.
func (inv *Inventory) EncodeSPDX(w io.Writer) error {
	m := inv.Manifest
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      inv.Image.Name,
		DocumentNamespace: inv.uuidURN("spdx"),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: inv.ToolName + "-" + inv.ToolVersion}},
			Created:  inv.created().Format("2006-01-02T15:04:05Z"),
		},
	}
	purpose := "FILE"
	if !inv.Image.isDisk() {
		purpose = "CONTAINER"
	}
	doc.Packages = append(doc.Packages, &spdx.Package{
		PackageName: inv.Image.Name, PackageSPDXIdentifier: spdxImageID, PackageFileName: inv.Image.Name,
		PackageDownloadLocation: noAssertion, PrimaryPackagePurpose: purpose,
		PackageChecksums: []common.Checksum{{Algorithm: common.SHA256, Value: inv.Image.SHA256}},
		PackageComment:   "disk image format: " + inv.Image.Format,
	}, &spdx.Package{
		PackageName: inv.osName(), PackageSPDXIdentifier: spdxOSID, PackageVersion: m.OS.VersionID,
		PackageDownloadLocation: noAssertion, PrimaryPackagePurpose: "OPERATING_SYSTEM",
		PackageDescription: inv.OS.PrettyName,
		PackageComment:     "family: " + m.OS.Family + "; package manager: " + m.PackageManager,
	})
	rel := func(a, b common.ElementID, kind string) *spdx.Relationship {
		return &spdx.Relationship{RefA: common.MakeDocElementID("", string(a)), RefB: common.MakeDocElementID("", string(b)), Relationship: kind}
	}
	doc.Relationships = []*spdx.Relationship{rel("DOCUMENT", spdxImageID, common.TypeRelationshipDescribe), rel(spdxImageID, spdxOSID, common.TypeRelationshipContains)}
	refs := licenseRefs{doc: doc, byName: map[string]string{}}
	for i, p := range m.Packages {
		id := common.ElementID("Package-" + strconv.Itoa(i+1) + "-" + idSafe(p.Name))
		sp := &spdx.Package{
			PackageName: p.Name, PackageSPDXIdentifier: id, PackageVersion: p.EVR(),
			PackageDownloadLocation: noAssertion,
			PackageSupplier:         spdxSupplier(m, p.Supplier),
			PackageLicenseDeclared:  refs.expression(p.Licenses),
			PackageExternalReferences: []*spdx.PackageExternalReference{{
				Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: PURL(m, p),
			}},
		}
		if src := sourceOf(p); src != "" {
			sp.PackageSourceInfo = "built from source package " + src
		}
		if len(p.Provides) > 0 {
			sp.PackageComment = provideComment + strings.Join(p.Provides, " ")
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, rel(spdxImageID, id, common.TypeRelationshipContains))
	}
	return spdxjson.Write(doc, w, spdxjson.Indent("  "), spdxjson.EscapeHTML(false))
}

// provideComment starts the SPDX package comment that lists a package's install-only
// provides (installed.Package.Provides), which Read takes back.
const provideComment = "provides: "

// spdxSupplier is an rpm Vendor as an Organization, a dpkg Maintainer as a Person, in SPDX's
// "Name (email)" form; NOASSERTION when the database records none.
func spdxSupplier(m *installed.Manifest, s string) *common.Supplier {
	if s == "" {
		return &common.Supplier{Supplier: noAssertion}
	}
	name, email := person(s)
	if email != "" {
		name += " (" + email + ")"
	}
	kind := "Organization"
	if m.PackageManager == "dpkg" {
		kind = "Person"
	}
	return &common.Supplier{Supplier: name, SupplierType: kind}
}

// licenseRefs turns package licenses into SPDX expressions, adding a LicenseRef- entry to
// the document (hasExtractedLicensingInfos) for each name that is not SPDX.
type licenseRefs struct {
	doc    *spdx.Document
	byName map[string]string
	used   map[string]bool
}

// expression is the conjunction of licenses, or NOASSERTION when there are none.
func (r *licenseRefs) expression(licenses []string) string {
	if len(licenses) == 0 {
		return noAssertion
	}
	if expr, ok := spdxConjunction(licenses); ok {
		return expr
	}
	parts := make([]string, 0, len(licenses))
	for _, l := range licenses {
		e, ok := spdxConjunction([]string{l})
		switch {
		case !ok:
			e = r.ref(l)
		case len(licenses) > 1 && strings.Contains(e, " "):
			e = "(" + e + ")"
		}
		parts = append(parts, e)
	}
	return strings.Join(parts, " AND ")
}

// ref returns the LicenseRef- id of a license name, adding it to the document once.
func (r *licenseRefs) ref(name string) string {
	if id, ok := r.byName[name]; ok {
		return id
	}
	if r.used == nil {
		r.used = map[string]bool{}
	}
	id := licenseRef(name)
	for n := 2; r.used[id]; n++ {
		id = licenseRef(name) + "-" + strconv.Itoa(n)
	}
	r.used[id], r.byName[name] = true, id
	r.doc.OtherLicenses = append(r.doc.OtherLicenses, &spdx.OtherLicense{
		LicenseIdentifier: id, LicenseName: name,
		ExtractedText: fmt.Sprintf("The package database names this license %q; its text is not part of the database.", name),
	})
	return id
}

// idSafe keeps the characters an SPDX element id allows (letters, digits, '.', '-').
func idSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, s)
}
