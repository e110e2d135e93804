package container

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// layerTar returns a layer holding hdrs (regular files get the content "x").
func layerTar(t *testing.T, hdrs ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		body := ""
		if h.Typeflag == tar.TypeReg {
			body = "x"
			if strings.HasPrefix(filepath.Base(h.Name), whiteoutPrefix) {
				body = ""
			}
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

// ociLayout writes an OCI layout holding one image of these layers and returns its path.
func ociLayout(t *testing.T, layers ...[]byte) string {
	t.Helper()
	img := v1.Image(empty.Image)
	for _, l := range layers {
		data := l
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "oci")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	return dir
}

func unpackLayout(t *testing.T, dir string) ([]string, error) {
	t.Helper()
	src, err := Open(dir, t.TempDir())
	if err != nil {
		return nil, err
	}
	defer src.Close()
	return Unpack(context.Background(), src.Images[0], t.TempDir())
}

func dir(name string) tar.Header { return tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755} }
func file(name string) tar.Header {
	return tar.Header{Name: name, Typeflag: tar.TypeReg}
}

// TestUnpackRefusesHostileLayers checks each refusal: the error wraps ErrHostile and names
// the entry.
func TestUnpackRefusesHostileLayers(t *testing.T) {
	fixture.NeedRoot(t)
	base := layerTar(t, dir("etc/"), file("etc/passwd"), tar.Header{Name: "etc/link", Typeflag: tar.TypeSymlink, Linkname: "/tmp"},
		dir("dev/"))
	for _, c := range []struct {
		name  string
		layer []byte
		want  string
	}{
		{"dotdot", layerTar(t, file("../escape")), "leaves the image's root"},
		{"dotdot-inside", layerTar(t, file("etc/../../escape")), "leaves the image's root"},
		{"through-lower-symlink", layerTar(t, file("etc/link/x")), "through the symlink /etc/link"},
		{"through-own-symlink", layerTar(t, tar.Header{Name: "a", Typeflag: tar.TypeSymlink, Linkname: "/"}, file("a/etc/shadow")), "through the symlink /a"},
		{"symlinked-whiteout", layerTar(t, tar.Header{Name: "etc/.wh.passwd", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}), "whiteout \"etc/.wh.passwd\" is a symlink"},
		{"whiteout-below-symlink", layerTar(t, file("etc/link/.wh.x")), "through the symlink /etc/link"},
		{"absolute-hardlink", layerTar(t, tar.Header{Name: "etc/h", Typeflag: tar.TypeLink, Linkname: "/etc/shadow"}), "absolute path"},
		{"escaping-hardlink", layerTar(t, tar.Header{Name: "etc/h", Typeflag: tar.TypeLink, Linkname: "../../etc/shadow"}), "outside the image's root"},
		{"hardlink-to-lower", layerTar(t, tar.Header{Name: "etc/h", Typeflag: tar.TypeLink, Linkname: "etc/passwd"}), "no file of the same layer"},
		{"device-outside-dev", layerTar(t, tar.Header{Name: "etc/sda", Typeflag: tar.TypeBlock, Devmajor: 8, Mode: 0o600}), "outside /dev"},
		{"device-0-0", layerTar(t, tar.Header{Name: "dev/wh", Typeflag: tar.TypeChar, Mode: 0o600}), "whiteout"},
		{"overlay-xattr", layerTar(t, tar.Header{Name: "etc/d/", Typeflag: tar.TypeDir, Mode: 0o755,
			PAXRecords: map[string]string{"SCHILY.xattr.trusted.overlay.opaque": "y"}}), "overlay attribute"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := unpackLayout(t, ociLayout(t, base, c.layer))
			if !errors.Is(err, ErrHostile) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a refusal (ErrHostile) saying %q", err, c.want)
			}
		})
	}
}

