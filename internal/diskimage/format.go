package diskimage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Format is a disk image format refit reads and writes.
type Format string

// The formats refit handles.
const (
	FormatQcow2 Format = "qcow2"
	FormatRaw   Format = "raw"
)

// Compression is how Convert compresses the clusters of a qcow2 output.
type Compression string

// The compressions Convert writes.
const (
	// NoCompression writes every cluster as it is.
	NoCompression Compression = ""
	// CompressZlib is qcow2's original compression, which every qcow2 reader reads.
	CompressZlib Compression = "zlib"
	// CompressZstd writes and reads several times faster than zlib, and smaller, but
	// only QEMU 5.1 and later read it.
	CompressZstd Compression = "zstd"
)

// CheckCompression checks a compression type a user set: empty (the default), zlib or zstd.
func CheckCompression(c string) error {
	switch Compression(c) {
	case NoCompression, CompressZlib, CompressZstd:
		return nil
	}
	return fmt.Errorf("%q: want \"zlib\" (read by every qcow2 reader) or \"zstd\" (faster and smaller; QEMU 5.1 and later)", c)
}

// Valid reports whether f is a format refit handles.
func (f Format) Valid() bool { return f == FormatQcow2 || f == FormatRaw }

var (
	// ErrUnsupportedFormat is returned by DetectFormat for a known image format that
	// refit does not read (vmdk, vhdx, vdi, qed, LUKS).
	ErrUnsupportedFormat = errors.New("diskimage: unsupported image format")
	// ErrChecksumMismatch is returned by VerifyChecksum when the file's digest differs.
	ErrChecksumMismatch = errors.New("diskimage: checksum mismatch")
	// ErrChecksumSpec is returned by VerifyChecksum for a checksum it cannot read.
	ErrChecksumSpec = errors.New("diskimage: bad checksum")
	// ErrStillAttached is returned by Convert and Attach for an image file that a loop
	// device still uses: it is not consistent, or someone else is working on it.
	ErrStillAttached = errors.New("diskimage: image file is attached to a loop device")
)

// foreignMagics are the leading bytes of image formats that would otherwise pass for raw.
var foreignMagics = []struct {
	magic  string
	offset int
	name   string
}{
	{"KDMV", 0, "vmdk"},
	{"# Disk DescriptorFile", 0, "vmdk descriptor"},
	{"vhdxfile", 0, "vhdx"},
	{"<<< Oracle VM VirtualBox Disk Image >>>", 0, "vdi"},
	{"QED\x00", 0, "qed"},
	{"LUKS\xba\xbe", 0, "LUKS"},
	{"conectix", 0, "vpc (vhd)"},
}

// qcow2Magic starts every qcow2 file ("QFI\xfb").
const qcow2Magic = "QFI\xfb"

// DetectFormat returns the format of the image at path, judged by its content, not its
// name: qcow2 by its magic, raw otherwise. Formats refit does not read yield
// ErrUnsupportedFormat. The file is opened read-only.
func DetectFormat(path string) (Format, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("opening image: %w", err)
	}
	defer f.Close()
	head := make([]byte, 64)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	head = head[:n]
	if bytes.HasPrefix(head, []byte(qcow2Magic)) {
		return FormatQcow2, nil
	}
	for _, m := range foreignMagics {
		if len(head) >= m.offset+len(m.magic) && string(head[m.offset:m.offset+len(m.magic)]) == m.magic {
			return "", fmt.Errorf("%w: %s is a %s image: convert it first with `qemu-img convert -O qcow2 %s out.qcow2`", ErrUnsupportedFormat, path, m.name, path)
		}
	}
	return FormatRaw, nil
}

