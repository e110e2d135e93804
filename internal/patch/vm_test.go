package patch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/firstboot"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/vmtest"
)

// TestPatchedDebianImageBoots patches the bootable Debian 12 image (base suite only) against
// this machine's -updates and -security suites plus a signed local repository whose
// refit-probe update has a postinst that is unsafe offline, so that some packages are
// applied offline and at least one is deferred. It boots the result once under qemu: the
// first-boot unit runs in the live system, succeeds, logs to the journal, removes its queue
// and removes itself (unit, link, installer), dpkg is consistent, and the installed versions are those "apt-get
// upgrade --with-new-pkgs" produces for the same root with the same sources (the kernel
// update included: the VM runs the new kernel). After one reboot
// the unit has not run again and the system reaches the running state.
func TestPatchedDebianImageBoots(t *testing.T) {
	needDebianLab(t)
	fixture.Need(t, "dpkg-deb", "apt-ftparchive", "gpg", "gpgconf", "qemu-system-x86_64", "ssh", "ssh-keygen")
	ctx := context.Background()
	work := t.TempDir()
	probe := newProbeRepo(t)

	base := filepath.Join(work, "base.raw")
	want := probeBaseImage(t, base, probe)

	start := time.Now()
	out := filepath.Join(work, "patched.raw")
	res, err := PatchImage(ctx, ImageOptions{Input: base, Output: out, Patch: Options{
		Repositories: append(debianSpecs(t, debianUpdateSuites...), probe.spec()),
		CacheDir:     filepath.Join(fixture.CacheDir(), "patch-cache"),
		Log:          func(s string) { t.Log(s) },
	}})
	if err != nil {
		t.Fatal(err)
	}
	rep := res.Report
	patchTime := time.Since(start)
	t.Logf("patched offline in %v: %s", patchTime.Round(time.Second), rep.Summary())
	if len(rep.Updated) == 0 || len(rep.Deferred) == 0 {
		t.Fatalf("want at least one package applied offline and one deferred: %s", rep.Summary())
	}
	var queued []string
	for _, d := range rep.Deferred {
		queued = append(queued, d.Name+"="+d.To)
	}
	probeDeferred := slices.ContainsFunc(rep.Deferred, func(d PackageReport) bool {
		return d.Name == probeName && strings.Contains(d.Reason, "/proc")
	})
	if !probeDeferred {
		t.Fatalf("%s was not deferred for reading /proc: %s", probeName, rep.Summary())
	}

	// control: before its first boot the image differs from the oracle by the deferred packages
	offline := map[string]string{}
	for _, p := range res.Manifest.Packages {
		offline[p.Name] = p.EVR()
	}
	if diff := diffVersions(offline, want); len(diff) != len(rep.Deferred) {
		t.Fatalf("the patched image, before its first boot, differs from apt-get upgrade in %d package(s), want the %d deferred:\n%s",
			len(diff), len(rep.Deferred), strings.Join(diff, "\n"))
	}

	key := vmtest.NewKey(t)
	start = time.Now()
	vm := vmtest.Boot(t, out, key, vmtest.Options{AuthorizeKey: true})
	bootTime := time.Since(start)
	unit := waitFirstboot(t, vm, key)
	t.Logf("%s: %v", firstboot.UnitName, unit)
	if unit["Result"] != "success" || unit["ExecMainStatus"] != "0" || unit["ActiveState"] != "inactive" {
		t.Errorf("%s did not succeed: %v", firstboot.UnitName, unit)
	}
	ran := unitRunTime(unit)

	journal := vm.Run("journalctl -u " + firstboot.UnitName + " -o cat --no-pager")
	for _, line := range []string{
		fmt.Sprintf("refit-firstboot: installing %d deferred package(s): %s", len(queued), strings.Join(queued, " ")),
		"refit-firstboot: done; " + firstboot.UnitName + " and its installer removed",
	} {
		if !strings.Contains(journal, line) {
			t.Errorf("the journal of %s lacks %q", firstboot.UnitName, line)
		}
	}
	if strings.Contains(journal, "\nErr:") || strings.Contains(journal, "refit-firstboot: failed") {
		t.Errorf("the journal of %s reports errors", firstboot.UnitName)
	}
	// the unit, its enabling link and the installer are gone with the queue
	left := vm.Run("for p in " + firstboot.QueueDir + " /var/lib/refit /usr/sbin/policy-rc.d " + firstboot.ScriptPath +
		" /etc/systemd/system/" + firstboot.UnitName + " /etc/systemd/system/multi-user.target.wants/" + firstboot.UnitName +
		"; do [ ! -e $p ] || echo $p; done")
	if strings.TrimSpace(left) != "" {
		t.Errorf("left in the booted image: %s", left)
	}
	if audit := vm.Run("dpkg --audit"); strings.TrimSpace(audit) != "" {
		t.Errorf("dpkg --audit:\n%s", audit)
	}
	// the deferred postinst ran in the booted system, as an upgrade from the image's version
	if got := vm.Run("cat /var/lib/refit-probe/pid1 /var/lib/refit-probe/upgraded-from"); got != "systemd\n1.0-1\n" {
		t.Errorf("%s's postinst recorded %q, want PID 1 systemd and an upgrade from 1.0-1", probeName, got)
	}
	if diff := diffVersions(vmVersions(t, vm, key), want); len(diff) > 0 {
		t.Errorf("the booted image and apt-get upgrade differ (%d):\n%s", len(diff), strings.Join(diff, "\n"))
	}
	systemRunning(t, vm)

	start = time.Now()
	vm.Reboot()
	rebootTime := time.Since(start)
	if boots := strings.TrimSpace(vm.Run("journalctl --list-boots --no-pager | grep -cE '[0-9a-f]{32}' || true")); boots != "2" {
		t.Fatalf("the journal holds %s boot(s), want 2: cannot tell whether %s ran again", boots, firstboot.UnitName)
	}
	if n := strings.Count(vm.Run("journalctl -u "+firstboot.UnitName+" -o cat --no-pager"), "refit-firstboot: installing"); n != 1 {
		t.Errorf("%s ran %d times over two boots, want once", firstboot.UnitName, n)
	}
	if again := showUnit(vm, key); again["ExecMainStartTimestampMonotonic"] != "0" {
		t.Errorf("%s started again after the reboot: %v", firstboot.UnitName, again)
	}
	systemRunning(t, vm)
	t.Logf("counts: %d applied offline, %d deferred, %d held back, %d in all; times: patch %v, boot to SSH %v, first-boot unit %v, reboot to SSH %v",
		len(rep.Updated), len(rep.Deferred), len(rep.HeldBack), len(rep.Updated)+len(rep.Deferred)+len(rep.HeldBack),
		patchTime.Round(time.Second), bootTime.Round(time.Second), ran.Round(time.Second), rebootTime.Round(time.Second))
}

