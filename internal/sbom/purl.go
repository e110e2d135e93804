package sbom

import (
	"slices"
	"strconv"
	"strings"

	packageurl "github.com/package-url/packageurl-go"

	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/osrelease"
)

// PURL returns the package URL of an installed package p of the manifest m, as the purl specification's rpm and deb types define it, with the qualifiers in
// canonical (sorted) order:
//
//	pkg:rpm/<vendor>/<name>@<version>-<release>?arch=<arch>&distro=<id>-<version_id>&epoch=<epoch>&upstream=<source rpm>
//	pkg:deb/<id>/<name>@<[epoch:]version[-revision]>?arch=<arch>&distro=<id>-<version_id>&upstream=<source>[@<version>]
//
// The rpm vendor namespace is os-release's ID, except that RHEL's is "redhat" and every
// openSUSE's "opensuse", as vulnerability databases name them. epoch is there when the rpm
// header has an Epoch tag (even 0); upstream names the source package, as syft writes it.
func PURL(m *installed.Manifest, p installed.Package) string {
	info := m.OS
	q := map[string]string{"arch": p.Arch}
	if v := distroQualifier(info); v != "" {
		q["distro"] = v
	}
	var typ, namespace, version string
	if m.PackageManager == osrelease.PackageManagerDpkg {
		typ, namespace, version = packageurl.TypeDebian, info.ID, p.EVR()
		source := p.SourceRPM
		if source == "" && p.SourceVersion != "" { // "Source: bash (5.2.15-2)" in package bash
			source = p.Name
		}
		if source != "" {
			q["upstream"] = source
			if p.SourceVersion != "" {
				q["upstream"] += "@" + p.SourceVersion
			}
		}
	} else {
		typ, namespace, version = packageurl.TypeRPM, rpmNamespace(info.ID), p.Version
		if p.Release != "" {
			version += "-" + p.Release
		}
		if p.EpochTagged || p.Epoch != 0 {
			q["epoch"] = strconv.Itoa(p.Epoch)
		}
		q["upstream"] = p.SourceRPM
	}
	return packageurl.NewPackageURL(typ, namespace, p.Name, version, qualifiers(q), "").ToString()
}

// distroQualifier is "<id>-<version_id>", or the ID alone without a VERSION_ID (Debian
// testing and unstable, rolling releases).
func distroQualifier(info installed.OS) string {
	if info.VersionID == "" {
		return info.ID
	}
	return info.ID + "-" + info.VersionID
}

// rpmNamespace maps os-release IDs to the purl vendor namespace.
func rpmNamespace(id string) string {
	switch {
	case id == "rhel":
		return "redhat"
	case strings.HasPrefix(id, "opensuse"):
		return "opensuse"
	}
	return id
}

// qualifiers returns the non-empty qualifiers sorted by key, the purl canonical form.
func qualifiers(m map[string]string) packageurl.Qualifiers {
	var q packageurl.Qualifiers
	for k, v := range m {
		if v != "" {
			q = append(q, packageurl.Qualifier{Key: k, Value: v})
		}
	}
	slices.SortFunc(q, func(a, b packageurl.Qualifier) int { return strings.Compare(a.Key, b.Key) })
	return q
}
