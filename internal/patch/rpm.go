package patch

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/evr"
	"github.com/refit-images/packer-plugin-refit/internal/firstboot"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/rpmfile"
	"github.com/refit-images/packer-plugin-refit/internal/scriptlet"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// rpmUpdate is one update with its verified package file.
type rpmUpdate struct {
	u        updates.Update
	file     string
	pkg      *rpmfile.Package
	scripts  []ScriptReport
	notes    []string
	deferWhy string
	// rewritten maps "new.pre", "new.post", "old.preun" and "old.postun" to the script run
	// instead of rpm's (rpm is told --nopre … for this package's own transaction).
	rewritten map[string]scriptlet.Script
}

func (d *rpmUpdate) nevra() string {
	return fmt.Sprintf("%s-%s.%s", d.u.Name, d.u.Available, d.pkg.Arch)
}

func (d *rpmUpdate) report(reason string) PackageReport {
	return PackageReport{Name: d.u.Name, Arch: d.pkg.Arch, From: d.u.Installed, To: d.u.Available.String(),
		Advisories: d.u.Advisories, Reason: reason, Scripts: d.scripts, Action: d.u.Action, Replaces: d.u.Replaces}
}

// rpmRunner runs rpm against the target: the image's own rpm in the chroot when it can run
// there, else the host's rpm with --root, which refit only allows for sqlite rpmdbs (the
// host's rpm cannot write bdb and has no ndb).
type rpmRunner struct {
	t      Target
	chroot bool
}

func newRPMRunner(t Target) (*rpmRunner, error) {
	_, errRPM := os.Stat(filepath.Join(t.HostRoot, "usr/bin/rpm"))
	_, errSh := os.Stat(filepath.Join(t.HostRoot, "bin/sh"))
	if errRPM == nil && errSh == nil {
		return &rpmRunner{t: t, chroot: true}, nil
	}
	if _, err := os.Stat(filepath.Join(t.HostRoot, "var/lib/rpm/rpmdb.sqlite")); err != nil {
		return nil, fmt.Errorf("%w: the image's rpm cannot run here (no /usr/bin/rpm or /bin/sh in the image) and its rpmdb is not sqlite, which is the only format the host's rpm may write", ErrUnsupported)
	}
	if _, err := exec.LookPath("rpm"); err != nil {
		return nil, fmt.Errorf("%w: the image's rpm cannot run here and the host has no rpm (apt-get install rpm)", ErrUnsupported)
	}
	return &rpmRunner{t: t}, nil
}

func (r *rpmRunner) command(ctx context.Context, args ...string) *exec.Cmd {
	if r.chroot {
		return r.t.command(ctx, append([]string{"rpm"}, args...)...)
	}
	argv := append(append([]string{}, r.t.Prefix...), "rpm", "--root", r.t.ChrootDir, "--dbpath", "/var/lib/rpm")
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "SYSTEMD_OFFLINE=1", "LC_ALL=C")
	return cmd
}

