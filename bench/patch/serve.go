package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// runServe serves a directory (the local mirror) over HTTP on 127.0.0.1, on a port the
// kernel picks, until SIGINT or SIGTERM. The port is written to -port-file once the
// server listens. qemu's user network forwards a guest's connections to its gateway
// address to the host's 127.0.0.1, so guests reach the same server. With -log, every
// request is logged as "METHOD PATH STATUS BYTES", which tells which contender fetched
// what.
func runServe(ctx context.Context, args []string) error {
	fs := newFlags("serve")
	dir := fs.String("dir", "", "directory to serve")
	portFile := fs.String("port-file", "", "file to write the port to")
	logFile := fs.String("log", "", "request log (default: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *portFile == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("-dir and -port-file are needed")
	}
	logw := io.Discard
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		logw = f
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listening on 127.0.0.1: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	tmp := *portFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(fmt.Sprintln(port)), 0o644); err != nil {
		ln.Close()
		return err
	}
	if err := os.Rename(tmp, *portFile); err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: logRequests(http.FileServer(http.Dir(filepath.Clean(*dir))), logw),
		ReadHeaderTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// statusRecorder remembers the status and size of a response.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// logRequests writes one line per request to w.
func logRequests(next http.Handler, w io.Writer) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		rec := &statusRecorder{ResponseWriter: rw}
		next.ServeHTTP(rec, req)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%s %s %d %d\n", req.Method, req.URL.Path, rec.status, rec.bytes)
	})
}

// runFreePort prints a TCP port on 127.0.0.1 that was free a moment ago (for the booted
// VM's SSH forward).
func runFreePort(_ context.Context, args []string) error {
	if err := newFlags("free-port").Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	return nil
}
