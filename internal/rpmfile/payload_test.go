package rpmfile

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cavaliergopher/rpm"

	"github.com/refit-images/packer-plugin-refit/internal/decompress"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// mcRPM is openSUSE Leap 42.3's Midnight Commander package, whose payload is compressed
// with lzma (the .lzma "alone" format, PAYLOADCOMPRESSOR "lzma").
var mcRPM = filepath.Join("testdata", "mc-4.8.15-10.3.1.x86_64.rpm")

// TestReadLZMAPayload reads the real lzma-compressed package and compares its payload with
// rpm's own tools: the decompressed bytes with what rpm2cpio writes, the payload's paths with
// rpm -qlp (less %ghost files, which are in the header but not in the payload).
func TestReadLZMAPayload(t *testing.T) {
	fixture.Need(t, "rpm", "rpm2cpio")
	f, err := os.Open(mcRPM)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := Read(f)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if p.Name != "mc" || p.Version != "4.8.15" {
		t.Errorf("Read = %s %s, want mc 4.8.15", p.Name, p.Version)
	}
	list, err := exec.Command("rpm", "-qp", "--nosignature", "--qf", `[%{FILENAMES} %{FILEFLAGS:fflags}\n]`, mcRPM).Output()
	if err != nil {
		t.Fatalf("rpm -qp: %v", err)
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		name, flags, _ := strings.Cut(l, " ")
		if !strings.Contains(flags, "g") { // %ghost
			want = append(want, name)
		}
	}
	got := slices.Clone(p.Paths)
	slices.Sort(got)
	slices.Sort(want)
	if len(want) < 100 || !slices.Equal(got, want) {
		t.Errorf("payload paths (%d) differ from rpm -qlp (%d):\ngot  %q\nwant %q", len(got), len(want), got, want)
	}

	// The decompressed payload, byte for byte, against rpm2cpio.
	oracle, err := exec.Command("rpm2cpio", mcRPM).Output()
	if err != nil {
		t.Fatalf("rpm2cpio: %v", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(f)
	h, err := rpm.Read(br)
	if err != nil {
		t.Fatal(err)
	}
	if h.PayloadCompression() != "lzma" {
		t.Fatalf("PAYLOADCOMPRESSOR = %q, want lzma", h.PayloadCompression())
	}
	payload, err := decompress.RPMPayload(br, h.PayloadCompression(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer payload.Close()
	data, err := io.ReadAll(payload)
	if err != nil {
		t.Fatalf("decompressing the payload: %v", err)
	}
	if sha256.Sum256(data) != sha256.Sum256(oracle) {
		t.Errorf("decompressed payload (%d bytes) differs from rpm2cpio's output (%d bytes)", len(data), len(oracle))
	}
}

// TestReadUnknownCompressor rewrites the mc package's PAYLOADCOMPRESSOR value "lzma" to
// "lzip", a compressor rpm does not have: the error must name it.
func TestReadUnknownCompressor(t *testing.T) {
	data, err := os.ReadFile(mcRPM)
	if err != nil {
		t.Fatal(err)
	}
	// The value is a NUL-terminated string in the header's data store, after "cpio\x00".
	i := bytes.Index(data, []byte("cpio\x00lzma\x00"))
	if i < 0 {
		t.Fatal("PAYLOADFORMAT and PAYLOADCOMPRESSOR values not found")
	}
	copy(data[i+5:], "lzip")
	_, err = Read(bytes.NewReader(data))
	if !errors.Is(err, ErrFormat) || !errors.Is(err, decompress.ErrUnsupported) || !strings.Contains(err.Error(), `"lzip"`) {
		t.Fatalf("Read = %v, want ErrFormat and decompress.ErrUnsupported naming \"lzip\"", err)
	}
}
