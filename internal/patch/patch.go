// Package patch brings the packages of an offline image root up to date: it computes the
// updates (package outdated), resolves the transaction, downloads and verifies the
// packages, analyses every script the transaction would run (package scriptlet), applies
// what is safe with the image's own package manager inside a chroot, defers the rest to a
// first-boot unit (package firstboot), verifies the result and writes a report.
//
// It owns the transaction and its safety rules, and the resolution of new dependencies
// against the repositories' full index (read by package repository, which verifies it); it
// does not attach or mount images (package diskimage does) and knows nothing of Packer
// (post-processor/patch does).
// Debian roots (dpkg) are patched with the image's own apt/dpkg; RPM roots with the image's
// own rpm in a chroot, or with the host's rpm --root when the rpmdb is sqlite. Paths
// inside the root are resolved and written through package imageroot.
//
// What each file owns:
//   - patch.go: Options, Target, the errors, Run (inventory, the updates to apply).
//   - transaction.go: the one transaction driver (runTransaction) and the backend
//     interface each package format implements; what every package of a transaction
//     carries (txEntry); refusing deferrals, placing the first-boot queue, the report.
//   - rpm.go: the rpm backend (rpmBackend): running rpm, script analysis, dependency check
//     (rpm --test), apply, rpm -V, and the interpreter wrappers running rewritten scripts.
//   - debian.go: the dpkg backend (debBackend): its resolution fixed point (settle),
//     maintainer script and trigger analysis, the staged local repository, apt/dpkg
//     runs with policy-rc.d, dpkg --verify.
//   - debdeps.go, resolve_rpm.go: resolving new dependencies (Debian relationships; rpm
//     capabilities) against resolve_index.go's full repository index.
//   - debkernel.go: kernels applied offline (hooks, /proc and devices, grub.cfg checks);
//     dpkgfilter.go: dpkg's path-exclude rules.
//   - download.go: concurrent, verified package downloads.
//   - chroot.go: running commands inside the root, directories made in it.
//   - image.go: PatchImage (attach, patch, release a disk image); report.go: the Report.
package patch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/arch"
	"github.com/refit-images/packer-plugin-refit/internal/fetch"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/outdated"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// Scriptlet policies (Options.Scriptlets).
const (
	// ScriptletsAnalyze runs offline what is proven safe, rewrites what can be made safe and
	// defers the rest to the first boot.
	ScriptletsAnalyze = "analyze"
	// ScriptletsDefer defers every package to the first boot.
	ScriptletsDefer = "defer"
	// ScriptletsFail refuses to patch when any package would have to be deferred.
	ScriptletsFail = "fail"
)

// Kernel policies (Options.Kernel).
const (
	// KernelOffline installs kernels offline and checks their initramfs afterwards.
	KernelOffline = "offline"
	// KernelFirstboot defers kernels (and anything rebuilding the initramfs) to the first boot.
	KernelFirstboot = "firstboot"
	// KernelSkip leaves kernels as they are.
	KernelSkip = "skip"
)

// What becomes, in a container image (no first boot), of a package whose scripts are
// unsafe offline (Options.ContainerScripts).
const (
	// ContainerScriptsHold holds such a package back and names it in the report.
	ContainerScriptsHold = "hold"
	// ContainerScriptsRun applies it at patch time, running its scripts as they are.
	ContainerScriptsRun = "run"
)

// The steps of a run, in order, as passed to Options.Hook.
const (
	StepInventory = "inventory"
	StepUpdates   = "updates"
	StepDownload  = "download"
	StepAnalyse   = "analyse"
	StepApply     = "apply"
	StepVerify    = "verify"
	StepDefer     = "defer"
)

// The errors below carry no "patch:" prefix: the caller (refit-patch) names itself once.
var (
	// ErrUnsupported is returned for a root whose package manager refit cannot patch yet.
	ErrUnsupported = errors.New("unsupported package manager")
	// ErrRefused is wrapped by errors for packages refit refuses (scriptlets = "fail", a
	// package that is not what the metadata said, an unsafe payload).
	ErrRefused = errors.New("refused")
	// ErrApply is wrapped by errors of the package manager run inside the root.
	ErrApply = errors.New("applying the packages failed")
)

// Target is the root filesystem to patch.
type Target struct {
	// HostRoot is where this process reads and writes the root (for an image, its
	// Mounts.HostRoot).
	HostRoot string
	// ChrootDir is the root as the commands run with Prefix see it (Mounts.Root); defaults
	// to HostRoot.
	ChrootDir string
	// Prefix runs a command where the root is mounted (Mounts.CommandPrefix); nil runs it
	// directly.
	Prefix []string
	// Scratch says the root is a scratch copy read back once the run is over (a container
	// image's overlay, turned into a layer): dpkg then writes without syncing each file
	// (--force-unsafe-io), which only a crash halfway would notice.
	Scratch bool
}

