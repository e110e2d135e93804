// Package version holds the plugin's version, set at release time by goreleaser.
package version

import "github.com/hashicorp/packer-plugin-sdk/version"

var (
	// Version is the main version number that is being run at the moment.
	Version = "0.1.0"
	// VersionPrerelease is a pre-release marker for the Version; "dev" in development builds.
	VersionPrerelease = "dev"
	// VersionMetadata is build metadata appended to the version (semver "+...").
	VersionMetadata = ""
	// PluginVersion is used by the plugin set to report the plugin's version to Packer.
	PluginVersion = version.NewPluginVersion(Version, VersionPrerelease, VersionMetadata)
)
