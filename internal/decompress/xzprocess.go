package decompress

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// xzCommand is the xz program Reader runs for xz streams when it is installed (Debian's
// xz-utils); tests may clear it. liblzma decodes about three times as fast as the pure-Go
// decoder, and in its own process, so a repository's xz metadata decompresses on one core
// while it is parsed on another. RPMPayload keeps the in-process decoder (one process per
// package would cost more than it saves on small payloads).
var xzCommand = "xz"

var (
	xzOnce sync.Once
	xzPath string
)

// xzProgram returns the path of xzCommand, or "" when it is not installed.
func xzProgram() string {
	xzOnce.Do(func() {
		if xzCommand != "" {
			xzPath, _ = exec.LookPath(xzCommand)
		}
	})
	return xzPath
}

// xzProcess decodes br with the xz program. Its memory is capped at MaxWindow plus the
// decoder's own needs, as checkXZDictionary caps the in-process decoder's dictionary.
func xzProcess(path string, br *bufio.Reader) (io.ReadCloser, error) {
	cmd := exec.Command(path, "--decompress", "--stdout", "--no-warn",
		"--memlimit-decompress="+strconv.Itoa(MaxWindow+(32<<20)))
	cmd.Stdin = br
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if f, ok := out.(*os.File); ok {
		// A pipe of a megabyte instead of 64 KiB: xz writes and the parser reads in larger
		// steps, with fewer wake-ups on both sides. Best effort (pipe-max-size may be lower).
		unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, 1<<20)
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &xzReader{cmd: cmd, out: out, stderr: &stderr}, nil
}

// xzReader reads the xz process's output; at its end, the process's failure is the error.
type xzReader struct {
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr *bytes.Buffer
	done   bool
	err    error
}

func (x *xzReader) Read(p []byte) (int, error) {
	if x.done {
		return 0, x.err
	}
	n, err := x.out.Read(p)
	if err == io.EOF {
		x.done = true
		x.err = io.EOF
		if werr := x.cmd.Wait(); werr != nil {
			msg := strings.TrimSpace(x.stderr.String())
			if msg == "" {
				msg = werr.Error()
			}
			x.err = errors.New(msg)
		}
		if n > 0 {
			return n, nil
		}
		return 0, x.err
	}
	return n, err
}

// Close stops the process if it is still running and waits for it.
func (x *xzReader) Close() error {
	if x.done {
		return nil
	}
	x.done, x.err = true, fmt.Errorf("read after Close")
	x.cmd.Process.Kill()
	x.out.Close()
	x.cmd.Wait()
	return nil
}
