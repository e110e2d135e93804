package chroot

import (
	"bytes"
	"context"
	"strings"
	"testing"

	sdkchroot "github.com/hashicorp/packer-plugin-sdk/chroot"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// TestCommunicatorLeavesHostTMPDIROutside: with the build host's TMPDIR set to a host folder,
// a command run in a real Debian root through the communicator sees no TMPDIR, and mktemp
// (which failed there before) makes its file under the root's /tmp.
func TestCommunicatorLeavesHostTMPDIROutside(t *testing.T) {
	fixture.NeedRoot(t)
	root := fixture.DebianRoot(t)
	t.Setenv("TMPDIR", t.TempDir())
	c := &communicator{Communicator: &sdkchroot.Communicator{Chroot: root, CmdWrapper: func(s string) (string, error) { return s, nil }}}
	var stdout, stderr bytes.Buffer
	// no $ in the command: the SDK passes it inside double quotes through the host's shell
	cmd := &packersdk.RemoteCmd{Command: `env | grep ^TMPDIR= || echo TMPDIR=unset; mktemp`, Stdout: &stdout, Stderr: &stderr}
	if err := c.Start(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	if status := cmd.Wait(); status != 0 {
		t.Fatalf("exit status %d: %s%s", status, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 || lines[0] != "TMPDIR=unset" || !strings.HasPrefix(lines[1], "/tmp/tmp.") {
		t.Fatalf("inside the image: %q, want TMPDIR unset and a file under /tmp", lines)
	}
}
