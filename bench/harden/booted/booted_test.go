// Package booted judges images refit-harden hardened through refit-chroot twice: offline, as the
// tests and bench/harden/compare.sh do (OpenSCAP on the image's root, in a chroot), and on the
// image booted under qemu, where the judges' run-time probes (mounted partitions, loaded AppArmor
// profiles, the kernel's parameters, the processes' environment, running services) see the
// image's own system instead of the judging host's.
//
// It is a benchmark because it measures and takes about half an hour a profile under TCG: run it
// as root, with the real Packer, qemu, OpenSCAP and Lynis on this machine and a Debian mirror the
// guest installs OpenSCAP from:
//
//	PACKER_ACC=1 go test -run '^$' -bench BootedJudge/baseline -benchtime 1x -timeout 3h ./bench/harden/booted
package booted

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/hardening"
	"github.com/refit-images/packer-plugin-refit/internal/packertest"
	"github.com/refit-images/packer-plugin-refit/internal/vmtest"
)

// The user's choices of bench/harden/config-choices.json and the values an auditor's tailoring
// gives SSG for them; the user logs in with a key and has sudo without a password (the bench runs
// the judges through it), the resolver is qemu's user network's (the guest installs OpenSCAP).
const (
	logURL    = "https://logs.example.test:19532"
	mailAlias = "security@example.test"
	qemuDNS   = "10.0.2.3"
)

// judged are the profiles the benchmark hardens with and the SSG profiles it judges each one by:
// the baseline by the two benchmarks issue 14 sets it targets in (and Lynis), every other
// profile by its own benchmark.
var judged = []struct {
	profile string
	ssg     []string
	lynis   bool
}{
	{hardening.ProfileBaseline, []string{"cis_level1_server", "anssi_bp28_intermediary"}, true},
	{"cis-level1", []string{"cis_level1_server"}, false},
	{"cis-level2", []string{"cis_level2_server"}, false},
	{"anssi-intermediary", []string{"anssi_bp28_intermediary"}, false},
	{"anssi-high", []string{"anssi_bp28_high"}, false},
}

// BenchmarkBootedJudge hardens the Debian 12 test image through refit-chroot with each profile and
// the user's choices, judges the output offline and booted, and reports both pass rates
// (pass / (pass + fail)), the rules whose verdict differs, and, for the baseline, Lynis's
// hardening index on the booted image.
func BenchmarkBootedJudge(b *testing.B) {
	for _, j := range judged {
		b.Run(j.profile, func(b *testing.B) {
			env := packertest.Setup(b)
			fixture.NeedRoot(b)
			fixture.Need(b, "qemu-system-x86_64", "ssh")
			if j.lynis {
				fixture.Need(b, "lynis")
			}
			ds := fixture.SSGDatastream(b)
			src := filepath.Join(fixture.DebianImage(b), "debian12.qcow2")
			key := vmtest.NewKey(b)
			image := harden(b, env, src, j.profile, key.Public)
			tailoring := packertest.HardenChoices{LogURL: logURL, MailAlias: mailAlias}.SSGTailoring()
			var offline map[string]fixture.SSGResult
			fixture.ReadImage(b, image, false, func(root string) {
				offline = fixture.JudgeSSGTailored(b, root, tailoring, j.ssg...)
			})

			vm := vmtest.Boot(b, image, key, vmtest.Options{Login: "ops", LoginKey: key, MemoryMiB: 2048})
			sh := vmShell{b: b, vm: vm, key: key}
			if j.lynis {
				// first, before OpenSCAP's packages are installed in the guest
				index := bootedLynis(sh)
				b.Logf("%s: Lynis hardening index on the booted image: %d", j.profile, index)
				b.ReportMetric(float64(index), "lynis-index")
			}
			booted := bootedSSG(sh, ds, tailoring, j.ssg)
			for _, p := range j.ssg {
				off, on := offline[p], booted[p]
				b.Logf("%s judged by SSG %s %s: offline %.1f %% (%d/%d), booted %.1f %% (%d/%d)", j.profile, fixture.SSGVersion, p,
					off.PassRate(), off.Count("pass"), off.Count("fail"), on.PassRate(), on.Count("pass"), on.Count("fail"))
				b.Logf("%s, %s: failing on the booted image: %s", j.profile, p, strings.Join(on.With("fail"), " "))
				for _, d := range differences(off, on) {
					b.Logf("%s, %s: %s", j.profile, p, d)
				}
				b.ReportMetric(off.PassRate(), p+"-offline-%")
				b.ReportMetric(on.PassRate(), p+"-booted-%")
			}
		})
	}
}

