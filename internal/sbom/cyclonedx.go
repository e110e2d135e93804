package sbom

import (
	"io"
	"slices"
	"strconv"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/refit-images/packer-plugin-refit/internal/installed"
)

// Property names refit adds to CycloneDX components (CycloneDX's property taxonomy leaves
// names outside its own "cdx:" namespace to the producer).
const (
	propImageFormat    = "refit:image:format"
	propOSFamily       = "refit:os:family"
	propPackageManager = "refit:package_manager"
	propSource         = "refit:package:source"
	propProvides       = "refit:package:provides"
)

// bom-refs of the subject and the operating system component.
const (
	refImage = "image"
	refOS    = "os"
)

// EncodeCycloneDX writes the inventory as a CycloneDX 1.6 JSON document: the image as
// metadata.component (a file with its SHA-256 and format), the operating system as an
// "operating-system" component, every package as a "library" component with its purl, and
// the image depending on both.
func (inv *Inventory) EncodeCycloneDX(w io.Writer) error {
	m := inv.Manifest
	bom := cdx.NewBOM()
	bom.SerialNumber = inv.uuidURN("cyclonedx")
	image := cdx.Component{
		BOMRef: refImage, Type: cdx.ComponentTypeFile, Name: inv.Image.Name,
		Hashes:     &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: inv.Image.SHA256}},
		Properties: &[]cdx.Property{{Name: propImageFormat, Value: inv.Image.Format}},
	}
	if !inv.Image.isDisk() {
		image.Type = cdx.ComponentTypeContainer
	}
	bom.Metadata = &cdx.Metadata{
		Timestamp: inv.created().Format("2006-01-02T15:04:05Z"),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: inv.ToolName, Version: inv.ToolVersion,
		}}},
		Component: &image,
	}
	components := []cdx.Component{{
		BOMRef: refOS, Type: cdx.ComponentTypeOS, Name: inv.osName(), Version: m.OS.VersionID,
		Description: inv.OS.PrettyName,
		Properties: &[]cdx.Property{
			{Name: propOSFamily, Value: m.OS.Family},
			{Name: propPackageManager, Value: m.PackageManager},
		},
	}}
	deps := []string{refOS}
	for i, p := range m.Packages {
		purl := PURL(m, p)
		ref := purl
		if slices.Contains(deps, ref) { // the same package recorded twice in the database
			ref += "#" + strconv.Itoa(i)
		}
		c := cdx.Component{
			BOMRef: ref, Type: cdx.ComponentTypeLibrary, Name: p.Name, Version: p.EVR(),
			PackageURL: purl, Licenses: cdxLicenses(p.Licenses), Supplier: cdxSupplier(p.Supplier),
		}
		var props []cdx.Property
		if src := sourceOf(p); src != "" {
			props = append(props, cdx.Property{Name: propSource, Value: src})
		}
		for _, prov := range p.Provides {
			props = append(props, cdx.Property{Name: propProvides, Value: prov})
		}
		if props != nil {
			c.Properties = &props
		}
		components = append(components, c)
		deps = append(deps, ref)
	}
	bom.Components = &components
	bom.Dependencies = &[]cdx.Dependency{{Ref: refImage, Dependencies: &deps}}
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	enc.SetEscapeHTML(false)
	return enc.EncodeVersion(bom, cdx.SpecVersion1_6)
}

// cdxLicenses turns the licenses a package database records into CycloneDX license
// choices: one SPDX expression when every license is one (CycloneDX allows either a single
// expression or a list of licenses), else each license by name (old-style rpm License tags
// such as "GPLv2+", Debian short names). Names are never written as ids: the schema accepts
// only its own list of SPDX ids there, which lags behind SPDX's.
func cdxLicenses(licenses []string) *cdx.Licenses {
	if len(licenses) == 0 {
		return nil
	}
	if expr, ok := spdxConjunction(licenses); ok {
		return &cdx.Licenses{{Expression: expr}}
	}
	out := make(cdx.Licenses, 0, len(licenses))
	for _, l := range licenses {
		out = append(out, cdx.LicenseChoice{License: &cdx.License{Name: l}})
	}
	return &out
}

// cdxSupplier is the rpm Vendor or dpkg Maintainer as an organizational entity.
func cdxSupplier(s string) *cdx.OrganizationalEntity {
	if s == "" {
		return nil
	}
	name, email := person(s)
	e := &cdx.OrganizationalEntity{Name: name}
	if email != "" {
		e.Contact = &[]cdx.OrganizationalContact{{Email: email}}
	}
	return e
}

// sourceOf names the source package: the source rpm file, or the dpkg source
// "name[ version]"; "" when a Debian package is its own source.
func sourceOf(p installed.Package) string {
	if p.SourceVersion == "" {
		return p.SourceRPM
	}
	if p.SourceRPM == "" {
		return p.Name + " " + p.SourceVersion
	}
	return p.SourceRPM + " " + p.SourceVersion
}
