package patch

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/arch"
	"github.com/refit-images/packer-plugin-refit/internal/evr"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/packertest"
	ipatch "github.com/refit-images/packer-plugin-refit/internal/patch"
	"github.com/refit-images/packer-plugin-refit/internal/vmtest"
)

// The values TestAccPipeline passes to example/pipeline; none is in the source image. The DNS
// servers are this host's: refit-harden writes /etc/resolv.conf before the rules that install
// packages run, and the chroot resolves the package mirror through that file.
const (
	pipelineUser     = "ops"
	pipelineHostname = "refit-pipeline"
	pipelineDomain   = "example.test"
)

// TestAccPipeline runs the real Packer on example/pipeline: source "refit-chroot" opens the
// bootable Debian 12 test image, provisioner "refit-harden" hardens it (the user ops with the
// test key, host name, DNS, NTP, nftables, a GRUB password), and post-processor "refit-patch"
// patches the result offline against this machine's Debian suites. Then:
//   - the source image and the hardened image (refit-patch's input) keep their bytes;
//   - the patched image's package versions, with the deferred packages at their new versions,
//     equal what apt-get upgrade --with-new-pkgs chooses for the hardened image's installed set
//     (the kernel update included), and dpkg has nothing half-done;
//   - the hardening survived the patch (sshd drop-in, user and key, firewall, DNS, host name, the
//     GRUB password with the default entry --unrestricted, in grub.cfg and for later update-grub);
//   - the patched image boots (qemu TCG) unattended despite the GRUB password (GRUB would wait at
//     its login prompt for a restricted default entry): ops logs in with the key, the system
//     finishes booting (running, or degraded with the failed units logged, none of them refit's,
//     nftables or ssh), the firewall is loaded, sshd runs with the hardened settings, and after
//     the first-boot service the installed versions equal apt-get upgrade's outright.
//
// Needs PACKER_ACC=1, root, this machine's apt sources for bookworm, -updates and -security, and
// the tools fixture.DebianImage and vmtest.Boot name.
func TestAccPipeline(t *testing.T) { accPipeline(t, arch.Host().Debian) }

// TestAccPipelineArm64 is TestAccPipeline on the arm64 UEFI image, built on this host: the
// image's own arm64 apt, dpkg and maintainer scripts run under qemu-user (binfmt_misc), the
// Packages indexes read are arm64's, the oracle is apt-get -s upgrade for arm64, and the
// patched image boots under qemu-system-aarch64 with AAVMF, where uname -m is aarch64 and the
// kernel running is the newest one installed (offline, when the suites carry an update).
func TestAccPipelineArm64(t *testing.T) { accPipeline(t, "arm64") }

