// Package fetch downloads repository files from http, https and file URLs, verifies
// their size and checksum, and keeps verified files in a cache keyed by checksum.
package fetch

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// ErrNotFound is returned (wrapped) when the server answers 404 or a file URL names a missing file.
var ErrNotFound = errors.New("fetch: not found")

// ErrChecksum is returned (wrapped) when a download does not match its expected size or checksum.
var ErrChecksum = errors.New("fetch: checksum mismatch")

// Client downloads files. The zero value is not usable: call New.
type Client struct {
	http     *http.Client
	cacheDir string
	// Retries is how many times a failed transfer (network error, 5xx) is tried again.
	Retries int
	// Backoff is the wait before the first retry; it doubles with each further retry.
	Backoff time.Duration
	// Progress, when set, receives a line now and then while a long download runs.
	Progress func(msg string)
	// ProgressEvery is how often Progress is called during one download.
	ProgressEvery time.Duration
}

// New returns a Client that caches verified downloads under cacheDir ("" disables the cache).
func New(cacheDir string) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 20 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = 60 * time.Second
	tr.TLSHandshakeTimeout = 20 * time.Second
	return &Client{
		http:          &http.Client{Transport: tr},
		cacheDir:      cacheDir,
		Retries:       3,
		Backoff:       time.Second,
		ProgressEvery: 5 * time.Second,
	}
}

// Want describes what a download must be. Zero fields are not checked.
type Want struct {
	// Size is the exact size in bytes.
	Size int64
	// Checksum is "<algorithm>:<hex>"; only sha256 is accepted for caching and verification.
	Checksum string
}

// digest is a parsed checksum: algorithm and lower-case hex value.
type digest struct{ algo, sum string }

var hashes = map[string]struct {
	size int
	new  func() hash.Hash
}{
	"sha1":   {sha1.Size, sha1.New},
	"sha224": {sha256.Size224, sha256.New224},
	"sha256": {sha256.Size, sha256.New},
	"sha384": {sha512.Size384, sha512.New384},
	"sha512": {sha512.Size, sha512.New},
}

func (w Want) digest() (digest, error) {
	if w.Checksum == "" {
		return digest{algo: "sha256"}, nil
	}
	algo, sum, ok := strings.Cut(strings.ToLower(w.Checksum), ":")
	if algo == "sha" {
		algo = "sha1" // old createrepo spelling
	}
	h, known := hashes[algo]
	if !ok || !known {
		return digest{}, fmt.Errorf("unsupported checksum %q: use \"sha256:<hex>\" (sha1, sha224, sha384 and sha512 are also accepted)", w.Checksum)
	}
	if b, err := hex.DecodeString(sum); err != nil || len(b) != h.size {
		return digest{}, fmt.Errorf("checksum %q is not %d hexadecimal bytes", w.Checksum, h.size)
	}
	return digest{algo, sum}, nil
}

// Resolve joins a base URL (a directory) and a relative path.
func Resolve(base, rel string) (string, error) {
	if u, err := url.Parse(rel); err == nil && u.Scheme != "" {
		return rel, nil
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("repository URL %q: %w", base, err)
	}
	b.Path = path.Join(b.Path, rel)
	if strings.HasSuffix(rel, "/") {
		b.Path += "/"
	}
	return b.String(), nil
}

// ReadSmall downloads a small file (repomd.xml, InRelease, a signature) into memory,
// refusing anything larger than limit bytes. It never uses the cache.
func (c *Client) ReadSmall(ctx context.Context, rawURL string, limit int64) ([]byte, error) {
	var out []byte
	err := c.withRetries(ctx, rawURL, func() error {
		body, _, err := c.open(ctx, rawURL)
		if err != nil {
			return err
		}
		defer body.Close()
		out, err = io.ReadAll(io.LimitReader(body, limit+1))
		if err != nil {
			return retryable{fmt.Errorf("reading %s: %w", rawURL, err)}
		}
		if int64(len(out)) > limit {
			return fmt.Errorf("%s is larger than %d bytes: not a repository metadata file", rawURL, limit)
		}
		return nil
	})
	return out, err
}

