// Package vmtest boots disk images under qemu for tests and talks to them over SSH.
//
// This machine's /dev/kvm cannot boot ordinary guests, so every VM runs with qemu's TCG accelerator
// (a small Debian image reaches SSH in about 40 seconds). Options.Machine chooses the emulator and
// the firmware (BIOS, OVMF for UEFI images). A VM boots through a throw-away copy of the
// image, so the image itself is never changed; its SSH port (and any other guest port asked for) is
// forwarded to 127.0.0.1. It is test support: import it only from _test.go files.
package vmtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// Key is an SSH key pair made for one test.
type Key struct {
	Private string // path of the private key file
	Public  string // the public key line
}

// NewKey makes an ed25519 key pair without a passphrase in a test directory.
func NewKey(tb testing.TB) Key {
	tb.Helper()
	fixture.Need(tb, "ssh-keygen")
	path := filepath.Join(tb.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "refit-test", "-f", path).CombinedOutput(); err != nil {
		tb.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		tb.Fatal(err)
	}
	return Key{Private: path, Public: strings.TrimSpace(string(pub))}
}

// Machine is what a guest boots on: the qemu system emulator, its machine arguments, and the
// firmware. Boot takes it as data, so another architecture or firmware is one more value, not code.
type Machine struct {
	// Name names the machine in messages ("pc-bios", "pc-ovmf").
	Name string
	// QEMU is the system emulator ("qemu-system-x86_64").
	QEMU string
	// Args are the machine arguments before the drives ("-M", "q35"); TCG, memory and CPUs are
	// added by Boot.
	Args []string
	// Code is the read-only UEFI firmware image, mapped as the first pflash unit; empty boots
	// qemu's default firmware (SeaBIOS on x86).
	Code string
	// Vars is the template of the UEFI variable store: each VM gets a writable copy of it as the
	// second pflash unit (so the template and other VMs never see its writes). Empty: none.
	Vars string
	// Packages are the Debian packages that ship QEMU and the firmware, for the skip message.
	Packages []string
	// Timeout bounds the waits for SSH (default 10 minutes; emulating another architecture
	// is slower).
	Timeout time.Duration
}

// The machines tests boot on.
var (
	// BIOS is a PC with SeaBIOS, qemu's default: images whose boot loader is in the MBR.
	BIOS = Machine{Name: "pc-bios", QEMU: "qemu-system-x86_64", Packages: []string{"qemu-system-x86"}}
	// OVMF is a q35 PC with UEFI firmware (Debian's ovmf, without Secure Boot): images with an
	// EFI system partition and the loader at the removable path EFI/BOOT/BOOTX64.EFI, since the
	// fresh variable store has no boot entries.
	OVMF = Machine{Name: "pc-ovmf", QEMU: "qemu-system-x86_64", Args: []string{"-M", "q35"},
		Code: "/usr/share/OVMF/OVMF_CODE_4M.fd", Vars: "/usr/share/OVMF/OVMF_VARS_4M.fd",
		Packages: []string{"qemu-system-x86", "ovmf"}}
	// AAVMF is qemu's arm64 virt machine (any CPU feature TCG emulates) with Debian's EDK2
	// build for it (qemu-efi-aarch64): arm64 UEFI images with the loader at
	// EFI/BOOT/BOOTAA64.EFI. TCG emulation of another architecture is slow: 20 minutes to SSH.
	AAVMF = Machine{Name: "virt-aavmf", QEMU: "qemu-system-aarch64", Args: []string{"-M", "virt", "-cpu", "max"},
		Code: "/usr/share/AAVMF/AAVMF_CODE.fd", Vars: "/usr/share/AAVMF/AAVMF_VARS.fd",
		Packages: []string{"qemu-system-arm", "qemu-efi-aarch64"}, Timeout: 20 * time.Minute}
)