// accPipeline runs TestAccPipeline on the Debian image of architecture debArch.
func accPipeline(t *testing.T, debArch string) {
	env := packertest.Setup(t)
	fixture.NeedRoot(t)
	fixture.Need(t, "apt-get", "dpkg")
	a, err := arch.Lookup(debArch)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Native() {
		fixture.Emulate(t, debArch)
	}
	mirror, security, keyring := debianMirrors(t)
	var dir string
	machine := vmtest.BIOS
	if a.Native() {
		dir = fixture.DebianImage(t)
	} else {
		dir, machine = fixture.DebianImageArch(t, debArch), vmtest.UEFIMachine(t, debArch)
	}
	src := filepath.Join(dir, "debian12.qcow2")
	key := vmtest.NewKey(t)
	srcSum := sum(t, src)
	srcResolv := fixture.ReadImage(t, src, true, nil, "/etc/resolv.conf")["/etc/resolv.conf"]

	work := t.TempDir()
	out := filepath.Join(work, "output")
	hardened := filepath.Join(out, "debian-12-golden.qcow2")
	patched := filepath.Join(out, "debian-12-golden-patched.qcow2")
	start := time.Now()
	log, err := env.Run(t, work, "build",
		"-var", "source_image="+src,
		"-var", "ssh_public_key="+key.Public,
		"-var", "admin_user="+pipelineUser,
		"-var", "hostname="+pipelineHostname,
		"-var", "domain="+pipelineDomain,
		"-var", "dns_servers="+packertest.HCLList(fixture.HostNameservers(t)),
		"-var", "mirror="+mirror,
		"-var", "security_mirror="+security,
		"-var", "keyring="+keyring,
		// a GRUB password: both boots below prove that the image still boots unattended with it
		"-var", "grub_password_hash="+fixture.GrubPasswordHash,
		"-var", "output_directory="+out,
		filepath.Join(packertest.RepoRoot(), "example", "pipeline"))
	if err != nil {
		t.Fatalf("packer build example/pipeline: %v", err)
	}
	t.Logf("packer build (chroot, harden, patch) took %v", time.Since(start).Round(time.Second))
	fixture.CheckNoLeftovers(t, []string{work, out}, nil)
	// The image's nft runs under qemu-user, which cannot open a netfilter socket: refit-harden
	// checks the ruleset it wrote with this host's nft instead, and says so.
	if hostChecked := strings.Contains(log, "checked with the build host's nft -c -f"); hostChecked == a.Native() {
		t.Errorf("refit-harden checked the ruleset with the host's nft: %v, want %v (the image is foreign: %v)", hostChecked, !a.Native(), !a.Native())
	}
	// An image with its own /etc/resolv.conf has that file rewritten by refit-harden (set aside
	// while the build resolves names through the host's copy), so copy_files puts it back; without
	// one, the build's copy becomes the image's file and copy_files says it kept it. Either way the
	// file's contents are checked below (checkHardening).
	if kept := strings.Contains(log, "copy_files: the build changed /etc/resolv.conf"); kept == srcResolv.Exists {
		t.Errorf("copy_files kept the build's /etc/resolv.conf: %v, want %v (the image has its own: %v)", kept, !srcResolv.Exists, srcResolv.Exists)
	}

	if got := sum(t, src); got != srcSum {
		t.Errorf("the source image changed: sha256 %s → %s", srcSum, got)
	}
	// refit-chroot wrote the hardened image's checksum before refit-patch read it.
	if data, err := os.ReadFile(hardened + ".sha256"); err != nil || !strings.Contains(string(data), sum(t, hardened)) {
		t.Errorf("the hardened image (refit-patch's input) no longer matches the checksum refit-chroot wrote: %v\n%s", err, data)
	}

	var rep ipatch.Report
	if data, err := os.ReadFile(filepath.Join(work, "patch-report.json")); err != nil || json.Unmarshal(data, &rep) != nil {
		t.Fatalf("reading patch-report.json: %v\n%s", err, data)
	}
	t.Logf("refit-patch: %s", rep.Summary())

	statusFile := "/var/lib/dpkg/status"
	before := fixture.ReadImage(t, hardened, true, nil, statusFile)
	var audit string
	after := fixture.ReadImage(t, patched, true, func(root string) {
		cmd := exec.Command("dpkg", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "--audit")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("dpkg --audit of the patched image: %v\n%s", err, b)
		}
		audit = string(b)
	}, statusFile, "/etc/ssh/sshd_config.d/00-refit-hardening.conf", "/etc/passwd",
		"/home/"+pipelineUser+"/.ssh/authorized_keys", "/etc/sudoers.d/90-refit-user-"+pipelineUser,
		"/etc/nftables.conf", "/etc/systemd/system/sysinit.target.wants/nftables.service",
		"/etc/resolv.conf", "/etc/hostname", "/boot/grub/grub.cfg", "/etc/grub.d/01_refit_password", "/etc/grub.d/10_linux")
	if strings.TrimSpace(audit) != "" {
		t.Errorf("dpkg --audit of the patched image reports:\n%s", audit)
	}

	// The oracle: apt-get upgrade's choice for the hardened image's installed set.
	hardenedVersions := parseStatusVersions(t, before[statusFile].Content)
	want := fixture.APTSimulateUpgrade(t, []byte(before[statusFile].Content), fixture.DebianSourcesList(t), "--with-new-pkgs", "--no-install-recommends")
	upgrades := diffVersions(hardenedVersions, want)
	t.Logf("apt-get upgrade would change %d package(s)", len(upgrades))
	if len(upgrades) == 0 {
		t.Log("the mirrors offer no update for the hardened image today: the version checks below cannot tell a patched image from an unpatched one")
	}
	got := parseStatusVersions(t, after[statusFile].Content)
	for _, d := range rep.Deferred {
		got[d.Name] = d.To
	}
	if diff := diffVersions(got, want); len(diff) > 0 {
		t.Errorf("the patched image (deferred packages counted at their new versions) differs from apt-get upgrade of the hardened image:\n%s\nrefit-patch: %s",
			strings.Join(diff, "\n"), rep.Summary())
	}
	if len(upgrades) > 0 && len(rep.Updated)+len(rep.Deferred) == 0 {
		t.Error("apt-get upgrade would update packages, but refit-patch updated and deferred nothing")
	}

	checkHardening(t, after, key.Public)
	if t.Failed() {
		return // booting takes minutes: not for an image already known to be wrong
	}

	vm := vmtest.Boot(t, patched, key, vmtest.Options{Login: pipelineUser, LoginKey: key, Machine: machine})
	checkBooted(t, vm, key, want)
	if got := strings.TrimSpace(vm.Run("uname -m")); got != a.RPM {
		t.Errorf("uname -m in the booted image: %q, want %q", got, a.RPM)
	}
	checkRunningKernel(t, vm, hardenedVersions, want, a)
	// root is refused even with the admin's key, and sshd offers no password authentication.
	if out, err := vm.RunAs(ctx0(t), "root", key, "true"); err == nil {
		t.Errorf("root logged in over SSH: %s", out)
	}
	if out, _ := exec.Command("ssh", append(vm.SSHArgs(pipelineUser, vmtest.NewKey(t)), "-o", "PreferredAuthentications=password,keyboard-interactive", "true")...).CombinedOutput(); !strings.Contains(string(out), "Permission denied (publickey)") {
		t.Errorf("sshd offers more than publickey authentication: %s", out)
	}
	// Control: sshd does not let just any key in.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := vm.RunAs(ctx, pipelineUser, vmtest.NewKey(t), "true"); err == nil {
		t.Errorf("%s logged in with a key that is not in authorized_keys: %s", pipelineUser, out)
	}
}

