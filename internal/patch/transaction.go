package patch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/firstboot"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// applyDir is where, inside the root, the packages applied offline wait during the run.
const applyDir = "/var/lib/refit/apply"

// backend is one package format's side of a transaction (rpm or dpkg); runTransaction
// drives it through the steps of a run, as go-rpmdb reads each database format through
// one interface.
type backend[P txPackage] interface {
	// queue names the first-boot queue of the format (firstboot.Place).
	queue() string
	// tool says what applies the packages, for the log.
	tool() string
	// download fetches and verifies the updates and the new packages they need.
	download(ctx context.Context, rep *Report) error
	// analyse judges every script of the transaction and returns the packages to apply
	// offline and those to defer to the first boot; packages held back go into rep.
	analyse(ctx context.Context, rep *Report) (applied, deferred []P, err error)
	// apply installs the applied packages offline; verify checks the result.
	apply(ctx context.Context, applied []P, rep *Report) error
	verify(ctx context.Context, applied []P, rep *Report) error
}

// txPackage is one package of a transaction, whatever its format.
type txPackage interface {
	entry() *txEntry
	// sortKey orders the report.
	sortKey() string
	report(reason string) PackageReport
	queued() firstboot.Package
}

// txEntry is what every package of a transaction carries: the update, its verified
// package file, what the analysis found and why it waits for the first boot, if it does.
type txEntry struct {
	u        updates.Update
	file     string
	scripts  []ScriptReport
	notes    []string
	deferWhy string
	// dependencyOf names the packages that need this one, when it is not installed yet
	// and refit installs it as a new dependency.
	dependencyOf []string
}

func (e *txEntry) entry() *txEntry { return e }

// reportAs is the package's entry in the report, for a package of architecture arch.
func (e *txEntry) reportAs(arch, reason string) PackageReport {
	return PackageReport{Name: e.u.Name, Arch: arch, From: e.u.Installed, To: e.u.Available.String(),
		Advisories: e.u.Advisories, Reason: withDependency(reason, e.dependencyOf), Scripts: e.scripts,
		Action: e.u.Action, Replaces: e.u.Replaces}
}

// queuedAs is the package as the first-boot queue holds it.
func (e *txEntry) queuedAs(arch, control string) firstboot.Package {
	return firstboot.Package{Path: e.file, Name: e.u.Name, Version: e.u.Available.String(), Arch: arch,
		Control: control, Reason: e.deferWhy}
}

// withDependency adds to a report's reason that the package is a new dependency.
func withDependency(reason string, of []string) string {
	if len(of) == 0 {
		return reason
	}
	dep := "installed (new dependency of " + strings.Join(of, ", ") + ")"
	if reason == "" {
		return dep
	}
	return reason + "; " + dep
}

// runTransaction runs the steps common to every format: download, analyse, refuse a
// deferral scriptlets = "fail" forbids, apply and verify, place the deferred packages
// for the first boot, and report.
func runTransaction[P txPackage](ctx context.Context, opts *Options, b backend[P], rep *Report) (*Report, error) {
	if err := opts.step(StepDownload); err != nil {
		return nil, err
	}
	if err := b.download(ctx, rep); err != nil {
		return nil, err
	}
	if err := opts.step(StepAnalyse); err != nil {
		return nil, err
	}
	applied, deferred, err := b.analyse(ctx, rep)
	if err != nil {
		return nil, err
	}
	if err := refuseDeferral(opts, deferred); err != nil {
		return nil, err
	}
	if opts.ContainerScripts != "" {
		applied, deferred = withoutFirstBoot(opts, applied, deferred, rep)
	}
	if len(applied) > 0 {
		if err := applyAndVerify(ctx, opts, b, applied, rep); err != nil {
			return nil, err
		}
	}
	if opts.ContainerScripts == "" {
		if err := placeDeferred(opts, b.queue(), deferred); err != nil {
			return nil, err
		}
	}
	reportTransaction(rep, applied, deferred)
	return rep, nil
}

