package chroot

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// testKey is an SSH key pair made for one test.
type testKey struct {
	private string // path of the private key
	public  string // the public key line
}

// sshKey makes an ed25519 key pair without a passphrase.
func sshKey(t *testing.T) testKey {
	t.Helper()
	fixture.Need(t, "ssh-keygen")
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := runLogged(exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "refit-acc", "-f", path)); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return testKey{private: path, public: strings.TrimSpace(string(pub))}
}

// bootAndLogIn boots image (through a throw-away qcow2 overlay, so the image is not
// changed) with qemu's TCG accelerator (this machine's /dev/kvm cannot boot stock
// kernels), waits until SSH lets root in with key, runs command and returns its
// output.
func bootAndLogIn(t *testing.T, image string, key testKey, command string) string {
	t.Helper()
	fixture.Need(t, "qemu-system-x86_64", "qemu-img", "ssh")
	dir := t.TempDir()
	overlay := filepath.Join(dir, "overlay.qcow2")
	abs, err := filepath.Abs(image)
	if err != nil {
		t.Fatal(err)
	}
	if err := runLogged(exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-b", abs, "-F", "qcow2", overlay)); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	serial := filepath.Join(dir, "serial.log")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	qemu := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-smp", "2", "-nographic",
		"-drive", "file="+overlay+",if=virtio,format=qcow2",
		"-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:22", port), "-device", "virtio-net-pci,netdev=n0",
		"-serial", "file:"+serial, "-monitor", "none", "-display", "none")
	qemu.Stdin = nil
	if err := qemu.Start(); err != nil {
		t.Fatalf("starting qemu: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- qemu.Wait() }()
	defer func() {
		_ = qemu.Process.Kill()
		<-exited
		if t.Failed() {
			log, _ := os.ReadFile(serial)
			t.Logf("serial console:\n%s", tail(string(log), 6000))
		}
	}()
	ssh := func(ctx context.Context, cmd string) *exec.Cmd {
		return exec.CommandContext(ctx, "ssh", "-i", key.private, "-p", fmt.Sprint(port),
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
			"-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "root@127.0.0.1", cmd)
	}
	start := time.Now()
	for {
		try, stop := context.WithTimeout(ctx, 20*time.Second)
		err := ssh(try, "true").Run()
		stop()
		if err == nil {
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("qemu ended before SSH answered: %v", err)
		case <-ctx.Done():
			t.Fatalf("no SSH login after %v: %v", time.Since(start).Round(time.Second), err)
		case <-time.After(2 * time.Second):
		}
	}
	t.Logf("SSH login after %v", time.Since(start).Round(time.Second))
	out, err := ssh(ctx, command).CombinedOutput()
	t.Logf("$ %s\n%s", command, out)
	if err != nil {
		t.Fatalf("running %q in the booted image: %v", command, err)
	}
	return string(out)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