// checkHardening checks that refit-harden's work is in an image (read by readImage).
func checkHardening(t *testing.T, files map[string]fixture.ImageFile, publicKey string) {
	t.Helper()
	for _, c := range []struct{ name, want string }{
		{"/etc/ssh/sshd_config.d/00-refit-hardening.conf", "PasswordAuthentication no"},
		{"/etc/ssh/sshd_config.d/00-refit-hardening.conf", "PermitRootLogin no"},
		{"/etc/passwd", "\n" + pipelineUser + ":"},
		{"/home/" + pipelineUser + "/.ssh/authorized_keys", publicKey},
		{"/etc/sudoers.d/90-refit-user-" + pipelineUser, "NOPASSWD"},
		{"/etc/nftables.conf", "policy drop"},
		{"/etc/nftables.conf", "443"},
		{"/etc/resolv.conf", "# Managed by refit-harden (network.dns)\n"},
		{"/etc/resolv.conf", "search " + pipelineDomain + "\n"},
		{"/etc/hostname", pipelineHostname},
	} {
		if !strings.Contains(files[c.name].Content, c.want) {
			t.Errorf("the patched image's %s lacks %q:\n%s", c.name, c.want, files[c.name].Content)
		}
	}
	if !files["/etc/systemd/system/sysinit.target.wants/nftables.service"].Exists {
		t.Error("nftables.service is not enabled in the patched image")
	}
	checkGrubPassword(t, files)
}

// checkGrubPassword checks the GRUB password of the bootloader block in an image (read by
// readImage): grub.cfg names the superuser and its hash and its default entry (the first) is
// --unrestricted, and later update-grub runs keep both (01_refit_password, 10_linux's CLASS line).
func checkGrubPassword(t *testing.T, files map[string]fixture.ImageFile) {
	t.Helper()
	cfg := files["/boot/grub/grub.cfg"].Content
	if want := "\nset superusers=\"root\"\nexport superusers\npassword_pbkdf2 root " + fixture.GrubPasswordHash + "\n"; !strings.Contains(cfg, want) {
		t.Errorf("the patched image's grub.cfg sets no GRUB password (%q):\n%s", want, cfg)
	}
	first := regexp.MustCompile(`(?m)^menuentry .*$`).FindString(cfg)
	if !strings.Contains(first, " --unrestricted ") {
		t.Errorf("the default boot entry needs the password: %q", first)
	}
	if !strings.Contains(files["/etc/grub.d/01_refit_password"].Content, "password_pbkdf2 root "+fixture.GrubPasswordHash+"\n") {
		t.Error("/etc/grub.d/01_refit_password does not print the password for later update-grub runs")
	}
	if !regexp.MustCompile(`(?m)^CLASS=".*--unrestricted"$`).MatchString(files["/etc/grub.d/10_linux"].Content) {
		t.Error("/etc/grub.d/10_linux does not mark its entries --unrestricted for later update-grub runs")
	}
}

