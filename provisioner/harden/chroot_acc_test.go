package harden

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/hardening"
	"github.com/refit-images/packer-plugin-refit/internal/packertest"
	"github.com/refit-images/packer-plugin-refit/internal/vmtest"
)

// The settings TestAccHardenChroot gives refit-harden; none of them is in the source image or
// on this host, so finding them in the output proves the build put them there. The DNS servers
// are this host's (hostNameservers), so that the built image resolves names like this host.
const (
	accHostname = "refit-acc"
	accDomain   = "example.test"
	accNTP      = "ntp.example.test"
	// the user's choices TestAccHardenChroot makes, and the values an auditor's tailoring gives
	// SSG for them (its defaults are placeholders such as "remotelogserver")
	accLogURL    = "https://logs.example.test:19532"
	accMailAlias = "security@example.test"
	accPort      = 8443
)

// TestAccHardenChroot runs the real Packer: source "refit-chroot" on the bootable Debian 12 test
// image with provisioner "refit-harden" (a user with an SSH key and sudo, allow_groups, a GRUB
// password, remote logging, root's mail alias, host name, DNS, NTP and the firewall). The build succeeds with no failed rule in the report; the output image, read
// back offline, holds the sshd drop-in, the user and its key, the nftables configuration enabled
// at boot, the host name, the NTP servers, and the DNS servers in /etc/resolv.conf — the file
// this image takes them from (refit-harden writes the image's own while copy_files has the host's
// in its place); the source image is unchanged. The same build over that output then reports
// no rule changed. Each build ends with refit-harden in audit mode (fail_on = "noncompliant"),
// which finds every rule compliant. Needs PACKER_ACC=1, root, and the tools fixture.DebianImage names.
func TestAccHardenChroot(t *testing.T) {
	env := packertest.Setup(t)
	fixture.NeedRoot(t)
	src := filepath.Join(fixture.DebianImage(t), "debian12.qcow2")
	key := vmtest.NewKey(t)
	before := fixture.FileSHA256(t, src)

	dns := fixture.HostNameservers(t)
	wantResolv := resolvConf(dns, accDomain)

	// Controls: each thing the test looks for must be absent before the build, and refit-harden's
	// resolv.conf must differ from the copy of this host's that copy_files places.
	orig := fixture.ReadImage(t, src, true, nil, "/etc/resolv.conf", "/etc/hostname", "/etc/passwd", "/etc/nftables.conf",
		"/etc/ssh/sshd_config.d/00-refit-hardening.conf")
	if orig["/etc/resolv.conf"].Content == wantResolv || orig["/etc/hostname"].Content == accHostname+"\n" ||
		strings.Contains(orig["/etc/passwd"].Content, "\nops:") || strings.Contains(orig["/etc/nftables.conf"].Content, fmt.Sprint(accPort)) ||
		orig["/etc/ssh/sshd_config.d/00-refit-hardening.conf"].Exists {
		t.Fatalf("the source image already has what the build should add: %+v", orig)
	}
	if host, err := os.ReadFile("/etc/resolv.conf"); err != nil || string(host) == wantResolv {
		t.Fatalf("this host's /etc/resolv.conf (%v) is what refit-harden writes: the test could not tell them apart", err)
	}

	dir := t.TempDir()
	first := accChrootBuild(t, env, src, filepath.Join(dir, "first"), key.Public, dns)
	// The image has its own /etc/resolv.conf: refit-harden rewrites that one (set aside while the
	// build resolves names through the host's copy), so copy_files finds its copy untouched and
	// puts the image's file back. Without one, the build's copy is the image's file and stays.
	if kept := strings.Contains(first.out, "copy_files: the build changed /etc/resolv.conf"); kept == orig["/etc/resolv.conf"].Exists {
		t.Errorf("copy_files kept the build's /etc/resolv.conf: %v, want %v (the image has its own: %v)", kept, !orig["/etc/resolv.conf"].Exists, orig["/etc/resolv.conf"].Exists)
	}

	rep := first.report
	if !rep.Complete || rep.OSID != "debian" || rep.Live {
		t.Errorf("report: complete %v, os %q, live %v; want a complete offline run on debian", rep.Complete, rep.OSID, rep.Live)
	}
	status := map[string]hardening.Status{}
	for _, r := range rep.Results {
		status[r.ID] = r.Status
		if r.Status == hardening.StatusFailed {
			t.Errorf("rule %s failed: %s", r.ID, r.Detail)
		}
	}
	if rep.Counts.Failed != 0 || rep.Counts.Changed == 0 {
		t.Errorf("report counts %+v: want no failure and some changes", rep.Counts)
	}
	for _, id := range []string{"network.dns", "network.hostname", "network.ntp"} {
		if status[id] != hardening.StatusChanged {
			t.Errorf("rule %s: %q, want changed", id, status[id])
		}
	}

	if after := fixture.FileSHA256(t, src); after != before {
		t.Errorf("the source image changed: sha256 %s → %s", before, after)
	}
	files := []string{"/etc/resolv.conf", "/etc/hostname", "/etc/hosts", "/etc/passwd",
		"/home/ops/.ssh/authorized_keys", "/etc/sudoers.d/90-refit-user-ops",
		"/etc/ssh/sshd_config.d/00-refit-hardening.conf", "/etc/nftables.conf",
		"/etc/systemd/system/sysinit.target.wants/nftables.service",
		"/etc/systemd/timesyncd.conf.d/refit-ntp.conf", "/usr/sbin/policy-rc.d"}
	got := fixture.ReadImage(t, first.image, true, nil, files...)
	checkHardenedImage(t, got, key.Public, wantResolv)
	if t.Failed() {
		return
	}

	// Idempotence through refit-chroot: the same build over the first one's output changes
	// nothing, although copy_files again puts this host's /etc/resolv.conf in for the build.
	second := accChrootBuild(t, env, first.image, filepath.Join(dir, "second"), key.Public, dns)
	for _, r := range second.report.Results {
		if r.Status == hardening.StatusChanged || r.Status == hardening.StatusFailed {
			t.Errorf("second build: rule %s %s: %s", r.ID, r.Status, r.Detail)
		}
	}
	if c := second.report.Counts; c.Changed != 0 || c.Failed != 0 || c.OK == 0 {
		t.Errorf("second build: counts %+v, want 0 changed, 0 failed", c)
	}
	if strings.Contains(second.out, "copy_files: the build changed") {
		t.Error("second build: copy_files says the build changed a copied file")
	}
	checkHardenedImage(t, fixture.ReadImage(t, second.image, true, nil, files...), key.Public, wantResolv)

	judgeHardenedImage(t, src, second.image)
}

