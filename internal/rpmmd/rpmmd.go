// Package rpmmd parses rpm-md repository metadata, the format yum and dnf
// read: repomd.xml (the index of a repository's metadata files), primary.xml
// (the packages, streamed one at a time), updateinfo.xml (advisories) and
// modules.yaml (module streams and their default streams).
//
// The parsers read already decompressed streams; open compressed files with
// package decompress first. They never panic on malformed input: every
// problem is reported as an error that wraps [ErrInvalid] and says where in
// the file it was found.
package rpmmd

import (
	"errors"
	"strings"
)

// ErrInvalid is wrapped by every error about malformed or incomplete
// metadata, as opposed to errors reading the stream itself.
var ErrInvalid = errors.New("rpmmd: invalid repository metadata")

// Namespaces of rpm-md XML documents.
const (
	NamespaceCommon = "http://linux.duke.edu/metadata/common"
	NamespaceRPM    = "http://linux.duke.edu/metadata/rpm"
	NamespaceRepo   = "http://linux.duke.edu/metadata/repo"
)

// Checksum is a digest as rpm-md writes it: an algorithm and a hex value.
type Checksum struct {
	// Type is the lower-case algorithm name: "sha256", "sha1", "sha512",
	// "md5"... The legacy name "sha" is reported as "sha1".
	Type string
	// Value is the lower-case hex digest.
	Value string
}

// String returns "type:value", e.g. "sha256:9f86d0…", or "" for a zero
// Checksum.
func (c Checksum) String() string {
	if c.Type == "" && c.Value == "" {
		return ""
	}
	return c.Type + ":" + c.Value
}

// newChecksum normalises a checksum's algorithm name and digest.
func newChecksum(typ, value string) Checksum {
	typ = strings.ToLower(strings.TrimSpace(typ))
	if typ == "sha" {
		typ = "sha1" // yum's historical name for SHA-1
	}
	return Checksum{Type: typ, Value: strings.ToLower(strings.TrimSpace(value))}
}