// TestUnpackRefusesTamperedBlobs changes a stored layer blob, then the config's diff_id.
func TestUnpackRefusesTamperedBlobs(t *testing.T) {
	fixture.NeedRoot(t)
	layer := layerTar(t, dir("etc/"), file("etc/passwd"))
	oci := ociLayout(t, layer)
	src, err := Open(oci, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := src.Images[0].Layers()
	d, _ := ls[0].Digest()
	src.Close()
	blob := filepath.Join(oci, "blobs", d.Algorithm, d.Hex)
	os.Chmod(blob, 0o644)
	data, _ := os.ReadFile(blob)
	tampered := append([]byte{}, data...)
	tampered[len(tampered)/2] ^= 0xff
	if err := os.WriteFile(blob, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := unpackLayout(t, oci); !errors.Is(err, ErrHostile) || !strings.Contains(err.Error(), "not what the manifest names") {
		t.Errorf("a changed layer blob: got %v, want a refusal", err)
	}
}

// TestUnpackWhiteouts checks the conversion to overlay whiteouts and opaque directories,
// then that WriteLayer turns them back into OCI entries.
func TestUnpackWhiteouts(t *testing.T) {
	fixture.NeedRoot(t)
	lower := layerTar(t, dir("etc/"), file("etc/gone"), file("etc/kept"), dir("opt/"), file("opt/old"),
		tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666},
		tar.Header{Name: "bin/ping", Typeflag: tar.TypeReg, Mode: 0o4755, PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}})
	upper := layerTar(t, file("etc/.wh.gone"), dir("opt/"), file("opt/.wh..wh..opq"), file("opt/new"),
		file("etc/a"), tar.Header{Name: "etc/b", Typeflag: tar.TypeLink, Linkname: "etc/a"})
	dirs, err := unpackLayout(t, ociLayout(t, lower, upper))
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dirs[1], "etc/gone"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("etc/gone in the upper layer: %v %o %d, want a 0/0 character device", err, st.Mode, st.Rdev)
	}
	if v, err := getXattr(filepath.Join(dirs[1], "opt"), opaqueXattr); err != nil || string(v) != "y" {
		t.Errorf("opt: %s=%q %v, want y", opaqueXattr, v, err)
	}
	if err := unix.Lstat(filepath.Join(dirs[0], "dev/null"), &st); err != nil || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("dev/null: %v rdev %d", err, st.Rdev)
	}
	if fi, err := os.Lstat(filepath.Join(dirs[0], "bin/ping")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("bin/ping lost its setuid bit: %v %v", fi, err)
	}
	if v, err := getXattr(filepath.Join(dirs[0], "bin/ping"), "security.capability"); err != nil || len(v) != 20 {
		t.Errorf("bin/ping security.capability: %q %v", v, err)
	}
	a, _ := os.Stat(filepath.Join(dirs[1], "etc/a"))
	b, _ := os.Stat(filepath.Join(dirs[1], "etc/b"))
	if a == nil || b == nil || a.Sys().(*syscall.Stat_t).Ino != b.Sys().(*syscall.Stat_t).Ino {
		t.Error("etc/b is not a hard link of etc/a")
	}
	// the unpacked upper layer, written back as a layer: the same entries
	out := filepath.Join(t.TempDir(), "layer.tar.gz")
	st2, err := WriteLayer(dirs[1], dirs[:1], time.Unix(0, 0), time.Unix(0, 0), out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	f, _ := os.Open(out)
	defer f.Close()
	zr, err := gzip.NewReader(f) // the standard library's reader: any gzip reader reads it
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name+":"+string(h.Typeflag)+":"+h.Linkname)
	}
	// sorted by the paths they stand for (etc/gone after etc/b)
	want := "etc/:5:,etc/a:0:,etc/b:1:etc/a,etc/.wh.gone:0:,opt/:5:,opt/.wh..wh..opq:0:,opt/new:0:"
	if got := strings.Join(names, ","); got != want {
		t.Errorf("WriteLayer entries:\n got %s\nwant %s", got, want)
	}
	if st2.Whiteouts != 2 {
		t.Errorf("%d whiteouts, want 2", st2.Whiteouts)
	}
}
