// Package firstboot places packages that cannot be installed offline into an image,
// together with a one-shot systemd unit (refit-firstboot.service) that installs them
// with the image's own package manager at the next boot, logs to the journal, and
// removes itself (unit, enabling link, installer).
//
// It owns the queue layout inside the image (QueueDir), the unit, and the installer
// script; it does not decide which packages are deferred (package patch does).
package firstboot

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/apt"
	"github.com/refit-images/packer-plugin-refit/internal/imageroot"
)

const (
	// QueueDir is where, inside the image, deferred packages wait for the first boot.
	// The unit runs only while it exists (ConditionPathExists).
	QueueDir = "/var/lib/refit/firstboot"
	// UnitName is the name of the one-shot unit.
	UnitName = "refit-firstboot.service"
	// ScriptPath is the installer the unit runs, inside the image.
	ScriptPath = "/usr/libexec/refit/firstboot-install"
	unitPath   = "/etc/systemd/system/" + UnitName
	wantsLink  = "/etc/systemd/system/multi-user.target.wants/" + UnitName
)

// placed are the files Place writes besides the queue; once the queue is installed the
// installer removes them (the booted image then holds what a booted upgrade leaves, no more).
var placed = []string{wantsLink, unitPath, ScriptPath}

// ErrPackageManager is returned for a package manager other than "dpkg" or "rpm".
var ErrPackageManager = errors.New("firstboot: unsupported package manager")

// Package is one deferred package file.
type Package struct {
	// Path is the verified package file on the host.
	Path string
	// Name, Version and Arch identify it (the control/header fields).
	Name, Version, Arch string
	// Control is, for dpkg, the package's control paragraph (for the queue's Packages index).
	Control string
	// Reason says why it was deferred; it is written to the queue's README.
	Reason string
}

// Unit returns the text of refit-firstboot.service.
//
// It runs as an ordinary service late in the boot, as an administrator's "apt-get upgrade"
// or "dnf upgrade" would: after basic.target and network-online.target (the scripts it runs
// are the ones refit judged unsafe offline, often because they use the network or the live
// system), and before multi-user.target, so that "systemctl is-system-running --wait"
// returns only once the deferred packages are installed. It is ordered before no service a
// maintainer script may restart: a oneshot unit ordered Before=ssh.service whose postinst
// runs "deb-systemd-invoke restart ssh.service" waits for a job that waits for it, until
// TimeoutStartSec. The package managers' own timer services wait for it instead of
// contending for the lock.
func Unit() string {
	return `[Unit]
Description=Install packages refit-patch deferred to the first boot
Documentation=https://github.com/refit-images/packer-plugin-refit
ConditionPathExists=` + QueueDir + `
Wants=network-online.target
After=network-online.target
Before=` + strings.Join(unitBefore, " ") + `

[Service]
Type=oneshot
ExecStart=` + ScriptPath + `
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=1h
RemainAfterExit=no

[Install]
WantedBy=multi-user.target
`
}

// unitBefore are the units refit-firstboot.service is ordered before: the boot target it
// belongs to and the static, timer-started services of package managers (which no
// maintainer script restarts: deb-systemd-invoke leaves static units alone).
var unitBefore = []string{"multi-user.target", "apt-daily.service", "apt-daily-upgrade.service", "dnf-makecache.service"}

// Script returns the installer script for packageManager ("dpkg" or "rpm"). It installs
// every package of the queue in one transaction (upgrades, and new packages such as the
// new ABI package a Debian kernel update needs), removes the queue (so the unit's
// condition fails from then on) and removes the unit, its enabling link and itself, so
// that the image holds what a booted upgrade leaves and nothing else. On failure it leaves everything
// in place, says so and exits non-zero, so the journal shows the error and the next boot
// retries; a dpkg run that an earlier boot interrupted (shutdown during the install) is
// finished first, as apt refuses to run until it is.
//
// apt reads only the queue's own sources and lists, and keeps no package cache: the
// image's /var/cache/apt and /var/lib/apt/lists stay what its own sources made them.
func Script(packageManager string) (string, error) {
	var install string
	switch packageManager {
	case "dpkg":
		install = `export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true
if [ -n "$(ls -A /var/lib/dpkg/updates 2>/dev/null)" ]; then
	echo "refit-firstboot: finishing a dpkg run an earlier boot interrupted (dpkg --configure -a)"
	dpkg --force-confdef --force-confold --configure -a
fi
apt_opts="-q -o Dir::Etc::sourcelist=$Q/sources.list -o Dir::Etc::sourceparts=- -o Dir::State::Lists=$Q/lists -o APT::Get::List-Cleanup=0 -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
mkdir -p "$Q/lists/partial"
if command -v apt-get >/dev/null 2>&1; then
	apt-get $apt_opts update
	# shellcheck disable=SC2046
	apt-get $apt_opts install -y --no-remove --no-install-recommends $(cat "$Q/packages")
else
	dpkg --force-confdef --force-confold -i "$Q"/*.deb
fi`
	case "rpm":
		install = `rpm -U --replacepkgs --oldpackage "$Q"/*.rpm`
	default:
		return "", fmt.Errorf("%w: %q (want dpkg or rpm)", ErrPackageManager, packageManager)
	}
	return `#!/bin/sh
# Installed by refit-patch: installs the packages it deferred to the first boot.
set -eu
Q=` + QueueDir + `
trap 'rc=$?; [ "$rc" -eq 0 ] || echo "refit-firstboot: failed (exit $rc); the packages stay queued in $Q and the next boot tries again" >&2' EXIT
echo "refit-firstboot: installing $(wc -l < "$Q/packages") deferred package(s): $(paste -sd ' ' "$Q/packages")"
` + install + `
rm -rf "$Q"
rmdir ` + path.Dir(QueueDir) + ` 2>/dev/null || true
rm -f ` + strings.Join(placed, " ") + `
rmdir ` + path.Dir(ScriptPath) + ` 2>/dev/null || true
echo "refit-firstboot: done; ` + UnitName + ` and its installer removed"
`, nil
}

