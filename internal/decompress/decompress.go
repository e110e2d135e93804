// Package decompress opens the compressed streams that package repositories
// publish (repository metadata such as primary.xml.gz, updateinfo.xml.zst or
// Packages.xz) and the payloads of packages: it recognises gzip, xz, zstd and
// bzip2 by their magic bytes or, failing that, by the file name (or, for an
// RPM payload, by the package's PAYLOADCOMPRESSOR tag), which is also the only
// way to recognise the legacy .lzma ("LZMA alone") format, and caps the
// decompressed size so that a hostile or broken mirror cannot exhaust memory
// or disk with a decompression bomb.
package decompress

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// ErrTooLarge is wrapped by the error a reader returns once the stream has
// produced more bytes than the limit given to [Reader].
var ErrTooLarge = errors.New("decompress: decompressed data exceeds the size limit")

// ErrUnsupported is wrapped by the error [Reader] returns for a compression
// format it recognises but cannot decode (zchunk).
var ErrUnsupported = errors.New("decompress: unsupported compression format")

// MaxWindow is the largest back-reference window (xz dictionary, zstd
// window) a stream may ask for. xz -9 uses 64 MiB and zstd's default levels
// at most 8 MiB, so only streams built to exhaust memory exceed it.
const MaxWindow = 128 << 20

// Format names a compression format.
type Format string

// The formats Reader recognises.
const (
	Plain   Format = "plain"
	Gzip    Format = "gzip"
	XZ      Format = "xz"
	Zstd    Format = "zstd"
	Bzip2   Format = "bzip2"
	LZMA    Format = "lzma" // the .lzma "alone" format of LZMA Utils, which has no magic bytes
	Zchunk  Format = "zchunk"
	unknown Format = ""
)

// magics maps leading bytes to the format they announce; the longest
// signature is magicLen bytes.
var magics = []struct {
	magic  []byte
	format Format
}{
	{[]byte{0x1f, 0x8b}, Gzip},
	{[]byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, XZ},
	{[]byte{0x28, 0xb5, 0x2f, 0xfd}, Zstd},
	{[]byte("BZh"), Bzip2},
	{[]byte("\x00ZCK1"), Zchunk},
}

const magicLen = 6

// extensions maps file name suffixes to formats.
var extensions = []struct {
	suffix string
	format Format
}{
	{".gz", Gzip},
	{".xz", XZ},
	{".zst", Zstd},
	{".bz2", Bzip2},
	{".lzma", LZMA},
	{".zck", Zchunk},
}

// Detect reports the format announced by head (the first bytes of a stream)
// or, when head carries no known signature, by name's extension; Plain when
// neither says anything.
func Detect(head []byte, name string) Format {
	if f := byMagic(head); f != unknown {
		return f
	}
	if f := byName(name); f != unknown {
		return f
	}
	return Plain
}

func byMagic(head []byte) Format {
	for _, m := range magics {
		if bytes.HasPrefix(head, m.magic) {
			return m.format
		}
	}
	return unknown
}

func byName(name string) Format {
	lower := strings.ToLower(name)
	if strings.Contains(lower, "://") {
		if i := strings.IndexAny(lower, "?#"); i >= 0 {
			lower = lower[:i] // a URL's query is not part of the file name
		}
	}
	for _, e := range extensions {
		if strings.HasSuffix(lower, e.suffix) {
			return e.format
		}
	}
	return unknown
}

// Reader returns a reader of the decompressed contents of r. The format is
// detected from r's magic bytes first, then from name's extension (.gz, .xz,
// .zst, .bz2, .lzma), and r is passed through unchanged when neither matches. name
// is only used for detection and in error messages (a path or URL is fine).
//
// Once more than limit bytes have been produced the returned reader fails
// with an error wrapping [ErrTooLarge]; limit <= 0 means no limit. Closing the
// returned reader releases the decoder but does not close r.
//
// Zchunk (.zck) streams yield an error wrapping [ErrUnsupported]. A stream
// whose name promises a format its bytes do not start with is decoded as that
// format and so fails with the decoder's error.
func Reader(r io.Reader, name string, limit int64) (io.ReadCloser, error) {
	return open(r, name, byName(name), limit, true)
}

