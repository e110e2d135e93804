package diskimage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage/lvm"
)

// The integration tests attach images built by testdata/images/make-images.sh; they
// need root, loop devices and the tools that script and CheckHost name.

var testImages struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	if image := os.Getenv(crashHelperEnv); image != "" {
		os.Exit(runCrashHelper(image))
	}
	code := m.Run()
	if testImages.dir != "" {
		os.RemoveAll(testImages.dir)
	}
	os.Exit(code)
}

// needRoot skips unless the host can attach images.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root and loop devices")
	}
	if err := CheckHost(); err != nil {
		t.Skipf("needs root and loop devices: %v", err)
	}
}

// testImage returns the path of a generated test image (shared: attach it read-only
// or make a working copy).
func testImage(t testing.TB, name string) string {
	t.Helper()
	needRoot(t)
	for _, tool := range []struct{ name, pkg string }{
		{"sfdisk", "fdisk"}, {"mkfs.ext4", "e2fsprogs"}, {"mkswap", "util-linux"},
		{"mkfs.vfat", "dosfstools"}, {"mcopy", "mtools"}, {"mkfs.xfs", "xfsprogs"},
		{"xfs_repair", "xfsprogs"}, {"pvcreate", "lvm2"}, {"vgcfgrestore", "lvm2"},
	} {
		needTool(t, tool.name, tool.pkg)
	}
	testImages.once.Do(func() {
		dir, err := os.MkdirTemp("", "refit-diskimage-test-")
		if err != nil {
			testImages.err = err
			return
		}
		testImages.dir = dir
		out, err := exec.Command("../../testdata/images/make-images.sh", dir).CombinedOutput()
		if err != nil {
			testImages.err = fmt.Errorf("make-images.sh: %v: %s", err, out)
		}
	})
	if testImages.err != nil {
		t.Fatal(testImages.err)
	}
	return filepath.Join(testImages.dir, name)
}

// workingCopy makes a raw working copy of a test image in a test directory.
func workingCopy(t testing.TB, name string) string {
	t.Helper()
	src := testImage(t, name)
	dst := filepath.Join(t.TempDir(), "work.raw")
	if _, err := MakeWorkingCopy(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func testLog(t testing.TB) func(string) {
	return func(s string) { t.Helper(); t.Log(s) }
}

// imageDevices returns the major:minor numbers of every device of img.
func imageDevices(t testing.TB, img *Image) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range img.Filesystems() {
		if f.Device == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/sys/class/block", filepath.Base(f.Device), "dev"))
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSpace(string(b))] = f.Device
	}
	return out
}

// holderPID returns the PID of the process holding img's namespace.
func holderPID(img *Image) int {
	img.mu.Lock()
	defer img.mu.Unlock()
	if img.ns == nil {
		return 0
	}
	return img.ns.pid
}

// checkTornDown fails unless no process on the host has any of devices mounted, no
// loop device uses the file, and the namespace holder is gone.
func checkTornDown(t testing.TB, file string, devices map[string]string, holder int) {
	t.Helper()
	for mm, dev := range devices {
		if procs := processesMounting(mm); len(procs) > 0 {
			t.Errorf("%s (%s) still mounted by %v", dev, mm, procs)
		}
	}
	// A staged FAT filesystem is a tmpfs named after its device: look for the name too.
	for _, src := range mountSources(t) {
		for _, dev := range devices {
			if src == dev {
				t.Errorf("a mount of %s (a staged tmpfs?) is left in some mount namespace", dev)
			}
		}
	}
	if devs, err := loopDevicesOf(context.Background(), file); err != nil || len(devs) > 0 {
		t.Errorf("loop devices left on %s: %v, %v", file, devs, err)
	}
	if holder != 0 {
		if err := syscall.Kill(holder, 0); err == nil {
			t.Errorf("namespace holder %d still running", holder)
		}
	}
}

// mountSources returns the source of every mount in every process's mount namespace.
func mountSources(t testing.TB) []string {
	t.Helper()
	files, _ := filepath.Glob("/proc/[0-9]*/mountinfo")
	var out []string
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			continue // the process ended
		}
		mis, _ := parseMountinfo(r)
		r.Close()
		for _, mi := range mis {
			out = append(out, mi.source)
		}
	}
	return out
}