// judgeFloors are the pass rates (pass / (pass + fail), in per cent) that the outside judge, the
// SCAP Security Guide's CIS and ANSSI profiles evaluated by OpenSCAP (fixture.JudgeSSGTailored,
// with the values an auditor gives SSG for the template's log server and root mail alias), must
// find on the image TestAccHardenChroot hardens (the baseline profile, with the user's choices:
// allow_groups, a GRUB password, remote logging, root's mail alias). Issue 14's targets, CIS L1
// 97 % and ANSSI BP-028 intermediary 92 %, are not reached: these floors are the figures this
// test reached (2026-12-07: CIS L1 319 pass / 11 fail, ANSSI intermediary 169 / 22), so that any
// drop fails. docs/provisioners/harden.mdx lists the rules that still fail and why; this
// template's NTP server is not one of the pool servers SSG's service_timesyncd_configured
// accepts, so CIS L1 is one rule lower here than in the docs' measurement.
var judgeFloors = map[string]float64{
	"cis_level1_server":       96.6,
	"anssi_bp28_intermediary": 88.4,
}

// judgeHardenedImage judges the source image and the hardened one with the SSG profiles of
// judgeFloors: the hardened image must reach each floor, and no rule that passes on the source
// image may fail on the hardened one.
func judgeHardenedImage(t *testing.T, src, hardened string) {
	t.Helper()
	profiles := make([]string, 0, len(judgeFloors))
	for p := range judgeFloors {
		profiles = append(profiles, p)
	}
	sort.Strings(profiles)
	tailoring := packertest.HardenChoices{LogURL: accLogURL, MailAlias: accMailAlias}.SSGTailoring()
	judge := func(image string) (res map[string]fixture.SSGResult) {
		fixture.ReadImage(t, image, false, func(root string) { res = fixture.JudgeSSGTailored(t, root, tailoring, profiles...) })
		return res
	}
	before, after := judge(src), judge(hardened)
	for _, p := range profiles {
		b, a := before[p], after[p]
		t.Logf("SSG %s %s: source image %.1f %% (%d/%d), hardened %.1f %% (%d/%d)", fixture.SSGVersion, p,
			b.PassRate(), b.Count("pass"), b.Count("fail"), a.PassRate(), a.Count("pass"), a.Count("fail"))
		t.Logf("SSG %s: failing on the hardened image: %s", p, strings.Join(a.With("fail"), " "))
		if a.PassRate() < judgeFloors[p] {
			t.Errorf("SSG %s: the hardened image passes %.1f %% of the rules, below the floor %.1f %%; failing: %s",
				p, a.PassRate(), judgeFloors[p], strings.Join(a.With("fail"), ", "))
		}
		for _, id := range b.With("pass") {
			if a.Rules[id] == "fail" {
				t.Errorf("SSG %s: rule %s passes on the source image and fails on the hardened one", p, id)
			}
		}
	}
}

