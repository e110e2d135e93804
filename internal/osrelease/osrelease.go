// Package osrelease reads os-release(5) files and classifies the distribution family.
//
// It owns parsing the shell-like KEY=VALUE syntax of os-release(5). The file is found in an
// image that is not the running system through internal/imageroot, which resolves
// /etc/os-release (usually a relative symlink to ../usr/lib/os-release) inside the image.
package osrelease

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/imageroot"
)

// Distribution families returned by Info.Family.
const (
	FamilyRHEL   = "rhel"
	FamilyFedora = "fedora"
	FamilySUSE   = "suse"
	FamilyDebian = "debian"
)

// Package managers returned by Info.PackageManager.
const (
	PackageManagerRPM  = "rpm"
	PackageManagerDpkg = "dpkg"
)

var (
	// ErrSyntax is returned for an os-release line whose quoting is malformed.
	ErrSyntax = errors.New("osrelease: syntax error")
	// ErrNotFound is returned by Read when neither etc/os-release nor usr/lib/os-release exists.
	ErrNotFound = errors.New("osrelease: no os-release file")
)

// Info holds the os-release fields refit uses.
type Info struct {
	ID              string   // ID, e.g. "rocky"
	VersionID       string   // VERSION_ID, e.g. "9.3"
	Name            string   // NAME, e.g. "Rocky Linux"
	PrettyName      string   // PRETTY_NAME
	VersionCodename string   // VERSION_CODENAME, e.g. "bookworm"
	IDLike          []string // ID_LIKE split on white space, e.g. ["rhel", "centos", "fedora"]
}

// maxLineBytes bounds one os-release line; real files have lines well under 200 bytes.
const maxLineBytes = 64 << 10

// Parse reads an os-release(5) file. Comments and blank lines are skipped, values follow the
// shell quoting rules the format allows ("...", '...' and backslash escapes), lines that are not
// KEY=VALUE assignments are ignored as systemd does, and a later assignment of a key wins.
// An unterminated quote is an error wrapping ErrSyntax that names the line.
func Parse(r io.Reader) (Info, error) {
	var info Info
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLineBytes)
	for lineNo := 1; sc.Scan(); lineNo++ {
		key, value, ok, err := parseLine(sc.Text())
		if err != nil {
			return Info{}, fmt.Errorf("line %d: %w", lineNo, err)
		}
		if !ok {
			continue
		}
		switch key {
		case "ID":
			info.ID = value
		case "VERSION_ID":
			info.VersionID = value
		case "NAME":
			info.Name = value
		case "PRETTY_NAME":
			info.PrettyName = value
		case "VERSION_CODENAME":
			info.VersionCodename = value
		case "ID_LIKE":
			info.IDLike = strings.Fields(value)
		}
	}
	if err := sc.Err(); err != nil {
		return Info{}, fmt.Errorf("reading os-release: %w", err)
	}
	return info, nil
}

// parseLine splits one line into key and unquoted value. ok is false for comments, blank
// lines and lines that are not assignments.
func parseLine(line string) (key, value string, ok bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return "", "", false, nil
	}
	key, raw, found := strings.Cut(line, "=")
	if !found || !validKey(key) {
		return "", "", false, nil
	}
	value, err = unquote(raw)
	if err != nil {
		return "", "", false, err
	}
	return key, value, true, nil
}

