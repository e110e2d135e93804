package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func sha(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }

func newServer(t *testing.T, files map[string][]byte, failFirst int32) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if n <= failFirst {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func quick(cache string) *Client {
	c := New(cache)
	c.Backoff = time.Millisecond
	return c
}

func TestOpen(t *testing.T) {
	data := []byte("primary metadata")
	srv, hits := newServer(t, map[string][]byte{"/repo/primary.xml": data}, 0)
	cases := []struct {
		name    string
		want    Want
		wantErr error
	}{
		{"checksum and size", Want{Size: int64(len(data)), Checksum: sha(data)}, nil},
		{"wrong checksum", Want{Checksum: sha([]byte("other"))}, ErrChecksum},
		{"wrong size", Want{Size: 3}, ErrChecksum},
		{"no expectations", Want{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := quick(t.TempDir())
			f, err := c.Open(context.Background(), srv.URL+"/repo/primary.xml", tc.want)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, _ := io.ReadAll(f)
			if string(got) != string(data) {
				t.Fatalf("got %q", got)
			}
		})
	}
	_ = hits
}

func TestOpenCachesByChecksum(t *testing.T) {
	data := []byte("Packages index")
	srv, hits := newServer(t, map[string][]byte{"/p": data}, 0)
	c := quick(t.TempDir())
	for i := 0; i < 3; i++ {
		f, err := c.Open(context.Background(), srv.URL+"/p", Want{Checksum: sha(data)})
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("server hit %d times, want 1 (later opens come from the cache)", n)
	}
}

func TestRetriesServerErrors(t *testing.T) {
	data := []byte("x")
	srv, hits := newServer(t, map[string][]byte{"/f": data}, 2)
	c := quick("")
	var lines int
	c.Progress = func(string) { lines++ }
	b, err := c.ReadSmall(context.Background(), srv.URL+"/f", 10)
	if err != nil || string(b) != "x" {
		t.Fatalf("ReadSmall = %q, %v", b, err)
	}
	if hits.Load() != 3 || lines != 2 {
		t.Fatalf("hits=%d retry lines=%d, want 3 and 2", hits.Load(), lines)
	}
	srv2, _ := newServer(t, map[string][]byte{"/f": data}, 100)
	if _, err := c.ReadSmall(context.Background(), srv2.URL+"/f", 10); err == nil {
		t.Fatal("want an error from a server that always fails")
	}
}

func TestNotFoundAndLimits(t *testing.T) {
	srv, hits := newServer(t, map[string][]byte{"/big": make([]byte, 100)}, 0)
	c := quick("")
	if _, err := c.ReadSmall(context.Background(), srv.URL+"/missing", 10); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if hits.Load() != 1 {
		t.Fatalf("a 404 must not be retried; hits = %d", hits.Load())
	}
	if _, err := c.ReadSmall(context.Background(), srv.URL+"/big", 10); err == nil {
		t.Fatal("want an error for a file over the limit")
	}
	if _, err := c.ReadSmall(context.Background(), "ftp://example.invalid/x", 10); err == nil {
		t.Fatal("want an error for an unsupported scheme")
	}
}

func TestFileURL(t *testing.T) {
	dir := t.TempDir()
	data := []byte("local repo file")
	p := filepath.Join(dir, "repomd.xml")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c := quick(t.TempDir())
	u := "file://" + p
	f, err := c.Open(context.Background(), u, Want{Checksum: sha(data)})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := c.Open(context.Background(), u, Want{Checksum: sha([]byte("no"))}); !errors.Is(err, ErrChecksum) {
		t.Fatalf("err = %v, want ErrChecksum", err)
	}
	if _, err := c.Open(context.Background(), "file://"+dir+"/nope", Want{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func TestResolve(t *testing.T) {
	cases := []struct{ base, rel, want string }{
		{"https://m.example.invalid/repo", "repodata/repomd.xml", "https://m.example.invalid/repo/repodata/repomd.xml"},
		{"https://m.example.invalid/repo/", "repodata/repomd.xml", "https://m.example.invalid/repo/repodata/repomd.xml"},
		{"file:///srv/repo", "Packages/a.rpm", "file:///srv/repo/Packages/a.rpm"},
		{"file:///srv/repo", "https://other.example.invalid/a.rpm", "https://other.example.invalid/a.rpm"},
	}
	for _, tc := range cases {
		got, err := Resolve(tc.base, tc.rel)
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%q, %q) = %q, %v; want %q", tc.base, tc.rel, got, err, tc.want)
		}
	}
}
