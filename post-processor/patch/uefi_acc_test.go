package patch

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/apt"
	"github.com/refit-images/packer-plugin-refit/internal/firstboot"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/packertest"
	ipatch "github.com/refit-images/packer-plugin-refit/internal/patch"
	"github.com/refit-images/packer-plugin-refit/internal/vmtest"
)

// TestAccPatchUEFI runs the real Packer's refit-patch on the amd64 UEFI image (GPT, a FAT32
// ESP this kernel cannot mount, grub-efi-amd64 at the removable path EFI/BOOT/BOOTX64.EFI only)
// against this machine's Debian suites, limited to the kernel, plus a signed repository holding
// the image's own grub-efi-amd64 rebuilt with a higher version (the suites offer none newer
// than the image's; its postinst is the real one). The output is not compressed: zlib would
// more than double the build's time. Then:
//   - the kernel is installed offline; grub-efi-amd64 is deferred to the first boot, its
//     postinst named as the reason; the input image keeps its bytes; nothing leaks;
//   - from outside (qemu-img dd, fsck.fat, mtools), the output's ESP is clean and holds
//     exactly the input's files;
//   - the output boots under OVMF, root logs in with the key, the running kernel is the one
//     installed offline, and refit-firstboot.service has run to success and installed the
//     deferred grub-efi-amd64. Its postinst runs grub-install only when the ESP has
//     EFI/debian (the image has none: grub lives only at the removable path), so the first
//     boot leaves the ESP as it was: every file on it still equals the input's.
func TestAccPatchUEFI(t *testing.T) {
	env := packertest.Setup(t)
	fixture.NeedRoot(t)
	fixture.Need(t, "qemu-img", "fsck.fat", "mcopy", "dpkg-deb", "apt-ftparchive", "gpg")
	start := time.Now()
	src := filepath.Join(fixture.DebianUEFIImage(t), "debian12.qcow2")
	srcSum := sum(t, src)
	inESP := espFiles(t, src)
	status := fixture.ReadImage(t, src, false, nil, "/var/lib/dpkg/status")["/var/lib/dpkg/status"].Content
	entries, err := apt.ParseStatus(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	inPkgs := map[string]string{}
	for _, e := range entries {
		inPkgs[e.Package] = e.Version
	}
	grubVersion := inPkgs["grub-efi-amd64"]
	if grubVersion == "" || inPkgs["grub-efi-amd64-bin"] != grubVersion || len(inESP) == 0 {
		t.Fatalf("the UEFI image has grub-efi-amd64 %q, -bin %q, ESP files %v", grubVersion, inPkgs["grub-efi-amd64-bin"], inESP)
	}

	// grub-efi-amd64 with a higher version, in a signed repository served over HTTP.
	newGrub := grubVersion + "+refit1"
	debs := fixture.APTDownload(t, fixture.DebianSourcesList(t, fixture.DebianSuite), t.TempDir(), "grub-efi-amd64="+grubVersion)
	repo := fixture.BuildDebRepo(t, "refit-uefi", "amd64", rebuildDeb(t, debs[0], newGrub))
	srv := httptest.NewServer(http.FileServer(http.Dir(repo.Dir)))
	t.Cleanup(srv.Close)
	repos := append(debianRepositories(t), map[string]interface{}{"name": "grub", "url": srv.URL, "suite": repo.Suite,
		"components": []string{"main"}, "gpg_key": repo.Key})

	work := t.TempDir()
	t.Setenv("TMPDIR", filepath.Join(work, "tmp")) // packer and the plugin inherit it: leaks show there
	if err := os.Mkdir(filepath.Join(work, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	out, report := filepath.Join(work, "uefi-patched.qcow2"), filepath.Join(work, "report.json")
	tpl := patchTemplate(t, work, src, report, repos, fmt.Sprintf("output = %q", out),
		`include = ["linux-image-*", "grub-efi-amd64"]`, "sbom_formats = []", "output_compress = false")
	buildStart := time.Now()
	t.Logf("preparation (fixture image read, grub repository) took %v", buildStart.Sub(start).Round(time.Second))
	if _, err := env.Run(t, work, "build", tpl); err != nil {
		t.Fatalf("packer build: %v", err)
	}
	t.Logf("packer build (refit-patch) took %v", time.Since(buildStart).Round(time.Second))
	fixture.CheckNoLeftovers(t, []string{work}, nil)
	if got := sum(t, src); got != srcSum {
		t.Errorf("the input image changed: sha256 %s → %s", srcSum, got)
	}

	var rep ipatch.Report
	if data, err := os.ReadFile(report); err != nil || json.Unmarshal(data, &rep) != nil {
		t.Fatalf("the report %s: %v\n%s", report, err, data)
	}
	t.Logf("refit-patch: %s", rep.Summary())
	var kernel string // the kernel package installed offline: linux-image-<uname -r>
	for _, u := range rep.Updated {
		if u.Action == "install" && strings.HasPrefix(u.Name, "linux-image-") && inPkgs[u.Name] == "" {
			kernel = u.Name
		}
	}
	if kernel == "" {
		t.Errorf("no new kernel package installed offline: updated %+v", rep.Updated)
	}
	grub := slices.IndexFunc(rep.Deferred, func(p ipatch.PackageReport) bool { return p.Name == "grub-efi-amd64" })
	switch {
	case grub < 0:
		t.Errorf("grub-efi-amd64 was not deferred to the first boot: deferred %+v, updated %+v", rep.Deferred, rep.Updated)
	case rep.Deferred[grub].To != newGrub || !strings.Contains(rep.Deferred[grub].Reason, "postinst"):
		t.Errorf("deferred grub-efi-amd64: to %q (want %s), reason %q (want the postinst named)", rep.Deferred[grub].To, newGrub, rep.Deferred[grub].Reason)
	default:
		t.Logf("deferred: grub-efi-amd64 %s (%s)", newGrub, rep.Deferred[grub].Reason)
	}

	// The ESP from outside: fsck.fat-clean, and the input's files, no more, no fewer.
	outESP := espFiles(t, out)
	if diff := diffVersions(outESP, inESP); len(diff) > 0 {
		t.Errorf("the output's ESP differs from the input's (sha256 of each file):\n%s", strings.Join(diff, "\n"))
	}
	if t.Failed() {
		return // booting takes minutes: not for an image already known to be wrong
	}

	bootStart := time.Now()
	key := vmtest.NewKey(t)
	vm := vmtest.Boot(t, out, key, vmtest.Options{Machine: vmtest.OVMF, AuthorizeKey: true})
	t.Logf("booted to SSH (the key added to a copy, OVMF, TCG) after %v", time.Since(bootStart).Round(time.Second))
	vm.Run("systemctl is-system-running --wait || true")
	t.Logf("system up, first boot done, after %v", time.Since(bootStart).Round(time.Second))
	if got := strings.TrimSpace(vm.Run("test -d /sys/firmware/efi && uname -r")); "linux-image-"+got != kernel {
		t.Errorf("the running kernel is %s; refit-patch installed %s", got, kernel)
	}
	unit := vm.Run("systemctl show -p Result,ExecMainStatus,ExecMainExitTimestampMonotonic " + firstboot.UnitName)
	if !strings.Contains(unit, "Result=success") || !strings.Contains(unit, "ExecMainStatus=0") || strings.Contains(unit, "ExecMainExitTimestampMonotonic=0\n") {
		t.Errorf("%s did not run to success: %s\n%s", firstboot.UnitName, unit, vm.Run("journalctl -b --no-pager -n 60 -u "+firstboot.UnitName))
	}
	if got := vm.Run("dpkg-query -W -f '${db:Status-Abbrev}${Version}' grub-efi-amd64"); got != "ii "+newGrub {
		t.Errorf("grub-efi-amd64 after the first boot: %q, want installed %s", got, newGrub)
	}
	// What the first boot left on the ESP, read by the guest's own vfat driver.
	guestESP := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(vm.Run("findmnt -n -o FSTYPE /boot/efi >&2 && cd /boot/efi && find . -type f -exec sha256sum {} +")), "\n") {
		if sumHex, name, ok := strings.Cut(line, "  ./"); ok {
			guestESP[strings.ToUpper(name)] = sumHex
		}
	}
	if diff := diffVersions(guestESP, upperKeys(inESP)); len(diff) > 0 {
		t.Errorf("after the first boot, the ESP differs from the input's (sha256 of each file, names upper-cased):\n%s", strings.Join(diff, "\n"))
	}
	t.Logf("boot and first boot under OVMF took %v; whole test %v", time.Since(bootStart).Round(time.Second), time.Since(start).Round(time.Second))
}

// espFiles reads the EFI system partition (partition 1: 64 MiB at 1 MiB, as make-image.sh
// lays it out) of image with qemu-img dd, checks it with fsck.fat -n, copies its files out with
// mcopy and returns path → sha256.
func espFiles(t *testing.T, image string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	part, files := filepath.Join(dir, "esp.img"), filepath.Join(dir, "files")
	for _, c := range [][]string{
		// qemu-img dd counts the skipped blocks in count: 65 copies blocks 1 to 64.
		{"qemu-img", "dd", "-O", "raw", "bs=1M", "skip=1", "count=65", "if=" + image, "of=" + part},
		{"fsck.fat", "-n", part},
		{"mkdir", files},
		{"mcopy", "-s", "-n", "-i", part, "::/*", files},
	} {
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C.UTF-8")
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, o)
		}
	}
	out := map[string]string{}
	err := filepath.Walk(files, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(files, p)
		out[rel] = fmt.Sprintf("%x", sha256.Sum256(data))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// upperKeys returns m with its keys upper-cased.
func upperKeys(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[strings.ToUpper(k)] = v
	}
	return out
}

// rebuildDeb repacks the .deb deb with its control's Version set to version (payload and
// maintainer scripts unchanged) and returns the new .deb's path.
func rebuildDeb(t *testing.T, deb, version string) string {
	t.Helper()
	tree := filepath.Join(t.TempDir(), "tree")
	if o, err := exec.Command("dpkg-deb", "-R", deb, tree).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -R %s: %v\n%s", deb, err, o)
	}
	control := filepath.Join(tree, "DEBIAN", "control")
	data, err := os.ReadFile(control)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "Version: ") {
			line = "Version: " + version
		}
		lines = append(lines, line)
	}
	if err := os.WriteFile(control, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(deb), ".deb")+"+rebuilt.deb")
	if o, err := exec.Command("dpkg-deb", "-Zxz", "--build", tree, out).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, o)
	}
	if o, _ := exec.Command("dpkg-deb", "-f", out, "Version").Output(); !bytes.Equal(bytes.TrimSpace(o), []byte(version)) {
		t.Fatalf("the rebuilt .deb has version %q, want %s", o, version)
	}
	return out
}
