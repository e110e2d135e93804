package decompress

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"golang.org/x/sys/unix"
)

// compressors are the real command-line tools that produce each format.
var compressors = []struct {
	format Format
	ext    string
	cmd    []string
}{
	{Gzip, ".gz", []string{"gzip", "-6", "-n", "-c"}},
	{XZ, ".xz", []string{"xz", "-6", "-c"}},
	{Zstd, ".zst", []string{"zstd", "-3", "-q", "-c"}},
	{Bzip2, ".bz2", []string{"bzip2", "-9", "-c"}},
	{LZMA, ".lzma", []string{"xz", "--format=lzma", "-6", "-c"}}, // no magic: known by name only
}

// compress runs tool on data and returns its output, skipping the test when
// the tool is not installed.
func compress(t testing.TB, cmd []string, data []byte) []byte {
	t.Helper()
	if _, err := exec.LookPath(cmd[0]); err != nil {
		t.Skipf("needs the %s command on PATH (Debian packages gzip, xz-utils, zstd, bzip2): %v", cmd[0], err)
	}
	c := exec.Command(cmd[0], cmd[1:]...)
	c.Stdin = bytes.NewReader(data)
	var out, stderr bytes.Buffer
	c.Stdout, c.Stderr = &out, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("%v: %v: %s", cmd, err, stderr.String())
	}
	return out.Bytes()
}

// metadataLike returns n bytes of compressible XML-ish text with some noise.
func metadataLike(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "<package type=\"rpm\"><name>pkg%d</name><version ver=\"%d.%d\" rel=\"%d\"/><checksum>%016x</checksum></package>\n",
			i, rng.IntN(20), rng.IntN(100), rng.IntN(9), rng.Uint64())
	}
	return b.Bytes()[:n]
}