// probeBaseImage writes to raw a raw copy of the bootable Debian image with refit-probe 1.0-1
// installed, and returns the oracle for it: the installed versions after "apt-get -s upgrade
// --with-new-pkgs --no-install-recommends" (refit's default, kernel = "offline" installing the
// new kernel ABI package) with this machine's Debian suites and the probe repository. It is a
// simulation with private apt state: a real run in a plain chroot cannot run the kernel's
// update-grub hook (grub-probe needs /proc and the root's device node).
func probeBaseImage(t *testing.T, raw string, probe probeRepo) map[string]string {
	t.Helper()
	ctx := context.Background()
	image := filepath.Join(fixture.DebianImage(t), "debian12.qcow2")
	if _, err := diskimage.MakeWorkingCopy(ctx, image, raw); err != nil {
		t.Fatal(err)
	}
	img, err := diskimage.Attach(ctx, raw, diskimage.Options{MountFstab: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := img.Close(); err != nil {
			t.Errorf("releasing the base image: %v", err)
		}
	}()
	mounts, err := img.MountRoot(ctx, filepath.Join(filepath.Dir(raw), "base-root"))
	if err != nil {
		t.Fatal(err)
	}
	root := mounts.HostRoot()
	data, err := os.ReadFile(probe.old)
	if err != nil {
		t.Fatal(err)
	}
	deb := "/tmp/" + filepath.Base(probe.old)
	if err := os.WriteFile(filepath.Join(root, deb), data, 0o644); err != nil {
		t.Fatal(err)
	}
	chrootRun(t, root, "dpkg -i "+deb+" && rm "+deb)
	if v := installedVersions(t, root)[probeName]; v != "1.0-1" {
		t.Fatalf("%s is %q in the base image, want 1.0-1", probeName, v)
	}
	sources := fixture.DebianSourcesList(t, debianUpdateSuites...) + probe.sourcesList()
	status, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	want := fixture.APTSimulateUpgrade(t, status, sources, refitUpgradeArgs...)
	if want[probeName] != "1.0-2" {
		t.Fatalf("apt-get upgrade left %s at %q, want 1.0-2 from the probe repository", probeName, want[probeName])
	}
	return want
}

// unitProperties are what showUnit reads of the first-boot unit.
const unitProperties = "ActiveState,SubState,Result,ExecMainStatus,ExecMainStartTimestampMonotonic," +
	"ExecMainExitTimestampMonotonic,ConditionResult,ConditionTimestampMonotonic"

// quietRun runs command in the VM as root without logging it; the error is the ssh
// command's (the probe's postinst restarts sshd while the tests poll).
func quietRun(vm *vmtest.VM, key vmtest.Key, command string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return vm.RunAs(ctx, "root", key, command)
}

// showUnit returns the first-boot unit's unitProperties in the VM, or nil when SSH failed.
func showUnit(vm *vmtest.VM, key vmtest.Key) map[string]string {
	out, err := quietRun(vm, key, "systemctl show -p "+unitProperties+" "+firstboot.UnitName)
	if err != nil {
		return nil
	}
	props := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			props[k] = v
		}
	}
	return props
}