// harden runs refit-harden with profile and the user's choices through refit-chroot on src and
// returns the output image.
func harden(b *testing.B, env *packertest.Env, src, profile, publicKey string) string {
	b.Helper()
	out := filepath.Join(b.TempDir(), "output") // refit-chroot creates it
	tpl := packertest.Template(b, fmt.Sprintf(`
source "refit-chroot" "debian" {
  source_image      = %q
  output_directory  = %q
  output_image_name = "hardened.raw"
  output_format     = "raw"
}

build {
  sources = ["source.refit-chroot.debian"]

  provisioner "refit-harden" {
    profile = %q
%s  }
}
`, src, out, profile, packertest.HardenChoices{PublicKey: publicKey, LogURL: logURL, MailAlias: mailAlias, Hostname: "bench",
		Domain: "example.test", DNS: []string{qemuDNS}, NTP: []string{"0.debian.pool.ntp.org", "1.debian.pool.ntp.org"}, Port: 443}.HCL()))
	start := time.Now()
	if _, err := env.Run(b, tpl, "build", "."); err != nil {
		b.Fatalf("packer build with profile %s: %v", profile, err)
	}
	b.Logf("refit-chroot with refit-harden's profile %s took %v", profile, time.Since(start).Round(time.Second))
	return filepath.Join(out, "hardened.raw")
}

// vmShell runs commands in the booted VM as ops, who has sudo without a password. What runs as
// root runs in one sudo: the ANSSI profiles give sudo a umask of 0077, which makes the folders it
// creates closed to ops.
type vmShell struct {
	b   *testing.B
	vm  *vmtest.VM
	key vmtest.Key
}

// run runs command with stdin, with a deadline of its own (the judges take longer under TCG than
// vmtest's default), and fails the benchmark when it fails. It returns the standard output.
func (s vmShell) run(command, stdin string, limit time.Duration) string {
	s.b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", append(s.vm.SSHArgs("ops", s.key), command)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errs strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errs
	start := time.Now()
	if err := cmd.Run(); err != nil {
		s.b.Fatalf("in the VM: %s: %v\n%s%s", command, err, out.String(), errs.String())
	}
	s.b.Logf("vm$ %s (%v)", strings.SplitN(command, "\n", 2)[0], time.Since(start).Round(time.Second))
	return out.String()
}

// lynisFiles are the host's Lynis files the guest runs, laid out as score.sh's bundle: the
// program with its profile, include, db and plugins folders beside it (lynis --usecwd).
var lynisFiles = []string{"/usr/sbin/lynis", "/etc/lynis/default.prf", "/usr/share/lynis/include", "/usr/share/lynis/db", "/etc/lynis/plugins"}

// bootedLynis runs this host's Lynis in the guest (copied to /run, outside the package
// database and the root filesystem) as the judge script does, and returns the hardening index.
func bootedLynis(s vmShell) int {
	s.b.Helper()
	bundle := s.b.TempDir()
	args := append([]string{"-a"}, lynisFiles...)
	if out, err := exec.Command("cp", append(args, bundle)...).CombinedOutput(); err != nil {
		s.b.Fatalf("copying Lynis: %v\n%s", err, out)
	}
	tarball, err := exec.Command("tar", "-C", bundle, "-cf", "-", ".").Output()
	if err != nil {
		s.b.Fatalf("packing Lynis: %v", err)
	}
	s.run("sudo -n mkdir -p /run/judge-lynis && sudo -n tar -xf - --no-same-owner -C /run/judge-lynis", string(tarball), 5*time.Minute)
	s.run(`sudo -n sh -c 'cd /run/judge-lynis && sh ./lynis audit system --quick --no-colors --usecwd \
  --logfile /run/judge-lynis/lynis.log --report-file /run/judge-lynis/report.dat >/dev/null'`, "", time.Hour)
	report := s.run("sudo -n cat /run/judge-lynis/report.dat", "", time.Minute)
	m := regexp.MustCompile(`(?m)^hardening_index=([0-9]+)$`).FindStringSubmatch(report)
	if m == nil {
		s.b.Fatalf("Lynis's report has no hardening_index:\n%s", report)
	}
	index, _ := strconv.Atoi(m[1])
	s.b.Logf("Lynis tests that did not get all their points on the booted image (got/max): %s",
		strings.Join(lynisLost(s.run("sudo -n cat /run/judge-lynis/lynis.log", "", time.Minute)), " "))
	return index
}

