package debfile

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// entry is one tar entry of a hand-made .deb.
type entry struct {
	name, link, body string
	typ              byte
}

// makeDeb writes a .deb by hand (ar + gzip tars), so tests can make packages that
// dpkg-deb refuses to build.
func makeDeb(t testing.TB, control string, scripts map[string]string, data []entry) []byte {
	t.Helper()
	ctl := []entry{{name: "./control", body: control, typ: tar.TypeReg}}
	names := make([]string, 0, len(scripts))
	for n := range scripts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ctl = append(ctl, entry{name: "./" + n, body: scripts[n], typ: tar.TypeReg})
	}
	var out bytes.Buffer
	out.WriteString("!<arch>\n")
	member := func(name string, body []byte) {
		fmt.Fprintf(&out, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, 0, 0, 0, "100644", len(body))
		out.Write(body)
		if len(body)%2 == 1 {
			out.WriteByte('\n')
		}
	}
	member("debian-binary", []byte("2.0\n"))
	member("control.tar.gz", tarGz(t, ctl))
	member("data.tar.gz", tarGz(t, data))
	return out.Bytes()
}

func tarGz(t testing.TB, entries []entry) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o755, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

const testControl = "Package: hello\nVersion: 1:2.0-1\nArchitecture: amd64\nDepends: libc6 (>= 2.36), foo | bar\nDescription: test\n"

func TestReadHandMade(t *testing.T) {
	data := []entry{
		{name: "./", typ: tar.TypeDir},
		{name: "./usr/", typ: tar.TypeDir},
		{name: "./usr/bin/", typ: tar.TypeDir},
		{name: "./usr/bin/hello", body: "#!/bin/sh\n", typ: tar.TypeReg},
		{name: "./usr/bin/hi", link: "hello", typ: tar.TypeSymlink},
		{name: "./usr/lib/x", link: "../../etc/alternatives/x", typ: tar.TypeSymlink},
		{name: "./usr/bin/abs", link: "/etc/alternatives/hello", typ: tar.TypeSymlink},
	}
	d, err := Read(bytes.NewReader(makeDeb(t, testControl, map[string]string{"postinst": "#!/bin/sh\nldconfig\n"}, data)))
	if err != nil {
		t.Fatal(err)
	}
	if d.Control.Package != "hello" || d.Control.Version != "1:2.0-1" || d.Control.Depends != "libc6 (>= 2.36), foo | bar" {
		t.Errorf("control = %+v", d.Control)
	}
	if d.Scripts["postinst"] != "#!/bin/sh\nldconfig\n" || len(d.Scripts) != 1 {
		t.Errorf("scripts = %q", d.Scripts)
	}
	want := []string{"/usr", "/usr/bin", "/usr/bin/hello", "/usr/bin/hi", "/usr/lib/x", "/usr/bin/abs"}
	if !reflect.DeepEqual(d.Paths, want) {
		t.Errorf("paths = %q, want %q", d.Paths, want)
	}
}

// TestReadHostile: every way of writing outside the root is refused with ErrUnsafePath,
// and broken files with ErrFormat.
func TestReadHostile(t *testing.T) {
	good := makeDeb(t, testControl, nil, []entry{{name: "./etc/x", body: "x", typ: tar.TypeReg}})
	cases := []struct {
		name string
		data []entry
		raw  []byte
		want error
	}{
		{name: "dotdot", data: []entry{{name: "./../etc/passwd", body: "x", typ: tar.TypeReg}}, want: ErrUnsafePath},
		{name: "dotdot inside", data: []entry{{name: "./usr/../../etc/shadow", body: "x", typ: tar.TypeReg}}, want: ErrUnsafePath},
		{name: "absolute", data: []entry{{name: "/etc/passwd", body: "x", typ: tar.TypeReg}}, want: ErrUnsafePath},
		{name: "through own symlink", data: []entry{
			{name: "./usr/share/evil", link: "/etc", typ: tar.TypeSymlink},
			{name: "./usr/share/evil/cron.d/x", body: "x", typ: tar.TypeReg}}, want: ErrUnsafePath},
		{name: "relative symlink above root", data: []entry{{name: "./usr/x", link: "../../../etc", typ: tar.TypeSymlink}}, want: ErrUnsafePath},
		{name: "hard link outside", data: []entry{{name: "./usr/x", link: "../etc/shadow", typ: tar.TypeLink}}, want: ErrUnsafePath},
		{name: "device node", data: []entry{{name: "./dev/sda", typ: tar.TypeBlock}}, want: ErrUnsafePath},
		{name: "truncated", raw: good[:len(good)-40], want: ErrFormat},
		{name: "truncated header", raw: good[:70], want: ErrFormat},
		{name: "not a deb", raw: []byte("<html>404</html>"), want: ErrFormat},
		{name: "empty", raw: []byte{}, want: ErrFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := c.raw
			if raw == nil {
				raw = makeDeb(t, testControl, nil, c.data)
			}
			_, err := Read(bytes.NewReader(raw))
			if !errors.Is(err, c.want) {
				t.Fatalf("Read = %v, want %v", err, c.want)
			}
		})
	}
}

