package hardening

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// grubSection is the part of a grub.cfg between "### BEGIN /etc/grub.d/<script> ###" and its END
// line, without them.
func grubSection(cfg, script string) string {
	_, rest, ok := strings.Cut(cfg, "### BEGIN /etc/grub.d/"+script+" ###\n")
	if !ok {
		return ""
	}
	sec, _, _ := strings.Cut(rest, "### END /etc/grub.d/"+script+" ###\n")
	return sec
}

var (
	menuentryRE    = regexp.MustCompile(`(?m)^[ \t]*menuentry .*$`)
	unrestrictedRE = regexp.MustCompile(`[ \t]--unrestricted([ \t]|$)`)
)

// grubLinuxEnv is what grub-mkconfig exports to /etc/grub.d/10_linux, for running it alone: the
// device of / is the test image's (no device node here: grub-probe complains, 10_linux goes on).
const grubLinuxEnv = "pkgdatadir=/usr/share/grub GRUB_DISTRIBUTOR=Debian GRUB_DEVICE=/dev/sda1 GRUB_DEVICE_BOOT=/dev/sda1 GRUB_FS=ext2 GRUB_CMDLINE_LINUX=console=ttyS0"

// TestGrubPasswordImage sets the GRUB password of a bootloader block (without the rest of the
// catalogue) in a copy of the Debian 12 test image's root, whose grub.cfg update-grub wrote and
// whose /etc/grub.d is Debian's, and judges the result with tools refit did not write:
//   - the SSG rule grub2_password (OpenSCAP, SSG 0.1.81) fails before and passes after;
//   - the image's grub-script-check accepts grub.cfg and what /etc/grub.d/01_refit_password prints,
//     which is exactly the section refit put into grub.cfg;
//   - the image's own 10_linux now writes every entry --unrestricted, as many as grub.cfg's 10_linux
//     section has, all --unrestricted, while the Advanced options submenu stays protected;
//   - grub.cfg differs from update-grub's only by the section and --unrestricted, and stays 0600;
//   - the audit says "would change" before, "compliant" after, and changes nothing; a second run
//     changes nothing; the hash is in no line the program prints;
//   - when a package upgrade puts back a 10_linux without --unrestricted, 01_refit_password sets no
//     password (every boot would wait for it) and says why; refit-harden's next run repairs it.
func TestGrubPasswordImage(t *testing.T) {
	fixture.NeedRoot(t)
	raw := filepath.Join(fixture.DebianImage(t), "debian12.raw")
	var root string
	fixture.ReadImage(t, raw, true, func(r string) { root = fixture.CopyRoot(t, r) })
	addDeviceNodes(t, root)
	const cfgPath = "boot/grub/grub.cfg"
	original := readFile(t, root, cfgPath)
	if got := fixture.JudgeSSGTailored(t, root, fixture.SSGTailoring{Rules: []string{"grub2_password"}}, "cis_level1_server")["cis_level1_server"].Rules["grub2_password"]; got != "fail" {
		t.Fatalf("SSG grub2_password on the image as built: %q, want fail (the control)", got)
	}

	cfg := DefaultConfig()
	cfg.Hardening, cfg.InstallPackages = false, false
	cfg.Bootloader.PasswordHash = fixture.GrubPasswordHash
	noHash := func(out string) {
		t.Helper()
		if strings.Contains(out, fixture.GrubPasswordHash[40:]) {
			t.Error("the program printed the password hash")
		}
	}
	status := func(r Report) Result { return resultsByID(r)["boot.grub-password"] }
	if r := status(auditRun(t, root, cfg)); r.Status != StatusWouldChange {
		t.Errorf("audit before: %s (%s), want would change", r.Status, r.Detail)
	}
	first, out := runProgram(t, root, cfg, "/bin/sh")
	noHash(out)
	if r := status(first); r.Status != StatusChanged || first.Counts.Failed != 0 {
		t.Fatalf("boot.grub-password: %s (%s), %d failed:\n%s", r.Status, r.Detail, first.Counts.Failed, failures(first))
	}

	got := readFile(t, root, cfgPath)
	lines := "set superusers=\"root\"\nexport superusers\npassword_pbkdf2 root " + fixture.GrubPasswordHash + "\n"
	if sec := grubSection(got, "01_refit_password"); sec != lines {
		t.Errorf("grub.cfg's 01_refit_password section:\n%s\nwant\n%s", sec, lines)
	}
	back := strings.Replace(got, "### BEGIN /etc/grub.d/01_refit_password ###\n"+lines+"### END /etc/grub.d/01_refit_password ###\n\n", "", 1)
	if back = strings.ReplaceAll(back, " --unrestricted", ""); back != original {
		t.Errorf("grub.cfg changed beyond the password section and --unrestricted:\n%s", got)
	}
	if out, err := inRoot(t, root, "stat", "-c", "%a %U:%G", "/"+cfgPath); err != nil || strings.TrimSpace(out) != "600 root:root" {
		t.Errorf("grub.cfg is %q (%v), want 600 root:root", out, err)
	}
	if out, err := inRoot(t, root, "grub-script-check", "/"+cfgPath); err != nil {
		t.Errorf("grub-script-check grub.cfg: %v\n%s", err, out)
	}
	if out, err := inRoot(t, root, "sh", "-c", "/etc/grub.d/01_refit_password >/tmp/pw.cfg && grub-script-check /tmp/pw.cfg && cat /tmp/pw.cfg"); err != nil || out != lines {
		t.Errorf("/etc/grub.d/01_refit_password | grub-script-check: %v\n%s\nwant\n%s", err, out, lines)
	}
	if out, _ := inRoot(t, root, "stat", "-c", "%a %U:%G", "/etc/grub.d/01_refit_password"); strings.TrimSpace(out) != "700 root:root" {
		t.Errorf("/etc/grub.d/01_refit_password is %q, want 700 root:root", out)
	}
	// what update-grub will write from now on: the image's own 10_linux, run alone
	linux, err := inRoot(t, root, "sh", "-c", grubLinuxEnv+" /etc/grub.d/10_linux 2>/dev/null")
	if err != nil {
		t.Fatalf("10_linux: %v\n%s", err, linux)
	}
	generated, edited := menuentryRE.FindAllString(linux, -1), menuentryRE.FindAllString(grubSection(got, "10_linux"), -1)
	if len(generated) < 3 || len(generated) != len(edited) {
		t.Errorf("10_linux writes %d menu entries, grub.cfg's 10_linux section has %d; want the same, at least 3:\n%s", len(generated), len(edited), linux)
	}
	for _, e := range append(generated, edited...) {
		if !unrestrictedRE.MatchString(e) {
			t.Errorf("a menu entry needs the password to boot: %s", e)
		}
	}
	if sub := regexp.MustCompile(`(?m)^submenu .*$`).FindString(got); sub == "" || unrestrictedRE.MatchString(sub) {
		t.Errorf("the Advanced options submenu should need the password: %q", sub)
	}
	if got := fixture.JudgeSSGTailored(t, root, fixture.SSGTailoring{Rules: []string{"grub2_password"}}, "cis_level1_server")["cis_level1_server"].Rules["grub2_password"]; got != "pass" {
		t.Errorf("SSG grub2_password after refit-harden: %q, want pass", got)
	}

	second, out := runProgram(t, root, cfg, "bash", "--posix")
	noHash(out)
	if second.Counts.Changed != 0 || second.Counts.Failed != 0 {
		t.Errorf("second run: %d changed, %d failed:\n%s%s", second.Counts.Changed, second.Counts.Failed, changes(second), failures(second))
	}
	if r := status(auditRun(t, root, cfg)); r.Status != StatusCompliant {
		t.Errorf("audit after: %s (%s), want compliant", r.Status, r.Detail)
	}

	// a grub-common upgrade whose 10_linux replaced refit's (dpkg --force-confnew)
	linux10 := filepath.Join(root, "etc/grub.d/10_linux")
	if err := os.WriteFile(linux10, []byte(strings.Replace(readFile(t, root, "etc/grub.d/10_linux"), " --unrestricted\"", "\"", 1)), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := inRoot(t, root, "/etc/grub.d/01_refit_password"); err != nil || strings.Contains(out, "password_pbkdf2") || !strings.Contains(out, "no GRUB password is set") {
		t.Errorf("01_refit_password beside a 10_linux without --unrestricted: %v\n%s", err, out)
	}
	if r := status(auditRun(t, root, cfg)); r.Status != StatusWouldChange || !strings.Contains(r.Detail, "10_linux") {
		t.Errorf("audit after 10_linux was replaced: %s (%s), want would change, naming 10_linux", r.Status, r.Detail)
	}
	third, out := runProgram(t, root, cfg, "/bin/sh")
	noHash(out)
	if r := status(third); r.Status != StatusChanged {
		t.Errorf("run after 10_linux was replaced: %s (%s), want changed", r.Status, r.Detail)
	}
	if out, err := inRoot(t, root, "/etc/grub.d/01_refit_password"); err != nil || out != lines {
		t.Errorf("01_refit_password after the repair: %v\n%s", err, out)
	}
}
