package arch

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	for _, tc := range []struct{ name, debian string }{
		{"amd64", "amd64"}, {"x86_64", "amd64"}, {"arm64", "arm64"}, {"aarch64", "arm64"},
		{"ppc64el", "ppc64el"}, {"ppc64le", "ppc64el"}, {"s390x", "s390x"}, {"riscv64", "riscv64"},
		{"i686", "i386"}, {"i586", "i386"}, {"386", "i386"}, {"armv7hl", "armhf"}, {"arm", "armhf"},
	} {
		a, err := Lookup(tc.name)
		if err != nil || a.Debian != tc.debian {
			t.Errorf("Lookup(%q) = %v, %v; want %s", tc.name, a.Debian, err, tc.debian)
		}
	}
	if _, err := Lookup("mips"); !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "riscv64") {
		t.Errorf("Lookup(mips) = %v; want ErrUnknown naming the known ones", err)
	}
}

// TestHostOracle checks the table against this host's dpkg and uname.
func TestHostOracle(t *testing.T) {
	for _, tc := range []struct {
		tool string
		args []string
		want func(Arch) string
	}{
		{"dpkg", []string{"--print-architecture"}, func(a Arch) string { return a.Debian }},
		{"uname", []string{"-m"}, func(a Arch) string { return a.RPM }},
	} {
		out, err := exec.Command(tc.tool, tc.args...).Output()
		if err != nil {
			t.Skipf("needs %s: %v", tc.tool, err)
		}
		if got, want := tc.want(Host()), strings.TrimSpace(string(out)); got != want {
			t.Errorf("Host() name %q; %s says %q", got, tc.tool, want)
		}
	}
	a, err := Detect("/")
	if err != nil || a.Debian != Host().Debian {
		t.Errorf("Detect(/) = %v, %v; want the host's %s", a, err, Host())
	}
}

// TestQEMUMagic checks each foreign architecture's ELF header against the magic and mask
// Debian's qemu-user-static registers for it with binfmt_misc.
func TestQEMUMagic(t *testing.T) {
	n := 0
	for _, a := range known {
		if a.Native() {
			continue
		}
		body, err := os.ReadFile("/usr/share/binfmts/qemu-" + a.QEMU)
		if err != nil {
			t.Fatalf("needs qemu-user-static (apt-get install qemu-user-static): %v", err)
		}
		h := Handler{Name: "qemu-" + a.QEMU, Enabled: true, Flags: "F"}
		for _, line := range strings.Split(string(body), "\n") {
			key, val, _ := strings.Cut(line, " ")
			switch key {
			case "magic":
				h.Magic = unescape(t, val)
			case "mask":
				h.Mask = unescape(t, val)
			}
		}
		for _, typ := range []elf.Type{elf.ET_EXEC, elf.ET_DYN} {
			if !h.Matches(a.elfHeader(typ)) {
				t.Errorf("%s: qemu-%s's magic does not match our %v header", a, a.QEMU, typ)
			}
		}
		for _, b := range known {
			if b.Debian != a.Debian && h.Matches(b.elfHeader(elf.ET_EXEC)) {
				t.Errorf("qemu-%s's magic matches %s programs too", a.QEMU, b)
			}
		}
		n++
	}
	if n < 4 {
		t.Errorf("checked %d architectures; want every foreign one", n)
	}
}

// unescape decodes update-binfmts' \xNN notation.
func unescape(t *testing.T, s string) []byte {
	var out []byte
	for _, part := range strings.Split(s, `\x`)[1:] {
		b, err := strconv.ParseUint(part, 16, 8)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		out = append(out, byte(b))
	}
	return out
}

