package rpmfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// labRPMs returns every RPM the fixture's RPM lab built.
func labRPMs(t *testing.T) []string {
	t.Helper()
	fixture.Need(t, "rpm", "rpmbuild", "createrepo_c")
	lab := fixture.BuildRPMLab(t)
	var out []string
	filepath.Walk(lab.Packages, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".rpm") {
			out = append(out, p)
		}
		return nil
	})
	if len(out) == 0 {
		t.Fatal("the RPM lab has no packages")
	}
	return out
}

var scriptHeading = regexp.MustCompile(`(?m)^(pretrans|preinstall|postinstall|preuninstall|postuninstall|posttrans|triggerprein|triggerin|triggerun|triggerpostun|filetriggerin|filetriggerun|filetriggerpostun|transfiletriggerin|transfiletriggerun|transfiletriggerpostun) (scriptlet|program)`)

var headingKind = map[string]string{"preinstall": "pre", "postinstall": "post", "preuninstall": "preun", "postuninstall": "postun"}

// TestReadLabAgainstRPM reads every RPM of the lab (gzip, xz, zstd and bzip2 payloads,
// scripts of every kind) and compares with what rpm -qp prints: name, version, the
// scriptlet and trigger kinds, and the file list.
func TestReadLabAgainstRPM(t *testing.T) {
	for _, file := range labRPMs(t) {
		t.Run(filepath.Base(filepath.Dir(file))+"/"+filepath.Base(file), func(t *testing.T) {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			p, err := Read(f)
			if err != nil {
				t.Fatal(err)
			}
			nv, err := exec.Command("rpm", "-qp", "--nosignature", "--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}", file).Output()
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%s %s %s %s", p.Name, p.Version, p.Release, p.Arch); got != string(nv) {
				t.Errorf("got %q, rpm says %q", got, nv)
			}
			out, err := exec.Command("rpm", "-qp", "--nosignature", "--scripts", "--triggers", "--filetriggers", file).Output()
			if err != nil {
				t.Fatal(err)
			}
			var want, got []string
			for _, m := range scriptHeading.FindAllStringSubmatch(string(out), -1) {
				k := m[1]
				if v, ok := headingKind[k]; ok {
					k = v
				}
				want = append(want, k)
			}
			for _, s := range p.Scripts {
				got = append(got, string(s.Kind))
			}
			sort.Strings(want)
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("script kinds %v, rpm --scripts shows %v", got, want)
			}
			list, _ := exec.Command("rpm", "-qlp", "--nosignature", file).Output()
			inHeader := map[string]bool{}
			for _, l := range strings.Split(strings.TrimSpace(string(list)), "\n") {
				inHeader[l] = true
			}
			for _, path := range p.Paths {
				if !inHeader[path] {
					t.Errorf("payload entry %s is not in rpm -qlp", path)
				}
			}
		})
	}
}

// TestReadTruncated: every proper prefix of a real RPM is refused with ErrFormat.
func TestReadTruncated(t *testing.T) {
	files := labRPMs(t)
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 50, 96, 500, len(data) / 2, len(data) - 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			if _, err := Read(bytes.NewReader(data[:n])); !errors.Is(err, ErrFormat) {
				t.Fatalf("Read of %d of %d bytes = %v, want ErrFormat", n, len(data), err)
			}
		})
	}
}

// cpioEntry writes one newc entry.
func cpioEntry(buf *bytes.Buffer, name string, mode int, body string) {
	fmt.Fprintf(buf, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x", 1, mode, 0, 0, 1, 0, len(body), 0, 0, 0, 0, len(name)+1, 0)
	buf.WriteString(name + "\x00")
	for buf.Len()%4 != 0 {
		buf.WriteByte(0)
	}
	buf.WriteString(body)
	for buf.Len()%4 != 0 {
		buf.WriteByte(0)
	}
}

func cpio(entries ...[3]string) []byte {
	var buf bytes.Buffer
	for _, e := range entries {
		mode := 0o100644
		switch e[1] {
		case "l":
			mode = 0o120777
		case "b":
			mode = 0o060600
		case "d":
			mode = 0o040755
		}
		cpioEntry(&buf, e[0], mode, e[2])
	}
	cpioEntry(&buf, "TRAILER!!!", 0, "")
	return buf.Bytes()
}

func TestCheckPayload(t *testing.T) {
	good := cpio([3]string{"./usr", "d", ""}, [3]string{"./usr/bin/tool", "f", "#!/bin/sh\n"}, [3]string{"./usr/bin/t", "l", "tool"})
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"good", good, nil},
		{"dotdot", cpio([3]string{"./../etc/passwd", "f", "x"}), ErrUnsafePath},
		{"absolute", cpio([3]string{"/etc/shadow", "f", "x"}), ErrUnsafePath},
		{"through own symlink", cpio([3]string{"./usr/lib/x", "l", "/etc"}, [3]string{"./usr/lib/x/cron.d/evil", "f", "x"}), ErrUnsafePath},
		{"symlink above root", cpio([3]string{"./x", "l", "../../etc"}), ErrUnsafePath},
		{"device", cpio([3]string{"./dev/sda", "b", ""}), ErrUnsafePath},
		{"no trailer", good[:len(good)-124], ErrFormat},
		{"truncated body", good[:130], ErrFormat},
		{"garbage", []byte("not a cpio archive at all, definitely not, no, no, no, no, no, no, no, no, no, no, no, no, no, no"), ErrFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			paths, err := CheckPayload(bytes.NewReader(c.data))
			if !errors.Is(err, c.want) {
				t.Fatalf("CheckPayload = %v, %v; want %v", paths, err, c.want)
			}
			if c.want == nil && strings.Join(paths, " ") != "/usr /usr/bin/tool /usr/bin/t" {
				t.Errorf("paths = %q", paths)
			}
		})
	}
}

func FuzzCheckPayload(f *testing.F) {
	f.Add(cpio([3]string{"./a", "f", "b"}))
	f.Add(cpio([3]string{"./a", "l", "/etc"}, [3]string{"./a/b", "f", ""}))
	f.Add([]byte("070701"))
	f.Fuzz(func(t *testing.T, data []byte) {
		paths, err := CheckPayload(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, p := range paths {
			if !strings.HasPrefix(p, "/") || strings.Contains(p, "/../") {
				t.Fatalf("accepted %q", p)
			}
		}
	})
}

func ExampleCheckPayload() {
	_, err := CheckPayload(bytes.NewReader(cpio([3]string{"./../etc/passwd", "f", "x"})))
	fmt.Println(errors.Is(err, ErrUnsafePath))
	// Output: true
}

func FuzzRead(f *testing.F) {
	if files, _ := filepath.Glob(filepath.Join(fixture.CacheDir(), "fixtures", "rpmlab-*", "rpms", "updates", "demo-lib-*.rpm")); len(files) > 0 {
		if data, err := os.ReadFile(files[0]); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("\xed\xab\xee\xdb\x03\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, path := range p.Paths {
			if !strings.HasPrefix(path, "/") || strings.Contains(path, "/../") {
				t.Fatalf("accepted %q", path)
			}
		}
	})
}
