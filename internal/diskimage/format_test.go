package diskimage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// needTool skips the test when an external tool is missing.
func needTool(t testing.TB, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("needs %s (apt-get install %s)", name, pkg)
	}
}

func TestDetectFormat(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		path string
		want Format
		err  error
	}{
		{"zeros named .qcow2", write("zeros.qcow2", make([]byte, 4096)), FormatRaw, nil},
		{"qcow2 magic named .raw", write("magic.raw", append([]byte("QFI\xfb\x00\x00\x00\x03"), make([]byte, 100)...)), FormatQcow2, nil},
		{"empty file", write("empty", nil), FormatRaw, nil},
		{"MBR", write("mbr", append(make([]byte, 510), 0x55, 0xaa)), FormatRaw, nil},
		{"vmdk", write("disk.vmdk", []byte("KDMV\x01\x00\x00\x00")), "", ErrUnsupportedFormat},
		{"vhdx", write("disk.vhdx", []byte("vhdxfile")), "", ErrUnsupportedFormat},
		{"LUKS", write("luks", []byte("LUKS\xba\xbe\x00\x01")), "", ErrUnsupportedFormat},
		{"missing", filepath.Join(dir, "nope"), "", os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DetectFormat(tt.path)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("DetectFormat = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestDetectFormatQemuImg checks DetectFormat against qemu-img's own idea of
// images qemu-img wrote.
func TestDetectFormatQemuImg(t *testing.T) {
	needTool(t, "qemu-img", "qemu-utils")
	dir := t.TempDir()
	for _, f := range []Format{FormatQcow2, FormatRaw} {
		t.Run(string(f), func(t *testing.T) {
			p := filepath.Join(dir, "img."+string(f))
			if out, err := exec.Command("qemu-img", "create", "-f", string(f), p, "16M").CombinedOutput(); err != nil {
				t.Fatalf("qemu-img create: %v: %s", err, out)
			}
			got, err := DetectFormat(p)
			if err != nil || got != f {
				t.Fatalf("DetectFormat = %q, %v; want %q", got, err, f)
			}
		})
	}
}

func TestVerifyChecksum(t *testing.T) {
	p := filepath.Join(t.TempDir(), "img")
	data := []byte("refit image")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	good := hex.EncodeToString(sum[:])
	other := strings.Repeat("0", 64)
	tests := []struct {
		spec string
		err  error
	}{
		{"sha256:" + good, nil},
		{"SHA256:" + strings.ToUpper(good), nil},
		{" sha256:" + good + "\n", nil},
		{"sha256:" + other, ErrChecksumMismatch},
		{good, ErrChecksumSpec},
		{"md5:" + good[:32], ErrChecksumSpec},
		{"sha256:abc", ErrChecksumSpec},
		{"file:/tmp/SHA256SUMS", ErrChecksumSpec},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			err := VerifyChecksum(p, tt.spec)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err == ErrChecksumMismatch && (!strings.Contains(err.Error(), good) || !strings.Contains(err.Error(), other)) {
				t.Errorf("mismatch error does not show both digests: %v", err)
			}
		})
	}
}

// allocated returns the bytes a file occupies on disk.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// TestWorkingCopyAndConvert round-trips a mostly empty raw image through qcow2 and
// back, checking contents, sparseness, and that qemu-img accepts each output.
func TestWorkingCopyAndConvert(t *testing.T) {
	needTool(t, "qemu-img", "qemu-utils")
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	const size = 64 << 20
	payload := bytes.Repeat([]byte("refit"), 1000)
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(payload, 32<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	srcSum := fileSHA256(t, src)

	tests := []struct {
		name     string
		format   Format
		compress Compression
	}{
		{"qcow2", FormatQcow2, NoCompression},
		{"qcow2 zlib", FormatQcow2, CompressZlib},
		{"qcow2 zstd", FormatQcow2, CompressZstd},
		{"raw", FormatRaw, NoCompression},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".img")
			if err := Convert(ctx, src, out, tt.format, tt.compress); err != nil {
				t.Fatal(err)
			}
			if got, err := DetectFormat(out); err != nil || got != tt.format {
				t.Fatalf("output format %q, %v", got, err)
			}
			if out, err := exec.Command("qemu-img", "check", "-f", string(tt.format), out).CombinedOutput(); err != nil && tt.format == FormatQcow2 {
				t.Fatalf("qemu-img check: %v: %s", err, out)
			}
			if tt.format == FormatQcow2 {
				// qemu-img is the oracle of how the clusters are compressed
				info, err := exec.Command("qemu-img", "info", "--output=json", out).Output()
				if err != nil {
					t.Fatal(err)
				}
				check, err := exec.Command("qemu-img", "check", "--output=json", out).Output()
				if err != nil {
					t.Fatal(err)
				}
				var counts struct {
					Compressed int `json:"compressed-clusters"` // absent when none
				}
				if err := json.Unmarshal(check, &counts); err != nil {
					t.Fatal(err)
				}
				compressed := counts.Compressed > 0
				typ := "zlib"
				if strings.Contains(string(info), `"compression-type": "zstd"`) {
					typ = "zstd"
				}
				if compressed != (tt.compress != NoCompression) || compressed && typ != string(tt.compress) {
					t.Errorf("qemu-img: compressed %v, type %s; want %q", compressed, typ, tt.compress)
				}
			}
			if got, err := CompressionOf(ctx, out); err != nil || got != tt.compress {
				t.Errorf("CompressionOf = %q, %v; want %q", got, err, tt.compress)
			}
			back := filepath.Join(dir, "back-"+filepath.Base(out))
			format, err := MakeWorkingCopy(ctx, out, back)
			if err != nil || format != tt.format {
				t.Fatalf("MakeWorkingCopy = %q, %v", format, err)
			}
			if fileSHA256(t, back) != srcSum {
				t.Errorf("contents changed through %s", tt.name)
			}
			if a := allocated(t, back); a > 8<<20 {
				t.Errorf("working copy occupies %d bytes of a %d-byte image with 5 KB of data: not sparse", a, size)
			}
			if _, err := os.Stat(back + ".partial"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("temporary file left behind: %v", err)
			}
		})
	}
	if fileSHA256(t, src) != srcSum {
		t.Errorf("the input image changed")
	}
	if err := Convert(ctx, src, filepath.Join(dir, "x"), FormatRaw, CompressZlib); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("compressed raw: err = %v", err)
	}
	if err := Convert(ctx, src, filepath.Join(dir, "x"), "vmdk", NoCompression); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("vmdk: err = %v", err)
	}
	if err := Convert(ctx, src, filepath.Join(dir, "x"), FormatQcow2, "lz4"); !errors.Is(err, ErrUnsupportedFormat) || !strings.Contains(err.Error(), "zstd") {
		t.Errorf("lz4: err = %v", err)
	}
}