// writeELF writes a minimal ELF executable header of a at path.
func writeELF(t *testing.T, path string, a Arch) {
	t.Helper()
	var bo binary.ByteOrder = binary.LittleEndian
	if a.Data == elf.ELFDATA2MSB {
		bo = binary.BigEndian
	}
	var ident [elf.EI_NIDENT]byte
	copy(ident[:], elf.ELFMAG)
	ident[elf.EI_CLASS], ident[elf.EI_DATA], ident[elf.EI_VERSION] = byte(a.Class), byte(a.Data), byte(elf.EV_CURRENT)
	var buf bytes.Buffer
	var err error
	if a.Class == elf.ELFCLASS64 {
		err = binary.Write(&buf, bo, elf.Header64{Ident: ident, Type: uint16(elf.ET_DYN), Machine: uint16(a.Machine), Version: 1, Ehsize: 64})
	} else {
		err = binary.Write(&buf, bo, elf.Header32{Ident: ident, Type: uint16(elf.ET_DYN), Machine: uint16(a.Machine), Version: 1, Ehsize: 52})
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestDetect(t *testing.T) {
	mustLookup := func(name string) Arch {
		a, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, tc := range []struct {
		name    string
		setup   func(root string)
		want    string
		wantErr string
	}{
		{"usrmerged arm64 with dpkg arch", func(root string) {
			writeELF(t, filepath.Join(root, "usr/bin/dash"), mustLookup("arm64"))
			os.Symlink("usr/bin", filepath.Join(root, "bin"))
			os.Symlink("/usr/bin/dash", filepath.Join(root, "usr/bin/sh"))
			os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755)
			os.WriteFile(filepath.Join(root, "var/lib/dpkg/arch"), []byte("arm64\ni386\n"), 0o644)
		}, "arm64", ""},
		{"big-endian s390x from the dpkg package", func(root string) {
			writeELF(t, filepath.Join(root, "bin/sh"), mustLookup("s390x"))
			os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755)
			os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), []byte(
				"Package: dpkg\nStatus: install ok installed\nVersion: 1.21.22\nArchitecture: s390x\n\n"+
					"Package: base-files\nStatus: install ok installed\nVersion: 12.4\nArchitecture: all\n"), 0o644)
		}, "s390x", ""},
		{"32-bit arm init, shell is a script", func(root string) {
			os.MkdirAll(filepath.Join(root, "bin"), 0o755)
			os.WriteFile(filepath.Join(root, "bin/sh"), []byte("#!/bin/busybox\n"), 0o755)
			writeELF(t, filepath.Join(root, "sbin/init"), mustLookup("armhf"))
		}, "armhf", ""},
		{"symlink escaping the root stays inside", func(root string) {
			writeELF(t, filepath.Join(root, "riscv"), mustLookup("riscv64"))
			os.MkdirAll(filepath.Join(root, "bin"), 0o755)
			os.Symlink("../../../../riscv", filepath.Join(root, "bin/sh"))
		}, "riscv64", ""},
		{"package manager disagrees", func(root string) {
			writeELF(t, filepath.Join(root, "bin/sh"), mustLookup("ppc64el"))
			os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755)
			os.WriteFile(filepath.Join(root, "var/lib/dpkg/arch"), []byte("amd64\n"), 0o644)
		}, "", "/bin/sh is ppc64el (ppc64le), but /var/lib/dpkg/arch says amd64"},
		{"no program", func(root string) {}, "", "none of /bin/sh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.setup(root)
			a, err := Detect(root)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Detect = %v, %v; want an error containing %q", a, err, tc.wantErr)
				}
				return
			}
			if err != nil || a.Debian != tc.want {
				t.Fatalf("Detect = %v, %v; want %s", a, err, tc.want)
			}
		})
	}
}

func TestAgrees(t *testing.T) {
	arm64, _ := Lookup("arm64")
	for _, name := range []string{"", "arm64", "aarch64"} {
		if err := arm64.Agrees(name, "the rpmdb"); err != nil {
			t.Errorf("Agrees(%q) = %v", name, err)
		}
	}
	if err := arm64.Agrees("x86_64", "the rpmdb"); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "the rpmdb says x86_64") {
		t.Errorf("Agrees(x86_64) = %v; want ErrMismatch naming the source", err)
	}
}

// handlerText is qemu-aarch64 as this kernel lists it once Debian's qemu-user-static is enabled.
const handlerText = `enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: PF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
`

func TestCheckHost(t *testing.T) {
	arm64, _ := Lookup("arm64")
	if arm64.Native() {
		t.Skip("the host runs arm64 natively")
	}
	fix := "update-binfmts --enable qemu-aarch64"
	for _, tc := range []struct {
		name    string
		files   map[string]string // nil: binfmt_misc not mounted
		wantErr []string
	}{
		{"enabled with F", map[string]string{"register": "", "status": "enabled\n", "qemu-aarch64": handlerText}, nil},
		{"other name, same magic", map[string]string{"register": "", "aarch64": handlerText}, nil},
		{"not mounted", nil, []string{"not mounted", "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc", fix, "qemu-user-static", "binfmt-support"}},
		{"no handler", map[string]string{"register": "", "status": "enabled\n"}, []string{"arm64 (aarch64)", "no binfmt_misc handler for aarch64", fix}},
		{"disabled", map[string]string{"register": "", "qemu-aarch64": strings.Replace(handlerText, "enabled", "disabled", 1)}, []string{"qemu-aarch64 is disabled", fix}},
		{"without F", map[string]string{"register": "", "qemu-aarch64": strings.Replace(handlerText, "flags: PF", "flags: P", 1)}, []string{"without the F (fix-binary) flag"}},
		{"all disabled", map[string]string{"register": "", "status": "disabled\n", "qemu-aarch64": handlerText}, []string{"disabled as a whole"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := arm64.CheckHost(dir)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrNoEmulation) {
				t.Fatalf("CheckHost = %v; want ErrNoEmulation", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if err := Host().CheckHost(t.TempDir()); err != nil {
		t.Errorf("the host's own architecture needs no handler: %v", err)
	}
}