// accBuild is what one accChrootBuild left: Packer's output, the report and the output image.
type accBuild struct {
	out, image string
	report     hardening.Report
}

// accChrootBuild runs TestAccHardenChroot's template on src (a user with an SSH key and sudo,
// allow_groups, a GRUB password, remote logging, root's mail alias, host name, DNS, NTP and the
// firewall) with its output and report under dir.
func accChrootBuild(t *testing.T, env *packertest.Env, src, dir, publicKey string, dns []string) accBuild {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "harden-report.json")
	settings := packertest.HardenChoices{PublicKey: publicKey, LogURL: accLogURL, MailAlias: accMailAlias,
		Hostname: accHostname, Domain: accDomain, DNS: dns, DNSSearch: []string{accDomain}, NTP: []string{accNTP}, Port: accPort}.HCL()
	// The audit after the apply run fails the build unless every rule is then compliant.
	tpl := packertest.Template(t, fmt.Sprintf(`
source "refit-chroot" "debian" {
  source_image      = %q
  output_directory  = %q
  output_image_name = "hardened.raw"
  output_format     = "raw"
}

build {
  sources = ["source.refit-chroot.debian"]

  provisioner "refit-harden" {
    report = %q
%s
  }

  provisioner "refit-harden" {
    mode    = "audit"
    fail_on = "noncompliant"
    report  = %q
%s
  }
}
`, src, filepath.Join(dir, "output"), report, settings, filepath.Join(dir, "audit-report.json"), settings))
	start := time.Now()
	out, err := env.Run(t, tpl, "build", ".")
	if err != nil {
		t.Fatalf("packer build of %s: %v", src, err)
	}
	t.Logf("packer build of %s took %v", filepath.Base(src), time.Since(start).Round(time.Second))
	audit := readHardenReport(t, filepath.Join(dir, "audit-report.json"))
	if !audit.Audit || audit.Counts.Compliant == 0 || audit.Counts.WouldChange != 0 || !strings.Contains(out, "pass rate 100.0 %") {
		t.Errorf("the audit after refit-harden: audit %v, counts %+v; want every rule compliant", audit.Audit, audit.Counts)
	}
	return accBuild{out: out, image: filepath.Join(dir, "output", "hardened.raw"), report: readHardenReport(t, report)}
}