// checkBooted checks the booted patched image over SSH as the admin user.
func checkBooted(t *testing.T, vm *vmtest.VM, key vmtest.Key, want map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	state, err := vm.RunAs(ctx, pipelineUser, key, "systemctl is-system-running --wait")
	state = strings.TrimSpace(state)
	t.Logf("systemctl is-system-running --wait: %s (%v)", state, err)
	switch state {
	case "running":
	case "degraded":
		failed := vm.Run("systemctl --failed --no-legend --plain")
		t.Logf("degraded: failed units:\n%s", failed)
		for _, unit := range []string{"refit", "nftables", "ssh"} {
			if strings.Contains(failed, unit) {
				t.Errorf("unit %s failed at boot:\n%s", unit, vm.Run("sudo -n journalctl -b --no-pager -n 80 -u '"+unit+"*'"))
			}
		}
	default:
		t.Errorf("the system did not finish booting: %q", state)
	}
	if got := strings.TrimSpace(vm.Run("hostname")); got != pipelineHostname {
		t.Errorf("hostname %q, want %q", got, pipelineHostname)
	}
	if got := strings.TrimSpace(vm.Run("systemctl is-active nftables.service")); got != "active" {
		t.Errorf("nftables.service is %q", got)
	}
	ruleset := vm.Run("sudo -n nft list ruleset")
	if !strings.Contains(ruleset, "policy drop") || !strings.Contains(ruleset, "443") {
		t.Errorf("the loaded firewall ruleset is not refit-harden's:\n%s", ruleset)
	}
	sshd := vm.Run("sudo -n sshd -T")
	for _, want := range []string{"permitrootlogin no", "passwordauthentication no"} {
		if !strings.Contains(sshd, "\n"+want+"\n") {
			t.Errorf("sshd runs without %q", want)
		}
	}
	// it booted unattended with a GRUB password: the grub.cfg it booted from has one
	if got := strings.TrimSpace(vm.Run("sudo -n grep -c '^password_pbkdf2 root grub.pbkdf2.sha512' /boot/grub/grub.cfg")); got != "1" {
		t.Errorf("the booted image's grub.cfg has %s password lines, want 1", got)
	}
	if audit := strings.TrimSpace(vm.Run("sudo -n dpkg --audit")); audit != "" {
		t.Errorf("dpkg --audit in the booted image:\n%s", audit)
	}
	// After the first-boot service, nothing is deferred any more: the versions are apt-get upgrade's.
	got := map[string]string{}
	for _, line := range strings.Split(vm.Run(`dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version}\n'`), "\n") {
		if f := strings.Fields(line); len(f) == 3 && strings.HasPrefix(f[0], "ii") {
			got[f[1]] = f[2]
		}
	}
	if diff := diffVersions(got, want); len(diff) > 0 {
		t.Errorf("the booted image's packages differ from apt-get upgrade of the hardened image:\n%s", strings.Join(diff, "\n"))
	}
	t.Logf("running kernel %s", strings.TrimSpace(vm.Run("uname -r")))
}

// ctx0 is a one-minute context for one SSH command.
func ctx0(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// checkRunningKernel checks that the booted kernel is the newest kernel package apt-get upgrade
// installs (a linux-image-ABI package that is not in the hardened image), when there is one:
// refit-patch installed it offline (initramfs, grub.cfg) and the firmware booted it.
func checkRunningKernel(t *testing.T, vm *vmtest.VM, before, want map[string]string, a arch.Arch) {
	t.Helper()
	var newest, version string
	for name, v := range want {
		abi, ok := strings.CutPrefix(name, "linux-image-")
		if !ok || !strings.HasSuffix(abi, "-"+a.Debian) || before[name] != "" || abi == a.Debian {
			continue
		}
		if newest == "" || evr.CompareDeb(mustDebEVR(t, v), mustDebEVR(t, version)) > 0 {
			newest, version = abi, v
		}
	}
	running := strings.TrimSpace(vm.Run("uname -r"))
	if newest == "" {
		t.Logf("the suites carry no new %s kernel today: the kernel running is %s", a.Debian, running)
		return
	}
	if running != newest {
		t.Errorf("the running kernel is %s; the one installed offline is %s (%s)", running, newest, version)
		return
	}
	t.Logf("the running kernel %s is the one refit-patch installed offline (linux-image-%s %s)", running, newest, version)
}

// mustDebEVR parses a Debian version.
func mustDebEVR(t *testing.T, v string) evr.EVR {
	t.Helper()
	e, err := evr.ParseDeb(v)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// diffVersions lists the packages whose versions differ between got and want (name → version).
func diffVersions(got, want map[string]string) []string {
	var diff []string
	for name, v := range want {
		if got[name] != v {
			diff = append(diff, fmt.Sprintf("%s: want %q, got %q", name, v, got[name]))
		}
	}
	for name, v := range got {
		if _, ok := want[name]; !ok {
			diff = append(diff, fmt.Sprintf("%s: want it absent, got %q", name, v))
		}
	}
	sort.Strings(diff)
	return diff
}
