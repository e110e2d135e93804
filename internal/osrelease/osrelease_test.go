package osrelease

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		file       string
		id         string
		versionID  string
		codename   string
		idLike     []string
		family     string
		packageMgr string
	}{
		{"debian-12", "debian", "12", "bookworm", nil, FamilyDebian, PackageManagerDpkg},
		{"ubuntu-22.04", "ubuntu", "22.04", "jammy", []string{"debian"}, FamilyDebian, PackageManagerDpkg},
		{"ubuntu-24.04", "ubuntu", "24.04", "noble", []string{"debian"}, FamilyDebian, PackageManagerDpkg},
		{"linuxmint-21.3", "linuxmint", "21.3", "virginia", []string{"ubuntu", "debian"}, FamilyDebian, PackageManagerDpkg},
		{"rocky-9.3", "rocky", "9.3", "", []string{"rhel", "centos", "fedora"}, FamilyRHEL, PackageManagerRPM},
		{"almalinux-8.9", "almalinux", "8.9", "", []string{"rhel", "centos", "fedora"}, FamilyRHEL, PackageManagerRPM},
		{"centos-stream-9", "centos", "9", "", []string{"rhel", "fedora"}, FamilyRHEL, PackageManagerRPM},
		{"rhel-9.3", "rhel", "9.3", "", []string{"fedora"}, FamilyRHEL, PackageManagerRPM},
		{"amzn-2023", "amzn", "2023", "", []string{"fedora"}, FamilyRHEL, PackageManagerRPM},
		{"fedora-40", "fedora", "40", "", nil, FamilyFedora, PackageManagerRPM},
		{"opensuse-leap-15.5", "opensuse-leap", "15.5", "", []string{"suse", "opensuse"}, FamilySUSE, PackageManagerRPM},
		{"sles-15-sp5", "sles", "15.5", "", []string{"suse"}, FamilySUSE, PackageManagerRPM},
		{"alpine-3.19", "alpine", "3.19.1", "", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			info := parseFile(t, filepath.Join("testdata", tt.file))
			if info.ID != tt.id || info.VersionID != tt.versionID || info.VersionCodename != tt.codename {
				t.Errorf("ID, VERSION_ID, VERSION_CODENAME = %q, %q, %q; want %q, %q, %q",
					info.ID, info.VersionID, info.VersionCodename, tt.id, tt.versionID, tt.codename)
			}
			if !reflect.DeepEqual(info.IDLike, tt.idLike) {
				t.Errorf("ID_LIKE = %q, want %q", info.IDLike, tt.idLike)
			}
			if info.Name == "" || info.PrettyName == "" {
				t.Errorf("NAME %q or PRETTY_NAME %q empty", info.Name, info.PrettyName)
			}
			if got := info.Family(); got != tt.family {
				t.Errorf("Family() = %q, want %q", got, tt.family)
			}
			if got := info.PackageManager(); got != tt.packageMgr {
				t.Errorf("PackageManager() = %q, want %q", got, tt.packageMgr)
			}
		})
	}
}

func parseFile(t *testing.T, name string) Info {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := Parse(f)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return info
}

// TestParseMatchesShell sources every fixture (and this host's os-release) with /bin/sh, which
// os-release(5) is designed for, and requires Parse to agree on every field it reads.
func TestParseMatchesShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("needs a POSIX sh as oracle: %v", err)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if _, err := os.Stat(host); err == nil {
			files = append(files, host)
		}
	}
	for _, file := range files {
		if fi, err := os.Stat(file); err != nil || fi.IsDir() {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			script := `. "$1" && printf '%s\0' "$ID" "$VERSION_ID" "$NAME" "$PRETTY_NAME" "$VERSION_CODENAME" "$ID_LIKE"`
			out, err := exec.Command(sh, "-c", script, "sh", file).Output()
			if err != nil {
				t.Fatalf("sh sourcing %s: %v", file, err)
			}
			f := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
			if len(f) != 6 {
				t.Fatalf("sh printed %d fields, want 6: %q", len(f), out)
			}
			want := Info{ID: f[0], VersionID: f[1], Name: f[2], PrettyName: f[3], VersionCodename: f[4], IDLike: strings.Fields(f[5])}
			if len(want.IDLike) == 0 {
				want.IDLike = nil
			}
			if got := parseFile(t, file); !reflect.DeepEqual(got, want) {
				t.Errorf("Parse = %#v\n sh says %#v", got, want)
			}
		})
	}
}