// waitFirstboot waits until the first-boot unit has run (its main process exited) and
// returns its properties. It fails when the unit was skipped by its condition or the boot
// finished without starting it.
func waitFirstboot(t *testing.T, vm *vmtest.VM, key vmtest.Key) map[string]string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Minute) // far beyond what a small queue needs under TCG
	for {
		p := showUnit(vm, key)
		switch {
		case p == nil:
		case p["ExecMainExitTimestampMonotonic"] != "0" && (p["ActiveState"] == "inactive" || p["ActiveState"] == "failed"):
			return p
		case p["ConditionTimestampMonotonic"] != "0" && p["ConditionResult"] == "no":
			t.Fatalf("%s was skipped: its condition (the queue %s) failed: %v", firstboot.UnitName, firstboot.QueueDir, p)
		case p["ExecMainStartTimestampMonotonic"] == "0" && bootFinished(vm, key):
			t.Fatalf("the boot finished but %s never started: %v", firstboot.UnitName, p)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not finish: %v\n%s", firstboot.UnitName, p, vm.Run("systemctl list-jobs --no-pager; journalctl -b -u "+firstboot.UnitName+" --no-pager | tail -20"))
		}
		time.Sleep(3 * time.Second)
	}
}

// bootFinished reports whether systemd has finished starting up.
func bootFinished(vm *vmtest.VM, key vmtest.Key) bool {
	out, _ := quietRun(vm, key, "systemctl is-system-running")
	state := strings.TrimSpace(out)
	return state == "running" || state == "degraded"
}

// unitRunTime is how long the unit's main process ran.
func unitRunTime(p map[string]string) time.Duration {
	start, _ := strconv.ParseInt(p["ExecMainStartTimestampMonotonic"], 10, 64)
	exit, _ := strconv.ParseInt(p["ExecMainExitTimestampMonotonic"], 10, 64)
	return time.Duration(exit-start) * time.Microsecond
}

// systemRunning waits for the boot to finish and accepts "running", or "degraded" when no
// failed unit is refit's (the failed ones are logged).
func systemRunning(t *testing.T, vm *vmtest.VM) {
	t.Helper()
	state := strings.TrimSpace(vm.Run("systemctl is-system-running --wait || true"))
	switch state {
	case "running":
	case "degraded":
		failed := vm.Run("systemctl list-units --failed --plain --no-legend --no-pager")
		t.Logf("degraded; failed units:\n%s", failed)
		if strings.Contains(failed, "refit") {
			t.Errorf("a refit unit failed:\n%s", failed)
		}
	default:
		t.Errorf("systemctl is-system-running = %q, want running", state)
	}
}

// vmVersions reads name → version of the packages installed in the VM with dpkg-query.
func vmVersions(t *testing.T, vm *vmtest.VM, key vmtest.Key) map[string]string {
	t.Helper()
	out, err := quietRun(vm, key, `dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version}\n'`)
	if err != nil {
		t.Fatalf("dpkg-query in the VM: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "ii" {
			got[f[1]] = f[2]
		}
	}
	t.Logf("%d package(s) installed in the VM", len(got))
	return got
}