func (r *rpmRunner) output(ctx context.Context, args ...string) (string, error) {
	out, err := r.command(ctx, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("rpm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// path returns the name under which rpm sees a host file inside the root.
func (r *rpmRunner) path(hostFile string) string {
	if !r.chroot {
		return hostFile
	}
	rel, _ := filepath.Rel(r.t.HostRoot, hostFile)
	return "/" + rel
}

func runRPM(ctx context.Context, opts *Options, m *installed.Manifest, res *updates.Result, work string, rep *Report) (*Report, error) {
	t := opts.Target
	runner, err := newRPMRunner(t)
	if err != nil {
		return nil, err
	}
	if err := opts.step(StepDownload); err != nil {
		return nil, err
	}
	// Packages go where the runner can read them: inside the root for the image's own rpm.
	defer func() {
		os.RemoveAll(filepath.Join(t.HostRoot, "var/lib/refit/apply"))
		os.Remove(filepath.Join(t.HostRoot, "var/lib/refit")) // kept when it holds the first-boot queue
	}()
	dir := filepath.Join(work, "rpms")
	if runner.chroot {
		if dir, err = safeDir(t.HostRoot, applyDir); err != nil {
			return nil, err
		}
	}
	ups, err := downloadAll(ctx, opts, res.Updates, dir, func(u updates.Update, r io.Reader, file string) (*rpmUpdate, error) {
		p, err := rpmfile.Read(r)
		if err != nil {
			return nil, err
		}
		got := evr.EVR{Epoch: p.Epoch, Version: p.Version, Release: p.Release}
		if p.Name != u.Name || evr.CompareRPM(got, u.Available) != 0 || (u.Arch != "" && p.Arch != u.Arch) {
			return nil, fmt.Errorf("%w: %s is %s-%s.%s, but the metadata promised %s-%s.%s", ErrRefused, u.Location, p.Name, got, p.Arch, u.Name, u.Available, u.Arch)
		}
		return &rpmUpdate{u: u, file: file, pkg: p}, nil
	})
	if err != nil {
		return nil, err
	}
	if err := opts.step(StepAnalyse); err != nil {
		return nil, err
	}
	var applied, deferred []*rpmUpdate
	for _, d := range ups {
		if isRPMKernel(d) && opts.Kernel == KernelSkip {
			rep.HeldBack = append(rep.HeldBack, d.report(`kernel = "skip"`))
			continue
		}
		analyseRPM(ctx, opts, runner, d)
		if d.deferWhy == "" {
			applied = append(applied, d)
		} else {
			deferred = append(deferred, d)
		}
	}
	// The applied set must hold together without the deferred packages.
	for {
		moved, err := checkRPMDeps(ctx, runner, applied, deferred)
		if err != nil {
			return nil, err
		}
		if len(moved) == 0 {
			break
		}
		var keep []*rpmUpdate
		for _, d := range applied {
			if why, ok := moved[d.nevra()]; ok {
				d.deferWhy = why
				deferred = append(deferred, d)
			} else {
				keep = append(keep, d)
			}
		}
		applied = keep
	}
	if opts.Scriptlets == ScriptletsFail && len(deferred) > 0 {
		var why []string
		for _, d := range deferred {
			why = append(why, d.u.Name+": "+d.deferWhy)
		}
		return nil, fmt.Errorf("%w: scriptlets = \"fail\" and these packages cannot be installed offline:\n  %s", ErrRefused, strings.Join(why, "\n  "))
	}
	if len(applied) > 0 {
		if err := opts.step(StepApply); err != nil {
			return nil, err
		}
		opts.log("applying %d package(s) offline with %s", len(applied), map[bool]string{true: "the image's own rpm", false: "the host's rpm --root (sqlite rpmdb)"}[runner.chroot])
		var upgrade, install []string
		var own []*rpmUpdate
		for _, d := range applied {
			if len(d.rewritten) > 0 {
				own = append(own, d)
				continue
			}
			if d.u.Action == updates.ActionInstall {
				install = append(install, runner.path(d.file))
			} else {
				upgrade = append(upgrade, runner.path(d.file))
			}
		}
		// Dependencies were checked above (rpm --test, ignoring what was already unmet).
		if len(install) > 0 {
			if _, err := runner.output(ctx, append([]string{"-i", "--nodeps"}, install...)...); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrApply, err)
			}
		}
		if len(upgrade) > 0 {
			if _, err := runner.output(ctx, append([]string{"-U", "--nodeps"}, upgrade...)...); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrApply, err)
			}
		}
		for _, d := range own {
			if err := applyRPMRewritten(ctx, runner, d); err != nil {
				return nil, err
			}
		}
		if err := opts.step(StepVerify); err != nil {
			return nil, err
		}
		if err := verifyRPMs(ctx, runner, applied, rep); err != nil {
			return nil, err
		}
	}
	if len(deferred) > 0 {
		if err := opts.step(StepDefer); err != nil {
			return nil, err
		}
		var q []firstboot.Package
		for _, d := range deferred {
			q = append(q, firstboot.Package{Path: d.file, Name: d.u.Name, Version: d.u.Available.String(), Arch: d.pkg.Arch, Reason: d.deferWhy})
		}
		if err := firstboot.Place(t.HostRoot, "rpm", q); err != nil {
			return nil, fmt.Errorf("placing the deferred packages: %w", err)
		}
	}
	sort.Slice(applied, func(i, j int) bool { return applied[i].nevra() < applied[j].nevra() })
	sort.Slice(deferred, func(i, j int) bool { return deferred[i].nevra() < deferred[j].nevra() })
	seen := map[string]bool{}
	for _, d := range applied {
		rep.Updated = append(rep.Updated, d.report(""))
		for _, n := range d.notes {
			if !seen[n] {
				seen[n] = true
				rep.Notes = append(rep.Notes, n)
			}
		}
	}
	for _, d := range deferred {
		rep.Deferred = append(rep.Deferred, d.report(d.deferWhy))
	}
	return rep, nil
}