// rpmCompressors are the values of an RPM header's PAYLOADCOMPRESSOR tag that rpm reads
// (rpmio's gzdio, bzdio, xzdio, lzdio and zstdio), with the format each means. rpm reads
// "gzip" (also what a package without the tag means) through zlib, which passes data
// that is not gzip through unchanged, so it falls back to Plain; gzip itself is
// recognised by its magic bytes.
var rpmCompressors = map[string]Format{
	"":      Plain,
	"gzip":  Plain,
	"bzip2": Bzip2,
	"xz":    XZ,
	"lzma":  LZMA,
	"zstd":  Zstd,
}

// RPMPayload is [Reader] for the payload of an RPM package: compressor is the value of the
// package's PAYLOADCOMPRESSOR tag, which names the format when the magic bytes do not (the
// .lzma format has none). A compressor rpm does not read is an error wrapping
// [ErrUnsupported] that names it.
func RPMPayload(r io.Reader, compressor string, limit int64) (io.ReadCloser, error) {
	format, ok := rpmCompressors[compressor]
	if !ok {
		return nil, fmt.Errorf("%w: RPM payload compressor %q (refit reads gzip, bzip2, xz, lzma and zstd)", ErrUnsupported, compressor)
	}
	name := "payload"
	if compressor != "" {
		name += " (" + compressor + ")"
	}
	return open(r, name, format, limit, false)
}

// open decodes r as the format its magic bytes announce or, when they announce none, as
// fallback (Plain when unknown); with external, an xz stream is decoded by the xz program
// when it is installed (xzProcess).
func open(r io.Reader, name string, fallback Format, limit int64, external bool) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(magicLen)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	format := byMagic(head)
	if format == unknown {
		format = fallback
	}
	if format == unknown {
		format = Plain
	}
	dec, err := newDecoder(format, br, external)
	switch {
	case errors.Is(err, ErrUnsupported):
		return nil, fmt.Errorf("opening %s: %w", name, err)
	case err != nil:
		return nil, fmt.Errorf("opening %s as %s: %w; the file is corrupt, truncated or not what its name says: fetch it again", name, format, err)
	}
	return &limitedReader{dec: dec, name: name, format: format, limit: limit}, nil
}

// newDecoder returns a decoder of format reading br.
func newDecoder(format Format, br *bufio.Reader, external bool) (io.ReadCloser, error) {
	switch format {
	case Gzip:
		return gzip.NewReader(br)
	case XZ:
		if err := checkXZDictionary(br); err != nil {
			return nil, err
		}
		if path := xzProgram(); external && path != "" {
			return xzProcess(path, br)
		}
		zr, err := xz.NewReader(br)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(zr), nil
	case Zstd:
		zr, err := zstd.NewReader(br,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(MaxWindow),
			zstd.WithDecoderMaxWindow(MaxWindow),
			zstd.WithDecodeBuffersBelow(0),
		)
		if err != nil {
			return nil, err
		}
		return zstdCloser{zr}, nil
	case Bzip2:
		return io.NopCloser(bzip2.NewReader(br)), nil
	case LZMA:
		// The header's dictionary size is checked against MaxWindow before anything is
		// allocated, as checkXZDictionary does for xz.
		zr, err := lzma.ReaderConfig{DictCap: MaxWindow}.NewReader(br)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(zr), nil
	case Zchunk:
		return nil, fmt.Errorf("%w: zchunk; point refit at the repository's .gz, .xz or .zst variant of this file", ErrUnsupported)
	default:
		return io.NopCloser(br), nil
	}
}

// zstdCloser adapts zstd.Decoder, whose Close returns nothing.
type zstdCloser struct{ *zstd.Decoder }

func (z zstdCloser) Close() error {
	z.Decoder.Close()
	return nil
}

