package patch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/refit-images/packer-plugin-refit/internal/apt"
	"github.com/refit-images/packer-plugin-refit/internal/debfile"
	"github.com/refit-images/packer-plugin-refit/internal/firstboot"
	"github.com/refit-images/packer-plugin-refit/internal/imageroot"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/scriptlet"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// debUpdate is one package of the transaction with its verified package file: an
// update, or a new package another one needs.
type debUpdate struct {
	txEntry
	deb *debfile.Deb
	pkg *debPackage
	// rewritten maps a script (new "preinst"/"postinst", old "prerm"/"postrm") to its rewritten text.
	rewritten map[string]string
	// oldScripts are the installed texts of the old scripts in rewritten ("prerm" …), as
	// placeDebRewrites found them in the dpkg database.
	oldScripts map[string]string
}

func (d *debUpdate) sortKey() string { return d.u.Name }

func (d *debUpdate) report(reason string) PackageReport { return d.reportAs(d.u.Arch, reason) }

func (d *debUpdate) queued() firstboot.Package { return d.queuedAs(d.u.Arch, d.deb.ControlText) }

// firstbootNewPackageReason says why a new dependency cannot wait for the first boot.
const firstbootNewPackageReason = "a new package is never deferred: a first boot only installs newer versions of packages the image has"

// debBackend is the dpkg side of a transaction: the image's own apt (or dpkg).
type debBackend struct {
	opts *Options
	res  *updates.Result
	work string
	// inst are the installed packages; upgrades the updates (minus kernels skipped) and
	// cands their new versions, by name.
	inst     map[string]*debPackage
	upgrades map[string]*debUpdate
	cands    map[string]*debPackage
	// index is the repositories' full index, loaded only when new packages are needed.
	index *repoIndex
	// restore are the installed trigger scripts replaced for the run (analyseDebTriggers).
	restore []infoRestore
}

func runDebian(ctx context.Context, opts *Options, m *installed.Manifest, res *updates.Result, work string, rep *Report) (*Report, error) {
	return runTransaction[*debUpdate](ctx, opts, &debBackend{opts: opts, res: res, work: work}, rep)
}

func (b *debBackend) queue() string { return "dpkg" }

func (b *debBackend) tool() string { return "the image's own apt/dpkg" }

func (b *debBackend) download(ctx context.Context, rep *Report) error {
	ups, err := downloadDebs(ctx, b.opts, b.res.Updates, b.work)
	if err != nil {
		return err
	}
	if b.inst, err = readDebInstalled(b.opts.Target.HostRoot); err != nil {
		return err
	}
	b.upgrades, b.cands = map[string]*debUpdate{}, map[string]*debPackage{}
	for _, d := range ups {
		if isDebKernel(d.u.Name) && b.opts.Kernel == KernelSkip {
			rep.HeldBack = append(rep.HeldBack, d.report(`kernel = "skip"`))
			continue
		}
		b.upgrades[d.u.Name] = d
		b.cands[d.u.Name] = d.pkg
	}
	// New packages the upgrades need are looked for only when something is missing.
	if held, _ := resolveDebUpgrade(b.inst, b.cands, nil, nil); needsNewPackages(held) {
		if b.index, err = loadRepoIndex(ctx, b.opts, "dpkg"); err != nil {
			return err
		}
	}
	return nil
}