// Place copies pkgs into the queue of the image whose root this process reaches at
// hostRoot, writes the installer script, the unit and its enabling symlink. A queue an
// earlier patch of the image left is replaced: pkgs were computed from the image's current
// packages, so they supersede it (left alone, its older versions would be installed over
// the ones applied offline since). With no pkgs, such a queue is removed and the unit
// disabled, and nothing is written. It refuses to write through a symlink of the image (a
// hostile image cannot redirect the queue to the host).
func Place(hostRoot, packageManager string, pkgs []Package) error {
	if len(pkgs) == 0 {
		return removeQueue(hostRoot)
	}
	script, err := Script(packageManager)
	if err != nil {
		return err
	}
	q, err := imageroot.MkdirAll(hostRoot, QueueDir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(q); err != nil {
		return fmt.Errorf("clearing the earlier first-boot queue %s: %w", QueueDir, err)
	}
	if err := os.Mkdir(q, 0o755); err != nil {
		return fmt.Errorf("creating %s in the image: %w", QueueDir, err)
	}
	var names, index, readme strings.Builder
	sorted := append([]Package(nil), pkgs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, p := range sorted {
		base := filepath.Base(p.Path)
		sum, size, err := copyFile(p.Path, filepath.Join(q, base))
		if err != nil {
			return fmt.Errorf("placing %s for the first boot: %w", p.Name, err)
		}
		if packageManager == "dpkg" {
			fmt.Fprintf(&names, "%s=%s\n", p.Name, p.Version)
			fmt.Fprintf(&index, "%s\nFilename: ./%s\nSize: %d\nSHA256: %s\n\n", strings.TrimRight(p.Control, "\n"), base, size, sum)
		} else {
			fmt.Fprintf(&names, "%s\n", p.Name)
		}
		fmt.Fprintf(&readme, "%s %s %s: %s\n", p.Name, p.Version, p.Arch, p.Reason)
	}
	files := map[string]string{
		filepath.Join(q, "packages"): names.String(),
		filepath.Join(q, "README"):   "Deferred by refit-patch; " + UnitName + " installs these at the next boot.\n" + readme.String(),
	}
	if packageManager == "dpkg" {
		files[filepath.Join(q, "Packages")] = index.String()
		files[filepath.Join(q, "Release")] = apt.FlatRelease(UnitName+" queue", index.String())
		files[filepath.Join(q, "sources.list")] = "deb [trusted=yes] file:" + QueueDir + " ./\n"
	}
	for name, text := range files {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	// systemd warns about executable unit files; the installer must be executable.
	for _, f := range []struct {
		path, text string
		mode       os.FileMode
	}{{ScriptPath, script, 0o755}, {unitPath, Unit(), 0o644}} {
		dir, err := imageroot.MkdirAll(hostRoot, path.Dir(f.path))
		if err != nil {
			return err
		}
		name := filepath.Join(dir, path.Base(f.path))
		if err := os.WriteFile(name, []byte(f.text), f.mode); err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
		if err := os.Chmod(name, f.mode); err != nil { // WriteFile keeps an existing file's mode
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	wants, err := imageroot.MkdirAll(hostRoot, path.Dir(wantsLink))
	if err != nil {
		return err
	}
	link := filepath.Join(wants, UnitName)
	os.Remove(link)
	if err := os.Symlink(unitPath, link); err != nil {
		return fmt.Errorf("enabling %s: %w", UnitName, err)
	}
	return nil
}

// removeQueue removes the queue, the unit, its enabling link and the installer when the
// image has them, refusing to go through a symlink of the image.
func removeQueue(hostRoot string) error {
	for _, p := range append([]string{QueueDir}, placed...) {
		if err := imageroot.RemoveAll(hostRoot, p); err != nil {
			return fmt.Errorf("removing the earlier first-boot %s: %w", p, err)
		}
	}
	return nil
}

func copyFile(src, dst string) (string, int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
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