// Open returns a verified local copy of rawURL. With a sha256 checksum in want the
// file is served from the cache when present, and stored there after download.
// file:// URLs are read in place and verified. The caller closes the file.
func (c *Client) Open(ctx context.Context, rawURL string, want Want) (*os.File, error) {
	sum, err := want.digest()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rawURL, err)
	}
	if u, err := url.Parse(rawURL); err == nil && u.Scheme == "file" {
		f, err := os.Open(u.Path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", rawURL, ErrNotFound)
		}
		if err != nil {
			return nil, err
		}
		if err := verifyFile(f, rawURL, want.Size, sum); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
	var cached string
	if c.cacheDir != "" && sum.sum != "" {
		cached = filepath.Join(c.cacheDir, sum.algo, sum.sum[:2], sum.sum)
		if f, err := os.Open(cached); err == nil {
			if st, err := f.Stat(); err == nil && (want.Size == 0 || st.Size() == want.Size) {
				return f, nil
			}
			f.Close()
		}
	}
	dir := c.cacheDir
	if cached != "" {
		dir = filepath.Dir(cached)
	}
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating download cache %s: %w (set cache_dir to a writable folder)", dir, err)
	}
	var f *os.File
	err = c.withRetries(ctx, rawURL, func() error {
		tmp, err := os.CreateTemp(dir, ".download-*")
		if err != nil {
			return err
		}
		if err := c.download(ctx, rawURL, tmp, want.Size, sum); err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			return err
		}
		if cached != "" {
			if err := os.Rename(tmp.Name(), cached); err != nil {
				tmp.Close()
				os.Remove(tmp.Name())
				return err
			}
		} else {
			os.Remove(tmp.Name()) // unnamed: the open descriptor keeps the data
		}
		f = tmp
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (c *Client) download(ctx context.Context, rawURL string, dst *os.File, size int64, sum digest) error {
	body, length, err := c.open(ctx, rawURL)
	if err != nil {
		return err
	}
	defer body.Close()
	if size == 0 {
		size = length
	}
	h := hashes[sum.algo].new()
	var src io.Reader = body
	if c.Progress != nil {
		src = &progressReader{r: body, url: rawURL, total: size, every: c.ProgressEvery, report: c.Progress, last: time.Now()}
	}
	limit := int64(-1)
	if size > 0 {
		limit = size + 1
		src = io.LimitReader(src, limit)
	}
	n, err := io.Copy(io.MultiWriter(dst, h), src)
	if err != nil {
		return retryable{fmt.Errorf("downloading %s: %w", rawURL, err)}
	}
	return checkDigest(rawURL, n, size, h, sum)
}

func verifyFile(f *os.File, name string, size int64, sum digest) error {
	h := hashes[sum.algo].new()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	if err := checkDigest(name, n, size, h, sum); err != nil {
		return err
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}

func checkDigest(name string, n, size int64, h hash.Hash, sum digest) error {
	if size > 0 && n != size {
		return fmt.Errorf("%s: got %d bytes, metadata says %d: %w (the mirror may be mid-sync or the file was tampered with; retry later or use another mirror)", name, n, size, ErrChecksum)
	}
	if sum.sum != "" {
		if got := hex.EncodeToString(h.Sum(nil)); got != sum.sum {
			return fmt.Errorf("%s: %s is %s, metadata says %s: %w (the mirror may be mid-sync or the file was tampered with; retry later or use another mirror)", name, sum.algo, got, sum.sum, ErrChecksum)
		}
	}
	return nil
}

// open starts reading rawURL and returns its body and length (-1 when unknown).
func (c *Client) open(ctx context.Context, rawURL string) (io.ReadCloser, int64, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, 0, fmt.Errorf("bad URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "file":
		f, err := os.Open(u.Path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, 0, fmt.Errorf("%s: %w", rawURL, ErrNotFound)
		}
		if err != nil {
			return nil, 0, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, err
		}
		if st.IsDir() {
			f.Close()
			return nil, 0, fmt.Errorf("%s is a directory, not a file", rawURL)
		}
		return f, st.Size(), nil
	case "http", "https":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return nil, 0, err
		}
		req.Header.Set("User-Agent", "packer-plugin-refit")
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, 0, retryable{fmt.Errorf("fetching %s: %w (check the repository URL and that the mirror is reachable)", rawURL, err)}
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			return resp.Body, resp.ContentLength, nil
		case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
			resp.Body.Close()
			return nil, 0, fmt.Errorf("%s: HTTP %s: %w", rawURL, resp.Status, ErrNotFound)
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
			resp.Body.Close()
			return nil, 0, retryable{fmt.Errorf("%s: HTTP %s", rawURL, resp.Status)}
		default:
			resp.Body.Close()
			return nil, 0, fmt.Errorf("%s: HTTP %s", rawURL, resp.Status)
		}
	default:
		return nil, 0, fmt.Errorf("URL %q: unsupported scheme %q (use http, https or file)", rawURL, u.Scheme)
	}
}

// retryable marks an error worth another attempt.
type retryable struct{ error }

func (r retryable) Unwrap() error { return r.error }

func (c *Client) withRetries(ctx context.Context, rawURL string, try func() error) error {
	wait := c.Backoff
	for attempt := 0; ; attempt++ {
		err := try()
		var r retryable
		if err == nil || !errors.As(err, &r) || attempt >= c.Retries || ctx.Err() != nil {
			if err != nil && attempt > 0 {
				return fmt.Errorf("%w (gave up after %d attempts)", err, attempt+1)
			}
			return err
		}
		if c.Progress != nil {
			c.Progress(fmt.Sprintf("retrying %s in %s: %v", rawURL, wait, err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

type progressReader struct {
	r      io.Reader
	url    string
	n      int64
	total  int64
	every  time.Duration
	last   time.Time
	report func(string)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		if p.total > 0 {
			p.report(fmt.Sprintf("downloading %s: %s of %s", p.url, mib(p.n), mib(p.total)))
		} else {
			p.report(fmt.Sprintf("downloading %s: %s", p.url, mib(p.n)))
		}
	}
	return n, err
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