func (b *debBackend) analyse(ctx context.Context, rep *Report) (applied, deferred []*debUpdate, err error) {
	byName, held, err := b.settle(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, name := range sortedKeys(held) {
		rep.HeldBack = append(rep.HeldBack, b.upgrades[name].report(held[name]))
	}
	sort.Slice(rep.HeldBack, func(i, j int) bool { return rep.HeldBack[i].Name < rep.HeldBack[j].Name })
	for _, n := range sortedKeys(byName) {
		d := byName[n]
		if len(d.dependencyOf) > 0 {
			b.opts.log("installing %s %s (new dependency of %s)", n, d.u.Available, strings.Join(d.dependencyOf, ", "))
		}
		if d.deferWhy != "" {
			deferred = append(deferred, d)
		} else {
			applied = append(applied, d)
		}
	}
	return applied, deferred, nil
}

// settle finds the fixed point of resolution and analysis: resolve the upgrade, download
// the new packages it needs, analyse; a new package that could only wait for the first
// boot is rejected, and the resolution runs again without it. It returns the packages of
// the transaction by name and the upgrades held back, with the reason.
func (b *debBackend) settle(ctx context.Context) (byName map[string]*debUpdate, held map[string]string, err error) {
	rejected := map[string]string{}
	downloaded := map[string]*debUpdate{} // new packages by "name=version"
	for {
		var added map[string]*debNewPackage
		held, added = resolveDebUpgrade(b.inst, b.cands, b.index, rejected)
		if byName, err = b.withNewPackages(ctx, held, added, downloaded); err != nil {
			return nil, nil, err
		}
		if b.restore, err = analyseDebian(b.opts, byName, b.inst); err != nil {
			return nil, nil, err
		}
		if !b.deferDependents(byName, rejected) {
			return byName, held, nil
		}
	}
}

// withNewPackages returns the upgrades not held back and the new packages added, by
// name, downloading the new packages not in downloaded yet.
func (b *debBackend) withNewPackages(ctx context.Context, held map[string]string, added map[string]*debNewPackage, downloaded map[string]*debUpdate) (map[string]*debUpdate, error) {
	byName := map[string]*debUpdate{}
	for n, d := range b.upgrades {
		if _, h := held[n]; !h {
			byName[n] = d
		}
	}
	var fetch []updates.Update
	for _, n := range sortedKeys(added) {
		if downloaded[n+"="+added[n].pkg.EVR.String()] == nil {
			fetch = append(fetch, added[n].pkg.update())
		}
	}
	got, err := downloadDebs(ctx, b.opts, fetch, b.work)
	if err != nil {
		return nil, err
	}
	for _, d := range got {
		downloaded[d.u.Name+"="+d.u.Available.String()] = d
	}
	for n, a := range added {
		d := downloaded[n+"="+a.pkg.EVR.String()]
		d.dependencyOf = a.dependencyOf
		sort.Strings(d.dependencyOf)
		byName[n] = d
	}
	return byName, nil
}

// deferDependents defers with it whatever depends on a deferred package's new version,
// and rejects a new package that would be deferred; it reports whether it rejected one
// (the resolution must run again).
func (b *debBackend) deferDependents(byName map[string]*debUpdate, rejected map[string]string) bool {
	apply := map[string]*debPackage{}
	for n, d := range byName {
		if d.deferWhy == "" {
			apply[n] = d.pkg
		}
	}
	with, _ := resolveDebUpgrade(b.inst, apply, nil, nil)
	for n, why := range with {
		byName[n].deferWhy = why + " (deferred with it)"
	}
	again := false
	for n, d := range byName {
		if len(d.dependencyOf) > 0 && d.deferWhy != "" {
			rejected[n] = d.deferWhy + "; " + firstbootNewPackageReason
			again = true
		}
	}
	return again
}

func (b *debBackend) apply(ctx context.Context, applied []*debUpdate, rep *Report) error {
	return applyDebs(ctx, b.opts, applied, b.restore)
}

func (b *debBackend) verify(ctx context.Context, applied []*debUpdate, rep *Report) error {
	return verifyDebs(ctx, b.opts, applied, rep)
}

// downloadDebs fetches every update concurrently (see downloadAll), reads each .deb
// (payload paths checked) and checks it is the package the metadata named.
func downloadDebs(ctx context.Context, opts *Options, ups []updates.Update, work string) ([]*debUpdate, error) {
	return downloadAll(ctx, opts, ups, filepath.Join(work, "debs"), func(u updates.Update, r io.Reader, file string) (*debUpdate, error) {
		deb, err := debfile.Read(r)
		if err != nil {
			return nil, err
		}
		c := deb.Control
		if c.Package != u.Name || c.Version != u.Available.String() || (u.Arch != "" && c.Architecture != u.Arch) {
			return nil, fmt.Errorf("%w: %s is %s %s %s, but the metadata promised %s %s %s", ErrRefused, u.Location, c.Package, c.Version, c.Architecture, u.Name, u.Available, u.Arch)
		}
		p, err := newDebPackage(&c)
		if err != nil {
			return nil, err
		}
		return &debUpdate{txEntry: txEntry{u: u, file: file}, deb: deb, pkg: p, rewritten: map[string]string{}}, nil
	})
}

// readDebInstalled reads the installed packages' relationships from the dpkg status.
func readDebInstalled(root string) (map[string]*debPackage, error) {
	name := filepath.Join(root, "var/lib/dpkg/status")
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading the dpkg status: %w", err)
	}
	entries, err := apt.ParseStatus(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	isInstalled := map[string]bool{}
	for _, e := range entries {
		if e.Installed() {
			isInstalled[e.Package+"\x00"+e.Version] = true
		}
	}
	out := map[string]*debPackage{}
	err = apt.ParsePackages(bytes.NewReader(data), func(p *apt.Package) error {
		if !isInstalled[p.Package+"\x00"+p.Version] {
			return nil
		}
		d, err := newDebPackage(p)
		if err != nil {
			return err
		}
		out[p.Package] = d
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return out, nil
}

// infoScript reads an installed package's maintainer script from the dpkg database;
// "" when it has none.
func infoScript(root, pkg, arch, kind string) (string, string) {
	for _, base := range []string{pkg + "." + kind, pkg + ":" + arch + "." + kind} {
		p := filepath.Join(root, "var/lib/dpkg/info", base)
		if data, err := os.ReadFile(p); err == nil {
			return string(data), p
		}
	}
	return "", ""
}

// infoRestore is an installed maintainer script refit replaced for the run.
type infoRestore struct {
	path string
	orig []byte
}

// analyseDebian judges every script the upgrade of each package runs and sets deferWhy
// for those that cannot run offline. It returns the installed scripts of packages that
// are not upgraded but whose triggers run, when they had to be rewritten.
func analyseDebian(opts *Options, byName map[string]*debUpdate, inst map[string]*debPackage) ([]infoRestore, error) {
	root := opts.Target.HostRoot
	known, err := debStatusNames(root)
	if err != nil {
		return nil, err
	}
	debconf, err := readImageDebconf(root)
	if err != nil {
		return nil, err
	}
	hooksWhy, hooksJudged := "", false
	for _, n := range sortedKeys(byName) {
		d := byName[n]
		d.scripts, d.notes, d.deferWhy, d.rewritten = nil, nil, "", map[string]string{}
		args := debScriptArgs(d, inst[n], known[n])
		answers, err := debconfAnswers(root, debconf, d)
		if err != nil {
			return nil, err
		}
		var unsafe []string
		judge := func(side string, kind scriptlet.Kind, body string) {
			if body == "" {
				return
			}
			a := scriptlet.Analyze(scriptlet.Script{Package: n, Kind: kind, Body: body, Args: args[side+"."+string(kind)],
				Debconf: answers})
			sr := ScriptReport{Kind: kind, Side: side, Verdict: a.Verdict}
			for _, f := range a.Findings {
				sr.Findings = append(sr.Findings, f.String())
			}
			d.scripts = append(d.scripts, sr)
			d.notes = append(d.notes, a.Notes...)
			switch {
			case a.Initramfs && opts.Kernel == KernelFirstboot:
				unsafe = append(unsafe, fmt.Sprintf("%s %s rebuilds the initramfs and kernel = \"firstboot\"", side, kind))
			case a.Verdict == scriptlet.Unsafe:
				unsafe = append(unsafe, fmt.Sprintf("%s %s is unsafe offline: %s", side, kind, strings.Join(sr.Findings, "; ")))
			case a.Verdict == scriptlet.Rewritable && side == "new" && kind == scriptlet.KindDebianConfig:
				unsafe = append(unsafe, fmt.Sprintf("new %s needs rewriting, which refit does for preinst, postinst, prerm and postrm only: %s", kind, strings.Join(sr.Findings, "; ")))
			case a.Verdict == scriptlet.Rewritable:
				d.rewritten[side+"."+string(kind)] = a.Rewritten
			}
		}
		for _, k := range []scriptlet.Kind{scriptlet.KindDebianPreInst, scriptlet.KindDebianPostInst, scriptlet.KindDebianConfig} {
			judge("new", k, d.deb.Scripts[string(k)])
		}
		for _, k := range []scriptlet.Kind{scriptlet.KindDebianPreRm, scriptlet.KindDebianPostRm} {
			body, _ := infoScript(root, n, d.u.Arch, string(k))
			judge("old", k, body)
		}
		if isDebKernel(n) && opts.Kernel == KernelFirstboot {
			unsafe = append(unsafe, "kernel = \"firstboot\"")
		}
		if kernelVersion(n) != "" && opts.Kernel == KernelOffline {
			// its scripts run the image's /etc/kernel hooks, which refit judges here
			if !hooksJudged {
				if hooksWhy, err = judgeKernelHooks(root); err != nil {
					return nil, err
				}
				hooksJudged = true
			}
			if hooksWhy != "" {
				unsafe = append(unsafe, hooksWhy)
			}
		}
		if opts.Scriptlets == ScriptletsDefer {
			d.deferWhy = "scriptlets = \"defer\""
		} else if len(unsafe) > 0 {
			d.deferWhy = strings.Join(unsafe, "; ")
		}
	}
	return analyseDebTriggers(opts, byName, inst)
}

// readImageDebconf reads the image's debconf database (/var/cache/debconf); nil when the image
// has none.
func readImageDebconf(root string) (*scriptlet.DebconfDB, error) {
	var files [2]*os.File
	for i, name := range []string{"config.dat", "templates.dat"} {
		p, err := imageroot.Resolve(root, "/var/cache/debconf/"+name)
		if err != nil {
			return nil, refuseSymlink(err)
		}
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the image's debconf database: %w", err)
		}
		defer f.Close()
		files[i] = f
	}
	db, err := scriptlet.ReadDebconfDB(files[0], files[1])
	if err != nil {
		return nil, fmt.Errorf("reading the image's debconf database: %w (fix or remove /var/cache/debconf in the image)", err)
	}
	return db, nil
}

// debconfAnswers returns the db_get answers the scripts of d's upgrade can rely on: those of the
// questions d's package alone owns, the same with the image's templates and with the new
// package's (which apt loads before the scripts run, dpkg alone only when the config script
// runs), and none when a script of the upgrade may change them (db_set …).
func debconfAnswers(root string, db *scriptlet.DebconfDB, d *debUpdate) (map[string]string, error) {
	if db == nil {
		return nil, nil
	}
	for _, k := range []string{"preinst", "config", "postinst"} {
		if scriptlet.ChangesDebconf(d.deb.Scripts[k]) {
			return nil, nil
		}
	}
	for _, k := range []string{"prerm", "postrm"} {
		if body, _ := infoScript(root, d.u.Name, d.u.Arch, k); scriptlet.ChangesDebconf(body) {
			return nil, nil
		}
	}
	before, err := db.Questions()
	if err != nil {
		return nil, err
	}
	after, err := db.Questions(d.deb.Templates)
	if err != nil {
		return nil, fmt.Errorf("reading the debconf templates of %s: %w", d.u.Name, err)
	}
	out := map[string]string{}
	for q, a := range after {
		if b, ok := before[q]; ok && b.Value == a.Value && len(a.Owners) == 1 && a.Owners[0] == d.u.Name {
			out[q] = a.Value
		}
	}
	return out, nil
}

// debScriptArgs returns the arguments dpkg runs the judged scripts of d with (Debian policy,
// chapter 6), by "new.preinst", "new.postinst", "old.prerm" and "old.postrm": for an upgrade of
// installed (fully installed, so its most recently configured version is its version) "upgrade
// <old> <new>", "configure <old>", "upgrade <new>" and "upgrade <new>"; for a new package of which
// the dpkg status knows nothing (inStatus false) "install" and "configure" "". Otherwise (a package
// half installed, or with config files left) none: the analysis leaves tests of them undecided.
func debScriptArgs(d *debUpdate, installed *debPackage, inStatus bool) map[string][]string {
	newVersion := d.deb.Control.Version
	switch {
	case installed != nil && len(d.dependencyOf) == 0:
		return map[string][]string{
			"new.preinst":  {"upgrade", installed.Version, newVersion},
			"new.postinst": {"configure", installed.Version},
			"old.prerm":    {"upgrade", newVersion},
			"old.postrm":   {"upgrade", newVersion},
		}
	case installed == nil && !inStatus && len(d.dependencyOf) > 0:
		return map[string][]string{
			"new.preinst":  {"install"},
			"new.postinst": {"configure", ""},
		}
	}
	return nil
}

// debStatusNames returns the names of the packages the dpkg status has an entry for, in any
// state but not-installed.
func debStatusNames(root string) (map[string]bool, error) {
	data, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
	if err != nil {
		return nil, fmt.Errorf("reading the dpkg status: %w", err)
	}
	entries, err := apt.ParseStatus(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("reading the dpkg status: %w", err)
	}
	out := map[string]bool{}
	for _, e := range entries {
		if words := strings.Fields(e.Status); len(words) != 3 || words[2] != "not-installed" {
			out[e.Package] = true
		}
	}
	return out, nil
}

// isDebKernel reports whether a Debian package installs a kernel image.
func isDebKernel(name string) bool {
	return strings.HasPrefix(name, "linux-image-")
}

// analyseDebTriggers finds the installed packages whose triggers the upgrades activate
// (dpkg then runs their postinst with "triggered") and judges those postinst scripts.
// An unsafe one defers the packages activating it; a rewritable one is replaced for the
// run (and restored afterwards).
func analyseDebTriggers(opts *Options, byName map[string]*debUpdate, inst map[string]*debPackage) ([]infoRestore, error) {
	root := opts.Target.HostRoot
	activators := map[string][]string{} // interested package → upgraded packages activating it
	addActivator := func(interested, by string) {
		interested = strings.TrimSuffix(strings.TrimSuffix(interested, "/noawait"), "/await")
		if i := strings.IndexByte(interested, ':'); i >= 0 {
			interested = interested[:i]
		}
		if _, upgraded := byName[interested]; upgraded || interested == "" {
			return
		}
		activators[interested] = append(activators[interested], by)
	}
	if data, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/triggers/File")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) != 2 {
				continue
			}
			for _, n := range sortedKeys(byName) {
				for _, p := range byName[n].deb.Paths {
					if p == f[0] || strings.HasPrefix(p, strings.TrimSuffix(f[0], "/")+"/") {
						addActivator(f[1], n)
						break
					}
				}
			}
		}
	}
	for _, n := range sortedKeys(byName) {
		for _, line := range strings.Split(byName[n].deb.Triggers, "\n") {
			f := strings.Fields(line)
			if len(f) != 2 || !strings.HasPrefix(f[0], "activate") || strings.ContainsAny(f[1], "/.") && !strings.HasPrefix(f[1], "/") {
				continue
			}
			if strings.HasPrefix(f[1], "/") {
				continue // file triggers are matched by path above
			}
			data, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/triggers", f[1]))
			if err != nil {
				continue
			}
			for _, interested := range strings.Fields(string(data)) {
				addActivator(interested, n)
			}
		}
	}
	var restore []infoRestore
	for _, p := range sortedKeys(activators) {
		if inst[p] == nil {
			continue
		}
		body, file := infoScript(root, p, "", "postinst")
		if body == "" {
			matches, _ := filepath.Glob(filepath.Join(root, "var/lib/dpkg/info", p+":*.postinst"))
			if len(matches) == 0 {
				continue
			}
			data, err := os.ReadFile(matches[0])
			if err != nil {
				continue
			}
			body, file = string(data), matches[0]
		}
		a := scriptlet.Analyze(scriptlet.Script{Package: p, Kind: scriptlet.KindDebianPostInst, Body: body})
		switch a.Verdict {
		case scriptlet.Unsafe:
			var why []string
			for _, f := range a.Findings {
				why = append(why, f.String())
			}
			for _, by := range activators[p] {
				if d := byName[by]; d != nil && d.deferWhy == "" {
					d.deferWhy = fmt.Sprintf("activates a trigger of installed %s, whose postinst is unsafe offline: %s", p, strings.Join(why, "; "))
				}
			}
		case scriptlet.Rewritable:
			restore = append(restore, infoRestore{path: file, orig: []byte(body)})
			if err := os.WriteFile(file+".refit-rewritten", []byte(a.Rewritten), 0o755); err != nil {
				return nil, fmt.Errorf("preparing the rewritten trigger script of %s: %w", p, err)
			}
		}
	}
	return restore, nil
}