func readAll(t testing.TB, data []byte, name string, limit int64) ([]byte, error) {
	t.Helper()
	rc, err := Reader(bytes.NewReader(data), name, limit)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestRoundTrip(t *testing.T) {
	inputs := map[string][]byte{
		"empty":    {},
		"one-byte": {'x'},
		"1MiB":     metadataLike(1 << 20),
	}
	for _, c := range compressors {
		for label, plain := range inputs {
			t.Run(string(c.format)+"/"+label, func(t *testing.T) {
				packed := compress(t, c.cmd, plain)
				// The magic alone must be enough: the name says nothing.
				names := []string{"primary.xml" + c.ext, "no-extension"}
				if c.format == LZMA {
					names = names[:1]
				}
				for _, name := range names {
					got, err := readAll(t, packed, name, 0)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if !bytes.Equal(got, plain) {
						t.Fatalf("%s: got %d bytes, want %d", name, len(got), len(plain))
					}
				}
			})
		}
	}
}

// Concatenated streams (gzip members, xz streams, zstd frames, bzip2
// streams) decode as the concatenation of their contents, as the tools do
// (xz does not concatenate .lzma files).
func TestConcatenatedStreams(t *testing.T) {
	a, b := []byte("first part\n"), []byte("second part\n")
	for _, c := range compressors {
		if c.format == LZMA {
			continue
		}
		t.Run(string(c.format), func(t *testing.T) {
			packed := append(compress(t, c.cmd, a), compress(t, c.cmd, b)...)
			got, err := readAll(t, packed, "x"+c.ext, 0)
			if err != nil {
				t.Fatal(err)
			}
			if want := string(a) + string(b); string(got) != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}

func TestFixtures(t *testing.T) {
	want, err := os.ReadFile("testdata/sample.xml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sample.xml", "sample.xml.gz", "sample.xml.xz", "sample.xml.zst", "sample.xml.bz2"} {
		t.Run(name, func(t *testing.T) {
			packed, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, packed, name, 1<<10)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		head []byte
		name string
		want Format
	}{
		{[]byte{0x1f, 0x8b, 8, 0}, "", Gzip},
		{[]byte{0xfd, '7', 'z', 'X', 'Z', 0}, "a.gz", XZ}, // magic beats the name
		{[]byte{0x28, 0xb5, 0x2f, 0xfd}, "", Zstd},
		{[]byte("BZh9"), "", Bzip2},
		{[]byte("\x00ZCK1"), "", Zchunk},
		{[]byte("<?xml"), "primary.xml", Plain},
		{[]byte("<?xml"), "https://mirror/repodata/abc-primary.xml.GZ", Gzip},
		{[]byte("<?x"), "x.xz", XZ},
		{nil, "x.zst", Zstd},
		{nil, "https://mirror.invalid/x.zst?token=a.b", Zstd},
		{nil, "https://mirror.invalid/x.xml#frag.gz", Plain},
		{nil, "x.bz2", Bzip2},
		{nil, "x-primary.xml.zck", Zchunk},
		{nil, "", Plain},
		{[]byte{0x1f}, "", Plain}, // half a magic is no magic
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/%s", tt.head, tt.name), func(t *testing.T) {
			if got := Detect(tt.head, tt.name); got != tt.want {
				t.Errorf("Detect(%q, %q) = %s, want %s", tt.head, tt.name, got, tt.want)
			}
		})
	}
}

func TestPlainPassThrough(t *testing.T) {
	plain := metadataLike(10000)
	got, err := readAll(t, plain, "repomd.xml", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatal("plain data changed on the way through")
	}
}

func TestZchunkUnsupported(t *testing.T) {
	for _, tt := range []struct{ data, name string }{
		{"\x00ZCK1rest-of-header", "primary.xml"},
		{"whatever", "abc-primary.xml.zck"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Reader(bytes.NewReader([]byte(tt.data)), tt.name, 0)
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("got %v, want ErrUnsupported", err)
			}
		})
	}
}

// A name promising a compressed format over bytes without its magic is an
// error, not silently passed through.
func TestNameWithoutMagicIsDecodedAsNamed(t *testing.T) {
	for _, c := range compressors {
		t.Run(string(c.format), func(t *testing.T) {
			_, err := readAll(t, []byte("<?xml version=\"1.0\"?><repomd/>"), "repomd.xml"+c.ext, 0)
			if err == nil {
				t.Fatal("plain XML named as compressed decoded without error")
			}
		})
	}
}

func TestLimit(t *testing.T) {
	plain := metadataLike(100000)
	for _, c := range append(compressors, struct {
		format Format
		ext    string
		cmd    []string
	}{Plain, "", []string{"cat"}}) {
		packed := compress(t, c.cmd, plain)
		tests := []struct {
			limit   int64
			wantErr bool
		}{
			{0, false},
			{-1, false},
			{int64(len(plain)), false}, // exactly the limit is fine
			{int64(len(plain)) - 1, true},
			{1, true},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%d", c.format, tt.limit), func(t *testing.T) {
				got, err := readAll(t, packed, "f"+c.ext, tt.limit)
				if tt.wantErr {
					if !errors.Is(err, ErrTooLarge) {
						t.Fatalf("got %v, want ErrTooLarge", err)
					}
					if int64(len(got)) != tt.limit {
						t.Fatalf("produced %d bytes before failing, want exactly the limit %d", len(got), tt.limit)
					}
					return
				}
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("got %d bytes, %v; want %d bytes", len(got), err, len(plain))
				}
			})
		}
	}
}

// TestBomb decodes 1 GiB of zeros (16 concatenated 64 MiB streams made by the
// real tools) with a 16 MiB limit: it must stop at the limit with
// ErrTooLarge, having allocated a small fraction of the expanded size.
func TestBomb(t *testing.T) {
	zeros := make([]byte, 64<<20)
	const copies = 16
	const limit = 16 << 20
	for _, c := range compressors {
		t.Run(string(c.format), func(t *testing.T) {
			packed := bytes.Repeat(compress(t, c.cmd, zeros), copies)
			t.Logf("%s bomb: %d compressed bytes expand to %d", c.format, len(packed), copies*len(zeros))

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			rc, err := Reader(bytes.NewReader(packed), "bomb"+c.ext, limit)
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			runtime.ReadMemStats(&after)

			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("got %v after %d bytes, want ErrTooLarge", err, n)
			}
			if n != limit {
				t.Errorf("produced %d bytes, want exactly the limit %d", n, limit)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("allocated %d bytes to decode %d: memory is not bounded", alloc, n)
			}
		})
	}
}

// Truncated streams must fail, never end with a clean io.EOF.
func TestTruncated(t *testing.T) {
	plain := metadataLike(200000)
	for _, c := range compressors {
		packed := compress(t, c.cmd, plain)
		for _, cut := range []int{1, 4, 8, len(packed) / 2, len(packed) - 1} {
			t.Run(fmt.Sprintf("%s/keep-%d-of-%d", c.format, len(packed)-cut, len(packed)), func(t *testing.T) {
				got, err := readAll(t, packed[:len(packed)-cut], "f"+c.ext, 0)
				if err == nil {
					t.Fatalf("truncated %s stream decoded to %d bytes without error", c.format, len(got))
				}
				if errors.Is(err, ErrTooLarge) {
					t.Fatalf("wrong error: %v", err)
				}
			})
		}
	}
}

