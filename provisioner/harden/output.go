package harden

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/refit-images/packer-plugin-refit/internal/hardening"
)

// programInfo describes the uploaded program to the communicator: a regular file of mode 0600.
type programInfo struct{ size int64 }

func (programInfo) Name() string       { return "refit-harden.sh" }
func (i programInfo) Size() int64      { return i.size }
func (programInfo) Mode() os.FileMode  { return 0o600 }
func (programInfo) ModTime() time.Time { return time.Time{} }
func (programInfo) IsDir() bool        { return false }
func (programInfo) Sys() any           { return nil }

// executeData is what execute_command can reference.
type executeData struct {
	Path string
}

// showLine prints one line of the program's output: results formatted, anything else as is.
func showLine(ui packersdk.Ui, line string) {
	results, err := hardening.ParseResults([]byte(line + "\n"))
	if len(results) == 1 && (err == nil || errors.Is(err, hardening.ErrIncomplete)) {
		showResult(ui, results[0])
		return
	}
	if strings.HasPrefix(line, "REFIT-NFT-HOSTCHECK\t") {
		return
	}
	if strings.HasPrefix(line, "REFIT-OS\t") || strings.HasPrefix(line, "REFIT-PROFILE\t") || strings.HasPrefix(line, "REFIT-DONE\t") {
		return
	}
	if msg, ok := strings.CutPrefix(line, "REFIT-ERROR\t"); ok {
		if text, err := hardening.Unescape(msg); err == nil {
			msg = text
		}
		ui.Error("refit-harden: " + msg)
		return
	}
	ui.Say("refit-harden: " + line)
}

// showResult shows one rule's result (failures as errors).
func showResult(ui packersdk.Ui, r hardening.Result) {
	msg := fmt.Sprintf("refit-harden: %-7s %s", r.Status, r.ID)
	if r.Detail != "" && r.Status != hardening.StatusOK {
		msg += ": " + r.Detail
	}
	if r.Status == hardening.StatusFailed {
		ui.Error(msg)
	} else {
		ui.Say(msg)
	}
}

// reportFile is the JSON report.
type reportFile struct {
	Format string `json:"format"`
	hardening.Report
}

func writeReport(path string, r hardening.Report) error {
	if r.Results == nil {
		r.Results = []hardening.Result{}
	}
	data, err := json.MarshalIndent(reportFile{Format: "refit-harden-report/v1", Report: r}, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the report %s: %w", path, err)
	}
	return nil
}

// lineWriter calls line for every complete line written to it.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	line func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(strings.TrimSuffix(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// Flush passes on a last line without a newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(string(w.buf))
		w.buf = nil
	}
}
