package diskimage

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
)

// ErrFstabSyntax is returned for an fstab line with fewer than two fields or a
// relative mount point.
var ErrFstabSyntax = errors.New("diskimage: fstab syntax error")

// FstabEntry is one line of an fstab(5) file.
type FstabEntry struct {
	// Spec is the first field: UUID=…, LABEL=…, PARTUUID=…, PARTLABEL=…, or a device path.
	Spec string
	// Mountpoint is the second field, cleaned ("/boot/efi"); "none" for swap.
	Mountpoint string
	// Type is the third field ("ext4", "vfat", "swap", "auto"); empty when absent.
	Type string
	// Options are the comma-separated fourth field.
	Options []string
	// Line is the 1-based line number, for messages.
	Line int
}

// HasOption reports whether the entry's options include opt exactly ("noauto", "bind").
func (e FstabEntry) HasOption(opt string) bool {
	return slices.Contains(e.Options, opt)
}

// maxFstabLine bounds one fstab line; real ones are well under 1 KiB.
const maxFstabLine = 64 << 10

// ParseFstab reads fstab(5) entries from r. Blank lines and "#" comments are skipped;
// the octal escapes fstab uses for blanks in fields ("\040") are decoded.
func ParseFstab(r io.Reader) ([]FstabEntry, error) {
	var entries []FstabEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxFstabLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			return nil, fmt.Errorf("%w: line %d has %d field(s), want at least 2", ErrFstabSyntax, n, len(fields))
		}
		e := FstabEntry{Spec: unescapeFstab(fields[0]), Mountpoint: unescapeFstab(fields[1]), Line: n}
		if len(fields) > 2 {
			e.Type = unescapeFstab(fields[2])
		}
		if len(fields) > 3 {
			for _, o := range strings.Split(fields[3], ",") {
				if o != "" {
					e.Options = append(e.Options, unescapeFstab(o))
				}
			}
		}
		if e.Mountpoint != "none" && e.Type != "swap" {
			if !strings.HasPrefix(e.Mountpoint, "/") {
				return nil, fmt.Errorf("%w: line %d: mount point %q is not absolute", ErrFstabSyntax, n, e.Mountpoint)
			}
			e.Mountpoint = path.Clean(e.Mountpoint)
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading fstab: %w", err)
	}
	return entries, nil
}

// unescapeFstab decodes the \ooo octal escapes of fstab fields (getmntent(3)).
func unescapeFstab(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// skippedFstabTypes are filesystems that are not on the image's disk, or not
// filesystems: never mounted from the image.
var skippedFstabTypes = map[string]bool{
	"swap": true, "nfs": true, "nfs4": true, "cifs": true, "smbfs": true, "smb3": true,
	"sshfs": true, "fuse.sshfs": true, "glusterfs": true, "ceph": true, "9p": true, "virtiofs": true,
	"tmpfs": true, "ramfs": true, "proc": true, "sysfs": true, "devpts": true, "devtmpfs": true,
	"securityfs": true, "cgroup": true, "cgroup2": true, "debugfs": true, "hugetlbfs": true,
	"mqueue": true, "efivarfs": true, "binfmt_misc": true, "configfs": true, "tracefs": true,
	"none": true, "bind": true, "overlay": true, "iso9660": true, "udf": true,
}

// skipReason says why refit does not mount entry from the image, or "" when it does.
// The root entry is skipped too: it is mounted before fstab is read.
func (e FstabEntry) skipReason() string {
	switch {
	case e.Mountpoint == "/":
		return "the root filesystem"
	case e.Type == "swap":
		return "swap"
	case e.HasOption("bind") || e.HasOption("rbind"):
		return "a bind mount"
	case e.HasOption("noauto"):
		return "noauto"
	case e.Mountpoint == "none" || !strings.HasPrefix(e.Mountpoint, "/"):
		return "no mount point"
	case skippedFstabTypes[e.Type]:
		return "type " + e.Type + " is not a filesystem of the image"
	case strings.HasPrefix(e.Spec, "/dev/nbd"), strings.HasPrefix(e.Spec, "/dev/cdrom"), strings.HasPrefix(e.Spec, "/dev/sr"):
		return "not on the image's disk"
	case strings.Contains(e.Spec, ":") && !strings.Contains(e.Spec, "="):
		return "a network filesystem"
	}
	return ""
}

// fstabMountOptions returns the options of e that choose what is mounted rather than
// how (btrfs subvolumes); the rest (noatime, errors=…, x-systemd.*) are the booted
// system's business.
func (e FstabEntry) fstabMountOptions() []string {
	var out []string
	for _, o := range e.Options {
		if strings.HasPrefix(o, "subvol=") || strings.HasPrefix(o, "subvolid=") {
			out = append(out, o)
		}
	}
	return out
}
