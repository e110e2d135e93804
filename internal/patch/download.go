package patch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sync"

	"github.com/refit-images/packer-plugin-refit/internal/fetch"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// downloadAll fetches every update concurrently (at most Options.Concurrency at once),
// verifying size and checksum against the metadata, copies each into dir, and hands it to
// read as it streams by; read checks the package itself. A package without a checksum, or
// one read refuses, fails the whole download with ErrRefused.
func downloadAll[T any](ctx context.Context, opts *Options, ups []updates.Update, dir string, read func(u updates.Update, r io.Reader, file string) (T, error)) ([]T, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	client := fetch.New(filepath.Join(opts.CacheDir, "packages"))
	client.Progress = opts.Log
	out := make([]T, len(ups))
	errs := make([]error, len(ups))
	sem := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done, total := 0, int64(0)
	for i := range ups {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			out[i], errs[i] = downloadOne(ctx, client, ups[i], dir, read)
			if errs[i] == nil {
				mu.Lock()
				done++
				total += ups[i].Size
				opts.log("downloaded %d/%d packages (%.1f MB)", done, len(ups), float64(total)/1e6)
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func downloadOne[T any](ctx context.Context, client *fetch.Client, u updates.Update, dir string, read func(updates.Update, io.Reader, string) (T, error)) (T, error) {
	var zero T
	if u.Checksum == "" {
		return zero, fmt.Errorf("%w: %s %s has no checksum in the metadata; refit only installs verified packages", ErrRefused, u.Name, u.Available)
	}
	f, err := client.Open(ctx, u.Location, fetch.Want{Size: u.Size, Checksum: u.Checksum})
	if err != nil {
		return zero, fmt.Errorf("downloading %s %s: %w", u.Name, u.Available, err)
	}
	defer f.Close()
	dst := filepath.Join(dir, path.Base(u.Location))
	out, err := os.Create(dst)
	if err != nil {
		return zero, err
	}
	v, err := read(u, io.TeeReader(f, out), dst)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, ErrRefused) {
			return zero, err
		}
		return zero, fmt.Errorf("%w: %s %s (%s): %w", ErrRefused, u.Name, u.Available, u.Location, err)
	}
	return v, nil
}
