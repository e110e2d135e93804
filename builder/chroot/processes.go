package chroot

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// imageProcess is a process running inside the image: in the build's mount
// namespace, or with its root directory on one of the image's filesystems.
type imageProcess struct {
	PID  int
	Name string // the command line, or the command name
}

func (p imageProcess) String() string { return fmt.Sprintf("%d (%s)", p.PID, p.Name) }

// findImageProcesses lists the processes in the mount namespace of holder (other
// than holder itself) and those whose root directory lies on one of the devices
// rootDevs (st_dev numbers): what a provisioner or package script left running.
func findImageProcesses(holder int, rootDevs map[uint64]bool) ([]imageProcess, error) {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", holder))
	if err != nil {
		return nil, fmt.Errorf("reading the build's mount namespace: %w", err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	self := os.Getpid()
	var out []imageProcess
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == holder || pid == self {
			continue
		}
		inside := false
		if id, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); err == nil && id == ns {
			inside = true
		} else {
			var st syscall.Stat_t
			if err := syscall.Stat(fmt.Sprintf("/proc/%d/root", pid), &st); err == nil && rootDevs[st.Dev] {
				inside = true
			}
		}
		if inside && !isZombie(pid) {
			out = append(out, imageProcess{PID: pid, Name: processName(pid)})
		}
	}
	return out, nil
}

// stopProcesses sends SIGTERM to procs, waits up to grace for them to end, then
// sends SIGKILL to the rest and waits as long again. It returns those still alive.
func stopProcesses(procs []imageProcess, grace time.Duration) []imageProcess {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		for _, p := range procs {
			_ = syscall.Kill(p.PID, sig)
		}
		deadline := time.Now().Add(grace)
		for len(procs) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			procs = alive(procs)
		}
		if procs = alive(procs); len(procs) == 0 {
			return nil
		}
	}
	return procs
}

// alive keeps the processes that still run (a zombie holds no mounts: it counts as ended).
func alive(procs []imageProcess) []imageProcess {
	var out []imageProcess
	for _, p := range procs {
		if err := syscall.Kill(p.PID, 0); errors.Is(err, syscall.ESRCH) || isZombie(p.PID) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// isZombie reports whether pid has exited and waits to be reaped.
func isZombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// processName returns the command line of pid (shortened), or its command name.
func processName(pid int) string {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if name := strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")); err == nil && name != "" {
		if len(name) > 100 {
			name = name[:100] + "…"
		}
		return name
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(comm))
}

// namespaceHolder returns the PID in a diskimage command prefix
// ("nsenter", "--target", PID, "--mount", "--").
func namespaceHolder(prefix []string) (int, error) {
	for i := 0; i+1 < len(prefix); i++ {
		if prefix[i] == "--target" {
			return strconv.Atoi(prefix[i+1])
		}
	}
	return 0, fmt.Errorf("no --target in the namespace command %q", prefix)
}