func readImageFile(t testing.TB, m *Mounts, name string) string {
	t.Helper()
	p, err := m.ResolvePath(name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading %s in the image: %v", name, err)
	}
	return strings.TrimSpace(string(b))
}

// imageCases are the generated images, what they mount and what they guard.
var imageCases = []struct {
	image   string
	name    string            // etc/refit-image
	mounts  map[string]string // mount point -> content of its refit-fs marker
	guarded []string
}{
	{"mbr-ext4.raw", "mbr-ext4", map[string]string{"/": "root"}, nil},
	{"mbr-ext4.qcow2", "mbr-ext4", map[string]string{"/": "root"}, nil},
	{"gpt-efi.raw", "gpt-efi", map[string]string{"/": "root", "/boot": "boot", "/var": "var", "/boot/efi": "efi"}, nil},
	{"lvm.raw", "lvm", map[string]string{"/": "root", "/boot": "boot", "/var": "var"}, nil},
	{"xfs.raw", "xfs", map[string]string{"/": "root"}, nil},
	{"whole-disk.raw", "whole-disk", map[string]string{"/": "root"}, nil},
}

func markerPath(mountpoint string) string {
	if mountpoint == "/" {
		return "/etc/refit-fs"
	}
	return mountpoint + "/refit-fs"
}