// validKey reports whether k is a shell variable name.
func validKey(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for _, c := range []byte(k) {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// unquote applies the shell word rules os-release(5) allows: single quotes keep everything
// literally, double quotes let a backslash escape $ ` " \ only, and outside quotes a backslash
// escapes any character. Adjacent quoted parts concatenate as in sh.
func unquote(raw string) (string, error) {
	var b strings.Builder
	const (
		unquoted = iota
		single
		double
	)
	state := unquoted
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch state {
		case unquoted:
			switch c {
			case '\'':
				state = single
			case '"':
				state = double
			case '\\':
				if i+1 < len(raw) {
					i++
					b.WriteByte(raw[i])
				}
			default:
				b.WriteByte(c)
			}
		case single:
			if c == '\'' {
				state = unquoted
			} else {
				b.WriteByte(c)
			}
		case double:
			switch {
			case c == '"':
				state = unquoted
			case c == '\\' && i+1 < len(raw) && strings.IndexByte("$`\"\\", raw[i+1]) >= 0:
				i++
				b.WriteByte(raw[i])
			default:
				b.WriteByte(c)
			}
		}
	}
	switch state {
	case single:
		return "", fmt.Errorf("%w: unterminated single quote in %q", ErrSyntax, raw)
	case double:
		return "", fmt.Errorf("%w: unterminated double quote in %q", ErrSyntax, raw)
	}
	return b.String(), nil
}

// Read parses the os-release file of the root filesystem at root: root/etc/os-release, or
// root/usr/lib/os-release when the former does not exist. Symlinks are resolved inside root
// (imageroot.Resolve), so an absolute link never reaches the host's own files.
func Read(root string) (Info, error) {
	for _, name := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		p, err := imageroot.Resolve(root, name)
		if err != nil {
			return Info{}, err
		}
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Info{}, fmt.Errorf("opening os-release: %w", err)
		}
		info, err := Parse(f)
		f.Close()
		if err != nil {
			return Info{}, fmt.Errorf("parsing %s: %w", p, err)
		}
		return info, nil
	}
	return Info{}, fmt.Errorf("%w under %s: expected etc/os-release or usr/lib/os-release; is %s the root of an installed system?",
		ErrNotFound, root, root)
}

// rhelIDs are distributions rebuilt from (or upstream of) Red Hat Enterprise Linux.
var rhelIDs = map[string]bool{
	"rhel": true, "centos": true, "rocky": true, "almalinux": true, "ol": true,
	"circle": true, "eurolinux": true, "cloudlinux": true, "navylinux": true,
}

// suseIDs are SUSE Linux Enterprise and openSUSE flavours.
var suseIDs = map[string]bool{
	"sles": true, "sled": true, "sles_sap": true, "sle-micro": true, "suse": true,
	"opensuse": true, "opensuse-leap": true, "opensuse-tumbleweed": true, "opensuse-microos": true,
	"opensuse-leap-micro": true,
}

// likeFamily maps an ID_LIKE word to a family. Fedora here means "derived from Fedora", which
// refit treats as the RHEL family (Amazon Linux 2023 says ID_LIKE="fedora").
var likeFamily = map[string]string{
	"rhel": FamilyRHEL, "centos": FamilyRHEL, "fedora": FamilyRHEL,
	"suse": FamilySUSE, "opensuse": FamilySUSE, "sles": FamilySUSE,
	"debian": FamilyDebian, "ubuntu": FamilyDebian,
}

// Family classifies the distribution: "rhel" (RHEL and its rebuilds, and anything whose ID_LIKE
// names rhel, centos or fedora), "fedora" (Fedora itself), "suse", "debian" (Debian, Ubuntu and
// their derivatives), or "" when unknown. ID is checked first, then ID_LIKE in order.
func (i Info) Family() string {
	switch id := i.ID; {
	case id == "fedora":
		return FamilyFedora
	case rhelIDs[id]:
		return FamilyRHEL
	case suseIDs[id]:
		return FamilySUSE
	case id == "debian" || id == "ubuntu":
		return FamilyDebian
	}
	for _, like := range i.IDLike {
		if f, ok := likeFamily[like]; ok {
			return f
		}
	}
	return ""
}

// PackageManager returns the low-level package manager of the family: "rpm", "dpkg", or "" when
// the family is unknown.
func (i Info) PackageManager() string {
	switch i.Family() {
	case FamilyRHEL, FamilyFedora, FamilySUSE:
		return PackageManagerRPM
	case FamilyDebian:
		return PackageManagerDpkg
	}
	return ""
}