func TestParseQuoting(t *testing.T) {
	got := parseFile(t, filepath.Join("testdata", "quoting"))
	want := Info{
		ID:              "my-distro",
		Name:            "Distro \"Quoted\" $HOME `tick` back\\slash",
		PrettyName:      `single $HOME "double" \n kept`,
		VersionID:       "1.0 beta",
		VersionCodename: "halfsingleplain",
		IDLike:          []string{"rhel", "fedora"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse = %#v\nwant    %#v", got, want)
	}
}

func TestParseLines(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    Info
		wantErr bool
	}{
		{"later assignment wins", "ID=a\nID=b\n", Info{ID: "b"}, false},
		{"no trailing newline", "ID=x", Info{ID: "x"}, false},
		{"CRLF line ends", "ID=x\r\nVERSION_ID=\"1\"\r\n", Info{ID: "x", VersionID: "1"}, false},
		{"not an assignment is ignored", "garbage line\nID=x\n", Info{ID: "x"}, false},
		{"invalid key is ignored", "1D=y\nI-D=z\nID=x\n", Info{ID: "x"}, false},
		{"empty value", "ID=\n", Info{}, false},
		{"backslash in double quotes kept before other chars", `ID="a\qb"`, Info{ID: `a\qb`}, false},
		{"unquoted backslash escapes", `ID=a\"b`, Info{ID: `a"b`}, false},
		{"trailing backslash dropped", `ID=ab\`, Info{ID: "ab"}, false},
		{"unterminated double quote", "ID=\"rocky\n", Info{}, true},
		{"unterminated single quote", "NAME='x\n", Info{}, true},
		{"escaped closing quote is not a close", `ID="x\"`, Info{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.input))
			if tt.wantErr {
				if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "line 1") {
					t.Fatalf("Parse error = %v, want ErrSyntax naming line 1", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestFamilyByIDLike(t *testing.T) {
	tests := []struct {
		info Info
		want string
	}{
		{Info{ID: "fedora", IDLike: []string{"rhel"}}, FamilyFedora},
		{Info{ID: "ol", IDLike: []string{"fedora"}}, FamilyRHEL},
		{Info{ID: "centos", IDLike: []string{"rhel", "fedora"}}, FamilyRHEL},
		{Info{ID: "nobara", IDLike: []string{"fedora"}}, FamilyRHEL},
		{Info{ID: "pop", IDLike: []string{"ubuntu", "debian"}}, FamilyDebian},
		{Info{ID: "opensuse-tumbleweed", IDLike: []string{"opensuse", "suse"}}, FamilySUSE},
		{Info{ID: "weird", IDLike: []string{"arch", "suse"}}, FamilySUSE},
		{Info{ID: "arch"}, ""},
		{Info{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.info.ID+"/"+strings.Join(tt.info.IDLike, ","), func(t *testing.T) {
			if got := tt.info.Family(); got != tt.want {
				t.Errorf("Family() = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseOSRelease(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("ID=\"unterminated\n"))
	f.Add([]byte("ID='a'\"b\"\\c"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Any input: no panic, and an error is always the syntax error.
		if _, err := Parse(bytes.NewReader(data)); err != nil && !errors.Is(err, ErrSyntax) && !errors.Is(err, bufio.ErrTooLong) {
			t.Fatalf("Parse: unexpected error kind: %v", err)
		}
		// The input used as a value, quoted the way sh quotes it, reads back unchanged.
		if bytes.ContainsAny(data, "\r\n") || len(data) > maxLineBytes/8 {
			return
		}
		quoted := "'" + strings.ReplaceAll(string(data), "'", `'\''`) + "'"
		info, err := Parse(strings.NewReader("NAME=" + quoted + "\n"))
		if err != nil || info.Name != string(data) {
			t.Fatalf("NAME=%s read back as %q, %v; want %q", quoted, info.Name, err, data)
		}
	})
}
