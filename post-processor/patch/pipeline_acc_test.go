package patch

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

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
// test key, host name, DNS, NTP, nftables), and post-processor "refit-patch" patches the result
// offline against this machine's Debian suites. Then:
//   - the source image and the hardened image (refit-patch's input) keep their bytes;
//   - the patched image's package versions, with the deferred packages at their new versions,
//     equal what apt-get upgrade --with-new-pkgs chooses for the hardened image's installed set
//     (the kernel update included), and dpkg has nothing half-done;
//   - the hardening survived the patch (sshd drop-in, user and key, firewall, DNS, host name);
//   - the patched image boots (qemu TCG): ops logs in with the key, the system finishes booting
//     (running, or degraded with the failed units logged, none of them refit's, nftables or ssh),
//     the firewall is loaded, sshd runs with the hardened settings, and after the first-boot
//     service the installed versions equal apt-get upgrade's outright.
//
// Needs PACKER_ACC=1, root, this machine's apt sources for bookworm, -updates and -security, and
// the tools fixture.DebianImage and vmtest.Boot name.
func TestAccPipeline(t *testing.T) {
	env := packertest.Setup(t)
	fixture.NeedRoot(t)
	fixture.Need(t, "apt-get", "dpkg")
	mirror, security, keyring := debianMirrors(t)
	src := filepath.Join(fixture.DebianImage(t), "debian12.qcow2")
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
		"-var", "output_directory="+out,
		filepath.Join(packertest.RepoRoot(), "example", "pipeline"))
	if err != nil {
		t.Fatalf("packer build example/pipeline: %v", err)
	}
	t.Logf("packer build (chroot, harden, patch) took %v", time.Since(start).Round(time.Second))
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
		"/etc/resolv.conf", "/etc/hostname")
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

	vm := vmtest.Boot(t, patched, key, vmtest.Options{Login: pipelineUser, LoginKey: key})
	checkBooted(t, vm, key, want)
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