func TestConvertCancelled(t *testing.T) {
	needTool(t, "qemu-img", "qemu-utils")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	if err := os.WriteFile(src, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dst := filepath.Join(dir, "out.qcow2")
	if err := Convert(ctx, src, dst, FormatQcow2, NoCompression); err == nil {
		t.Fatal("Convert succeeded with a cancelled context")
	}
	for _, p := range []string{dst, dst + ".partial"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind after cancellation", p)
		}
	}
}

func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// BenchmarkConvertCompression writes the same 128 MiB raw image, filled with real files (the
// Go toolchain's sources and binaries: text and machine code, as a root filesystem holds),
// as qcow2 uncompressed and compressed with zlib and with zstd, and reports the output size.
func BenchmarkConvertCompression(b *testing.B) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		b.Skip("needs qemu-img (Debian package qemu-utils)")
	}
	src := filepath.Join(b.TempDir(), "src.raw")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	const size = 128 << 20
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		b.Skipf("needs the go command to find real files to fill the image with: %v", err)
	}
	var written int64
	_ = filepath.WalkDir(strings.TrimSpace(string(goroot)), func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || written >= size {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		data = data[:min(int64(len(data)), size-written)]
		n, err := f.Write(data)
		written += int64(n)
		return err
	})
	if err := f.Truncate(size); err != nil {
		b.Fatal(err)
	}
	f.Close()
	for _, c := range []Compression{NoCompression, CompressZlib, CompressZstd} {
		name := string(c)
		if name == "" {
			name = "none"
		}
		b.Run(name, func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "out.qcow2")
			for b.Loop() {
				if err := Convert(context.Background(), src, out, FormatQcow2, c); err != nil {
					b.Fatal(err)
				}
			}
			fi, err := os.Stat(out)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(fi.Size())/(1<<20), "MiB-out")
			b.SetBytes(size)
		})
	}
}
