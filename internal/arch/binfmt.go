package arch

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// BinfmtDir is where the kernel lists binfmt_misc handlers.
const BinfmtDir = "/proc/sys/fs/binfmt_misc"

// ErrNoEmulation is returned when the host can neither run an image's programs natively
// nor through a usable qemu-user binfmt_misc handler.
var ErrNoEmulation = errors.New("this host cannot run the image's programs")

// Handler is one binfmt_misc registration (a file under BinfmtDir).
type Handler struct {
	Name        string
	Enabled     bool
	Interpreter string
	Flags       string
	Offset      int
	Magic, Mask []byte
}

// Matches reports whether the handler's magic (under its mask, at its offset) matches the
// start of a file, header.
func (h Handler) Matches(header []byte) bool {
	if len(h.Magic) == 0 || h.Offset+len(h.Magic) > len(header) {
		return false
	}
	for i, m := range h.Magic {
		mask := byte(0xff)
		if i < len(h.Mask) {
			mask = h.Mask[i]
		}
		if header[h.Offset+i]&mask != m&mask {
			return false
		}
	}
	return true
}

// ParseHandler reads a handler file's text as the kernel writes it ("enabled",
// "interpreter …", "flags: POCF", "offset 0", "magic 7f45…", "mask ff…").
func ParseHandler(name, text string) (Handler, error) {
	h := Handler{Name: name}
	for _, line := range strings.Split(text, "\n") {
		key, val, _ := strings.Cut(strings.TrimSpace(line), " ")
		var err error
		switch key {
		case "enabled":
			h.Enabled = true
		case "interpreter":
			h.Interpreter = val
		case "flags:":
			h.Flags = val
		case "offset":
			h.Offset, err = strconv.Atoi(val)
		case "magic":
			h.Magic, err = hex.DecodeString(val)
		case "mask":
			h.Mask, err = hex.DecodeString(val)
		}
		if err != nil {
			return Handler{}, fmt.Errorf("binfmt_misc handler %s: %q: %w", name, line, err)
		}
	}
	return h, nil
}

// CheckHost returns nil when this host runs a's programs: natively, or through an enabled
// binfmt_misc handler (in dir, normally BinfmtDir) that matches a's executables and was
// registered with the F flag. Otherwise the error (wrapping ErrNoEmulation) names the
// architecture, what to install and how to register the handler.
func (a Arch) CheckHost(dir string) error {
	if a.Native() {
		return nil
	}
	handlers, err := readHandlers(dir)
	if err != nil {
		return a.noEmulation(err.Error())
	}
	var unusable []string
	for _, typ := range []elf.Type{elf.ET_EXEC, elf.ET_DYN} {
		header := a.elfHeader(typ)
		ok := false
		for _, h := range handlers {
			switch {
			case !h.Matches(header):
				continue
			case !h.Enabled:
				unusable = append(unusable, fmt.Sprintf("handler %s is disabled", h.Name))
			case !strings.Contains(h.Flags, "F"):
				unusable = append(unusable, fmt.Sprintf("handler %s (%s) was registered without the F (fix-binary) flag, so its interpreter would have to be copied into the image; re-register it with F (Debian's qemu-user-static does)", h.Name, h.Interpreter))
			default:
				ok = true
			}
		}
		if !ok {
			if len(unusable) == 0 {
				unusable = append(unusable, fmt.Sprintf("no binfmt_misc handler for %s programs is registered (looked for qemu-%s in %s)", a.QEMU, a.QEMU, dir))
			}
			return a.noEmulation(strings.Join(slices.Compact(unusable), "; "))
		}
	}
	return nil
}

// noEmulation is the error for a host that cannot run a's programs, with the fix.
func (a Arch) noEmulation(why string) error {
	return fmt.Errorf("%w: the image is %s and this host is %s: %s. Install qemu-user-static and binfmt-support "+
		"(apt-get install qemu-user-static binfmt-support), mount binfmt_misc if it is not "+
		"(mount -t binfmt_misc binfmt_misc %s) and enable the handler (update-binfmts --enable qemu-%s)",
		ErrNoEmulation, a, Host().Debian, why, BinfmtDir, a.QEMU)
}

// readHandlers reads every handler registered in dir.
func readHandlers(dir string) ([]Handler, error) {
	if _, err := os.Stat(filepath.Join(dir, "register")); err != nil {
		return nil, fmt.Errorf("binfmt_misc is not mounted at %s", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Handler
	for _, e := range entries {
		if e.Name() == "register" || e.Name() == "status" || e.IsDir() {
			continue
		}
		body, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading binfmt_misc handler %s: %w", e.Name(), err)
		}
		h, err := ParseHandler(e.Name(), string(body))
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	if st, err := os.ReadFile(filepath.Join(dir, "status")); err == nil && bytes.HasPrefix(bytes.TrimSpace(st), []byte("disabled")) {
		return nil, fmt.Errorf("binfmt_misc is disabled as a whole (%s/status); echo 1 > %s/status", dir, dir)
	}
	return out, nil
}
