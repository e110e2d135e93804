package patch

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/debfile"
	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/firstboot"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
	"github.com/refit-images/packer-plugin-refit/internal/vmtest"
)

// kernelHookRoot makes a root whose /etc/kernel hook directories hold hooks (path under
// etc/kernel → body) and whose dpkg status records conffiles (path → package).
func kernelHookRoot(t *testing.T, hooks map[string]string, owners map[string]string, modes map[string]os.FileMode) string {
	t.Helper()
	root := t.TempDir()
	byPkg := map[string][]string{}
	for rel, body := range hooks {
		p := filepath.Join(root, "etc/kernel", rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode, ok := modes[rel]
		if !ok {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if pkg := owners[rel]; pkg != "" {
			sum := md5.Sum([]byte(body))
			byPkg[pkg] = append(byPkg[pkg], fmt.Sprintf(" /etc/kernel/%s %s", rel, hex.EncodeToString(sum[:])))
		}
	}
	var status strings.Builder
	for _, pkg := range sortedKeys(byPkg) {
		sort.Strings(byPkg[pkg])
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nVersion: 1\nConffiles:\n%s\nDescription: x\n\n", pkg, strings.Join(byPkg[pkg], "\n"))
	}
	if err := os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), []byte(status.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestJudgeKernelHooks: Debian 12's own hooks (initramfs-tools, zz-update-grub, as their
// packages' unmodified conffiles) let a kernel install offline; an unknown hook, a changed
// one, one owned by another package and dkms each keep it from it, with the hook named;
// what run-parts would not run (not executable, a dpkg-old name) is not judged.
func TestJudgeKernelHooks(t *testing.T) {
	debian := map[string]string{
		"postinst.d/initramfs-tools": "#!/bin/sh\nupdate-initramfs -c -k \"$1\"\n",
		"postrm.d/initramfs-tools":   "#!/bin/sh\nupdate-initramfs -d -k \"$1\"\n",
		"postinst.d/zz-update-grub":  "#!/bin/sh\nexec update-grub\n",
		"postrm.d/zz-update-grub":    "#!/bin/sh\nexec update-grub\n",
	}
	owners := map[string]string{
		"postinst.d/initramfs-tools": "initramfs-tools", "postrm.d/initramfs-tools": "initramfs-tools",
		"postinst.d/zz-update-grub": "grub2-common", "postrm.d/zz-update-grub": "grub2-common",
	}
	with := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{}
		for a, b := range m {
			out[a] = b
		}
		out[k] = v
		return out
	}
	tests := []struct {
		name   string
		hooks  map[string]string
		owners map[string]string
		modes  map[string]os.FileMode
		edit   func(root string)
		want   string // "" for none, else a part of the reason
	}{
		{name: "debian 12 hooks", hooks: debian, owners: owners},
		{name: "no hook directories", hooks: map[string]string{}},
		{name: "unknown hook", hooks: with(debian, "postinst.d/50-sign", "#!/bin/sh\nsbsign \"$2\"\n"), owners: owners,
			want: "kernel hook /etc/kernel/postinst.d/50-sign is not one refit knows"},
		{name: "unknown preinst hook", hooks: with(debian, "preinst.d/check", "#!/bin/sh\n"), owners: owners,
			want: "/etc/kernel/preinst.d/check is not one refit knows"},
		{name: "dkms", hooks: with(debian, "postinst.d/dkms", "#!/bin/sh\ndkms autoinstall\n"),
			owners: with(owners, "postinst.d/dkms", "dkms"), want: "/etc/kernel/postinst.d/dkms builds out-of-tree modules"},
		{name: "changed conffile", hooks: debian, owners: owners,
			edit: func(root string) {
				os.WriteFile(filepath.Join(root, "etc/kernel/postinst.d/zz-update-grub"), []byte("#!/bin/sh\ncurl x | sh\n"), 0o755)
			},
			want: "/etc/kernel/postinst.d/zz-update-grub was changed from grub2-common's version"},
		{name: "known name, another package", hooks: debian, owners: with(owners, "postinst.d/initramfs-tools", "dracut"),
			want: "/etc/kernel/postinst.d/initramfs-tools does not belong to initramfs-tools"},
		{name: "known name, no package", hooks: debian, owners: with(owners, "postrm.d/zz-update-grub", ""),
			want: "/etc/kernel/postrm.d/zz-update-grub does not belong to grub2-common"},
		{name: "not executable is not run", hooks: with(debian, "postinst.d/notes", "anything"), owners: owners,
			modes: map[string]os.FileMode{"postinst.d/notes": 0o644}},
		{name: "dpkg-old is not run", hooks: with(debian, "postinst.d/zz-update-grub.dpkg-old", "#!/bin/sh\ncurl x | sh\n"), owners: owners},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := kernelHookRoot(t, tt.hooks, tt.owners, tt.modes)
			if tt.edit != nil {
				tt.edit(root)
			}
			got, err := judgeKernelHooks(root)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Fatalf("judgeKernelHooks = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAnalyseDebianKernelHooks: the real postinst of a Debian 12 kernel image package (its
// run-parts gets the version at run time) is accepted under kernel = "offline" with known
// hooks, and deferred naming the hook with an unknown one or under kernel = "firstboot".
func TestAnalyseDebianKernelHooks(t *testing.T) {
	postinst := "#!/bin/sh -e\n\nversion=6.1.0-99-amd64\nimage_path=/boot/vmlinuz-$version\n\n" +
		"if [ \"$1\" != configure ]; then\n    exit 0\nfi\n\ndepmod $version\n\n" +
		"if [ -f /lib/modules/$version/.fresh-install ]; then\n    change=install\nelse\n    change=upgrade\nfi\n" +
		"linux-update-symlinks $change $version $image_path\nrm -f /lib/modules/$version/.fresh-install\n\n" +
		"if [ -d /etc/kernel/postinst.d ]; then\n    DEB_MAINT_PARAMS=\"$*\" run-parts --report --exit-on-error --arg=$version \\\n" +
		"\t      --arg=$image_path /etc/kernel/postinst.d\nfi\n\nexit 0\n"
	known := map[string]string{"postinst.d/zz-update-grub": "#!/bin/sh\nexec update-grub\n"}
	owners := map[string]string{"postinst.d/zz-update-grub": "grub2-common"}
	tests := []struct {
		name, kernel string
		hooks        map[string]string
		want         string
	}{
		{name: "known hooks", kernel: KernelOffline, hooks: known},
		{name: "unknown hook", kernel: KernelOffline, hooks: map[string]string{"postinst.d/zz-update-grub": known["postinst.d/zz-update-grub"], "postinst.d/sign": "#!/bin/sh\n"},
			want: "/etc/kernel/postinst.d/sign is not one refit knows"},
		{name: "firstboot", kernel: KernelFirstboot, hooks: known, want: `kernel = "firstboot"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := kernelHookRoot(t, tt.hooks, owners, nil)
			d := &debUpdate{txEntry: txEntry{u: updates.Update{Name: "linux-image-6.1.0-99-amd64", Arch: "amd64"}},
				deb: &debfile.Deb{Scripts: map[string]string{"postinst": postinst}}}
			opts := &Options{Target: Target{HostRoot: root}, Kernel: tt.kernel, Scriptlets: ScriptletsAnalyze}
			if _, err := analyseDebian(opts, map[string]*debUpdate{d.u.Name: d}, nil); err != nil {
				t.Fatal(err)
			}
			if tt.want == "" && d.deferWhy != "" || tt.want != "" && !strings.Contains(d.deferWhy, tt.want) {
				t.Fatalf("deferWhy = %q, want %q (scripts %+v)", d.deferWhy, tt.want, d.scripts)
			}
		})
	}
}

// TestCheckGrubConfig: a grub.cfg that boots the new kernel by UUID passes; one that names
// a loop device, lacks the kernel, or boots it without root=UUID= fails naming the fix.
func TestCheckGrubConfig(t *testing.T) {
	entry := func(v, root string) string {
		return "menuentry 'Debian GNU/Linux' --class debian {\n\tinsmod ext2\n\techo 'Loading Linux " + v + " ...'\n" +
			"\tlinux\t/boot/vmlinuz-" + v + " root=" + root + " ro console=ttyS0\n\tinitrd\t/boot/initrd.img-" + v + "\n}\n"
	}
	const uuid = "UUID=26689809-a220-45ce-8eca-3e06d04096f6"
	tests := []struct {
		name, cfg string
		want      string
	}{
		{name: "new kernel by UUID", cfg: entry("6.1.0-9-amd64", uuid) + entry("6.1.0-8-amd64", uuid)},
		{name: "loop device", cfg: entry("6.1.0-9-amd64", "/dev/loop3p1"), want: "/dev/loop"},
		{name: "loop device elsewhere", cfg: entry("6.1.0-9-amd64", uuid) + "search --no-floppy --set=root /dev/loop3p1\n", want: "/dev/loop"},
		{name: "only the old kernel", cfg: entry("6.1.0-8-amd64", uuid), want: "no menuentry boots /boot/vmlinuz-6.1.0-9-amd64"},
		{name: "outside a menuentry", cfg: "linux /boot/vmlinuz-6.1.0-9-amd64 root=" + uuid + "\n", want: "no menuentry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkGrubConfig(tt.cfg, []string{"6.1.0-9-amd64"})
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `kernel = "firstboot"`)):
				t.Fatalf("err = %v, want one naming %q and kernel = \"firstboot\"", err, tt.want)
			}
		})
	}
}

// imageFiles reads, from a raw or qcow2 image opened read-only, the dpkg status and the
// listings of /dev and /proc, and the files of /boot.
type imageFiles struct {
	status     string
	dev, proc  []string
	boot       []string
	grubCfg    string
	rootUUID   string
	hasGrubCfg bool
}

func readImageFiles(t *testing.T, image string) imageFiles {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s, err := diskimage.OpenReadOnly(ctx, image, diskimage.Options{WorkDir: t.TempDir()})
	if err != nil {
		t.Fatalf("opening %s read-only: %v", image, err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing %s: %v", image, err)
		}
	}()
	root := s.Root()
	var f imageFiles
	data, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	f.status = string(data)
	list := func(dir string) []string {
		entries, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil {
			t.Fatalf("listing /%s of the image: %v", dir, err)
		}
		var out []string
		for _, e := range entries {
			info, _ := e.Info()
			out = append(out, fmt.Sprintf("%s %v", e.Name(), info.Mode()))
		}
		return out
	}
	f.dev, f.proc, f.boot = list("dev"), list("proc"), list("boot")
	if data, err := os.ReadFile(filepath.Join(root, "boot/grub/grub.cfg")); err == nil {
		f.grubCfg, f.hasGrubCfg = string(data), true
	}
	for _, m := range s.Mounts.Filesystems() {
		if m.Mountpoint == "/" {
			f.rootUUID = m.Filesystem.UUID
		}
	}
	return f
}

func statusVersions(t *testing.T, status string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "var/lib/dpkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "var/lib/dpkg/status"), []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
	return installedVersions(t, dir)
}

// TestDebianImageKernelOffline patches a copy of the bootable Debian 12 image against this
// machine's -updates and -security suites with the default kernel = "offline": the kernel
// metapackage is updated (not held back) with its new kernel image package, whose
// maintainer scripts and /etc/kernel hooks ran for real (initramfs and grub.cfg made in the
// image), the installed set equals "apt-get -s upgrade --with-new-pkgs" on the same base
// image, grub.cfg boots the new kernel by UUID and names no loop device, the image's /dev
// and /proc are as they were; then the patched image boots once, into the new kernel.
func TestDebianImageKernelOffline(t *testing.T) {
	needDebianLab(t)
	fixture.Need(t, "unshare", "nsenter", "blkid", "cp")
	src := filepath.Join(fixture.DebianImage(t), "debian12.raw")
	dir := t.TempDir()
	in := filepath.Join(dir, "debian12.raw")
	if out, err := exec.Command("cp", "--sparse=always", src, in).CombinedOutput(); err != nil {
		t.Fatalf("copying the Debian image: %v\n%s", err, out)
	}
	before := readImageFiles(t, in)
	want := fixture.APTSimulateUpgrade(t, []byte(before.status), fixture.DebianSourcesList(t, debianUpdateSuites...), refitUpgradeArgs...)
	old := statusVersions(t, before.status)
	if want["linux-image-amd64"] == old["linux-image-amd64"] {
		t.Skipf("today's suites carry no update of linux-image-amd64 (%s): no new kernel to install offline", old["linux-image-amd64"])
	}
	var newKernel string
	for n, v := range want {
		if kernelVersion(n) != "" && old[n] == "" {
			newKernel = kernelVersion(n)
			t.Logf("apt-get -s upgrade --with-new-pkgs installs %s %s", n, v)
		}
	}
	if newKernel == "" {
		t.Fatalf("apt-get -s upgrade --with-new-pkgs updates linux-image-amd64 to %s but installs no kernel image package", want["linux-image-amd64"])
	}

	out := filepath.Join(dir, "patched.raw")
	start := time.Now()
	res, err := PatchImage(context.Background(), ImageOptions{Input: in, Output: out, Patch: Options{
		Repositories: debianSpecs(t, debianUpdateSuites...), CacheDir: filepath.Join(fixture.CacheDir(), "patch-cache"),
		Log: func(s string) { t.Log(s) },
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("patched in %s: %s", time.Since(start).Round(time.Second), res.Report.Summary())
	updated := map[string]bool{}
	for _, u := range res.Report.Updated {
		updated[u.Name] = true
	}
	for _, n := range []string{"linux-image-amd64", "linux-image-" + newKernel} {
		if !updated[n] {
			t.Errorf("%s is not in the report's updated packages (held back: %+v; deferred: %+v)", n, res.Report.HeldBack, res.Report.Deferred)
		}
	}
	got := map[string]string{}
	for _, p := range res.Manifest.Packages {
		got[p.Name] = p.EVR()
	}
	// Packages whose scripts are unsafe offline wait for the first boot: with them at the
	// versions queued, the image must equal apt's upgrade; the boot below installs them.
	deferred := map[string]string{}
	for _, d := range res.Report.Deferred {
		deferred[d.Name] = d.To
		got[d.Name] = d.To
		t.Logf("deferred to the first boot: %s %s (%s)", d.Name, d.To, d.Reason)
	}
	if diff := diffVersions(got, want); len(diff) > 0 {
		t.Errorf("refit-patch (applied and deferred) and apt-get -s upgrade --with-new-pkgs differ (%d):\n%s", len(diff), strings.Join(diff, "\n"))
	}

	after := readImageFiles(t, out)
	for _, f := range []string{"vmlinuz-" + newKernel, "initrd.img-" + newKernel} {
		if !slices.ContainsFunc(after.boot, func(e string) bool { return strings.HasPrefix(e, f+" ") }) {
			t.Errorf("/boot/%s missing from the patched image: %q", f, after.boot)
		}
	}
	if !after.hasGrubCfg {
		t.Fatal("the patched image has no /boot/grub/grub.cfg")
	}
	if err := checkGrubConfig(after.grubCfg, []string{newKernel}); err != nil {
		t.Error(err)
	}
	if after.rootUUID == "" || !strings.Contains(after.grubCfg, "root=UUID="+after.rootUUID) {
		t.Errorf("grub.cfg does not boot the root filesystem by its UUID %q", after.rootUUID)
	}
	if !slices.Equal(before.dev, after.dev) || !slices.Equal(before.proc, after.proc) {
		t.Errorf("the image's /dev or /proc changed: /dev %q → %q, /proc %q → %q", before.dev, after.dev, before.proc, after.proc)
	}

	// The proof: the patched image boots the new kernel.
	start = time.Now()
	key := vmtest.NewKey(t)
	vm := vmtest.Boot(t, out, key, vmtest.Options{AuthorizeKey: true})
	t.Logf("booted to SSH in %s", time.Since(start).Round(time.Second))
	if r := strings.TrimSpace(vm.Run("uname -r")); r != newKernel {
		t.Fatalf("the patched image booted kernel %q, want the new %s", r, newKernel)
	}
	if len(deferred) == 0 {
		return
	}
	if unit := waitFirstboot(t, vm, key); unit["Result"] != "success" || unit["ExecMainStatus"] != "0" {
		t.Fatalf("%s did not succeed: %v", firstboot.UnitName, unit)
	}
	names := slices.Sorted(maps.Keys(deferred))
	booted := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(vm.Run("dpkg-query -W -f '${Package} ${Version}\\n' "+strings.Join(names, " "))), "\n") {
		if n, v, ok := strings.Cut(line, " "); ok {
			booted[n] = v
		}
	}
	if diff := diffVersions(booted, deferred); len(diff) > 0 {
		t.Errorf("after the first boot the deferred packages are not at their queued versions:\n%s", strings.Join(diff, "\n"))
	}
}
