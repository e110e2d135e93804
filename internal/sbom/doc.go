// Package sbom writes and reads the software bills of materials refit puts beside every image
// it writes: CycloneDX 1.6 JSON (<image>.cdx.json) and SPDX 2.3 JSON (<image>.spdx.json),
// encoded with the formats' own libraries (cyclonedx-go, spdx/tools-golang).
//
// An SBOM is made from an Inventory: the image's package database as internal/installed reads
// it (one component per installed package, with its purl, source package, licenses and
// supplier), the operating system from its os-release, and the image file itself (name,
// sha256, format) as the document's subject. Read turns either document back into the
// image's name and refit-manifest/v1 inventory, so anything that takes manifests can take
// refit's SBOMs as well.
package sbom
