// Package arch owns an image's CPU architecture: which one a root filesystem holds (the ELF
// machine of its shell or init, cross-checked with its package manager's own architecture),
// the name every tool gives it (Debian, RPM, qemu, Go), and whether this host can run the
// image's programs: natively, or through a qemu-user handler that binfmt_misc registered with
// the F flag (the kernel opened the interpreter at registration, so nothing of qemu is copied
// into the image).
//
// The table below is the only place that knows architectures; nothing else in refit assumes
// a pair of them.
package arch

import (
	"debug/elf"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
)

// Arch is one CPU architecture and the names tools give it.
type Arch struct {
	// Debian is dpkg's name ("arm64"); refit names architectures by it in messages.
	Debian string
	// RPM is rpm's name of the machine architecture ("aarch64"); RPMAliases are further
	// names rpm packages of that machine carry (i686 for i386).
	RPM        string
	RPMAliases []string
	// QEMU is qemu's name ("aarch64"): qemu-<QEMU> is the binfmt handler and the qemu-user
	// binary, qemu-system-<QEMU> the system emulator.
	QEMU string
	// Go is GOARCH ("arm64").
	Go string
	// Machine, Class and Data identify the architecture's ELF programs.
	Machine elf.Machine
	Class   elf.Class
	Data    elf.Data
	// NativeOn lists the GOARCHes of hosts whose kernel runs these programs without
	// emulation besides Go itself (i386 on amd64).
	NativeOn []string
}

// known is every architecture refit knows (Debian's release architectures but mipsel, and
// armel/armhf's common armhf).
var known = []Arch{
	{Debian: "amd64", RPM: "x86_64", QEMU: "x86_64", Go: "amd64", Machine: elf.EM_X86_64, Class: elf.ELFCLASS64, Data: elf.ELFDATA2LSB},
	{Debian: "arm64", RPM: "aarch64", QEMU: "aarch64", Go: "arm64", Machine: elf.EM_AARCH64, Class: elf.ELFCLASS64, Data: elf.ELFDATA2LSB},
	{Debian: "ppc64el", RPM: "ppc64le", QEMU: "ppc64le", Go: "ppc64le", Machine: elf.EM_PPC64, Class: elf.ELFCLASS64, Data: elf.ELFDATA2LSB},
	{Debian: "s390x", RPM: "s390x", QEMU: "s390x", Go: "s390x", Machine: elf.EM_S390, Class: elf.ELFCLASS64, Data: elf.ELFDATA2MSB},
	{Debian: "riscv64", RPM: "riscv64", QEMU: "riscv64", Go: "riscv64", Machine: elf.EM_RISCV, Class: elf.ELFCLASS64, Data: elf.ELFDATA2LSB},
	{Debian: "i386", RPM: "i686", RPMAliases: []string{"i386", "i486", "i586", "athlon"}, QEMU: "i386", Go: "386",
		Machine: elf.EM_386, Class: elf.ELFCLASS32, Data: elf.ELFDATA2LSB, NativeOn: []string{"amd64"}},
	{Debian: "armhf", RPM: "armv7hl", RPMAliases: []string{"armv7hnl"}, QEMU: "arm", Go: "arm",
		Machine: elf.EM_ARM, Class: elf.ELFCLASS32, Data: elf.ELFDATA2LSB},
}

// ErrUnknown is returned for an architecture outside the table.
var ErrUnknown = errors.New("unknown architecture")

// String is the Debian name, with the RPM name when it differs ("arm64 (aarch64)").
func (a Arch) String() string {
	if a.RPM == a.Debian {
		return a.Debian
	}
	return a.Debian + " (" + a.RPM + ")"
}

// Is reports whether name is any of a's names (Debian, RPM and its aliases, qemu, Go).
func (a Arch) Is(name string) bool {
	return name != "" && (name == a.Debian || name == a.RPM || name == a.QEMU || name == a.Go || slices.Contains(a.RPMAliases, name))
}

// Lookup returns the architecture any tool calls name ("arm64", "aarch64", "x86_64", "i686").
func Lookup(name string) (Arch, error) {
	for _, a := range known {
		if a.Is(name) {
			return a, nil
		}
	}
	return Arch{}, fmt.Errorf("%w %q (refit knows %s)", ErrUnknown, name, strings.Join(Names(), ", "))
}

// Names are the Debian names of every known architecture.
func Names() []string {
	out := make([]string, len(known))
	for i, a := range known {
		out[i] = a.Debian
	}
	return out
}

// Host is the architecture this program runs on.
func Host() Arch {
	a, err := Lookup(runtime.GOARCH)
	if err != nil {
		return Arch{Debian: runtime.GOARCH, RPM: runtime.GOARCH, QEMU: runtime.GOARCH, Go: runtime.GOARCH}
	}
	return a
}

// Native reports whether the host runs a's programs without emulation.
func (a Arch) Native() bool {
	return a.Go == runtime.GOARCH || slices.Contains(a.NativeOn, runtime.GOARCH)
}

// fromELF returns the architecture of an ELF header.
func fromELF(h elf.FileHeader) (Arch, error) {
	for _, a := range known {
		if a.Machine == h.Machine && a.Class == h.Class && a.Data == h.Data {
			return a, nil
		}
	}
	return Arch{}, fmt.Errorf("%w: ELF machine %v, %v, %v", ErrUnknown, h.Machine, h.Class, h.Data)
}

// elfHeader is the start of an executable of a (through e_machine), as binfmt_misc
// matches it: type is elf.ET_EXEC or elf.ET_DYN.
func (a Arch) elfHeader(typ elf.Type) []byte {
	h := make([]byte, 20)
	copy(h, elf.ELFMAG)
	h[elf.EI_CLASS] = byte(a.Class)
	h[elf.EI_DATA] = byte(a.Data)
	h[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	put := func(off int, v uint16) {
		if a.Data == elf.ELFDATA2MSB {
			h[off], h[off+1] = byte(v>>8), byte(v)
		} else {
			h[off], h[off+1] = byte(v), byte(v>>8)
		}
	}
	put(16, uint16(typ))
	put(18, uint16(a.Machine))
	return h
}