// wrapperScript is the dpkg that apt runs during the offline apply: after every dpkg
// call it swaps each freshly unpacked postinst that refit rewrote for its rewritten text,
// so the rewrite runs at the native point (dpkg --configure).
const wrapperScript = `#!/bin/sh
/usr/bin/dpkg "$@"
rc=$?
R=` + applyDir + `/rewritten
for orig in "$R"/*.orig; do
	[ -e "$orig" ] || continue
	base=${orig##*/}
	base=${base%.orig}
	pkg=${base%.*}
	kind=${base##*.}
	for info in /var/lib/dpkg/info/"$pkg"."$kind" /var/lib/dpkg/info/"$pkg":*."$kind"; do
		[ -f "$info" ] || continue
		if cmp -s "$info" "$orig"; then
			cat "$R/$base" > "$info"
			echo "$base" >> "$R/swapped"
		fi
	done
done
exit $rc
`

// aptOptions point apt at the run's local repository only.
var aptOptions = []string{
	"-o", "Dir::Etc::sourcelist=" + applyDir + "/sources.list", "-o", "Dir::Etc::sourceparts=-",
	"-o", "Dir::State::Lists=" + applyDir + "/lists", "-o", "APT::Get::List-Cleanup=0",
	"-o", "Dir::Cache::archives=" + applyDir + "/archives", "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
	"-o", "Dir::Bin::dpkg=" + applyDir + "/dpkg", "-o", "APT::Sandbox::User=root", "-o", "DPkg::Lock::Timeout=300",
	"-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", "-o", "Dpkg::Use-Pty=0",
}