// VerifyChecksum checks the file at path against spec, "sha256:<hex>" (the form
// Packer's source_image_checksum uses). A mismatch error shows both digests.
func VerifyChecksum(path, spec string) error {
	algo, want, ok := strings.Cut(strings.TrimSpace(spec), ":")
	if !ok || !strings.EqualFold(algo, "sha256") {
		return fmt.Errorf("%w %q: write it as sha256:<64 hex digits>", ErrChecksumSpec, spec)
	}
	want = strings.ToLower(want)
	if b, err := hex.DecodeString(want); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("%w %q: write it as sha256:<64 hex digits>", ErrChecksumSpec, spec)
	}
	got, err := FileSHA256(context.Background(), path)
	if err != nil {
		return fmt.Errorf("reading image: %w", err)
	}
	if got != want {
		return fmt.Errorf("%w: %s has sha256:%s, expected sha256:%s", ErrChecksumMismatch, path, got, want)
	}
	return nil
}

// MakeWorkingCopy writes a sparse raw copy of the image at src (qcow2 or raw, judged
// by content) to dst, which loop devices can then attach: qcow2 through
// `qemu-img convert -O raw -S 4k`, raw through `cp --sparse=always`: runs of zeros
// stay holes. src is only read.
// It returns the format of src. dst is written under a temporary name and renamed,
// so a failure or cancellation leaves no partial dst.
func MakeWorkingCopy(ctx context.Context, src, dst string) (Format, error) {
	format, err := DetectFormat(src)
	if err != nil {
		return "", err
	}
	tmp := dst + ".partial"
	switch format {
	case FormatQcow2:
		if err := lookTool(qemuImg); err != nil {
			return "", err
		}
		_, err = runCommand(ctx, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", "-S", "4k", src, tmp)
	default:
		_, err = runCommand(ctx, "cp", "--sparse=always", "--reflink=auto", "--", src, tmp)
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("copying %s to the working copy %s: %w", src, dst, err)
	}
	return format, nil
}

// Convert writes the raw image src to dst in format, sparse (and compressed as compression
// says; qcow2 only), through qemu-img. It refuses while a loop device still
// uses src: detach (and so flush) it first. dst is written under a temporary name
// and renamed, so a failure or cancellation leaves no partial output.
func Convert(ctx context.Context, src, dst string, format Format, compression Compression) error {
	if !format.Valid() {
		return fmt.Errorf("%w %q: use qcow2 or raw", ErrUnsupportedFormat, format)
	}
	switch {
	case compression != NoCompression && format != FormatQcow2:
		return fmt.Errorf("%w: compression needs the qcow2 output format", ErrUnsupportedFormat)
	}
	if err := CheckCompression(string(compression)); err != nil {
		return fmt.Errorf("%w: compression %w", ErrUnsupportedFormat, err)
	}
	if err := lookTool(qemuImg); err != nil {
		return err
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return fmt.Errorf("converting %s: %w", src, err)
	}
	devs, err := loopDevicesOf(ctx, abs)
	if err != nil {
		return fmt.Errorf("converting %s: %w", src, err)
	}
	if len(devs) > 0 {
		return fmt.Errorf("%w: %s is still attached to %s: detach the image before converting it", ErrStillAttached, src, strings.Join(devs, ", "))
	}
	srcFormat, err := DetectFormat(src)
	if err != nil {
		return err
	}
	tmp := dst + ".partial"
	// -S 4k: every run of 4 KiB of zeros stays a hole (raw) or an unallocated cluster
	// (qcow2); with the blocks Unmount trimmed, the output holds only the blocks in use.
	args := []string{"convert", "-f", string(srcFormat), "-O", string(format), "-S", "4k"}
	if compression != NoCompression {
		args = append(args, "-c")
	}
	if compression == CompressZstd { // zlib is the default, and the only type before QEMU 5.1
		args = append(args, "-o", "compression_type=zstd")
	}
	args = append(args, src, tmp)
	if _, err := runCommand(ctx, "qemu-img", args...); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("converting %s to %s: %w", src, format, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("converting %s: %w", src, err)
	}
	return nil
}

// FileSHA256 returns the hex SHA-256 of the file at path (an image: gigabytes, read in 1 MiB
// pieces); cancelling ctx stops it.
func FileSHA256(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