// refuseDeferral refuses the run when scriptlets = "fail" and a package would be deferred.
func refuseDeferral[P txPackage](opts *Options, deferred []P) error {
	if opts.Scriptlets != ScriptletsFail || len(deferred) == 0 {
		return nil
	}
	var why []string
	for _, d := range deferred {
		why = append(why, d.entry().u.Name+": "+d.entry().deferWhy)
	}
	return fmt.Errorf("%w: scriptlets = \"fail\" and these packages cannot be installed offline:\n  %s", ErrRefused, strings.Join(why, "\n  "))
}

func applyAndVerify[P txPackage](ctx context.Context, opts *Options, b backend[P], applied []P, rep *Report) error {
	if err := opts.step(StepApply); err != nil {
		return err
	}
	opts.log("applying %d package(s) offline with %s", len(applied), b.tool())
	if err := b.apply(ctx, applied, rep); err != nil {
		return err
	}
	if err := opts.step(StepVerify); err != nil {
		return err
	}
	return b.verify(ctx, applied, rep)
}

// withoutFirstBoot decides, for a container image (no first boot), what becomes of the
// packages a disk image would defer: held back and reported, or applied now with the
// scripts that are unsafe offline run as they are (ContainerScriptsRun).
func withoutFirstBoot[P txPackage](opts *Options, applied, deferred []P, rep *Report) ([]P, []P) {
	for _, d := range deferred {
		e := d.entry()
		if opts.ContainerScripts == ContainerScriptsRun {
			opts.log("%s: running its scripts at patch time (container_scripts = \"run\"): %s", e.u.Name, e.deferWhy)
			e.notes = append(e.notes, fmt.Sprintf("%s: scripts unsafe offline were run at patch time (container_scripts = \"run\"): %s", e.u.Name, e.deferWhy))
			e.deferWhy = ""
			applied = append(applied, d)
			continue
		}
		rep.HeldBack = append(rep.HeldBack, d.report("a container has no first boot: "+e.deferWhy+` (container_scripts = "run" runs them at patch time)`))
	}
	sort.Slice(rep.HeldBack, func(i, j int) bool { return rep.HeldBack[i].Name < rep.HeldBack[j].Name })
	return applied, nil
}

// placeDeferred queues the deferred packages for the first boot, or removes an earlier
// queue when nothing is deferred.
func placeDeferred[P txPackage](opts *Options, queue string, deferred []P) error {
	if len(deferred) == 0 {
		if err := firstboot.Place(opts.Target.HostRoot, queue, nil); err != nil {
			// an earlier patch's queue, never booted, would install older versions than these
			return fmt.Errorf("removing an earlier first-boot queue: %w", err)
		}
		return nil
	}
	if err := opts.step(StepDefer); err != nil {
		return err
	}
	var q []firstboot.Package
	for _, d := range deferred {
		q = append(q, d.queued())
	}
	if err := firstboot.Place(opts.Target.HostRoot, queue, q); err != nil {
		return fmt.Errorf("placing the deferred packages: %w", err)
	}
	opts.log("%d package(s) deferred to %s", len(deferred), firstboot.UnitName)
	return nil
}

// reportTransaction adds the applied and deferred packages to the report, in sortKey
// order, with the notes of the applied ones (each once).
func reportTransaction[P txPackage](rep *Report, applied, deferred []P) {
	for _, l := range [][]P{applied, deferred} {
		sort.Slice(l, func(i, j int) bool { return l[i].sortKey() < l[j].sortKey() })
	}
	seen := map[string]bool{}
	for _, d := range applied {
		rep.Updated = append(rep.Updated, d.report(""))
		for _, n := range d.entry().notes {
			if !seen[n] {
				seen[n] = true
				rep.Notes = append(rep.Notes, n)
			}
		}
	}
	for _, d := range deferred {
		rep.Deferred = append(rep.Deferred, d.report(d.entry().deferWhy))
	}
}

// removeApplyDir removes what the run placed under applyDir, and its parent unless it
// holds the first-boot queue.
func removeApplyDir(root string) {
	os.RemoveAll(filepath.Join(root, applyDir))
	os.Remove(filepath.Join(root, filepath.Dir(applyDir)))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// The backends (and staticcheck, which does not follow generic interfaces, learns that
// their methods are used).
var (
	_ backend[*rpmUpdate] = (*rpmBackend)(nil)
	_ backend[*debUpdate] = (*debBackend)(nil)
)