// TestReadAgainstDpkgDeb builds a package with dpkg-deb in each compression it offers
// and compares what Read finds with dpkg-deb's own listing and fields.
func TestReadAgainstDpkgDeb(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("needs dpkg-deb (apt-get install dpkg)")
	}
	dir := t.TempDir()
	pkg := filepath.Join(dir, "pkg")
	for _, f := range []string{"DEBIAN/control", "DEBIAN/postinst", "usr/share/doc/refit-test/README", "etc/refit-test.conf"} {
		os.MkdirAll(filepath.Join(pkg, filepath.Dir(f)), 0o755)
	}
	os.WriteFile(filepath.Join(pkg, "DEBIAN/control"), []byte("Package: refit-test\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@example.org>\nPre-Depends: dpkg (>= 1.15)\nDescription: t\n"), 0o644)
	os.WriteFile(filepath.Join(pkg, "DEBIAN/postinst"), []byte("#!/bin/sh\nset -e\n"), 0o755)
	os.WriteFile(filepath.Join(pkg, "usr/share/doc/refit-test/README"), []byte("hi"), 0o644)
	os.WriteFile(filepath.Join(pkg, "etc/refit-test.conf"), []byte("a=1"), 0o644)
	os.Symlink("README", filepath.Join(pkg, "usr/share/doc/refit-test/LINK"))
	for _, z := range []string{"gzip", "xz", "zstd", "none"} {
		t.Run(z, func(t *testing.T) {
			deb := filepath.Join(dir, z+".deb")
			if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-Z"+z, "--build", pkg, deb).CombinedOutput(); err != nil {
				t.Skipf("dpkg-deb cannot build -Z%s here: %v: %s", z, err, out)
			}
			f, err := os.Open(deb)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			d, err := Read(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("dpkg-deb", "--fsys-tarfile", deb).Output()
			if err != nil {
				t.Fatal(err)
			}
			tr := tar.NewReader(bytes.NewReader(out))
			var want []string
			for {
				h, err := tr.Next()
				if err != nil {
					break
				}
				if p := filepath.Clean("/" + strings.TrimPrefix(h.Name, "./")); p != "/" {
					want = append(want, p)
				}
			}
			if !reflect.DeepEqual(d.Paths, want) {
				t.Errorf("paths = %q, dpkg-deb has %q", d.Paths, want)
			}
			field, _ := exec.Command("dpkg-deb", "--field", deb, "Pre-Depends").Output()
			if d.Control.PreDepends != strings.TrimSpace(string(field)) || d.Control.Package != "refit-test" {
				t.Errorf("control = %+v, dpkg-deb Pre-Depends %q", d.Control, field)
			}
			if d.Scripts["postinst"] != "#!/bin/sh\nset -e\n" {
				t.Errorf("postinst = %q", d.Scripts["postinst"])
			}
		})
	}
}

func FuzzRead(f *testing.F) {
	f.Add(makeDeb(f, testControl, map[string]string{"preinst": "x"}, []entry{{name: "./a", body: "b", typ: tar.TypeReg}}))
	f.Add(makeDeb(f, testControl, nil, []entry{{name: "./a", link: "/etc", typ: tar.TypeSymlink}, {name: "./a/b", typ: tar.TypeReg}}))
	f.Add([]byte("!<arch>\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, p := range d.Paths {
			if !strings.HasPrefix(p, "/") || strings.Contains(p, "/../") {
				t.Fatalf("accepted unsafe path %q", p)
			}
		}
	})
}

func ExampleCheckPath() {
	links := map[string]bool{}
	for _, name := range []string{"./usr/bin/tool", "./../etc/passwd"} {
		p, err := CheckPath(name, tar.TypeReg, "", links)
		fmt.Println(p, err != nil)
	}
	// Output:
	// /usr/bin/tool false
	//  true
}