// checkXZDictionary rejects an xz stream whose first block asks for a
// dictionary larger than MaxWindow: the xz decoder allocates the whole
// dictionary up front, so a 60-byte file could otherwise demand 4 GiB.
// Only the first block is checked (the decoder offers no hook for later
// ones); xz and createrepo_c give every block of a stream the same
// dictionary. Headers it cannot parse are left to the xz decoder to reject.
func checkXZDictionary(br *bufio.Reader) error {
	const streamHeaderLen = 12
	// Block header: size byte, flags, optional sizes, filter flags.
	head, _ := br.Peek(streamHeaderLen + 1)
	if len(head) <= streamHeaderLen || head[streamHeaderLen] == 0 {
		return nil // no block (empty stream) or truncated: the decoder reports it
	}
	blockLen := (int(head[streamHeaderLen]) + 1) * 4
	block, _ := br.Peek(streamHeaderLen + blockLen)
	if len(block) < streamHeaderLen+blockLen {
		return nil
	}
	dict, ok := xzFirstDictionary(block[streamHeaderLen:])
	if ok && dict > MaxWindow {
		return fmt.Errorf("xz dictionary of %d bytes exceeds the %d-byte maximum; recompress the file with a preset (xz -9 or lower)", dict, MaxWindow)
	}
	return nil
}

// xzFirstDictionary returns the LZMA2 dictionary size recorded in an xz
// block header (xz file format 1.0.4, section 3.1).
func xzFirstDictionary(h []byte) (int64, bool) {
	if len(h) < 2 {
		return 0, false
	}
	flags := h[1]
	rd := bytes.NewReader(h[2:])
	skipVarint := func() bool {
		_, err := readXZVarint(rd)
		return err == nil
	}
	if flags&0x40 != 0 && !skipVarint() { // compressed size
		return 0, false
	}
	if flags&0x80 != 0 && !skipVarint() { // uncompressed size
		return 0, false
	}
	filters := int(flags&0x03) + 1
	for range filters {
		id, err := readXZVarint(rd)
		if err != nil {
			return 0, false
		}
		size, err := readXZVarint(rd)
		if err != nil || size > uint64(rd.Len()) {
			return 0, false
		}
		props := make([]byte, size)
		if _, err := io.ReadFull(rd, props); err != nil {
			return 0, false
		}
		const lzma2 = 0x21
		if id == lzma2 && size == 1 {
			return lzma2Dictionary(props[0]), true
		}
	}
	return 0, false
}

// lzma2Dictionary decodes the LZMA2 dictionary size property: 2 or 3 times a
// power of two, or 4 GiB - 1 for the top code.
func lzma2Dictionary(code byte) int64 {
	code &= 0x3f
	if code >= 40 {
		return 1<<32 - 1
	}
	return int64(2|code&1) << (code/2 + 11)
}

// readXZVarint reads an xz multibyte integer (at most 9 bytes).
func readXZVarint(r io.ByteReader) (uint64, error) {
	var v uint64
	for i := 0; i < 9; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			return v, nil
		}
	}
	return 0, errors.New("xz integer too long")
}

// limitedReader counts the decompressed bytes, fails with ErrTooLarge past
// limit and names the stream in decoding errors.
type limitedReader struct {
	dec    io.ReadCloser
	name   string
	format Format
	limit  int64
	n      int64
	err    error // sticky: a failed stream stays failed
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if l.limit > 0 {
		if l.n >= l.limit {
			// Exactly limit bytes is allowed: probe for one more.
			var probe [1]byte
			k, err := l.dec.Read(probe[:])
			if k > 0 {
				l.err = fmt.Errorf("%s: %w: more than %d bytes after decompression; raise the limit if the file is really this large", l.name, ErrTooLarge, l.limit)
				return 0, l.err
			}
			return 0, l.wrap(err)
		}
		if rest := l.limit - l.n; int64(len(p)) > rest {
			p = p[:rest]
		}
	}
	k, err := l.dec.Read(p)
	l.n += int64(k)
	return k, l.wrap(err)
}

// wrap adds the stream's name to a decoding error; io.EOF passes unchanged.
func (l *limitedReader) wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case err == io.EOF:
		return io.EOF
	case l.format == Plain:
		l.err = fmt.Errorf("reading %s: %w", l.name, err)
		return l.err
	default:
		l.err = fmt.Errorf("decompressing %s (%s): %w; the file is corrupt or truncated, fetch it again", l.name, l.format, err)
		return l.err
	}
}

// Close releases the decoder. It does not close the underlying reader.
func (l *limitedReader) Close() error {
	return l.dec.Close()
}