// checkHardenedImage checks the files TestAccHardenChroot's template writes, as readImage read
// them from the output image.
func checkHardenedImage(t *testing.T, got map[string]fixture.ImageFile, publicKey, wantResolv string) {
	t.Helper()
	if resolv := got["/etc/resolv.conf"]; resolv.Link != "" || resolv.Content != wantResolv {
		t.Errorf("/etc/resolv.conf (link %q) is not refit-harden's (did copy_files put the image's own back?):\n%s\nwant:\n%s", resolv.Link, resolv.Content, wantResolv)
	}
	if got["/etc/hostname"].Content != accHostname+"\n" {
		t.Errorf("/etc/hostname = %q, want %q", got["/etc/hostname"].Content, accHostname+"\n")
	}
	if !strings.Contains(got["/etc/hosts"].Content, "127.0.1.1\t"+accHostname+"."+accDomain+" "+accHostname) {
		t.Errorf("/etc/hosts does not name %s.%s:\n%s", accHostname, accDomain, got["/etc/hosts"].Content)
	}
	if !strings.Contains(got["/etc/passwd"].Content, "\nops:") {
		t.Error("the user ops is not in /etc/passwd")
	}
	if keys := got["/home/ops/.ssh/authorized_keys"].Content; !strings.HasSuffix(keys, "\n") || keyLines(keys) != publicKey {
		t.Errorf("/home/ops/.ssh/authorized_keys = %q, want comments and the test key, one per line", keys)
	}
	if !strings.Contains(got["/etc/sudoers.d/90-refit-user-ops"].Content, "NOPASSWD") {
		t.Errorf("the sudo drop-in for ops: %q", got["/etc/sudoers.d/90-refit-user-ops"].Content)
	}
	dropin := got["/etc/ssh/sshd_config.d/00-refit-hardening.conf"].Content
	for _, want := range []string{"PermitRootLogin no", "PasswordAuthentication no"} {
		if !strings.Contains(dropin, want) {
			t.Errorf("the sshd drop-in lacks %q:\n%s", want, dropin)
		}
	}
	nft := got["/etc/nftables.conf"].Content
	for _, want := range []string{"policy drop", fmt.Sprint(accPort), "22"} {
		if !strings.Contains(nft, want) {
			t.Errorf("/etc/nftables.conf lacks %q:\n%s", want, nft)
		}
	}
	if !got["/etc/systemd/system/sysinit.target.wants/nftables.service"].Exists {
		t.Error("nftables.service is not enabled (no sysinit.target.wants link)")
	}
	if !strings.Contains(got["/etc/systemd/timesyncd.conf.d/refit-ntp.conf"].Content, "NTP="+accNTP) {
		t.Errorf("timesyncd's drop-in: %q", got["/etc/systemd/timesyncd.conf.d/refit-ntp.conf"].Content)
	}
	if got["/usr/sbin/policy-rc.d"].Exists {
		t.Error("policy-rc.d was left in the image")
	}
}

// resolvConf is the /etc/resolv.conf refit-harden's network.dns writes for servers and a search domain.
func resolvConf(servers []string, search string) string {
	s := "# Managed by refit-harden (network.dns)\n"
	for _, ns := range servers {
		s += "nameserver " + ns + "\n"
	}
	return s + "search " + search + "\n"
}

// keyLines returns the lines of an authorized_keys file that are not comments, joined by newlines.
func keyLines(content string) string {
	var keys []string
	for _, l := range strings.Split(strings.TrimSuffix(content, "\n"), "\n") {
		if !strings.HasPrefix(l, "#") {
			keys = append(keys, l)
		}
	}
	return strings.Join(keys, "\n")
}

// readHardenReport reads refit-harden's JSON report.
func readHardenReport(t *testing.T, name string) hardening.Report {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("reading the report: %v", err)
	}
	var rep hardening.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, data)
	}
	return rep
}