var (
	lynisTest   = regexp.MustCompile(`Performing test ID ([A-Z0-9-]+)`)
	lynisPoints = regexp.MustCompile(`Hardening: assigned partial number of hardening points \(([0-9]+) of ([0-9]+)\)`)
)

// lynisLost lists, from a Lynis log, the tests that were given fewer hardening points than
// their maximum, as "TEST got/max" (a test may score several items).
func lynisLost(log string) []string {
	var lost []string
	test := ""
	for _, line := range strings.Split(log, "\n") {
		if m := lynisTest.FindStringSubmatch(line); m != nil {
			test = m[1]
		} else if m := lynisPoints.FindStringSubmatch(line); m != nil && m[1] != m[2] {
			lost = append(lost, test+" "+m[1]+"/"+m[2])
		}
	}
	return lost
}

// bootedSSG installs Debian's OpenSCAP in the guest (from the image's apt sources, through qemu's
// user network) and evaluates the SSG profiles there with the tailoring, on the running system.
func bootedSSG(s vmShell, ds string, tailoring fixture.SSGTailoring, profiles []string) map[string]fixture.SSGResult {
	s.b.Helper()
	s.run(`sudo -n env DEBIAN_FRONTEND=noninteractive sh -c 'apt-get -q update >/dev/null &&
  apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends openscap-scanner >/dev/null'`, "", 30*time.Minute)
	data, err := os.ReadFile(ds)
	if err != nil {
		s.b.Fatal(err)
	}
	s.run("sudo -n mkdir -p /run/judge-ssg && sudo -n tee /run/judge-ssg/ds.xml >/dev/null", string(data), 5*time.Minute)
	s.run("sudo -n tee /run/judge-ssg/tailoring.xml >/dev/null", string(tailoring.XML(profiles...)), time.Minute)
	results := map[string]fixture.SSGResult{}
	dir := s.b.TempDir()
	for _, p := range profiles {
		// oscap exits 2 when a rule fails
		s.run(fmt.Sprintf(`sudo -n sh -c 'cd /run/judge-ssg && { oscap xccdf eval --profile %s --tailoring-file tailoring.xml \
  --results %s.xml ds.xml >/dev/null || [ $? = 2 ]; }'`, fixture.TailoredProfile(p), p), "", 2*time.Hour)
		name := filepath.Join(dir, p+".xml")
		if err := os.WriteFile(name, []byte(s.run("sudo -n cat /run/judge-ssg/"+p+".xml", "", 5*time.Minute)), 0o644); err != nil {
			s.b.Fatal(err)
		}
		r, err := fixture.ParseXCCDFResults(name)
		if err != nil {
			s.b.Fatalf("SSG profile %s in the VM: %v", p, err)
		}
		r.Profile = p
		results[p] = r
	}
	return results
}

// differences lists the rules whose verdict differs between the offline and the booted judgement.
func differences(offline, booted fixture.SSGResult) []string {
	var ids []string
	for id := range booted.Rules {
		if offline.Rules[id] != booted.Rules[id] {
			ids = append(ids, id)
		}
	}
	for id := range offline.Rules {
		if _, ok := booted.Rules[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, fmt.Sprintf("%s: offline %s, booted %s", id, or(offline.Rules[id], "-"), or(booted.Rules[id], "-")))
	}
	return out
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