// applyDebs installs the packages offline with the image's own apt (or dpkg when the image
// has no apt), from a local repository of the verified files, with services kept from
// starting and rewritten scripts in place of the originals.
func applyDebs(ctx context.Context, opts *Options, applied []*debUpdate, restore []infoRestore) (err error) {
	root := opts.Target.HostRoot
	dir, err := mkdirInImage(root, applyDir)
	if err != nil {
		return err
	}
	cleanups := []func() error{func() error { removeApplyDir(root); return nil }}
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			if cerr := cleanups[i](); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
	}()
	names, err := stageDebs(root, dir, applied)
	if err != nil {
		return err
	}
	for _, r := range restore {
		r := r
		if err := os.Rename(r.path+".refit-rewritten", r.path); err != nil {
			return fmt.Errorf("rewriting %s: %w", r.path, err)
		}
		cleanups = append(cleanups, func() error { os.WriteFile(r.path, r.orig, 0o755); return nil })
	}
	policy, err := preventServiceStart(root)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, policy)
	undoDev, err := ensureDeviceNodes(root)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() error { undoDev(); return nil }, func() error { return restoreDebRewrites(root, applied) })
	if err := installDebs(ctx, opts, applied, names); err != nil {
		return err
	}
	swapped, _ := os.ReadFile(filepath.Join(dir, "rewritten", "swapped"))
	for _, d := range applied {
		if _, ok := d.rewritten["new.postinst"]; ok && !strings.Contains(string(swapped), d.u.Name+".postinst\n") {
			d.notes = append(d.notes, fmt.Sprintf("%s: the rewritten postinst could not be swapped in; the original ran with services kept from starting", d.u.Name))
		}
	}
	return nil
}

