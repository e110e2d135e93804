package patch

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/firstboot"
	"github.com/refit-images/packer-plugin-refit/internal/imageroot"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/rpmfile"
	"github.com/refit-images/packer-plugin-refit/internal/scriptlet"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// rpmUpdate is one package of the transaction with its verified package file: an update,
// or a new package another one needs.
type rpmUpdate struct {
	txEntry
	pkg *rpmfile.Package
	// rewrites are the scripts of this package's part of the transaction that run in
	// their rewritten form (installRPMRewrites).
	rewrites []rpmRewrite
}

func (d *rpmUpdate) nevra() string {
	return fmt.Sprintf("%s-%s.%s", d.u.Name, d.u.Available, d.pkg.Arch)
}

// nevraForms are the names rpm may print for the package: with and without epoch 0.
func (d *rpmUpdate) nevraForms() []string {
	return []string{d.nevra(), strings.TrimPrefix(d.nevra(), "0:"),
		fmt.Sprintf("%s-%s-%s.%s", d.pkg.Name, d.pkg.Version, d.pkg.Release, d.pkg.Arch)}
}

// installOnly reports whether the package is installed beside the old versions (rpm -i).
func (d *rpmUpdate) installOnly() bool {
	return d.u.Action == updates.ActionInstall && len(d.dependencyOf) == 0
}

func (d *rpmUpdate) sortKey() string { return d.nevra() }

func (d *rpmUpdate) report(reason string) PackageReport { return d.reportAs(d.pkg.Arch, reason) }

func (d *rpmUpdate) queued() firstboot.Package { return d.queuedAs(d.pkg.Arch, "") }

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
	argv := append(r.t.prefix(), "rpm", "--root", r.t.ChrootDir, "--dbpath", "/var/lib/rpm")
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

// rpmBackend is the rpm side of a transaction: the image's own rpm, or the host's.
type rpmBackend struct {
	opts   *Options
	m      *installed.Manifest
	res    *updates.Result
	work   string
	runner *rpmRunner
	ups    []*rpmUpdate
}

func runRPM(ctx context.Context, opts *Options, m *installed.Manifest, res *updates.Result, work string, rep *Report) (*Report, error) {
	runner, err := newRPMRunner(opts.Target)
	if err != nil {
		return nil, err
	}
	defer removeApplyDir(opts.Target.HostRoot)
	return runTransaction[*rpmUpdate](ctx, opts, &rpmBackend{opts: opts, m: m, res: res, work: work, runner: runner}, rep)
}

func (b *rpmBackend) queue() string { return "rpm" }

func (b *rpmBackend) tool() string {
	if b.runner.chroot {
		return "the image's own rpm"
	}
	return "the host's rpm --root (sqlite rpmdb)"
}

func (b *rpmBackend) download(ctx context.Context, rep *Report) error {
	// Packages go where the runner can read them: inside the root for the image's own rpm.
	dir := filepath.Join(b.work, "rpms")
	if b.runner.chroot {
		var err error
		if dir, err = mkdirInImage(b.opts.Target.HostRoot, applyDir); err != nil {
			return err
		}
	}
	ups, err := downloadAll(ctx, b.opts, b.res.Updates, dir, readRPMUpdate)
	if err != nil {
		return err
	}
	added, err := resolveRPMNewDeps(ctx, b.opts, b.m, b.runner, ups, dir)
	if err != nil {
		return err
	}
	b.ups = append(ups, added...)
	return nil
}

func (b *rpmBackend) analyse(ctx context.Context, rep *Report) (applied, deferred []*rpmUpdate, err error) {
	tx, err := readRPMTransaction(ctx, b.runner)
	if err != nil {
		return nil, nil, err
	}
	for _, d := range b.ups {
		if isRPMKernel(d) && b.opts.Kernel == KernelSkip {
			rep.HeldBack = append(rep.HeldBack, d.report(`kernel = "skip"`))
			continue
		}
		analyseRPM(ctx, b.opts, b.runner, tx, d)
		if d.deferWhy == "" {
			applied = append(applied, d)
		} else {
			deferred = append(deferred, d)
		}
	}
	return settleRPMDeps(ctx, b.runner, applied, deferred)
}