func isRPMKernel(d *rpmUpdate) bool {
	return d.u.Action == updates.ActionInstall && (strings.HasPrefix(d.u.Name, "kernel") || strings.Contains(d.u.Name, "-kernel"))
}

// analyseRPM judges every script the update runs: the new package's scriptlets and
// triggers, and the replaced packages' %preun/%postun. Scripts are left to rpm when safe;
// anything else (unsafe, rewritable, or needing an interpreter the root lacks) defers the
// package: rpm's per-script switches act on a whole transaction, so this version does not
// run rewritten rpm scriptlets.
func analyseRPM(ctx context.Context, opts *Options, runner *rpmRunner, d *rpmUpdate) {
	var why []string
	judge := func(side string, s scriptlet.Script) {
		a := scriptlet.Analyze(s)
		sr := ScriptReport{Kind: s.Kind, Side: side, Verdict: a.Verdict}
		for _, f := range a.Findings {
			sr.Findings = append(sr.Findings, f.String())
		}
		d.scripts = append(d.scripts, sr)
		d.notes = append(d.notes, a.Notes...)
		switch {
		case a.Initramfs && opts.Kernel == KernelFirstboot:
			why = append(why, fmt.Sprintf("%s %%%s rebuilds the initramfs and kernel = \"firstboot\"", side, s.Kind))
		case a.Verdict == scriptlet.Unsafe:
			why = append(why, fmt.Sprintf("%s %%%s is unsafe offline: %s", side, s.Kind, strings.Join(sr.Findings, "; ")))
		case a.Verdict == scriptlet.Rewritable:
			key := side + "." + string(s.Kind)
			if !rewritableRPMPoint[key] || !isShell(interpreterOf(s)) {
				why = append(why, fmt.Sprintf("%s %%%s needs rewriting, which refit does for shell %%pre/%%post (new) and %%preun/%%postun (old) only: %s", side, s.Kind, strings.Join(sr.Findings, "; ")))
				break
			}
			if d.rewritten == nil {
				d.rewritten = map[string]scriptlet.Script{}
			}
			d.rewritten[key] = scriptlet.Script{Package: s.Package, Kind: s.Kind, Interpreter: interpreterOf(s), Body: a.Rewritten}
		}
		if interp := interpreterOf(s); interp != "" && interp != "<lua>" {
			if _, err := os.Stat(filepath.Join(runner.t.HostRoot, interp)); err != nil {
				why = append(why, fmt.Sprintf("%s %%%s needs %s, which the image does not have", side, s.Kind, interp))
			}
		}
	}
	for _, s := range d.pkg.Scripts {
		if s.Kind == scriptlet.KindPreUn || s.Kind == scriptlet.KindPostUn {
			continue // the new package's own removal scripts do not run in this transaction
		}
		judge("new", s)
	}
	if d.u.Action != updates.ActionInstall {
		olds := []string{d.u.Name}
		if d.u.Action == updates.ActionObsolete {
			olds = d.u.Replaces
		}
		for _, name := range olds {
			scripts, err := installedRPMScripts(ctx, runner, name)
			if err != nil {
				why = append(why, fmt.Sprintf("the installed %s's %%preun/%%postun cannot be read: %v", name, err))
			}
			for _, s := range scripts {
				judge("old", s)
			}
		}
	}
	if isRPMKernel(d) && opts.Kernel == KernelFirstboot {
		why = append(why, `kernel = "firstboot"`)
	}
	switch {
	case opts.Scriptlets == ScriptletsDefer:
		d.deferWhy = `scriptlets = "defer"`
	case len(why) > 0:
		d.deferWhy = strings.Join(why, "; ")
	}
}

// rewritableRPMPoint lists the scripts refit can replace with rpm's per-script switches.
var rewritableRPMPoint = map[string]bool{"new.pre": true, "new.post": true, "old.preun": true, "old.postun": true}

// rpmSwitch is the rpm option that keeps rpm from running each of those scripts.
var rpmSwitch = map[string]string{"new.pre": "--nopre", "new.post": "--nopost", "old.preun": "--nopreun", "old.postun": "--nopostun"}

func isShell(interp string) bool {
	switch interp {
	case "/bin/sh", "/bin/bash", "/usr/bin/sh", "/usr/bin/bash":
		return true
	}
	return false
}

