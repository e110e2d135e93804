// Command pipeline is `make demo`: refit's main job on an embedded default. It builds (once,
// cached in the fixture cache) a small bootable Debian 12 image from the base suite only, so its
// packages are older than those in bookworm-updates and bookworm-security, then runs the real
// Packer on example/pipeline (refit-chroot → refit-harden → refit-patch) against the Debian
// mirror of this machine's apt configuration, and prints what came out: the hardening rules
// applied, the packages updated, deferred or held back, the output image with its sha256, and
// how long each stage took.
//
// Run it through demo/run.sh (which puts the pinned Packer and the installed plugin on its
// path), as root, from the checkout. Everything it writes is under demo/work; the cached base
// image is only read.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/hardening"
	"github.com/refit-images/packer-plugin-refit/internal/patch"
	"github.com/refit-images/packer-plugin-refit/internal/sbom"
)

// The demo's own values for example/pipeline's variables; the rest are the template's defaults.
const (
	workDir     = "demo/work"
	outputDir   = workDir + "/output"
	hardenedImg = outputDir + "/debian-12-golden.qcow2"
	patchedImg  = outputDir + "/debian-12-golden-patched.qcow2"
	adminUser   = "ops"
	sshKey      = workDir + "/id_ed25519"
)

func main() {
	// Ctrl-C reaches Packer and the image build too (one process group): let them clean up
	// and report their failure instead of dying first.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		for range signals {
			fmt.Fprintln(os.Stderr, "demo: interrupted; waiting for the running step to clean up")
		}
	}()
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

// stage is one timed step of the demo.
type stage struct {
	name string
	took time.Duration
}

func run() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root: refit-chroot and the base image build attach disk images to loop devices and mount them (run sudo make demo)")
	}
	if _, err := os.Stat("example/pipeline/pipeline.pkr.hcl"); err != nil {
		return fmt.Errorf("run me from the checkout's top folder (through make demo): %w", err)
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return err
	}
	var stages []stage
	start := time.Now()

	// 1. The base image: cached, only read.
	banner("1/3 base image: a bootable Debian 12 from the bookworm suite alone (older than -updates and -security)")
	t := time.Now()
	base, built, err := baseImage()
	if err != nil {
		return err
	}
	baseSum, err := fileSHA256(base)
	if err != nil {
		return err
	}
	if built {
		stages = append(stages, stage{"base image: build (once, then cached)", time.Since(t)})
	} else {
		stages = append(stages, stage{"base image: from the cache", time.Since(t)})
	}
	say("%s (sha256 %s…)", base, baseSum[:16])

	// 2. The pipeline: example/pipeline with the real Packer.
	banner("2/3 packer build example/pipeline: refit-chroot → refit-harden → refit-patch")
	vars, err := pipelineVars(base)
	if err != nil {
		return err
	}
	packerStages, err := packerBuild(vars)
	stages = append(stages, packerStages...)
	if err != nil {
		return err
	}

	// 3. What came out.
	banner("3/3 checking the result")
	t = time.Now()
	if sum, err := fileSHA256(base); err != nil {
		return err
	} else if sum != baseSum {
		return fmt.Errorf("the base image %s changed during the build: sha256 %s → %s", base, baseSum, sum)
	}
	var hr hardening.Report
	if err := readJSON(filepath.Join(workDir, "harden-report.json"), &hr); err != nil {
		return err
	}
	var pr patch.Report
	if err := readJSON(filepath.Join(workDir, "patch-report.json"), &pr); err != nil {
		return err
	}
	info, err := os.Stat(patchedImg)
	if err != nil {
		return fmt.Errorf("the output image: %w", err)
	}
	outSum, err := fileSHA256(patchedImg)
	if err != nil {
		return err
	}
	stages = append(stages, stage{"checksums and reports", time.Since(t)})

	summary(hr, &pr, base, outSum, info.Size(), stages, time.Since(start))
	return nil
}

// baseImage returns the cached base image's qcow2, building it first when the cache has none
// (built is then true). Progress goes to the terminal, the whole build log to demo/work.
func baseImage() (path string, built bool, err error) {
	logPath := filepath.Join(workDir, "base-image.log")
	progress := &progressWriter{path: logPath, every: 15 * time.Second}
	defer progress.close()
	logf := func(format string, args ...any) {
		if !built {
			say("not in the cache yet: building it once, which takes a few minutes (full log: %s)", logPath)
		}
		built = true
		say(format, args...)
	}
	dir, err := fixture.BuildDebianImage(logf, progress)
	progress.flush()
	if err != nil {
		if errors.Is(err, fixture.ErrUnavailable) {
			return "", false, fmt.Errorf("cannot build the base image on this machine: %w", err)
		}
		return "", false, fmt.Errorf("building the base image (log: %s): %w", logPath, err)
	}
	return filepath.Join(dir, "debian12.qcow2"), built, nil
}