// TestAttachMountTeardown runs the builder's flow on every image kind: working copy,
// attach, mount root and fstab, write, unmount, detach; then checks that nothing is
// left, the input is unchanged, and the write reached the working copy.
func TestAttachMountTeardown(t *testing.T) {
	for _, tc := range imageCases {
		t.Run(tc.image, func(t *testing.T) {
			ctx := context.Background()
			src := testImage(t, tc.image)
			srcSum := fileSHA256(t, src)
			work := workingCopy(t, tc.image)

			start := time.Now()
			img, err := Attach(ctx, work, Options{MountFstab: true, Log: testLog(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			mnt := filepath.Join(t.TempDir(), "mnt")
			m, err := img.MountRoot(ctx, mnt)
			if err != nil {
				t.Fatal(err)
			}
			mounted := time.Since(start)
			devices, holder := imageDevices(t, img), holderPID(img)

			if got := readImageFile(t, m, "/etc/refit-image"); got != tc.name {
				t.Errorf("root is %q, want %q", got, tc.name)
			}
			var got []string
			for _, f := range m.Filesystems() {
				got = append(got, f.Mountpoint)
				if want, ok := tc.mounts[f.Mountpoint]; !ok {
					t.Errorf("unexpected mount %s (%s)", f.Mountpoint, f.Filesystem)
				} else if marker := readImageFile(t, m, markerPath(f.Mountpoint)); marker != want {
					t.Errorf("%s holds the %q filesystem, want %q", f.Mountpoint, marker, want)
				}
			}
			if len(got) != len(tc.mounts) {
				t.Errorf("mounted %v, want %d mounts", got, len(tc.mounts))
			}
			checkGuarded(t, m, tc.guarded)

			// The mounts live in the private namespace only, not in the host's.
			nsMounts, err := img.ns.mounts()
			if err != nil {
				t.Fatal(err)
			}
			if !mountedAt(nsMounts, mnt) {
				t.Errorf("%s is not mounted in the image's namespace", mnt)
			}
			if hostMounts := selfMounts(t); mountedAt(hostMounts, mnt) {
				t.Errorf("%s is visible in the host's mount namespace", mnt)
			}

			// Write through the namespace, as a chroot command would.
			argv := append(m.CommandPrefix(), "sh", "-c", "echo written > "+mnt+"/etc/refit-written")
			if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("writing inside the image: %v: %s", err, out)
			}

			start = time.Now()
			if err := m.Unmount(ctx); err != nil {
				t.Fatal(err)
			}
			if err := m.Unmount(ctx); err != nil {
				t.Errorf("second Unmount: %v", err)
			}
			if err := img.Detach(ctx); err != nil {
				t.Fatal(err)
			}
			if err := img.Detach(ctx); err != nil {
				t.Errorf("second Detach: %v", err)
			}
			t.Logf("attach+mount %v, unmount+detach %v", mounted.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
			checkTornDown(t, work, devices, holder)
			if fileSHA256(t, src) != srcSum {
				t.Errorf("the input image %s changed", src)
			}

			// The write was flushed into the working copy, which converts cleanly.
			s, err := OpenReadOnly(ctx, work, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := readImageFile(t, s.Mounts, "/etc/refit-written"); got != "written" {
				t.Errorf("written file holds %q", got)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out.qcow2")
			if err := Convert(ctx, work, out, FormatQcow2, CompressZlib); err != nil {
				t.Fatal(err)
			}
			if b, err := exec.Command("qemu-img", "check", out).CombinedOutput(); err != nil {
				t.Errorf("qemu-img check: %v: %s", err, b)
			}
		})
	}
}

// checkGuarded checks the guarded mount points and that writes to them fail.
func checkGuarded(t *testing.T, m *Mounts, want []string) {
	t.Helper()
	guarded := m.Guarded()
	if len(guarded) != len(want) {
		t.Fatalf("guarded %+v, want %v", guarded, want)
	}
	for i, g := range guarded {
		if g.Mountpoint != want[i] || !g.Guarded || g.Reason == "" {
			t.Errorf("guarded[%d] = %+v, want %s guarded", i, g, want[i])
		}
		p, err := m.ResolvePath(g.Mountpoint + "/refit-test")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); !errors.Is(err, syscall.EROFS) {
			t.Errorf("writing under the guarded %s: err = %v, want EROFS", g.Mountpoint, err)
		}
		argv := append(m.CommandPrefix(), "mkdir", m.Root()+g.Mountpoint+"/EFI2")
		if err := exec.Command(argv[0], argv[1:]...).Run(); err == nil {
			t.Errorf("mkdir under the guarded %s inside the namespace succeeded", g.Mountpoint)
		}
	}
}

func mountedAt(mis []mountInfo, target string) bool {
	for _, mi := range mis {
		if mi.mountpoint == target {
			return true
		}
	}
	return false
}

func selfMounts(t testing.TB) []mountInfo {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mis, err := parseMountinfo(f)
	if err != nil {
		t.Fatal(err)
	}
	return mis
}

// TestOpenReadOnly opens every image kind read-only and checks nothing writes to it.
func TestOpenReadOnly(t *testing.T) {
	for _, tc := range imageCases {
		t.Run(tc.image, func(t *testing.T) {
			src := testImage(t, tc.image)
			before := fileSHA256(t, src)
			s, err := OpenReadOnly(context.Background(), src, Options{MountFstab: true, Log: testLog(t)})
			if err != nil {
				t.Fatal(err)
			}
			devices, holder := imageDevices(t, s.Image), holderPID(s.Image)
			if got := readImageFile(t, s.Mounts, "/etc/refit-image"); got != tc.name {
				t.Errorf("root is %q, want %q", got, tc.name)
			}
			for _, f := range s.Mounts.Filesystems() {
				if marker := readImageFile(t, s.Mounts, markerPath(f.Mountpoint)); marker != tc.mounts[f.Mountpoint] {
					t.Errorf("%s holds %q, want %q", f.Mountpoint, marker, tc.mounts[f.Mountpoint])
				}
				if !strings.Contains(strings.Join(f.Options, ","), "ro") {
					t.Errorf("%s mounted with %v", f.Mountpoint, f.Options)
				}
			}
			if len(s.Mounts.Filesystems()) != len(tc.mounts) {
				t.Errorf("mounted %+v, want %v", s.Mounts.Filesystems(), tc.mounts)
			}
			if len(s.Mounts.Guarded()) != len(tc.guarded) {
				t.Errorf("unmounted fstab entries %+v, want %v", s.Mounts.Guarded(), tc.guarded)
			}
			p, _ := s.Mounts.ResolvePath("/etc/refit-written")
			if err := os.WriteFile(p, []byte("x"), 0o644); !errors.Is(err, syscall.EROFS) {
				t.Errorf("write to a read-only image: err = %v, want EROFS", err)
			}
			raw := s.Image.Path()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			checkTornDown(t, raw, devices, holder)
			if after := fileSHA256(t, src); after != before {
				t.Errorf("read-only open changed %s: sha256 %s -> %s", src, before, after)
			}
			if _, err := os.Stat(filepath.Dir(raw)); s.Format == FormatQcow2 && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the raw copy of the qcow2 image is left in %s", filepath.Dir(raw))
			}
		})
	}
}

// TestMountPartition chooses the root explicitly, and fails clearly when it cannot.
func TestMountPartition(t *testing.T) {
	tests := []struct {
		image, spec string
		wantName    string // etc/refit-image, or "" when the root has none
		err         error
		errNames    string
	}{
		{"lvm.raw", "/dev/mapper/refit--vg-root", "lvm", nil, ""},
		{"lvm.raw", "refit-vg/root", "lvm", nil, ""},
		{"lvm.raw", "1", "", nil, ""}, // /boot as root: allowed when asked for
		{"lvm.raw", "/dev/refit-vg/scattered", "", ErrUnsupportedLV, "scattered"},
		{"lvm.raw", "LABEL=nope", "", ErrNoRoot, "LABEL=nope"},
		{"two-roots.raw", "auto", "", ErrAmbiguousRoot, "partition 2"},
		{"two-roots.raw", "LABEL=rootb", "two-roots-b", nil, ""},
		{"gpt-efi.raw", "PARTLABEL=root", "gpt-efi", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.image+"/"+tt.spec, func(t *testing.T) {
			src := testImage(t, tt.image)
			img, err := Attach(context.Background(), src, Options{ReadOnly: true, MountPartition: tt.spec, Log: testLog(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := img.Close(); err != nil {
					t.Error(err)
				}
			}()
			m, err := img.MountRoot(context.Background(), filepath.Join(t.TempDir(), "mnt"))
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.errNames) {
					t.Fatalf("err = %v, want %v naming %q", err, tt.err, tt.errNames)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, _ := m.ResolvePath("/etc/refit-image")
			b, _ := os.ReadFile(p)
			if got := strings.TrimSpace(string(b)); got != tt.wantName {
				t.Errorf("root holds %q, want %q", got, tt.wantName)
			}
		})
	}
}

// TestTwoImagesAtOnce attaches two copies of the same XFS image (same UUID) and two
// of an LVM image (same VG) concurrently; tearing one down leaves the other alone.
func TestTwoImagesAtOnce(t *testing.T) {
	for _, name := range []string{"xfs.raw", "lvm.raw"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			works := []string{workingCopy(t, name), workingCopy(t, name)}
			imgs := make([]*Image, 2)
			mounts := make([]*Mounts, 2)
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i := range works {
				wg.Add(1)
				go func() {
					defer wg.Done()
					imgs[i], errs[i] = Attach(ctx, works[i], Options{MountFstab: true})
					if errs[i] == nil {
						mounts[i], errs[i] = imgs[i].MountRoot(ctx, filepath.Join(filepath.Dir(works[i]), "mnt"))
					}
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if imgs[i] != nil {
					defer imgs[i].Close()
				}
				if err != nil {
					t.Fatalf("image %d: %v", i, err)
				}
			}
			devA, devB := imageDevices(t, imgs[0]), imageDevices(t, imgs[1])
			for mm := range devA {
				if _, ok := devB[mm]; ok {
					t.Fatalf("both images use device %s", mm)
				}
			}
			for i, m := range mounts {
				p, _ := m.ResolvePath("/etc/which")
				if err := os.WriteFile(p, []byte(fmt.Sprint(i)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			holderA := holderPID(imgs[0])
			if err := imgs[0].Close(); err != nil {
				t.Fatal(err)
			}
			checkTornDown(t, works[0], devA, holderA)
			if got := readImageFile(t, mounts[1], "/etc/which"); got != "1" {
				t.Errorf("second image reads %q after the first was torn down", got)
			}
			for mm, dev := range devB {
				if _, err := os.Stat(filepath.Join("/sys/dev/block", mm)); err != nil {
					t.Errorf("second image's %s is gone: %v", dev, err)
				}
			}
			holderB := holderPID(imgs[1])
			if err := imgs[1].Close(); err != nil {
				t.Fatal(err)
			}
			checkTornDown(t, works[1], devB, holderB)
		})
	}
}

// TestCancellation cancels the context when a log line starts with the trigger, at
// points of Attach and MountRoot: each
// returns context.Canceled and leaves nothing mounted; Close leaves nothing at all.
func TestCancellation(t *testing.T) {
	tests := []struct{ image, trigger string }{
		{"lvm.raw", "attached"},
		{"lvm.raw", "mapped logical volume refit-vg/root"},
		{"lvm.raw", "the root filesystem is"},
		{"lvm.raw", "mounted logical volume refit-vg/root"},
		{"lvm.raw", "mounted partition 1"},
		{"gpt-efi.raw", "partition table of"},
		{"gpt-efi.raw", "mounted partition 2"},
		{"gpt-efi.raw", "mounted partition 4"}, // before guarding /boot/efi
	}
	for _, tt := range tests {
		t.Run(tt.image+"/"+tt.trigger, func(t *testing.T) {
			work := workingCopy(t, tt.image)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			log := func(s string) {
				t.Log(s)
				if strings.HasPrefix(s, tt.trigger) {
					cancel()
				}
			}
			img, err := Attach(ctx, work, Options{MountFstab: true, Log: log})
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Attach: %v, want context.Canceled", err)
				}
				checkTornDown(t, work, nil, 0)
				return
			}
			defer img.Close()
			devices, holder := imageDevices(t, img), holderPID(img)
			mnt := filepath.Join(t.TempDir(), "mnt")
			if _, err := img.MountRoot(ctx, mnt); !errors.Is(err, context.Canceled) {
				t.Fatalf("MountRoot: %v, want context.Canceled", err)
			}
			nsMounts, err := img.ns.mounts()
			if err != nil {
				t.Fatal(err)
			}
			for _, mi := range nsMounts {
				if strings.HasPrefix(mi.mountpoint, mnt) {
					t.Errorf("%s still mounted after the cancelled MountRoot", mi.mountpoint)
				}
			}
			if err := img.Close(); err != nil {
				t.Fatal(err)
			}
			checkTornDown(t, work, devices, holder)
		})
	}
}

// TestUnmountWaitsForCopiedMounts reproduces DESIGN.md's trap: a process inside the
// image's namespace calls unshare --mount, keeping a copy of the mounts. Unmount
// must not report success while the filesystem is alive, must name the process,
// and must succeed when retried after the process ends.
func TestUnmountWaitsForCopiedMounts(t *testing.T) {
	work := workingCopy(t, "mbr-ext4.raw")
	ctx := context.Background()
	img, err := Attach(ctx, work, Options{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	m, err := img.MountRoot(ctx, filepath.Join(t.TempDir(), "mnt"))
	if err != nil {
		t.Fatal(err)
	}
	argv := append(m.CommandPrefix(), "unshare", "--mount", "--propagation", "private", "sleep", "600")
	copier := exec.Command(argv[0], argv[1:]...)
	if err := copier.Start(); err != nil {
		t.Fatal(err)
	}
	defer copier.Process.Kill()
	// Wait until the copy exists: nsenter and unshare exec into sleep.
	waitFor(t, func() bool {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", copier.Process.Pid))
		return strings.TrimSpace(string(comm)) == "sleep"
	})

	old := superblockWait
	superblockWait = 2 * time.Second
	defer func() { superblockWait = old }()
	err = m.Unmount(ctx)
	if !errors.Is(err, ErrFilesystemBusy) || !strings.Contains(err.Error(), "sleep") {
		t.Fatalf("Unmount with a copied namespace: %v, want ErrFilesystemBusy naming sleep", err)
	}
	t.Log(err)
	if err := img.Detach(ctx); err == nil {
		t.Fatal("Detach succeeded while the filesystem is alive")
	}
	copier.Process.Kill()
	copier.Wait()
	if err := m.Unmount(ctx); err != nil {
		t.Fatalf("Unmount after the copier ended: %v", err)
	}
	if err := img.Detach(ctx); err != nil {
		t.Fatal(err)
	}
	checkTornDown(t, work, nil, 0)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("condition not reached in 5s")
}

// TestUnmountLeftoverMounts: mounts a build leaves below the root (chroot_mounts
// such as /proc) are unmounted before the image's own.
func TestUnmountLeftoverMounts(t *testing.T) {
	work := workingCopy(t, "gpt-efi.raw")
	ctx := context.Background()
	img, err := Attach(ctx, work, Options{MountFstab: true})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	m, err := img.MountRoot(ctx, filepath.Join(t.TempDir(), "mnt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{{"mkdir", "-p", m.Root() + "/proc", m.Root() + "/var/tmp"}, {"mount", "-t", "proc", "proc", m.Root() + "/proc"}, {"mount", "-t", "tmpfs", "tmpfs", m.Root() + "/var/tmp"}} {
		argv := append(m.CommandPrefix(), c...)
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", c, err, out)
		}
	}
	devices, holder := imageDevices(t, img), holderPID(img)
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	checkTornDown(t, work, devices, holder)
}

// TestAttachRefusesBusyFile: a writable attach, and Convert, refuse a file a loop
// device already uses.
func TestAttachRefusesBusyFile(t *testing.T) {
	work := workingCopy(t, "whole-disk.raw")
	ctx := context.Background()
	img, err := Attach(ctx, work, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if _, err := Attach(ctx, work, Options{}); !errors.Is(err, ErrStillAttached) {
		t.Errorf("second Attach: %v, want ErrStillAttached", err)
	}
	if err := Convert(ctx, work, work+".qcow2", FormatQcow2, NoCompression); !errors.Is(err, ErrStillAttached) {
		t.Errorf("Convert: %v, want ErrStillAttached", err)
	}
	// A read-only attach of the same file is allowed and independent.
	ro, err := Attach(ctx, work, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if devs, _ := loopDevicesOf(ctx, work); len(devs) != 1 {
		t.Errorf("closing the read-only attach left %v (want only the writable one)", devs)
	}
}

// TestLVMAgainstLVMTools compares what refit reads from lvm.raw's physical volume
// with what LVM's own tools report for it.
func TestLVMAgainstLVMTools(t *testing.T) {
	src := testImage(t, "lvm.raw")
	ctx := context.Background()
	img, err := Attach(ctx, src, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	pvDev := findFilesystem(img.Filesystems(), "2").Device
	conf := fmt.Sprintf(`devices { filter=["a|^%[1]s$|","r|.*|"] global_filter=["a|^%[1]s$|","r|.*|"] use_devicesfile=0 obtain_device_list_from_udev=0 }`, pvDev)
	cmd := exec.Command("lvs", "--readonly", "--config", conf, "--noheadings", "--separator", ";", "--units", "b", "--nosuffix",
		"-o", "lv_name,seg_start_pe,seg_pe_ranges,seg_size_pe")
	cmd.Env = append(os.Environ(), "LVM_SUPPRESS_FD_WARNINGS=1")
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("lvs cannot read the image here: %v", err)
	}
	f, err := os.Open(pvDev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pv, err := lvm.ReadPhysicalVolume(f)
	if err != nil {
		t.Fatal(err)
	}
	vg, err := lvm.ParseVolumeGroup(pv.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	// lvs prints one line per segment: name;first LE;PV:first-last;extent count.
	got := map[string][]string{}
	for _, lv := range vg.LVs {
		for _, seg := range lv.Segments {
			st := seg.Stripes[0]
			got[lv.Name] = append(got[lv.Name], fmt.Sprintf("%d;%s:%d-%d;%d", seg.StartExtent, pvDev, st.StartExtent, st.StartExtent+seg.ExtentCount-1, seg.ExtentCount))
		}
	}
	want := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, rest, _ := strings.Cut(strings.TrimSpace(line), ";")
		want[name] = append(want[name], rest)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("refit reads %v\nlvs reports %v", got, want)
	}
}

// BenchmarkAttachMountTeardown measures Attach + MountRoot (with fstab) + Unmount
// (flush, wait, fsck) + Detach of a working copy of each image kind.
func BenchmarkAttachMountTeardown(b *testing.B) {
	for _, tc := range imageCases {
		if strings.HasSuffix(tc.image, ".qcow2") {
			continue // the same filesystems as the raw image
		}
		b.Run(tc.image, func(b *testing.B) {
			work := workingCopy(b, tc.image)
			mnt := filepath.Join(b.TempDir(), "mnt")
			ctx := context.Background()
			for b.Loop() {
				img, err := Attach(ctx, work, Options{MountFstab: true})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := img.MountRoot(ctx, mnt); err != nil {
					img.Close()
					b.Fatal(err)
				}
				if err := img.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMakeWorkingCopyQcow2 measures converting the qcow2 test image to raw.
func BenchmarkMakeWorkingCopyQcow2(b *testing.B) {
	src := testImage(b, "mbr-ext4.qcow2")
	dst := filepath.Join(b.TempDir(), "work.raw")
	for b.Loop() {
		if _, err := MakeWorkingCopy(context.Background(), src, dst); err != nil {
			b.Fatal(err)
		}
	}
}

// crashHelperEnv makes the test binary attach and mount the image it names, print
// its devices, and wait to be killed (TestKilledProcessLeavesNothing).
const crashHelperEnv = "REFIT_DISKIMAGE_CRASH_HELPER_IMAGE"

func runCrashHelper(image string) int {
	ctx := context.Background()
	img, err := Attach(ctx, image, Options{MountFstab: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := img.MountRoot(ctx, image+".mnt"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, f := range img.Filesystems() {
		if f.Device != "" {
			b, _ := os.ReadFile(filepath.Join("/sys/class/block", filepath.Base(f.Device), "dev"))
			fmt.Println("device", strings.TrimSpace(string(b)), f.Device)
		}
	}
	fmt.Println("mounted")
	select {} // until killed
}

// TestKilledProcessLeavesNothing kills (SIGKILL, no teardown at all) a process that
// has an LVM image attached and mounted: the namespace holder sees its pipe close
// and ends, the mounts go with the namespace, and the auto-clear loop devices
// detach themselves.
func TestKilledProcessLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		image          string
		devices, loops int
	}{
		{"lvm.raw", 4, 4},     // the disk and 3 logical volumes
		{"gpt-efi.raw", 4, 1}, // 4 partitions, the ESP staged on a tmpfs
	} {
		t.Run(tc.image, func(t *testing.T) { killedProcessLeavesNothing(t, tc.image, tc.devices, tc.loops) })
	}
}

func killedProcessLeavesNothing(t *testing.T, image string, wantDevices, wantLoops int) {
	work := workingCopy(t, image)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+work)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	devices := map[string]string{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "device" {
			devices[f[1]] = f[2]
		}
		if sc.Text() == "mounted" {
			break
		}
	}
	if len(devices) < wantDevices {
		cmd.Wait()
		t.Fatalf("helper did not mount the image (%d devices): %s", len(devices), stderr.String())
	}
	if devs, _ := loopDevicesOf(context.Background(), work); len(devs) != wantLoops {
		t.Fatalf("helper has %v attached, want %d loop devices", devs, wantLoops)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	waitFor(t, func() bool {
		devs, _ := loopDevicesOf(context.Background(), work)
		return len(devs) == 0
	})
	checkTornDown(t, work, devices, 0)
	// The kernel keeps partx's partition nodes of the auto-cleared disk device; an
	// Attach that gets the same device number removes them before partx -a.
	img, err := Attach(context.Background(), work, Options{})
	if err != nil {
		t.Fatalf("attaching again after the kill: %v", err)
	}
	again := img.disk.name()
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	if parts := partitionsOf(again); len(parts) > 0 {
		t.Errorf("%s keeps partition nodes %v after Close", again, parts)
	}
}

// TestNamespaceDropsForeignMounts: an image mounted in the host namespace by someone
// else while refit creates its namespace must not be kept alive by refit's copy.
func TestNamespaceDropsForeignMounts(t *testing.T) {
	other := workingCopy(t, "whole-disk.raw")
	ctx := context.Background()
	dev, err := attachLoop(ctx, other, 0, 0, false)
	if dev != nil {
		defer dev.detach(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
	hostMnt := t.TempDir()
	if _, err := runCommand(ctx, "mount", "-t", "ext4", dev.path, hostMnt); err != nil {
		t.Fatal(err)
	}
	mounted := true
	defer func() {
		if mounted {
			runCommand(context.Background(), "umount", hostMnt)
		}
	}()

	img, err := Attach(ctx, workingCopy(t, "mbr-ext4.raw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	nsMounts, err := img.ns.mounts()
	if err != nil {
		t.Fatal(err)
	}
	if mountedAt(nsMounts, hostMnt) {
		t.Errorf("the image's namespace keeps a copy of %s", hostMnt)
	}
	if _, err := runCommand(ctx, "umount", hostMnt); err != nil {
		t.Fatal(err)
	}
	mounted = false
	if _, err := os.Stat("/sys/fs/ext4/" + dev.name()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the other filesystem is still alive after its umount: %v", err)
	}
}
