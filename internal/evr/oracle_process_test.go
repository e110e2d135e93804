package evr

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// lineOracle is one running oracle program (rpm with testdata/rpm_vercmp.lua, or perl with
// testdata/dpkg_version.pl) that answers one line per question line on its stdin.
type lineOracle struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	w      *bufio.Writer
	r      *bufio.Reader
	stderr bytes.Buffer
}

// startRPMOracle starts the real rpm evaluating testdata/rpm_vercmp.lua.
func startRPMOracle() (*lineOracle, error) {
	script, err := filepath.Abs(filepath.Join("testdata", "rpm_vercmp.lua"))
	if err != nil {
		return nil, err
	}
	return startOracle("rpm", "--eval", fmt.Sprintf(`%%{lua: dofile(%q)}`, script))
}

// startDpkgPerlOracle starts perl with Dpkg::Version running testdata/dpkg_version.pl.
func startDpkgPerlOracle() (*lineOracle, error) {
	return startOracle("perl", filepath.Join("testdata", "dpkg_version.pl"))
}

func startOracle(name string, args ...string) (*lineOracle, error) {
	o := &lineOracle{cmd: exec.Command(name, args...)}
	o.cmd.Stderr = &o.stderr
	o.cmd.Env = append(o.cmd.Environ(), "LC_ALL=C")
	in, err := o.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := o.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := o.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	o.stdin, o.w, o.r = in, bufio.NewWriterSize(in, 1<<16), bufio.NewReaderSize(out, 1<<16)
	return o, nil
}

// hexLine formats one question: the optional mode, then the hex of a and b.
func hexLine(mode, a, b string) string {
	line := hex.EncodeToString([]byte(a)) + " " + hex.EncodeToString([]byte(b))
	if mode != "" {
		line = mode + " " + line
	}
	return line
}

// ask sends one question and waits for its answer.
func (o *lineOracle) ask(line string) (string, error) {
	if _, err := o.w.WriteString(line + "\n.\n"); err != nil {
		return "", o.failed(err)
	}
	if err := o.w.Flush(); err != nil {
		return "", o.failed(err)
	}
	answer, err := o.r.ReadString('\n')
	if err != nil {
		return "", o.failed(err)
	}
	return strings.TrimSuffix(answer, "\n"), nil
}

// bulk sends every question, closes the oracle's input and returns its answers in order.
func (o *lineOracle) bulk(lines []string) ([]string, error) {
	writeErr := make(chan error, 1)
	go func() {
		for _, l := range lines {
			if _, err := o.w.WriteString(l + "\n"); err != nil {
				writeErr <- err
				return
			}
		}
		err := o.w.Flush()
		if cerr := o.stdin.Close(); err == nil {
			err = cerr
		}
		writeErr <- err
	}()
	answers := make([]string, 0, len(lines))
	for range lines {
		answer, err := o.r.ReadString('\n')
		if err != nil {
			return nil, o.failed(err)
		}
		answers = append(answers, strings.TrimSuffix(answer, "\n"))
	}
	if err := <-writeErr; err != nil {
		return nil, o.failed(err)
	}
	if err := o.cmd.Wait(); err != nil {
		return nil, o.failed(err)
	}
	return answers, nil
}

func (o *lineOracle) failed(err error) error {
	return fmt.Errorf("talking to %s: %w (stderr: %q)", o.cmd.Path, err, o.stderr.String())
}

// requireTool skips the test when a program the oracle needs is missing.
func requireTool(t testing.TB, name, what string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("needs %s in PATH (%s): %v", name, what, err)
	}
}

// requireDpkgPerl skips the test unless perl can load Dpkg::Version.
func requireDpkgPerl(t testing.TB) {
	t.Helper()
	requireTool(t, "perl", "to run Dpkg::Version")
	if out, err := exec.Command("perl", "-MDpkg::Version", "-e", "1").CombinedOutput(); err != nil {
		t.Skipf("needs the perl module Dpkg::Version (Debian package libdpkg-perl): %v: %s", err, out)
	}
}

// disagreements collects the pairs where this package and an oracle differ, keeping the
// first few for the failure message.
type disagreements struct {
	count int
	first []string
}

func (d *disagreements) add(format string, args ...any) {
	d.count++
	if len(d.first) < 15 {
		d.first = append(d.first, fmt.Sprintf(format, args...))
	}
}

// report logs the figures and fails the test on any disagreement.
func (d *disagreements) report(t *testing.T, what string, checked int, unit string) {
	t.Helper()
	t.Logf("%s: %d %s, %d disagreements", what, checked, unit, d.count)
	if d.count > 0 {
		t.Errorf("%s: %d of %d %s disagree; first ones:\n%s", what, d.count, checked, unit, strings.Join(d.first, "\n"))
	}
}
