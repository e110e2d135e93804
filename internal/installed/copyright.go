package installed

import (
	"bufio"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/imageroot"
)

// maxCopyrightBytes bounds how much of one copyright file is read: the largest in Debian 12
// are a few hundred KiB.
const maxCopyrightBytes = 4 << 20

// readDebianLicenses sets the Licenses of each package from its machine-readable copyright
// file, /usr/share/doc/<name>/copyright (DEP-5, "Format: …/copyright-format/1.0/"). Such a
// file is documentation, not part of dpkg's database: a package without one, a file in
// another layout, or one that cannot be read leaves Licenses empty rather than failing the
// inventory. Paths are resolved inside root; /usr/share/doc/<name> is often a symlink to
// another package's folder there.
func readDebianLicenses(root string, pkgs []Package) {
	for i := range pkgs {
		p, err := imageroot.Resolve(root, "/usr/share/doc/"+pkgs[i].Name+"/copyright")
		if err != nil {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		pkgs[i].Licenses = parseCopyrightLicenses(bufio.NewReader(io.LimitReader(f, maxCopyrightBytes)))
		f.Close()
	}
}

// parseCopyrightLicenses returns the license names of a machine-readable copyright file: the
// synopsis (first line) of the License field of every paragraph with a Files field, in order,
// without repeats. It returns nil unless the first paragraph's Format field names the
// copyright-format 1.0 (or its draft, DEP-5).
func parseCopyrightLicenses(r *bufio.Reader) []string {
	var (
		licenses                  []string
		first                     = true
		hasFiles, machineReadable bool
		license                   string
	)
	end := func() bool {
		if first {
			first = false
			if !machineReadable {
				return false
			}
		}
		if hasFiles && license != "" && !slices.Contains(licenses, license) {
			licenses = append(licenses, license)
		}
		hasFiles, license = false, ""
		return true
	}
	inPara := false
	for {
		line, err := r.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.TrimSpace(line) == "":
			if inPara && !end() {
				return nil
			}
			inPara = false
		case line[0] == ' ' || line[0] == '\t' || line[0] == '#':
			// continuation or comment: only synopses are kept
		default:
			inPara = true
			name, value, _ := strings.Cut(line, ":")
			value = strings.TrimSpace(value)
			switch strings.ToLower(name) {
			case "format":
				machineReadable = first && (strings.Contains(value, "copyright-format/1.0") || strings.Contains(value, "dep5"))
			case "files":
				hasFiles = true
			case "license":
				license = value
			}
		}
		if err != nil {
			break
		}
	}
	if inPara && !end() {
		return nil
	}
	return licenses
}

// nonEmpty returns []string{s}, or nil for "".
func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