// interpreterOf returns the program that runs s inside the root.
func interpreterOf(s scriptlet.Script) string {
	f := strings.Fields(s.Interpreter)
	if len(f) == 0 {
		return "/bin/sh"
	}
	return f[0]
}

const rpmFieldSep = "\x1frefit\x1f"

// installedRPMScripts reads the %preun and %postun of every installed package called name.
func installedRPMScripts(ctx context.Context, runner *rpmRunner, name string) ([]scriptlet.Script, error) {
	qf := strings.Join([]string{"%{PREUNPROG}", "%{PREUN}", "%{POSTUNPROG}", "%{POSTUN}"}, rpmFieldSep) + "\x1e"
	out, err := runner.command(ctx, "-q", "--qf", qf, name).Output()
	if err != nil {
		return nil, fmt.Errorf("rpm -q %s: %w", name, err)
	}
	var scripts []scriptlet.Script
	for _, rec := range strings.Split(string(out), "\x1e") {
		f := strings.Split(rec, rpmFieldSep)
		if len(f) != 4 {
			continue
		}
		for i, kind := range []scriptlet.Kind{scriptlet.KindPreUn, scriptlet.KindPostUn} {
			prog, body := none(f[2*i]), none(f[2*i+1])
			if prog == "" && body == "" {
				continue
			}
			scripts = append(scripts, scriptlet.Script{Package: name, Kind: kind, Interpreter: prog, Body: body})
		}
	}
	return scripts, nil
}

func none(s string) string {
	if s == "(none)" {
		return ""
	}
	return s
}

var neededBy = regexp.MustCompile(`^\s*(.+?) is needed by (\S+)$`)

// checkRPMDeps runs "rpm -U --test" of the applied set (rpm's own resolver, nothing
// changes) and returns the packages to defer because they need the new version of a
// deferred package; any other unmet requirement is an error, before anything changed. A requirement
// that nothing installed provides now and that the installed version already had is not
// blamed on the update (images built with --nodeps, minimal chroots).
func checkRPMDeps(ctx context.Context, runner *rpmRunner, applied, deferred []*rpmUpdate) (map[string]string, error) {
	if len(applied) == 0 {
		return nil, nil
	}
	var upgrade []string
	byNEVRA := map[string]*rpmUpdate{}
	for _, d := range applied {
		if d.u.Action != updates.ActionInstall {
			upgrade = append(upgrade, runner.path(d.file))
		}
		byNEVRA[d.nevra()] = d
		byNEVRA[strings.TrimPrefix(d.nevra(), "0:")] = d
		byNEVRA[fmt.Sprintf("%s-%s-%s.%s", d.pkg.Name, d.pkg.Version, d.pkg.Release, d.pkg.Arch)] = d
	}
	if len(upgrade) == 0 {
		return nil, nil
	}
	out, err := runner.command(ctx, append([]string{"-U", "--test"}, upgrade...)...).CombinedOutput()
	if err == nil {
		return nil, nil
	}
	moved := map[string]string{}
	var unresolved []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		m := neededBy.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		req, by := m[1], m[2]
		d := byNEVRA[by]
		if d == nil {
			// An installed package needs something the upgrade takes away.
			unresolved = append(unresolved, fmt.Sprintf("%s is needed by installed %s", req, by))
			continue
		}
		if preexisting(ctx, runner, d, req) {
			continue
		}
		if by := deferredProvider(deferred, req); by != "" {
			moved[d.nevra()] = fmt.Sprintf("needs %s from %s, which is deferred (deferred with it)", req, by)
			continue
		}
		unresolved = append(unresolved, fmt.Sprintf("%s is needed by %s, and neither the image nor the updates provide it", req, by))
	}
	if len(unresolved) > 0 {
		return nil, fmt.Errorf("%w: the transaction cannot be resolved offline: %s", ErrRefused, strings.Join(unresolved, "; "))
	}
	if len(moved) == 0 {
		return nil, nil
	}
	return moved, nil
}

// deferredProvider returns the deferred package whose new version provides req's name.
func deferredProvider(deferred []*rpmUpdate, req string) string {
	name := strings.Fields(req)[0]
	for _, d := range deferred {
		if d.pkg.Name == name {
			return d.nevra()
		}
		for _, p := range d.pkg.Provides {
			if strings.Fields(p)[0] == name {
				return d.nevra()
			}
		}
	}
	return ""
}