// settleRPMDeps moves to the deferred packages the applied ones that need a deferred
// package's new version, until the applied set holds together without the deferred ones.
func settleRPMDeps(ctx context.Context, runner *rpmRunner, applied, deferred []*rpmUpdate) ([]*rpmUpdate, []*rpmUpdate, error) {
	for {
		moved, err := checkRPMDeps(ctx, runner, applied, deferred)
		if err != nil {
			return nil, nil, err
		}
		if len(moved) == 0 {
			return applied, deferred, nil
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
}

func (b *rpmBackend) apply(ctx context.Context, applied []*rpmUpdate, rep *Report) error {
	notes, err := applyRPMs(ctx, b.runner, applied)
	if err != nil {
		return err
	}
	rep.Notes = append(rep.Notes, notes...)
	return nil
}

func (b *rpmBackend) verify(ctx context.Context, applied []*rpmUpdate, rep *Report) error {
	return verifyRPMs(ctx, b.runner, applied, rep)
}

// applyRPMs installs the applied packages offline: install-only ones (kernels) with
// rpm -i beside the old versions, then everything else in one rpm -U transaction, so rpm
// orders them and runs every script at its own point. Scripts refit rewrote run there
// in their rewritten form (installRPMRewrites).
func applyRPMs(ctx context.Context, runner *rpmRunner, applied []*rpmUpdate) (notes []string, err error) {
	var upgrade, install []string
	var rewrites []rpmRewrite
	for _, d := range applied {
		rewrites = append(rewrites, d.rewrites...)
		if d.installOnly() {
			install = append(install, runner.path(d.file))
		} else {
			upgrade = append(upgrade, runner.path(d.file))
		}
	}
	if len(rewrites) > 0 {
		restore, err := installRPMRewrites(runner.t.HostRoot, rewrites)
		if err != nil {
			return nil, err
		}
		defer func() {
			more, rerr := restore()
			notes = append(notes, more...)
			if rerr != nil {
				err = errors.Join(err, fmt.Errorf("%w: putting the image's interpreters back: %w", ErrApply, rerr))
			}
		}()
	}
	// Dependencies were checked before (rpm --test, ignoring what was already unmet).
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
	ran := rewritesRan(runner.t.HostRoot)
	for _, d := range applied {
		for _, r := range d.rewrites {
			if r.always && !ran[r.sum()] {
				notes = append(notes, fmt.Sprintf("%s: the rewritten %s did not run in place of the original", d.u.Name, r.label))
			}
		}
	}
	return notes, nil
}

func isRPMKernel(d *rpmUpdate) bool {
	return d.installOnly() && (strings.HasPrefix(d.u.Name, "kernel") || strings.Contains(d.u.Name, "-kernel"))
}

// analyseRPM judges every script the package's part of the transaction runs: the new
// package's scriptlets, triggers and file triggers; the replaced packages' %preun and
// %postun (and %preuntrans/%postuntrans where the image's rpm has them) and the triggers
// their removal runs; and the triggers and file triggers of installed packages that the
// package's names and files set off. Safe scripts are left to rpm; rewritable shell
// scripts run rewritten at their own point (installRPMRewrites); anything else defers
// the package.
func analyseRPM(ctx context.Context, opts *Options, runner *rpmRunner, tx *rpmTransaction, d *rpmUpdate) {
	var why []string
	judge := func(side string, s scriptlet.Script, a scriptlet.Analysis, always, expands bool) {
		sr := ScriptReport{Kind: s.Kind, Side: side, Verdict: a.Verdict}
		for _, f := range a.Findings {
			sr.Findings = append(sr.Findings, f.String())
		}
		d.scripts = append(d.scripts, sr)
		d.notes = append(d.notes, a.Notes...)
		interp := interpreterOf(s)
		switch {
		case a.Initramfs && opts.Kernel == KernelFirstboot:
			why = append(why, fmt.Sprintf("%s %%%s rebuilds the initramfs and kernel = \"firstboot\"", side, s.Kind))
		case a.Verdict == scriptlet.Unsafe:
			why = append(why, fmt.Sprintf("%s %%%s is unsafe offline: %s", side, s.Kind, strings.Join(sr.Findings, "; ")))
		case a.Verdict == scriptlet.Rewritable && (!isShell(interp) || strings.TrimSpace(s.Body) == ""):
			why = append(why, fmt.Sprintf("%s %%%s needs rewriting, which refit does for shell scripts only: %s", side, s.Kind, strings.Join(sr.Findings, "; ")))
		case a.Verdict == scriptlet.Rewritable && expands:
			why = append(why, fmt.Sprintf("%s %%%s needs rewriting, but rpm expands the text of this package's scripts when it runs them, so refit cannot recognise it", side, s.Kind))
		case a.Verdict == scriptlet.Rewritable && !tx.canRewrite:
			why = append(why, fmt.Sprintf("%s %%%s needs rewriting, which needs sha256sum (coreutils) in the image", side, s.Kind))
		case a.Verdict == scriptlet.Rewritable:
			d.rewrites = append(d.rewrites, rpmRewrite{label: side + " %" + string(s.Kind), interpreter: interp,
				original: s.Body, rewritten: a.Rewritten, always: always})
		}
		if interp != "" && interp != "<lua>" {
			if _, err := os.Stat(filepath.Join(runner.t.HostRoot, interp)); err != nil {
				why = append(why, fmt.Sprintf("%s %%%s needs %s, which the image does not have", side, s.Kind, interp))
			}
		}
	}
	var newScripts []scriptlet.Script
	var analyses []scriptlet.Analysis
	expands, checked := false, false
	for _, s := range d.pkg.Scripts {
		if isUninstallKind(s.Kind) {
			continue // the new package's own removal scripts do not run in this transaction
		}
		a := scriptlet.Analyze(s)
		if a.Verdict == scriptlet.Rewritable && !checked {
			expands, checked = rpmFileExpandsScripts(ctx, runner, d), true
		}
		newScripts, analyses = append(newScripts, s), append(analyses, a)
	}
	for i, s := range newScripts {
		judge("new", s, analyses[i], alwaysRuns[s.Kind], expands)
	}
	// The old side: the installed packages this one replaces.
	names := []string{d.u.Name}
	olds := map[string]bool{}
	if !d.installOnly() && len(d.dependencyOf) == 0 {
		olds[d.u.Name] = true
		if d.u.Action == updates.ActionObsolete {
			olds = map[string]bool{}
			for _, r := range d.u.Replaces {
				olds[r] = true
				names = append(names, r)
			}
		}
	}
	var oldPaths []string
	for _, name := range sortedKeys(olds) {
		for _, o := range tx.installed[name] {
			oldPaths = append(oldPaths, o.files...)
			for _, s := range o.scripts {
				if s.firesOnOwnRemoval(names) {
					judge("old", s.Script, scriptlet.Analyze(s.Script), alwaysRuns[s.Kind], s.expands)
				}
			}
		}
	}
	// Other installed packages' triggers on these names and files.
	for _, w := range tx.withTriggers {
		if olds[w.name] {
			continue
		}
		for _, s := range w.scripts {
			if s.trigger != "" && s.firedBy(names, d.pkg.Paths, oldPaths) {
				judge("installed "+w.name, s.Script, scriptlet.Analyze(s.Script), false, s.expands)
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

// Kinds rpm 4.19 added for the package being removed; the image's rpm may have them.
const (
	kindPreUnTrans  scriptlet.Kind = "preuntrans"
	kindPostUnTrans scriptlet.Kind = "postuntrans"
)

// alwaysRuns are the kinds rpm runs whenever the package is installed (new side) or
// removed (old side); triggers depend on what else is installed.
var alwaysRuns = map[scriptlet.Kind]bool{
	scriptlet.KindPreTrans: true, scriptlet.KindPre: true, scriptlet.KindPost: true, scriptlet.KindPostTrans: true,
	scriptlet.KindPreUn: true, scriptlet.KindPostUn: true, kindPreUnTrans: true, kindPostUnTrans: true,
}

func isUninstallKind(k scriptlet.Kind) bool {
	return k == scriptlet.KindPreUn || k == scriptlet.KindPostUn || k == kindPreUnTrans || k == kindPostUnTrans
}

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

// Script flags (ref. rpm's include/rpm/rpmscript.h RPMSCRIPT_FLAG_*): rpm expands macros
// or a query format in such scripts when it runs them.
const (
	rpmScriptFlagExpand  = 1 << 0
	rpmScriptFlagQFormat = 1 << 1
)

func expandsFlags(field string) bool {
	n, err := strconv.ParseInt(strings.TrimSpace(field), 10, 64)
	return err == nil && n&(rpmScriptFlagExpand|rpmScriptFlagQFormat) != 0
}

// rpmFileExpandsScripts reports whether any script of the package file carries a flag
// that makes rpm expand its text when it runs it.
func rpmFileExpandsScripts(ctx context.Context, runner *rpmRunner, d *rpmUpdate) bool {
	qf := "%{PRETRANSFLAGS} %{PREINFLAGS} %{POSTINFLAGS} %{POSTTRANSFLAGS} [%{TRIGGERSCRIPTFLAGS} ][%{FILETRIGGERSCRIPTFLAGS} ][%{TRANSFILETRIGGERSCRIPTFLAGS} ]"
	out, err := runner.command(ctx, "-qp", "--nosignature", "--nodigest", "--qf", qf, runner.path(d.file)).Output()
	if err != nil {
		return true // unknown: do not rewrite
	}
	for _, f := range strings.Fields(string(out)) {
		if expandsFlags(f) {
			return true
		}
	}
	return false
}

// rpmTransaction is what the image's rpmdb says about the packages a transaction touches.
type rpmTransaction struct {
	// installed maps a name to the installed packages of that name.
	installed map[string][]*installedRPM
	// withTriggers are the installed packages that have triggers or file triggers.
	withTriggers []*installedRPM
	// canRewrite reports whether the image has what rewritten scripts need (sha256sum).
	canRewrite bool
}

// installedRPM is one installed package's removal scripts, triggers and files.
type installedRPM struct {
	name    string
	files   []string
	scripts []installedScript
}

// installedScript is a script of an installed package.
type installedScript struct {
	scriptlet.Script
	// trigger is "" for %preun/%postun, else "trigger", "filetrigger" or
	// "transfiletrigger"; conds are its conditions: package names, or path prefixes.
	trigger string
	conds   []string
	expands bool
}

// firesOnOwnRemoval reports whether removing the package (as an upgrade or obsoletes
// does) runs the script: its removal scriptlets, its triggers of the removal kinds, and
// its triggers on the names the transaction installs.
func (s installedScript) firesOnOwnRemoval(names []string) bool {
	if s.trigger == "" {
		return true
	}
	if strings.HasSuffix(string(s.Kind), "un") { // triggerun, triggerpostun, filetriggerun …
		return true
	}
	return s.trigger == "trigger" && s.namesAny(names)
}

// firedBy reports whether a trigger of an installed package may run in a transaction
// that installs and removes packages of these names with these files: a classic trigger
// on one of the names, or a file trigger whose prefix holds one of the files.
func (s installedScript) firedBy(names, newPaths, oldPaths []string) bool {
	if s.trigger == "trigger" {
		return s.namesAny(names)
	}
	for _, prefix := range s.conds {
		for _, list := range [][]string{newPaths, oldPaths} {
			for _, p := range list {
				if strings.HasPrefix(p, prefix) {
					return true
				}
			}
		}
	}
	return false
}

func (s installedScript) namesAny(names []string) bool {
	for _, c := range s.conds {
		if f := strings.Fields(c); len(f) > 0 && slices.Contains(names, f[0]) {
			return true
		}
	}
	return false
}

const (
	rpmFieldSep  = "\x1f"
	rpmRecordSep = "\x1e"
	rpmItemSep   = "\x1c"
	rpmPartSep   = "\x1d"
)

// readRPMTransaction reads, in one rpm query, the removal scripts, triggers and files of
// every installed package.
func readRPMTransaction(ctx context.Context, runner *rpmRunner) (*rpmTransaction, error) {
	tx := &rpmTransaction{installed: map[string][]*installedRPM{}}
	for _, p := range []string{"/usr/bin/sha256sum", "/bin/sha256sum"} {
		if _, err := os.Stat(filepath.Join(runner.t.HostRoot, p)); err == nil {
			tx.canRewrite = true
		}
	}
	removal := []string{"PREUN", "POSTUN"}
	if out, err := runner.command(ctx, "--querytags").Output(); err == nil && strings.Contains(string(out), "\nPREUNTRANS\n") {
		removal = append(removal, "PREUNTRANS", "POSTUNTRANS")
	}
	triggers := []string{"TRIGGER", "FILETRIGGER", "TRANSFILETRIGGER"}
	// NAME, files, one field per removal script (prog, flags, body), one per trigger
	// type (items of type, prog, flags, body, conditions).
	fields := []string{"%{NAME}", "[%{FILENAMES}" + rpmItemSep + "]"}
	for _, tag := range removal {
		fields = append(fields, "%{"+tag+"PROG}"+rpmPartSep+"%{"+tag+"FLAGS}"+rpmPartSep+"%{"+tag+"}")
	}
	for _, t := range triggers {
		fields = append(fields, "[%{"+t+"TYPE}"+rpmPartSep+"%{"+t+"SCRIPTPROG}"+rpmPartSep+"%{"+t+"SCRIPTFLAGS}"+
			rpmPartSep+"%{"+t+"SCRIPTS}"+rpmPartSep+"%{"+t+"CONDS}"+rpmItemSep+"]")
	}
	out, err := runner.command(ctx, "-qa", "--qf", strings.Join(fields, rpmFieldSep)+rpmRecordSep).Output()
	if err != nil {
		return nil, fmt.Errorf("reading the installed packages' scripts: rpm -qa: %w", err)
	}
	for _, rec := range strings.Split(string(out), rpmRecordSep) {
		f := strings.Split(rec, rpmFieldSep)
		if len(f) != len(fields) {
			continue
		}
		p := &installedRPM{name: f[0]}
		for _, file := range strings.Split(f[1], rpmItemSep) {
			if file != "" && file != "(none)" {
				p.files = append(p.files, file)
			}
		}
		for i, tag := range removal {
			part := strings.SplitN(f[2+i], rpmPartSep, 3)
			if len(part) != 3 || (none(part[0]) == "" && none(part[2]) == "") {
				continue
			}
			p.scripts = append(p.scripts, installedScript{Script: scriptlet.Script{Package: p.name,
				Kind: scriptlet.Kind(strings.ToLower(tag)), Interpreter: none(part[0]), Body: none(part[2])}, expands: expandsFlags(part[1])})
		}
		for i, t := range triggers {
			for _, item := range strings.Split(f[2+len(removal)+i], rpmItemSep) {
				part := strings.SplitN(item, rpmPartSep, 5)
				if len(part) != 5 {
					continue
				}
				var conds []string
				for _, c := range strings.Split(part[4], ",") {
					if c = strings.TrimSpace(c); c != "" {
						conds = append(conds, c)
					}
				}
				trigger := strings.ToLower(t)
				p.scripts = append(p.scripts, installedScript{Script: scriptlet.Script{Package: p.name,
					Kind: scriptlet.Kind(trigger + part[0]), Interpreter: none(part[1]), Body: none(part[3])},
					trigger: trigger, conds: conds, expands: expandsFlags(part[2])})
			}
		}
		tx.installed[p.name] = append(tx.installed[p.name], p)
		for _, s := range p.scripts {
			if s.trigger != "" {
				tx.withTriggers = append(tx.withTriggers, p)
				break
			}
		}
	}
	return tx, nil
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
	var upgrade []string
	byNEVRA := map[string]*rpmUpdate{}
	for _, d := range applied {
		if !d.installOnly() {
			upgrade = append(upgrade, runner.path(d.file))
		}
		for _, k := range d.nevraForms() {
			byNEVRA[k] = d
		}
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
		for _, p := range d.pkg.Paths {
			if p == name {
				return d.nevra()
			}
		}
	}
	return ""
}

// preexisting reports whether requirement req of d was already unmet for the installed
// version of the package.
func preexisting(ctx context.Context, runner *rpmRunner, d *rpmUpdate, req string) bool {
	if len(d.dependencyOf) > 0 {
		return false // a new package: nothing was installed before
	}
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

// rpmRewrite is a script that runs in its rewritten form.
type rpmRewrite struct {
	// label names the script for notes ("new %post", "installed demo-trig %triggerin").
	label       string
	interpreter string
	original    string
	rewritten   string
	// always is set for scripts rpm runs in every transaction that applies the package;
	// refit checks afterwards that their rewritten form ran.
	always bool
}

// sum identifies the original text: the SHA-256 of the script file rpm writes.
func (r rpmRewrite) sum() string {
	h := sha256.Sum256([]byte(r.original))
	return hex.EncodeToString(h[:])
}

const (
	// rewrittenDir holds, during the apply, each rewritten script under the SHA-256 of
	// its original text, and the log "ran" of those that ran.
	rewrittenDir = applyDir + "/rewritten"
	// shellDir holds links to the real shells while wrappers stand in their place.
	shellDir = applyDir + "/shell"
)

// shellWrapper is what stands in for a script interpreter (/bin/sh …) while rpm applies
// the packages. rpm runs every script as "<interpreter> <temporary file> [$1 [$2]]", with
// the file triggers' paths on standard input; when that file holds a script refit
// rewrote, the wrapper runs the rewritten text instead, with the same arguments and
// input, at the point rpm chose. Anything else runs unchanged through the real shell.
const shellWrapper = `#!%[1]s
# refit-patch: stands in for %[2]s while packages are applied offline, and is removed
# afterwards. It runs the rewritten form of the package scripts refit rewrote.
if [ $# -gt 0 ] && [ -f "$1" ]; then
	case $1 in
	*/rpm-tmp.*)
		refit_sum=$(sha256sum < "$1") || refit_sum=
		refit_sum=${refit_sum%%%% *}
		if [ -n "$refit_sum" ] && [ -f %[3]s/"$refit_sum" ]; then
			shift
			echo "$refit_sum" >> %[3]s/ran
			exec %[1]s %[3]s/"$refit_sum" "$@"
		fi
		;;
	esac
fi
exec %[1]s "$@"
`

// installRPMRewrites puts the rewritten scripts into the root and a wrapper
// (shellWrapper) in place of each interpreter they use (imageroot.Replace). The returned
// function puts the interpreters back, returns notes about anything unusual and reports
// what it could not put back.
func installRPMRewrites(root string, rewrites []rpmRewrite) (func() ([]string, error), error) {
	entries, order, err := stageRPMRewrites(root, rewrites)
	if err != nil {
		return nil, err
	}
	shells, err := mkdirInImage(root, shellDir)
	if err != nil {
		return nil, err
	}
	var done []*imageroot.Replaced
	restore := func() ([]string, error) {
		var notes []string
		var errs []error
		for i := len(done) - 1; i >= 0; i-- {
			if !done[i].Intact() {
				// A package of the transaction installed its own version of the entry.
				notes = append(notes, fmt.Sprintf("%s was replaced by a package during the run; rewritten scripts that ran after that ran in their original form", done[i].Name()))
			}
			errs = append(errs, done[i].Restore())
		}
		return notes, errors.Join(errs...)
	}
	for _, p := range order {
		e := entries[p]
		real := e.real
		if entries[real] != nil {
			real += imageroot.SavedSuffix // that program's own entry is about to move aside
		}
		link := filepath.Join(shells, e.base)
		os.Remove(link)
		if err := os.Symlink(real, link); err != nil {
			_, rerr := restore()
			return nil, errors.Join(err, rerr)
		}
		r, err := imageroot.Replace(root, p, []byte(wrapperFor(e.base)), 0o755)
		if err != nil {
			_, rerr := restore()
			return nil, errors.Join(fmt.Errorf("putting the script wrapper in place of %s: %w", p, refuseSymlink(err)), rerr)
		}
		done = append(done, r)
	}
	return restore, nil
}

// interpreterEntry is the directory entry of an interpreter a wrapper stands in for.
type interpreterEntry struct {
	// path is the entry inside the image, real the program it runs, base the name the
	// scripts call it by.
	path, real, base string
}

// stageRPMRewrites writes the rewritten scripts into rewrittenDir and finds, before
// anything moves, where each interpreter's directory entry is and which program it runs
// (/bin/sh and /usr/bin/sh are one entry in merged-/usr images). It returns the entries
// by path and their paths in order.
func stageRPMRewrites(root string, rewrites []rpmRewrite) (map[string]*interpreterEntry, []string, error) {
	dir, err := mkdirInImage(root, rewrittenDir)
	if err != nil {
		return nil, nil, err
	}
	entries := map[string]*interpreterEntry{}
	var order []string
	for _, r := range rewrites {
		if err := os.WriteFile(filepath.Join(dir, r.sum()), []byte(r.rewritten), 0o644); err != nil {
			return nil, nil, err
		}
		parent, err := imageroot.Lookup(root, path.Dir(r.interpreter), true)
		if err != nil {
			return nil, nil, fmt.Errorf("finding %s in the image: %w", r.interpreter, err)
		}
		p := path.Join(parent, path.Base(r.interpreter))
		if entries[p] != nil {
			continue
		}
		real, err := imageroot.Lookup(root, p, true)
		if err != nil {
			return nil, nil, fmt.Errorf("finding %s in the image: %w", r.interpreter, err)
		}
		if st, err := os.Stat(filepath.Join(root, real)); err != nil || !st.Mode().IsRegular() {
			return nil, nil, fmt.Errorf("%w: %s in the image is not a program", ErrRefused, r.interpreter)
		}
		entries[p] = &interpreterEntry{path: p, real: real, base: path.Base(r.interpreter)}
		order = append(order, p)
	}
	return entries, order, nil
}

// wrapperFor is the shellWrapper standing in for an interpreter called base.
func wrapperFor(base string) string {
	return fmt.Sprintf(shellWrapper, shellDir+"/"+base, base, rewrittenDir)
}

// rewritesRan returns the sums of the rewritten scripts that ran.
func rewritesRan(root string) map[string]bool {
	ran := map[string]bool{}
	data, _ := os.ReadFile(filepath.Join(root, rewrittenDir, "ran"))
	for _, s := range strings.Fields(string(data)) {
		ran[s] = true
	}
	return ran
}
