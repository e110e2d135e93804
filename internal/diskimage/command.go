package diskimage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// CommandError is returned when an external tool (losetup, mount, qemu-img, ...) fails;
// it keeps the tool's own message, which usually says what is wrong.
type CommandError struct {
	// Args is the command line that ran.
	Args []string
	// Stderr is the trimmed standard error (or output) of the command.
	Stderr string
	// Err is the exec error, usually an *exec.ExitError.
	Err error
}

// Error implements error.
func (e *CommandError) Error() string {
	msg := fmt.Sprintf("%s: %v", strings.Join(e.Args, " "), e.Err)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// Unwrap returns the exec error.
func (e *CommandError) Unwrap() error { return e.Err }

// ExitCode returns the command's exit status, or -1 when it did not exit normally.
func (e *CommandError) ExitCode() int {
	var ee *exec.ExitError
	if errors.As(e.Err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// runCommand runs name with args and returns its standard output. Standard error is
// folded into a *CommandError on failure. A nil ctx is not allowed.
func runCommand(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		if len(msg) > 4000 {
			msg = msg[:4000] + "…"
		}
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return stdout.String(), &CommandError{Args: append([]string{name}, args...), Stderr: msg, Err: err}
	}
	return stdout.String(), nil
}

// exitCode returns the exit status carried by err, or -1.
func exitCode(err error) int {
	var ce *CommandError
	if errors.As(err, &ce) {
		return ce.ExitCode()
	}
	return -1
}
