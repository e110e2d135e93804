package diskimage

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"syscall"
)

// Size is how big an image file is.
type Size struct {
	// OnDisk is the space the file takes on the host: its allocated blocks (du, and
	// qemu-img info's "disk size"). Holes of a sparse file and unallocated qcow2
	// clusters take none.
	OnDisk int64 `json:"bytes_on_disk"`
	// Virtual is the size of the disk the image holds, as a machine booting it sees it.
	Virtual int64 `json:"virtual_size"`
}

// String gives both sizes in MiB, as "220 MiB on disk, 1500 MiB virtual".
func (s Size) String() string {
	return fmt.Sprintf("%s on disk, %s virtual", mib(s.OnDisk), mib(s.Virtual))
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// ImageSize returns the size of the qcow2 or raw image at path (judged by content).
func ImageSize(path string) (Size, error) {
	f, err := os.Open(path)
	if err != nil {
		return Size{}, fmt.Errorf("measuring %s: %w", path, err)
	}
	defer f.Close()
	// A file just written (qemu-img convert) still has delayed-allocation blocks reserved
	// on ext4, counted in st_blocks until they are written back: flush first, so the size
	// reported is the size the file keeps. (Best effort: a file on a read-only mount has
	// nothing to flush, and some filesystems refuse fsync there.)
	_ = f.Sync()
	fi, err := f.Stat()
	if err != nil {
		return Size{}, fmt.Errorf("measuring %s: %w", path, err)
	}
	s := Size{Virtual: fi.Size(), OnDisk: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.OnDisk = st.Blocks * 512 // st_blocks counts 512-byte units whatever the block size
	}
	// A qcow2 header holds the virtual size as a big-endian uint64 at offset 24.
	var hdr [32]byte
	if _, err := io.ReadFull(f, hdr[:]); err == nil && string(hdr[:4]) == qcow2Magic {
		s.Virtual = int64(binary.BigEndian.Uint64(hdr[24:32]))
	}
	return s, nil
}

// CompressionOf returns how the clusters of the qcow2 image at path are compressed:
// NoCompression when it holds none (it was not written with `qemu-img convert -c`) or is raw,
// else its header's compression type, CompressZlib (every qcow2 reader) or CompressZstd
// (QEMU 5.1 and later), as qemu-img reports them.
func CompressionOf(ctx context.Context, path string) (Compression, error) {
	format, err := DetectFormat(path)
	if err != nil || format != FormatQcow2 {
		return NoCompression, err
	}
	if err := lookTool(qemuImg); err != nil {
		return NoCompression, err
	}
	// qemu-img check exits 0 for a clean image; it and info only read the metadata.
	out, err := runCommand(ctx, "qemu-img", "check", "--output=json", "-f", "qcow2", path)
	if err != nil {
		return NoCompression, fmt.Errorf("checking %s: %w", path, err)
	}
	var check struct {
		CompressedClusters int64 `json:"compressed-clusters"`
	}
	if err := json.Unmarshal([]byte(out), &check); err != nil {
		return NoCompression, fmt.Errorf("checking %s: reading qemu-img check: %w", path, err)
	}
	if check.CompressedClusters == 0 {
		return NoCompression, nil
	}
	if out, err = runCommand(ctx, "qemu-img", "info", "--output=json", "-f", "qcow2", path); err != nil {
		return NoCompression, fmt.Errorf("reading %s: %w", path, err)
	}
	var info struct {
		Specific struct {
			Data struct {
				CompressionType string `json:"compression-type"`
			} `json:"data"`
		} `json:"format-specific"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		return NoCompression, fmt.Errorf("reading %s: reading qemu-img info: %w", path, err)
	}
	switch c := Compression(info.Specific.Data.CompressionType); c {
	case "", CompressZlib: // qemu-img before 5.1 names no type: zlib is the only one
		return CompressZlib, nil
	case CompressZstd:
		return c, nil
	default:
		return NoCompression, fmt.Errorf("%w: %s compresses its clusters with %q; refit writes zlib or zstd", ErrUnsupportedFormat, path, c)
	}
}
