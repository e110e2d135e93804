package arch

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/imageroot"
)

// ErrMismatch is returned when an image's programs and its package manager disagree on
// the architecture.
var ErrMismatch = errors.New("the image's programs and its package manager disagree on the architecture")

// ErrNoProgram is returned when the root holds none of the programs Detect reads.
var ErrNoProgram = errors.New("cannot tell the image's architecture")

// programs are the paths Detect reads the ELF machine from, in turn: the shell every
// command of a build runs under, then init.
var programs = []string{"/bin/sh", "/sbin/init", "/usr/lib/systemd/systemd", "/bin/busybox"}

// Detect returns the architecture of the root filesystem at root: the ELF machine of its
// shell (or init; symlinks resolved inside root), which must agree with dpkg's native
// architecture when the image has dpkg. It only reads. Callers that read an rpmdb check
// it with Agrees (this package does not read package databases).
func Detect(root string) (Arch, error) {
	a, program, err := fromPrograms(root)
	if err != nil {
		return Arch{}, err
	}
	name, source, err := packageArch(root)
	if err != nil {
		return Arch{}, err
	}
	if !a.Is(name) && name != "" {
		return Arch{}, fmt.Errorf("%w: %s is %s, but %s says %s", ErrMismatch, program, a, source, name)
	}
	return a, nil
}

// fromPrograms reads the ELF header of the first of programs that exists and is ELF.
func fromPrograms(root string) (Arch, string, error) {
	var tried []string
	for _, p := range programs {
		host, err := imageroot.Resolve(root, p)
		if err != nil {
			return Arch{}, "", fmt.Errorf("finding %s in the image: %w", p, err)
		}
		f, err := elf.Open(host)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				tried = append(tried, fmt.Sprintf("%s: %v", p, err))
			}
			continue
		}
		h := f.FileHeader
		f.Close()
		a, err := fromELF(h)
		if err != nil {
			return Arch{}, "", fmt.Errorf("%s in the image: %w", p, err)
		}
		return a, p, nil
	}
	if len(tried) == 0 {
		return Arch{}, "", fmt.Errorf("%w: none of %s exists in it", ErrNoProgram, strings.Join(programs, ", "))
	}
	return Arch{}, "", fmt.Errorf("%w: no ELF program among %s", ErrNoProgram, strings.Join(tried, "; "))
}

// packageArch is dpkg's own architecture and where it was read: var/lib/dpkg/arch (its
// first line is the native architecture) or the dpkg package's Architecture in the status.
// Both empty when the image has no dpkg (rpm images are cross-checked by the callers that
// read the rpmdb anyway, through Agrees).
func packageArch(root string) (name, source string, err error) {
	if p, err := imageroot.Resolve(root, "/var/lib/dpkg/arch"); err == nil {
		if f, err := os.Open(p); err == nil {
			defer f.Close()
			sc := bufio.NewScanner(f)
			if sc.Scan() && strings.TrimSpace(sc.Text()) != "" {
				return strings.TrimSpace(sc.Text()), "/var/lib/dpkg/arch", nil
			}
		}
	}
	p, err := imageroot.Resolve(root, "/var/lib/dpkg/status")
	if err != nil {
		return "", "", nil
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", nil
	} else if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	isDpkg := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			isDpkg = false
		case strings.HasPrefix(line, "Package:"):
			isDpkg = strings.TrimSpace(strings.TrimPrefix(line, "Package:")) == "dpkg"
		case isDpkg && strings.HasPrefix(line, "Architecture:"):
			return strings.TrimSpace(strings.TrimPrefix(line, "Architecture:")), "the dpkg status (package dpkg)", nil
		}
	}
	return "", "", sc.Err()
}

// Agrees checks that the package manager's architecture name (read from source) is a's;
// an empty name (nothing tells) agrees.
func (a Arch) Agrees(name, source string) error {
	if name == "" || a.Is(name) {
		return nil
	}
	return fmt.Errorf("%w: the programs are %s, but %s says %s", ErrMismatch, a, source, name)
}