// stageDebs puts the applied packages into a local repository in dir (applyDir on the
// host) with the dpkg wrapper and the rewritten scripts, and returns the packages as apt
// names them ("name=version").
func stageDebs(root, dir string, applied []*debUpdate) ([]string, error) {
	for _, sub := range []string{"lists/partial", "archives/partial", "rewritten"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	var index bytes.Buffer
	var names []string
	for _, d := range applied {
		base := filepath.Base(d.file)
		sum, size, err := stageDeb(d, filepath.Join(dir, base))
		if err != nil {
			return nil, fmt.Errorf("copying %s into the image: %w", base, err)
		}
		fmt.Fprintf(&index, "%s\nFilename: ./%s\nSize: %d\nSHA256: %s\n\n", strings.TrimRight(d.deb.ControlText, "\n"), base, size, sum)
		names = append(names, d.u.Name+"="+d.u.Available.String())
		if err := placeDebRewrites(root, dir, d); err != nil {
			return nil, err
		}
	}
	for name, text := range map[string]string{
		"Packages":     index.String(),
		"Release":      apt.FlatRelease("refit-patch offline", index.String()),
		"sources.list": "deb [trusted=yes] file:" + applyDir + " ./\n",
		"dpkg":         wrapperScript,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o755); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// stageDeb copies d's verified .deb to dst and returns its sha256 and size. When refit rewrote the
// new preinst, which dpkg runs from the package itself before unpacking it, the copy carries the
// rewritten preinst (restoreDebRewrites puts the original into dpkg's database afterwards).
func stageDeb(d *debUpdate, dst string) (string, int64, error) {
	text, ok := d.rewritten["new.preinst"]
	if !ok {
		return copyFileSum(d.file, dst)
	}
	in, err := os.Open(d.file)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	var buf bytes.Buffer
	if err := debfile.ReplaceScripts(in, &buf, map[string]string{"preinst": text}); err != nil {
		return "", 0, fmt.Errorf("rewriting the preinst of %s: %w", d.u.Name, err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		return "", 0, err
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:]), int64(buf.Len()), nil
}

// placeDebRewrites puts d's rewritten scripts where they run: the new package's beside
// their original text for the dpkg wrapper to swap in, the old package's prerm/postrm
// into the dpkg database.
func placeDebRewrites(root, dir string, d *debUpdate) error {
	for key, text := range d.rewritten {
		side, kind, _ := strings.Cut(key, ".")
		if key == "new.preinst" {
			continue // in the staged package itself (stageDeb)
		}
		if side == "new" {
			files := map[string]string{d.u.Name + "." + kind: text, d.u.Name + "." + kind + ".orig": d.deb.Scripts[kind]}
			for n, body := range files {
				if err := os.WriteFile(filepath.Join(dir, "rewritten", n), []byte(body), 0o755); err != nil {
					return err
				}
			}
			continue
		}
		if orig, p := infoScript(root, d.u.Name, d.u.Arch, kind); p != "" {
			if d.oldScripts == nil {
				d.oldScripts = map[string]string{}
			}
			d.oldScripts[kind] = orig
			if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
				return fmt.Errorf("rewriting the installed %s of %s: %w", kind, d.u.Name, err)
			}
		}
	}
	return nil
}

// restoreDebRewrites puts back what the packages ship wherever a rewritten script is still
// in the dpkg database after the run: the new preinst dpkg installed from the staged package,
// the new postinst dpkg configured with (swapped in by wrapperScript), an old prerm or postrm
// that a failed run left. A rewrite serves this run
// only: a later dpkg-reconfigure, upgrade or removal on the booted system runs the
// package's own script, as after a booted upgrade.
func restoreDebRewrites(root string, applied []*debUpdate) error {
	var errs []error
	for _, d := range applied {
		for key, text := range d.rewritten {
			side, kind, _ := strings.Cut(key, ".")
			orig, ok := d.deb.Scripts[kind], true
			if side != "new" {
				orig, ok = d.oldScripts[kind]
			}
			if cur, p := infoScript(root, d.u.Name, d.u.Arch, kind); ok && p != "" && cur == text {
				if err := os.WriteFile(p, []byte(orig), 0o755); err != nil {
					errs = append(errs, fmt.Errorf("restoring the %s of %s after its rewritten run: %w", kind, d.u.Name, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// installDebs runs apt-get (or dpkg) on the staged packages. Kernel image packages run
// the image's /etc/kernel hooks (judged in analyseDebian), which need /proc and the root's
// device nodes: then the install runs in the kernel environment, and the new grub.cfg
// must boot the new kernels.
func installDebs(ctx context.Context, opts *Options, applied []*debUpdate, names []string) error {
	root := opts.Target.HostRoot
	run := func(args ...string) (string, error) { return runIn(ctx, opts, args...) }
	var kernels []string
	for _, d := range applied {
		if v := kernelVersion(d.u.Name); v != "" {
			kernels = append(kernels, v)
		}
	}
	var grub *grubConfig
	if len(kernels) > 0 {
		env, err := newKernelEnv(ctx, opts.Target)
		if err != nil {
			return err
		}
		if grub, err = saveGrubConfig(root); err != nil {
			return err
		}
		run = func(args ...string) (string, error) { return runCommand(env.command(ctx, opts.Target, args...), args) }
		opts.log("installing kernel(s) %s offline with /proc and the root's devices in a private namespace", strings.Join(kernels, ", "))
	}
	if _, err := os.Stat(filepath.Join(root, "usr/bin/apt-get")); err == nil {
		if _, err := runIn(ctx, opts, append(append([]string{"apt-get"}, aptOptions...), "update")...); err != nil {
			return err
		}
		args := append(append([]string{"apt-get"}, aptOptions...), "install", "-y", "--no-remove", "--no-install-recommends")
		if opts.Target.Scratch {
			args = append(args, "-o", "Dpkg::Options::=--force-unsafe-io")
		}
		if !slices.ContainsFunc(applied, func(d *debUpdate) bool { return len(d.dependencyOf) > 0 }) {
			args = append(args, "--only-upgrade")
		}
		marks, err := saveAptMarks(root)
		if err != nil {
			return err
		}
		out, err := run(append(args, names...)...)
		if err != nil {
			return err
		}
		opts.log("apt-get: %s", lastLine(out))
		if err := marks.restore(root, applied, run); err != nil {
			return err
		}
	} else {
		args := []string{applyDir + "/dpkg", "--force-confdef", "--force-confold", "-i"}
		if opts.Target.Scratch {
			args = append(args, "--force-unsafe-io")
		}
		for _, d := range applied {
			args = append(args, applyDir+"/"+filepath.Base(d.file))
		}
		if _, err := run(args...); err != nil {
			return err
		}
	}
	if grub == nil {
		return nil
	}
	return grub.check(kernels)
}

// aptMarksFile is apt's record of which packages were installed automatically (as another's
// dependency): `apt autoremove` removes those nothing needs any more.
const aptMarksFile = "/var/lib/apt/extended_states"

// aptMarks is the image's aptMarksFile before the install.
type aptMarks struct {
	data    []byte
	mode    fs.FileMode
	existed bool
}

// saveAptMarks reads the image's aptMarksFile. `apt-get install` marks every package it is
// given as installed by hand, whereas a booted `apt-get upgrade` keeps each package's mark
// and marks the new dependencies it installs as automatic: restore puts that right.
func saveAptMarks(root string) (*aptMarks, error) {
	host, err := imageroot.Resolve(root, aptMarksFile)
	if err != nil {
		return nil, refuseSymlink(err)
	}
	data, err := os.ReadFile(host)
	var fi fs.FileInfo
	if err == nil {
		fi, err = os.Stat(host)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &aptMarks{}, nil
	case err != nil:
		return nil, fmt.Errorf("reading the image's %s: %w", aptMarksFile, err)
	}
	return &aptMarks{data: data, mode: fi.Mode().Perm(), existed: true}, nil
}

// restore writes the saved marks back (apt keeps the stanzas of the file it reads in their
// order and appends new ones, as a booted upgrade leaves them), then marks the new
// dependencies among applied as automatic with the image's own apt-mark.
func (m *aptMarks) restore(root string, applied []*debUpdate, run func(args ...string) (string, error)) error {
	if m.existed {
		host, err := imageroot.Resolve(root, aptMarksFile)
		if err != nil {
			return refuseSymlink(err)
		}
		if fi, err := os.Lstat(host); err == nil && !fi.Mode().IsRegular() {
			return fmt.Errorf("%w: %s in the image is not a regular file", ErrRefused, aptMarksFile)
		}
		tmp := host + ".refit-new"
		err = os.WriteFile(tmp, m.data, m.mode)
		if err == nil {
			err = os.Chmod(tmp, m.mode) // its own mode, whatever the umask
		}
		if err != nil {
			os.Remove(tmp)
			return fmt.Errorf("restoring the image's %s: %w", aptMarksFile, err)
		}
		if err := os.Rename(tmp, host); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("restoring the image's %s: %w", aptMarksFile, err)
		}
	}
	var deps []string
	for _, d := range applied {
		if len(d.dependencyOf) > 0 {
			deps = append(deps, d.u.Name)
		}
	}
	if len(deps) == 0 {
		return nil
	}
	// apt's own options: no package cache is left in the image, as for apt-get
	_, err := run(append(append(append([]string{"apt-mark"}, aptOptions...), "auto"), deps...)...)
	return err
}

// preventServiceStart installs a policy-rc.d that denies every service action (invoke-rc.d
// and deb-systemd-invoke honour it) and returns the function restoring the previous one.
func preventServiceStart(root string) (func() error, error) {
	r, err := imageroot.Replace(root, "/usr/sbin/policy-rc.d", []byte("#!/bin/sh\n# refit-patch: no service starts while patching offline\nexit 101\n"), 0o755)
	if err != nil {
		return nil, refuseSymlink(err)
	}
	return r.Restore, nil
}

// ensureDeviceNodes creates the few device nodes maintainer scripts expect (/dev/null …)
// when the root's /dev is empty, and returns the function removing them again, and /dev
// itself when the root had none (a container image's layers often have no /dev: the
// runtime provides it, and the patch must not add one).
func ensureDeviceNodes(root string) (func(), error) {
	_, err := os.Lstat(filepath.Join(root, "dev"))
	madeDev := errors.Is(err, fs.ErrNotExist)
	dev, err := mkdirInImage(root, "/dev")
	if err != nil {
		return nil, err
	}
	var made []string
	for _, n := range []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"random", 1, 8}, {"urandom", 1, 9}} {
		p := filepath.Join(dev, n.name)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return nil, fmt.Errorf("creating /dev/%s in the image (needs root): %w", n.name, err)
		}
		os.Chmod(p, 0o666)
		made = append(made, p)
	}
	return func() {
		for _, p := range made {
			os.Remove(p)
		}
		if madeDev {
			os.Remove(dev) // only when empty: a script may have put something there
		}
	}, nil
}

// verifyDebs checks that each applied package is installed at its new version, that dpkg
// has nothing half-done (dpkg --audit), and that its files match (dpkg --verify; changed
// conffiles are the user's and only noted).
func verifyDebs(ctx context.Context, opts *Options, applied []*debUpdate, rep *Report) error {
	data, err := os.ReadFile(filepath.Join(opts.Target.HostRoot, "var/lib/dpkg/status"))
	if err != nil {
		return err
	}
	entries, err := apt.ParseStatus(bytes.NewReader(data))
	if err != nil {
		return err
	}
	now := map[string]string{}
	for _, e := range entries {
		if e.Installed() {
			now[e.Package] = e.Version
		}
	}
	var wrong []string
	var names []string
	for _, d := range applied {
		names = append(names, d.u.Name)
		if now[d.u.Name] != d.u.Available.String() {
			wrong = append(wrong, fmt.Sprintf("%s is %q, want %s", d.u.Name, now[d.u.Name], d.u.Available))
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("%w: after the run: %s", ErrApply, strings.Join(wrong, "; "))
	}
	if out, err := runIn(ctx, opts, "dpkg", "--audit"); err != nil || strings.TrimSpace(out) != "" {
		return fmt.Errorf("%w: dpkg --audit reports unfinished packages: %s %v", ErrApply, out, err)
	}
	out, _ := runIn(ctx, opts, append([]string{"dpkg", "--verify"}, names...)...)
	var bad []string
	filter := readDpkgPathFilter(opts.Target.HostRoot)
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[1] == "c":
			rep.Notes = append(rep.Notes, "changed configuration file kept: "+f[2])
		case len(f) == 2 && f[0] == "missing" && filter.excluded(f[1]):
			// left out by the image's dpkg path-exclude configuration
		case strings.TrimSpace(line) != "":
			bad = append(bad, line)
		}
	}
	if len(bad) > 20 {
		bad = append(bad[:20], fmt.Sprintf("and %d more", len(bad)-20))
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: dpkg --verify: %s", ErrApply, strings.Join(bad, "; "))
	}
	if err := checkKernels(opts.Target.HostRoot, names); err != nil {
		return err
	}
	rep.Verified = fmt.Sprintf("dpkg --audit clean; dpkg --verify of %d package(s) clean", len(names))
	return nil
}

func copyFileSum(src, dst string) (string, int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// checkKernels checks that every kernel image package applied offline left its kernel and
// an initramfs in /boot (kernel = "offline" promises a bootable result).
func checkKernels(root string, names []string) error {
	var missing []string
	for _, n := range names {
		ver := kernelVersion(n)
		if ver == "" {
			continue // metapackages (linux-image-amd64) install no kernel themselves
		}
		for _, f := range []string{"vmlinuz-" + ver, "initrd.img-" + ver} {
			if _, err := os.Stat(filepath.Join(root, "boot", f)); err != nil {
				missing = append(missing, "/boot/"+f)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: kernel installed offline but %s missing (is initramfs-tools installed in the image? or use kernel = \"firstboot\")", ErrApply, strings.Join(missing, ", "))
	}
	return nil
}