// Options describe one patch run.
type Options struct {
	Target Target
	// Repositories are the repositories to update from (ignored when Updates is set
	// and Repositories empty).
	Repositories []repository.Spec
	// Filter narrows the updates as refit-repodiff does.
	Filter updates.Filter
	// Updates, when set, are the updates to apply (refit-repodiff's output). With
	// Repositories too, each must still be offered by them at the same version.
	Updates []updates.Update
	// Scriptlets is ScriptletsAnalyze (default), ScriptletsDefer or ScriptletsFail.
	Scriptlets string
	// Kernel is KernelOffline (default), KernelFirstboot or KernelSkip.
	Kernel string
	// ContainerScripts is set for a container image's root, which has no first boot:
	// ContainerScriptsHold or ContainerScriptsRun decides what becomes of the packages a
	// disk image would defer. "" (a disk image) defers them to the first boot.
	ContainerScripts string
	// CacheDir keeps downloaded metadata and packages between runs.
	CacheDir string
	// WorkDir holds the downloaded packages during the run (default: a temporary directory).
	WorkDir string
	// Concurrency bounds parallel downloads (default 4).
	Concurrency int
	// Log receives progress lines.
	Log func(string)
	// Hook, when set, is called at the start of each step (StepInventory …); an error stops
	// the run there. Tests use it to inject faults.
	Hook func(step string) error
}

func (o *Options) log(format string, args ...any) {
	if o.Log != nil {
		o.Log(fmt.Sprintf(format, args...))
	}
}

// loader reads the repositories, for the diff and for new dependencies alike, through
// the metadata cache under CacheDir.
func (o *Options) loader() *repository.Loader {
	client := fetch.New(filepath.Join(o.CacheDir, "metadata"))
	client.Progress = o.Log
	return &repository.Loader{Fetch: client, Log: o.Log}
}

func (o *Options) step(name string) error {
	if o.Hook == nil {
		return nil
	}
	if err := o.Hook(name); err != nil {
		return fmt.Errorf("step %s: %w", name, err)
	}
	return nil
}

// Run patches the target. On error the root may be partly changed (the caller works on a
// copy and discards it); everything refit placed there for the run is removed again.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Target.ChrootDir == "" {
		opts.Target.ChrootDir = opts.Target.HostRoot
	}
	if opts.Scriptlets == "" {
		opts.Scriptlets = ScriptletsAnalyze
	}
	if opts.Kernel == "" {
		opts.Kernel = KernelOffline
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if err := opts.step(StepInventory); err != nil {
		return nil, err
	}
	m, err := installed.FromRoot(opts.Target.HostRoot)
	if err != nil {
		return nil, fmt.Errorf("reading the installed packages: %w", err)
	}
	rep := &Report{Format: ReportFormat, OS: m.OS, PackageManager: m.PackageManager,
		Updated: []PackageReport{}, Deferred: []PackageReport{}, HeldBack: []PackageReport{}, CVEs: []string{}}
	if m.PackageManager != "dpkg" && m.PackageManager != "rpm" {
		return nil, fmt.Errorf("%w: %q", ErrUnsupported, m.PackageManager)
	}
	// The image's own dpkg or rpm applies the packages of its own architecture: a foreign
	// one needs its qemu-user handler before anything changes.
	if a, ok, err := outdated.ImageArch(opts.Target.HostRoot, m); err != nil {
		return nil, fmt.Errorf("finding the image's architecture: %w", err)
	} else if ok {
		if err := a.CheckHost(arch.BinfmtDir); err != nil {
			return nil, err
		}
		if opts.Repositories, err = outdated.ForArch(opts.Repositories, a); err != nil {
			return nil, err
		}
	}
	if err := opts.step(StepUpdates); err != nil {
		return nil, err
	}
	res, err := computeUpdates(ctx, &opts, m)
	if err != nil {
		return nil, err
	}
	rep.CVEs = append(rep.CVEs, res.CVEs...)
	rep.Advisories = res.Advisories
	if len(res.Updates) == 0 {
		opts.log("no updates: the image is up to date")
		return rep, nil
	}
	opts.log("%d update(s) to apply", len(res.Updates))
	work := opts.WorkDir
	if work == "" {
		if work, err = os.MkdirTemp("", "refit-patch-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(work)
	}
	if m.PackageManager == "rpm" {
		return runRPM(ctx, &opts, m, res, work, rep)
	}
	return runDebian(ctx, &opts, m, res, work, rep)
}

// computeUpdates returns the updates to apply: Options.Updates (checked against the
// repositories when there are any) or the diff against the repositories.
func computeUpdates(ctx context.Context, opts *Options, m *installed.Manifest) (*updates.Result, error) {
	if len(opts.Updates) > 0 && len(opts.Repositories) == 0 {
		return &updates.Result{Updates: opts.Updates}, nil
	}
	res, err := outdated.Run(ctx, outdated.Job{
		Manifest: m, Root: opts.Target.HostRoot, Repositories: opts.Repositories, Filter: opts.Filter,
		Loader: opts.loader(),
	})
	if err != nil {
		return nil, fmt.Errorf("computing the updates: %w", err)
	}
	if len(opts.Updates) == 0 {
		return res, nil
	}
	offered := map[string]updates.Update{}
	for _, u := range res.Updates {
		offered[u.Name+"."+u.Arch] = u
	}
	var keep []updates.Update
	var stale []string
	for _, u := range opts.Updates {
		o, ok := offered[u.Name+"."+u.Arch]
		if !ok || o.Available.String() != u.Available.String() {
			stale = append(stale, fmt.Sprintf("%s %s", u.Name, u.Available))
			continue
		}
		keep = append(keep, o)
	}
	if len(stale) > 0 {
		sort.Strings(stale)
		return nil, fmt.Errorf("%w: the updates given are no longer what the repositories offer: %s (re-run the refit-repodiff data source)", ErrRefused, strings.Join(stale, ", "))
	}
	res.Updates = keep
	return res, nil
}