// UEFIMachine is the UEFI machine that boots images of the Debian architecture debArch
// (OVMF for amd64, AAVMF for arm64).
func UEFIMachine(tb testing.TB, debArch string) Machine {
	tb.Helper()
	switch debArch {
	case "amd64":
		return OVMF
	case "arm64":
		return AAVMF
	}
	tb.Fatalf("vmtest: no UEFI machine for architecture %s", debArch)
	return Machine{}
}

// need skips the test unless QEMU and the firmware files are there.
func (m Machine) need(tb testing.TB) {
	tb.Helper()
	var missing []string
	if _, err := exec.LookPath(m.QEMU); err != nil {
		missing = append(missing, m.QEMU)
	}
	for _, f := range []string{m.Code, m.Vars} {
		if _, err := os.Stat(f); f != "" && err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		tb.Skipf("booting on %s needs %s (apt-get install %s)", m.Name, strings.Join(missing, ", "), strings.Join(m.Packages, " "))
	}
}

// firmwareArgs returns the pflash arguments for m, copying the variable store template into dir.
func (m Machine) firmwareArgs(tb testing.TB, dir string) []string {
	tb.Helper()
	var args []string
	if m.Code != "" {
		args = append(args, "-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+m.Code)
	}
	if m.Vars != "" {
		vars := filepath.Join(dir, "efivars.fd")
		data, err := os.ReadFile(m.Vars)
		if err == nil {
			err = os.WriteFile(vars, data, 0o600)
		}
		if err != nil {
			tb.Fatalf("copying the UEFI variable store of %s: %v", m.Name, err)
		}
		args = append(args, "-drive", "if=pflash,format=raw,unit=1,file="+vars)
	}
	return args
}

// Options change how Boot starts a VM.
type Options struct {
	// Machine is what the guest boots on; the zero value is BIOS.
	Machine Machine
	// AuthorizeKey adds the key given to Boot to /root/.ssh/authorized_keys of the booted copy
	// (the image itself is not changed). Leave it false when the image already lets Login in.
	AuthorizeKey bool
	// Login and LoginKey are the account and key Boot waits for: default root and Boot's key.
	Login    string
	LoginKey Key
	// Forward lists guest TCP ports besides 22 to forward to 127.0.0.1 (see VM.HostPort).
	Forward []int
	// MemoryMiB defaults to 1024.
	MemoryMiB int
}

// VM is a running qemu guest.
type VM struct {
	tb      testing.TB
	ports   map[int]int // guest port → host port
	serial  string
	exited  chan error
	timeout time.Duration
	opts    Options
	disk    string // the qcow2 the guest writes
}

// Boot boots image (qcow2 or raw) with qemu TCG through a copy (a qcow2 overlay, or a copy when
// AuthorizeKey asks for the key to be written into it) and waits until Login can log in over SSH. The VM is killed when
// the test ends; its serial console is logged when the test failed.
func Boot(tb testing.TB, image string, key Key, opts Options) *VM {
	tb.Helper()
	if opts.Machine.QEMU == "" {
		opts.Machine = BIOS
	}
	opts.Machine.need(tb)
	fixture.Need(tb, "qemu-img", "ssh")
	if opts.Login == "" {
		opts.Login = "root"
	}
	if opts.LoginKey.Private == "" {
		opts.LoginKey = key
	}
	if opts.MemoryMiB == 0 {
		opts.MemoryMiB = 1024
	}
	dir := tb.TempDir()
	authorized := ""
	if opts.AuthorizeKey {
		authorized = key.Public
	}
	disk := prepareDisk(tb, image, dir, authorized)
	timeout := opts.Machine.Timeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	vm := &VM{tb: tb, ports: map[int]int{}, serial: filepath.Join(dir, "serial.log"), exited: make(chan error, 1), timeout: timeout, opts: opts, disk: disk}
	netdev := "user,id=n0"
	for _, guest := range append([]int{22}, opts.Forward...) {
		vm.ports[guest] = freePort(tb)
		netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", vm.ports[guest], guest)
	}
	args := append(slices.Clone(opts.Machine.Args), "-accel", "tcg", "-m", fmt.Sprint(opts.MemoryMiB), "-smp", "2", "-nographic")
	args = append(args, opts.Machine.firmwareArgs(tb, dir)...)
	args = append(args, "-drive", "file="+disk+",if=virtio,format=qcow2",
		"-netdev", netdev, "-device", "virtio-net-pci,netdev=n0",
		"-serial", "file:"+vm.serial, "-monitor", "none", "-display", "none")
	qemu := exec.Command(opts.Machine.QEMU, args...)
	if err := qemu.Start(); err != nil {
		tb.Fatalf("starting qemu: %v", err)
	}
	go func() { vm.exited <- qemu.Wait() }()
	tb.Cleanup(func() {
		_ = qemu.Process.Kill()
		<-vm.exited
		if tb.Failed() {
			tb.Logf("serial console of the VM:\n%s", vm.Console(6000))
		}
	})
	vm.WaitSSH()
	return vm
}

// prepareDisk returns a qcow2 the VM may write: an overlay over image, or, when key must be
// authorized for root, a qcow2 copy with the key written into its root filesystem.
func prepareDisk(tb testing.TB, image, dir, key string) string {
	tb.Helper()
	abs, err := filepath.Abs(image)
	if err != nil {
		tb.Fatal(err)
	}
	format, err := diskimage.DetectFormat(abs)
	if err != nil {
		tb.Fatal(err)
	}
	disk := filepath.Join(dir, "disk.qcow2")
	if key == "" {
		run(tb, "qemu-img", "create", "-q", "-f", "qcow2", "-b", abs, "-F", string(format), disk)
		return disk
	}
	fixture.NeedRoot(tb)
	raw := filepath.Join(dir, "disk.raw")
	run(tb, "qemu-img", "convert", "-O", "raw", abs, raw)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	img, err := diskimage.Attach(ctx, raw, diskimage.Options{})
	if err != nil {
		tb.Fatalf("attaching the VM disk to add an SSH key: %v", err)
	}
	mounts, err := img.MountRoot(ctx, filepath.Join(dir, "root"))
	if err == nil {
		err = AuthorizeKey(mounts, key)
	}
	if cerr := img.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatalf("adding the SSH key to the VM disk: %v", err)
	}
	run(tb, "qemu-img", "convert", "-O", "qcow2", raw, disk)
	_ = os.Remove(raw)
	return disk
}