// An xz header asking for a 4 GiB dictionary is refused before anything is
// allocated.
func TestXZHugeDictionary(t *testing.T) {
	packed := compress(t, []string{"xz", "-c", "--lzma2=dict=1536MiB"}, []byte("hello"))
	_, err := readAll(t, packed, "f.xz", 0)
	if err == nil || !strings.Contains(err.Error(), "dictionary of 1610612736 bytes exceeds") {
		t.Fatalf("xz stream with a 1.5 GiB dictionary: got %v, want the dictionary refused", err)
	}
	small := compress(t, []string{"xz", "-c", "--lzma2=dict=64MiB"}, []byte("hello"))
	if got, err := readAll(t, small, "f.xz", 0); err != nil || string(got) != "hello" {
		t.Fatalf("xz -9 sized dictionary: got %q, %v", got, err)
	}
}

func TestLZMA2Dictionary(t *testing.T) {
	tests := []struct {
		code byte
		want int64
	}{
		{0, 4 << 10}, {1, 6 << 10}, {2, 8 << 10}, {18, 2 << 20}, {19, 3 << 20}, {22, 8 << 20}, {26, 32 << 20},
		{28, 64 << 20}, {39, 3 << 30}, {40, 1<<32 - 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			if got := lzma2Dictionary(tt.code); got != tt.want {
				t.Errorf("lzma2Dictionary(%d) = %d, want %d", tt.code, got, tt.want)
			}
		})
	}
}

func FuzzDecompress(f *testing.F) {
	names, _ := filepath.Glob("testdata/sample.xml*")
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, filepath.Base(name))
	}
	f.Add([]byte("\x00ZCK1"), "x.zck")
	f.Add([]byte{0x1f, 0x8b}, "x")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		const limit = 1 << 20
		rc, err := Reader(bytes.NewReader(data), name, limit)
		if err != nil {
			return
		}
		defer rc.Close()
		n, err := io.Copy(io.Discard, rc)
		if n > limit {
			t.Fatalf("produced %d bytes past the %d limit", n, limit)
		}
		if err == nil && Detect(data, name) == Plain && n != int64(len(data)) && len(data) <= limit {
			t.Fatalf("plain stream of %d bytes came out as %d", len(data), n)
		}
	})
}

func ExampleReader() {
	f, err := os.Open("testdata/sample.xml.zst")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	rc, err := Reader(f, f.Name(), 64<<20)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(data))
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <metadata packages="0"/>
}

// TestRPMPayload decodes each format under the PAYLOADCOMPRESSOR value rpm gives it, and
// refuses, naming it, a compressor rpm does not have.
func TestRPMPayload(t *testing.T) {
	plain := metadataLike(100000)
	values := map[Format]string{Gzip: "gzip", XZ: "xz", Zstd: "zstd", Bzip2: "bzip2", LZMA: "lzma"}
	for _, c := range compressors {
		t.Run(values[c.format], func(t *testing.T) {
			rc, err := RPMPayload(bytes.NewReader(compress(t, c.cmd, plain)), values[c.format], 0)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("got %d bytes, %v; want %d bytes", len(got), err, len(plain))
			}
		})
	}
	for _, value := range []string{"", "gzip"} { // no tag means gzip; rpm passes non-gzip data through
		rc, err := RPMPayload(bytes.NewReader(plain), value, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%q: got %d bytes, %v; want the data unchanged", value, len(got), err)
		}
	}
	if _, err := RPMPayload(bytes.NewReader(plain), "lzip", 0); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `"lzip"`) {
		t.Fatalf("compressor lzip: got %v, want ErrUnsupported naming it", err)
	}
}

// An .lzma header asking for a dictionary beyond MaxWindow is refused before anything is
// allocated.
func TestLZMAHugeDictionary(t *testing.T) {
	packed := compress(t, []string{"xz", "--format=lzma", "-c", "--lzma1=dict=1536MiB"}, []byte("hello"))
	if _, err := readAll(t, packed, "f.lzma", 0); err == nil || !strings.Contains(err.Error(), "dictionary") {
		t.Fatalf("lzma stream with a 1.5 GiB dictionary: got %v, want the dictionary refused", err)
	}
}