// preexisting reports whether requirement req of d was already unmet for the installed
// version of the package.
func preexisting(ctx context.Context, runner *rpmRunner, d *rpmUpdate, req string) bool {
	name := strings.Fields(req)[0]
	if err := runner.command(ctx, "-q", "--whatprovides", name).Run(); err == nil {
		return false // something provides it now: the update's version constraint is new
	}
	old := d.u.Name
	if d.u.Action == updates.ActionObsolete && len(d.u.Replaces) > 0 {
		old = d.u.Replaces[0]
	}
	out, err := runner.command(ctx, "-q", "--requires", old).Output()
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

// verifyRPMs checks that each applied package is installed and that rpm -V finds its
// files intact (configuration files the image changed are noted, not errors).
func verifyRPMs(ctx context.Context, runner *rpmRunner, applied []*rpmUpdate, rep *Report) error {
	var names []string
	for _, d := range applied {
		nevra := fmt.Sprintf("%s-%s-%s.%s", d.pkg.Name, d.pkg.Version, d.pkg.Release, d.pkg.Arch)
		if _, err := runner.output(ctx, "-q", nevra); err != nil {
			return fmt.Errorf("%w: %s is not installed after the run: %v", ErrApply, nevra, err)
		}
		names = append(names, nevra)
	}
	out, _ := runner.command(ctx, append([]string{"-V", "--nodeps", "--nouser", "--nogroup"}, names...)...).CombinedOutput()
	var bad []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 0:
		case len(f) == 3 && f[1] == "c":
			rep.Notes = append(rep.Notes, "changed configuration file kept: "+f[2])
		default:
			bad = append(bad, l)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: rpm -V: %s", ErrApply, strings.Join(bad, "; "))
	}
	rep.Verified = fmt.Sprintf("rpm -V of %d package(s) clean", len(names))
	return nil
}

// applyRPMRewritten installs one package in its own transaction, with rpm's switches
// keeping it from running the scripts refit rewrote, and runs the rewritten ones around it
// with the arguments rpm would pass: the new %pre before the files are unpacked; the new
// %post, then the old %preun and %postun, after. ($1 is the number of instances of the
// package installed after the new one: n+1 for the new package's scripts, n for the old's.)
func applyRPMRewritten(ctx context.Context, runner *rpmRunner, d *rpmUpdate) error {
	n := 0
	if out, err := runner.command(ctx, "-q", "--qf", "x\n", d.u.Name).Output(); err == nil {
		n = strings.Count(string(out), "x")
	}
	if d.u.Action == updates.ActionInstall {
		n = 0 // nothing is removed: the new package's $1 counts the others
	}
	run := func(key string, arg int) error {
		s, ok := d.rewritten[key]
		if !ok {
			return nil
		}
		return runRewrittenRPMScript(ctx, runner, s, arg)
	}
	if err := run("new.pre", n+1); err != nil {
		return fmt.Errorf("%w: the rewritten %%pre of %s failed (the package was not installed): %v", ErrApply, d.u.Name, err)
	}
	args := []string{"-U", "--nodeps"}
	if d.u.Action == updates.ActionInstall {
		args[0] = "-i"
	}
	for key := range d.rewritten {
		args = append(args, rpmSwitch[key])
	}
	sort.Strings(args[2:])
	if _, err := runner.output(ctx, append(args, runner.path(d.file))...); err != nil {
		return fmt.Errorf("%w: %v", ErrApply, err)
	}
	for _, step := range []struct {
		key string
		arg int
	}{{"new.post", n + 1}, {"old.preun", n}, {"old.postun", n}} {
		if err := run(step.key, step.arg); err != nil {
			// rpm itself only warns when these fail; so does refit
			d.notes = append(d.notes, fmt.Sprintf("%s: the rewritten %s failed: %v", d.u.Name, step.key, err))
		}
	}
	return nil
}

// runRewrittenRPMScript runs a rewritten shell scriptlet in the root with its argument.
func runRewrittenRPMScript(ctx context.Context, runner *rpmRunner, s scriptlet.Script, arg int) error {
	dir, err := safeDir(runner.t.HostRoot, applyDir)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "scriptlet-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(s.Body); err != nil {
		f.Close()
		return err
	}
	f.Close()
	inRoot := applyDir + "/" + filepath.Base(f.Name())
	out, err := runner.t.command(ctx, s.Interpreter, inRoot, fmt.Sprint(arg)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