// AuthorizeKey appends key (one authorized_keys line) to /root/.ssh/authorized_keys inside the
// mounted image, creating the directory where it is missing.
func AuthorizeKey(m *diskimage.Mounts, key string) error {
	dir, err := m.ResolvePath("/root/.ssh")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, "authorized_keys"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, key); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// HostPort returns the 127.0.0.1 port forwarded to guest port guest (22 or one of Options.Forward).
func (vm *VM) HostPort(guest int) int {
	p, ok := vm.ports[guest]
	if !ok {
		vm.tb.Fatalf("guest port %d is not forwarded (add it to Options.Forward)", guest)
	}
	return p
}

// Console returns the last n bytes of the serial console.
func (vm *VM) Console(n int) string {
	data, _ := os.ReadFile(vm.serial)
	if len(data) > n {
		return "…" + string(data[len(data)-n:])
	}
	return string(data)
}

// SSHArgs returns the ssh arguments (without the command) that log user in with key.
func (vm *VM) SSHArgs(user string, key Key) []string {
	return []string{"-i", key.Private, "-p", fmt.Sprint(vm.ports[22]),
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", user + "@127.0.0.1"}
}

// RunAs runs command as user (logging in with key) and returns its combined output.
func (vm *VM) RunAs(ctx context.Context, user string, key Key, command string) (string, error) {
	cmd := exec.CommandContext(ctx, "ssh", append(vm.SSHArgs(user, key), command)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Run runs command as the login account and fails the test when it fails.
func (vm *VM) Run(command string) string {
	vm.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), vm.timeout)
	defer cancel()
	out, err := vm.RunAs(ctx, vm.opts.Login, vm.opts.LoginKey, command)
	vm.tb.Logf("vm$ %s\n%s", command, out)
	if err != nil {
		vm.tb.Fatalf("running %q in the VM: %v", command, err)
	}
	return out
}

// WaitSSH waits (up to Machine.Timeout, default 10 minutes) until the login account can log in.
func (vm *VM) WaitSSH() {
	vm.tb.Helper()
	start := time.Now()
	deadline := start.Add(vm.timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := vm.RunAs(ctx, vm.opts.Login, vm.opts.LoginKey, "true")
		cancel()
		if err == nil {
			vm.tb.Logf("SSH login as %s after %v", vm.opts.Login, time.Since(start).Round(time.Second))
			return
		}
		select {
		case err := <-vm.exited:
			vm.exited <- err
			vm.tb.Fatalf("qemu ended before SSH answered: %v", err)
		case <-time.After(2 * time.Second):
		}
		if time.Now().After(deadline) {
			vm.tb.Fatalf("no SSH login as %s after %v: %v", vm.opts.Login, time.Since(start).Round(time.Second), err)
		}
	}
}

// Reboot reboots the guest and waits until SSH lets the login account in again on a new boot.
func (vm *VM) Reboot() {
	vm.tb.Helper()
	before := strings.TrimSpace(vm.Run("cat /proc/sys/kernel/random/boot_id"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	_, _ = vm.RunAs(ctx, vm.opts.Login, vm.opts.LoginKey, "systemctl reboot || sudo -n systemctl reboot")
	cancel()
	for i := 0; ; i++ {
		vm.WaitSSH()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		now, err := vm.RunAs(ctx, vm.opts.Login, vm.opts.LoginKey, "cat /proc/sys/kernel/random/boot_id")
		cancel()
		if err == nil && strings.TrimSpace(now) != before {
			return
		}
		if i > 60 {
			vm.tb.Fatal("the VM did not reboot")
		}
		time.Sleep(2 * time.Second)
	}
}

// Disk returns the qcow2 the guest writes: after Poweroff it holds the guest's end state (a
// standalone image when Options.AuthorizeKey made a copy, else an overlay over the booted image).
func (vm *VM) Disk() string { return vm.disk }

// Poweroff asks the guest to power off (systemctl poweroff) and waits (up to 10 minutes)
// until qemu exits, so that the guest's filesystems were unmounted cleanly. The request is
// sent again every 2 minutes while qemu runs: on a loaded host the SSH connection that
// carries it can time out before it reaches the guest.
func (vm *VM) Poweroff() {
	vm.tb.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, _ = vm.RunAs(ctx, vm.opts.Login, vm.opts.LoginKey, "systemctl poweroff || sudo -n systemctl poweroff") // the connection may drop first
		cancel()
		select {
		case err := <-vm.exited:
			vm.exited <- err
			if err != nil {
				vm.tb.Fatalf("qemu ended with %v after poweroff", err)
			}
			return
		case <-time.After(2 * time.Minute):
		}
		if time.Now().After(deadline) {
			vm.tb.Fatal("the VM did not power off within 10 minutes")
		}
	}
}

// SetLogin changes the account and key Run, WaitSSH and Reboot use.
func (vm *VM) SetLogin(user string, key Key) { vm.opts.Login, vm.opts.LoginKey = user, key }

// PortOpen reports whether a TCP service in the guest answers on guest port guest (forwarded by
// Options.Forward): qemu's user network accepts every forwarded connection on the host side, so
// open means the guest sent data (a banner) within wait, not that connect succeeded.
func (vm *VM) PortOpen(guest int, wait time.Duration) bool {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", vm.HostPort(guest)), wait)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 1)
	n, _ := conn.Read(buf)
	return n > 0
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