// errAfter yields data, then err.
type errAfter struct {
	r   io.Reader
	err error
}

func (e *errAfter) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, e.err
	}
	return n, err
}

func (e *errAfter) Close() error { return nil }

// TestReadAhead: the read-ahead reader gives exactly the bytes of its source, then the
// source's error, and Close stops it midway without hanging.
func TestReadAhead(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 200000) // several blocks
	for _, tc := range []struct {
		name string
		err  error
	}{{"eof", io.EOF}, {"failure", errors.New("boom")}} {
		t.Run(tc.name, func(t *testing.T) {
			r := ReadAhead(&errAfter{r: bytes.NewReader(data), err: tc.err})
			got, err := io.ReadAll(iotest.OneByteReader(io.LimitReader(r, 1000)))
			if err != nil || !bytes.Equal(got, data[:1000]) {
				t.Fatalf("first bytes: %v", err)
			}
			rest, err := io.ReadAll(r)
			if tc.err == io.EOF && err != nil || tc.err != io.EOF && err != tc.err {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if !bytes.Equal(append(got, rest...), data) {
				t.Fatalf("read %d bytes, want the source's %d", len(got)+len(rest), len(data))
			}
			r.Close()
		})
	}
	r := ReadAhead(io.NopCloser(bytes.NewReader(data)))
	buf := make([]byte, 10)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestXZProgramMatchesGo: metadata xz streams decoded by the xz program (Reader) give the
// same bytes as the in-process decoder (RPMPayload), and a truncated stream fails both.
func TestXZProgramMatchesGo(t *testing.T) {
	if xzProgram() == "" {
		t.Skip("needs the xz command on PATH (Debian package xz-utils)")
	}
	data := bytes.Repeat([]byte("<package><name>refit</name></package>\n"), 50000)
	packed := compress(t, []string{"xz", "-6", "-c"}, data)
	for _, tc := range []struct {
		name   string
		stream []byte
		ok     bool
	}{{"whole", packed, true}, {"truncated", packed[:len(packed)/2], false}} {
		t.Run(tc.name, func(t *testing.T) {
			read := func(open func(io.Reader) (io.ReadCloser, error)) ([]byte, error) {
				r, err := open(bytes.NewReader(tc.stream))
				if err != nil {
					return nil, err
				}
				defer r.Close()
				return io.ReadAll(r)
			}
			viaProgram, perr := read(func(r io.Reader) (io.ReadCloser, error) { return Reader(r, "primary.xml.xz", 0) })
			inProcess, gerr := read(func(r io.Reader) (io.ReadCloser, error) { return RPMPayload(r, "xz", 0) })
			if tc.ok && (perr != nil || gerr != nil || !bytes.Equal(viaProgram, data) || !bytes.Equal(inProcess, data)) {
				t.Fatalf("program: %d bytes, %v; in process: %d bytes, %v; want %d bytes", len(viaProgram), perr, len(inProcess), gerr, len(data))
			}
			if !tc.ok && (perr == nil || gerr == nil || !strings.Contains(perr.Error(), "(xz)")) {
				t.Fatalf("truncated stream: program %v, in process %v; want both to fail, naming xz", perr, gerr)
			}
		})
	}
}

// TestXZProgramNeedsNoReadAhead: a stream decoded by the xz program is read straight from
// its megabyte pipe, without ReadAhead's second copy, and still gives every byte.
func TestXZProgramNeedsNoReadAhead(t *testing.T) {
	if xzProgram() == "" {
		t.Skip("needs the xz command on PATH (Debian package xz-utils)")
	}
	data := bytes.Repeat([]byte("<package><name>refit</name></package>\n"), 50000)
	dec, err := Reader(bytes.NewReader(compress(t, []string{"xz", "-6", "-c"}, data)), "primary.xml.xz", 0)
	if err != nil {
		t.Fatal(err)
	}
	r := ReadAhead(dec)
	defer r.Close()
	if r != dec {
		t.Fatalf("ReadAhead wrapped the xz program's reader in %T", r)
	}
	pipe := dec.(*limitedReader).dec.(*xzReader).out.(*os.File)
	size, err := unix.FcntlInt(pipe.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile("/proc/sys/fs/pipe-max-size")
	if max, _ := strconv.Atoi(strings.TrimSpace(string(raw))); size < 1<<20 && max >= 1<<20 {
		t.Errorf("pipe of %d bytes, want 1 MiB", size)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (%v), want %d", len(got), err, len(data))
	}
}