// pipelineVars returns example/pipeline's -var arguments: this machine's Debian mirrors and
// DNS servers (refit-harden writes the image's resolv.conf before it installs packages from the
// mirror), the demo's SSH key and output folder.
func pipelineVars(base string) ([]string, error) {
	updates, err := fixture.DebianRepos(fixture.DebianSuite + "-updates")
	if err != nil {
		return nil, err
	}
	security, err := fixture.DebianRepos(fixture.DebianSuite + "-security")
	if err != nil {
		return nil, err
	}
	dns, err := fixture.Nameservers()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(updates[0].Key); err != nil {
		return nil, fmt.Errorf("needs the keyring the mirror is signed with (apt-get install debian-archive-keyring): %w", err)
	}
	pub, err := demoKey()
	if err != nil {
		return nil, err
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	quoted := make([]string, len(dns))
	for i, s := range dns {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	say("mirrors from this machine's apt configuration: %s (bookworm, bookworm-updates), %s (bookworm-security)",
		updates[0].URI, security[0].URI)
	return []string{
		"-var", "source_image=" + base,
		"-var", "ssh_public_key=" + pub,
		"-var", "admin_user=" + adminUser,
		"-var", "dns_servers=[" + strings.Join(quoted, ", ") + "]",
		"-var", "mirror=" + strings.TrimRight(updates[0].URI, "/"),
		"-var", "security_mirror=" + strings.TrimRight(security[0].URI, "/"),
		"-var", "keyring=" + updates[0].Key,
		"-var", "output_directory=" + abs(outputDir),
	}, nil
}

// demoKey returns the public half of the demo's SSH key, made on the first run: the admin user
// of the output image logs in with it.
func demoKey() (string, error) {
	if _, err := os.Stat(sshKey); err != nil {
		cmd := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "refit-demo", "-f", sshKey)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("making the demo's SSH key: %w\n%s", err, out)
		}
	}
	pub, err := os.ReadFile(sshKey + ".pub")
	return strings.TrimSpace(string(pub)), err
}

// The lines of Packer's output that end a stage of the build, in order.
var stageEnds = []struct{ marker, name string }{
	{"refit-harden: uploading", "refit-chroot: copy and open the image"},
	{"Unmounting the image's filesystems", "refit-harden: harden inside the image"},
	{"Running post-processor", "refit-chroot: write the hardened image"},
	{"Build 'refit-chroot.debian' finished", "refit-patch: patch it offline"},
}

// packerBuild runs packer build on example/pipeline in demo/work (where the reports go) and
// returns the stages' times. The terminal gets Packer's output without the line per rule and
// per download (the summary has them); demo/work/packer.log gets all of it.
func packerBuild(vars []string) ([]stage, error) {
	if err := os.RemoveAll(outputDir); err != nil {
		return nil, err
	}
	for _, name := range []string{"harden-report.json", "patch-report.json"} {
		if err := os.Remove(filepath.Join(workDir, name)); err != nil && !os.IsNotExist(err) {
			return nil, err
		}
	}
	template, _ := filepath.Abs("example/pipeline")
	args := append([]string{"build", "-color=false"}, vars...)
	cmd := exec.Command("packer", append(args, template)...)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1")
	logPath := filepath.Join(workDir, "packer.log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting packer (run the demo through make demo, which installs it): %w", err)
	}
	var stages []stage
	last := time.Now()
	next := 0
	sc := bufio.NewScanner(pipe)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(log, line)
		if next < len(stageEnds) && strings.Contains(line, stageEnds[next].marker) {
			stages = append(stages, stage{stageEnds[next].name, time.Since(last)})
			last = time.Now()
			next++
		}
		if show(line) {
			say("%s", shorten(line))
		}
	}
	if err := cmd.Wait(); err != nil {
		return stages, fmt.Errorf("packer build example/pipeline failed (%v); its whole output is in %s", err, logPath)
	}
	return stages, nil
}

// show tells which lines of Packer's output the terminal gets.
func show(line string) bool {
	rest := line[strings.Index(line, ": ")+1:]
	rest = strings.TrimSpace(rest)
	for _, status := range []string{"changed ", "ok ", "skipped "} {
		if strings.HasPrefix(rest, "refit-harden: "+status) {
			return false // one per rule: counted in the summary
		}
	}
	if strings.HasPrefix(rest, "downloaded ") {
		f := strings.Fields(rest)
		if len(f) < 2 {
			return true
		}
		n, total, ok := strings.Cut(f[1], "/")
		return !ok || n == total // the last one only
	}
	return strings.TrimSpace(line) != ""
}

// shorten drops Packer's build-name prefix.
func shorten(line string) string {
	for _, p := range []string{"==> refit-chroot.debian (refit-patch): ", "==> refit-chroot.debian: "} {
		if rest, ok := strings.CutPrefix(line, p); ok {
			return rest
		}
	}
	return line
}

