package chroot

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// TestFindAndStopImageProcesses starts a mount namespace held by one process, a
// process inside it that ignores SIGTERM, and one outside, and checks that only
// the one inside is found, and that stopProcesses ends it (with SIGKILL).
func TestFindAndStopImageProcesses(t *testing.T) {
	fixture.NeedRoot(t)
	fixture.Need(t, "unshare", "nsenter", "sleep")
	holder := startProcess(t, "unshare", "--mount", "--propagation", "private", "sleep", "300")
	waitNamespace(t, holder)
	inside := startProcess(t, "nsenter", "--target", strconv.Itoa(holder), "--mount", "--",
		"sh", "-c", "trap '' TERM; exec sleep 301")
	outside := startProcess(t, "sleep", "302")

	var found []imageProcess
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		if found, err = findImageProcesses(holder, nil); err != nil {
			t.Fatal(err)
		}
		if len(found) == 1 && strings.Contains(found[0].Name, "sleep 301") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(found) != 1 || found[0].PID != inside {
		t.Fatalf("found %v, want only %d (inside the namespace), not the holder %d or %d outside", found, inside, holder, outside)
	}
	if left := stopProcesses(found, 300*time.Millisecond); len(left) > 0 {
		t.Fatalf("still running after SIGTERM and SIGKILL: %v", left)
	}
	if left := alive([]imageProcess{{PID: outside}}); len(left) != 1 {
		t.Error("the process outside the namespace was stopped too")
	}
}

// startProcess starts a command that the test's cleanup kills, reaping it in the
// background so that it does not stay a zombie.
func startProcess(t *testing.T, name string, args ...string) int {
	t.Helper()
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { _ = cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd.Process.Pid
}

// waitNamespace waits until pid (started by unshare) runs in a mount namespace of its own.
func waitNamespace(t *testing.T, pid int) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if name := processName(pid); strings.HasPrefix(name, "sleep") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process %d never became sleep in its own namespace", pid)
}

func TestNamespaceHolder(t *testing.T) {
	tests := []struct {
		prefix  []string
		want    int
		wantErr bool
	}{
		{[]string{"nsenter", "--target", "4242", "--mount", "--"}, 4242, false},
		{[]string{"nsenter", "--mount"}, 0, true},
		{[]string{"nsenter", "--target"}, 0, true},
		{nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.prefix, " "), func(t *testing.T) {
			got, err := namespaceHolder(tt.prefix)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("namespaceHolder = %d, %v; want %d (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