// summary prints what the demo made.
func summary(hr hardening.Report, pr *patch.Report, base, outSum string, size int64, stages []stage, total time.Duration) {
	fmt.Println()
	fmt.Println("==================================================================================")
	fmt.Println(" refit demo: a Debian 12 image hardened and patched offline, nothing booted")
	fmt.Println("==================================================================================")
	fmt.Printf("input image     %s (only read, sha256 unchanged)\n", base)
	fmt.Printf("output image    %s (%.0f MiB, qcow2)\n", patchedImg, float64(size)/(1<<20))
	fmt.Printf("sha256          %s\n", outSum)
	if rec, err := sbom.Read(patchedImg + ".cdx.json"); err == nil {
		fmt.Printf("SBOMs           %s.cdx.json and .spdx.json (%d packages of %s %s, the patched set)\n",
			patchedImg, len(rec.Manifest.Packages), rec.Manifest.OS.ID, rec.Manifest.OS.VersionID)
	}
	fmt.Printf("log in          as %s with the key %s, once the image is booted\n", adminUser, sshKey)

	fmt.Printf("\nrefit-harden    %d rules: %d changed, %d already in effect, %d skipped, %d failed (%s/harden-report.json)\n",
		len(hr.Results), hr.Counts.Changed, hr.Counts.OK, hr.Counts.Skipped, hr.Counts.Failed, workDir)
	type area struct {
		changed, ok, skipped, failed int
		examples                     []string
	}
	areas := map[string]*area{}
	var order []string
	for _, r := range hr.Results {
		name, _, _ := strings.Cut(r.ID, ".")
		a := areas[name]
		if a == nil {
			a = &area{}
			areas[name] = a
			order = append(order, name)
		}
		switch r.Status {
		case hardening.StatusChanged:
			a.changed++
			if len(a.examples) < 3 {
				a.examples = append(a.examples, r.Title)
			}
		case hardening.StatusOK:
			a.ok++
		case hardening.StatusSkipped:
			a.skipped++
		default:
			a.failed++
		}
	}
	for _, name := range order {
		a := areas[name]
		line := fmt.Sprintf("  %-10s %3d changed, %2d ok", name, a.changed, a.ok)
		if a.skipped > 0 {
			line += fmt.Sprintf(", %d skipped", a.skipped)
		}
		if a.failed > 0 {
			line += fmt.Sprintf(", %d FAILED", a.failed)
		}
		if len(a.examples) > 0 {
			more := ""
			if a.changed > len(a.examples) {
				more = ", …"
			}
			line += ": " + strings.Join(a.examples, "; ") + more
		}
		fmt.Println(clip(line, 150))
	}
	for _, r := range hr.Results {
		if r.Status == hardening.StatusFailed {
			fmt.Printf("  FAILED %s: %s %s\n", r.ID, r.Title, r.Detail)
		}
	}

	fmt.Printf("\nrefit-patch     %d package(s) updated offline, %d deferred to the first boot, %d held back (%s/patch-report.json)\n",
		len(pr.Updated), len(pr.Deferred), len(pr.HeldBack), workDir)
	for _, p := range pr.Updated {
		from := p.From
		if from == "" {
			from = "(new)"
		}
		fmt.Printf("  updated   %-28s %s → %s\n", p.Name, from, p.To)
	}
	for _, p := range pr.Deferred {
		fmt.Println(clip(fmt.Sprintf("  deferred  %-28s → %s: %s", p.Name, p.To, p.Reason), 150))
	}
	for _, p := range pr.HeldBack {
		fmt.Println(clip(fmt.Sprintf("  held back %-28s → %s: %s", p.Name, p.To, p.Reason), 150))
	}
	if len(pr.CVEs) > 0 {
		fmt.Printf("  fixes %d CVE(s)\n", len(pr.CVEs))
	}

	fmt.Println("\ntime")
	for _, s := range stages {
		fmt.Printf("  %-42s %6.1f s\n", s.name, s.took.Seconds())
	}
	fmt.Printf("  %-42s %6.1f s\n", "total", total.Seconds())
}

// progressWriter receives a build's output: all of it goes to the file path (created on the
// first write, so a run without a build keeps the last build's log); the terminal gets
// mmdebstrap's stage lines and, at most every `every`, the latest other line.
type progressWriter struct {
	path  string
	log   *os.File
	every time.Duration
	buf   []byte
	shown time.Time
	last  string
}

func (w *progressWriter) Write(p []byte) (int, error) {
	if w.log == nil {
		f, err := os.Create(w.path)
		if err != nil {
			return 0, err
		}
		w.log = f
	}
	if _, err := w.log.Write(p); err != nil {
		return 0, err
	}
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		w.line(strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *progressWriter) line(l string) {
	if strings.TrimSpace(l) == "" {
		return
	}
	if strings.HasPrefix(l, "I: ") || strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: ") ||
		strings.Contains(l, "make-image.sh:") || time.Since(w.shown) >= w.every {
		say("  %s", clip(l, 140))
		w.shown, w.last = time.Now(), ""
		return
	}
	w.last = l
}

func (w *progressWriter) close() {
	if w.log != nil {
		w.log.Close()
	}
}

func (w *progressWriter) flush() {
	if w.last != "" {
		say("  %s", clip(w.last, 140))
	}
}

func banner(s string) { fmt.Printf("\n==> %s\n", s) }

func say(format string, args ...any) { fmt.Printf("    "+format+"\n", args...) }

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
