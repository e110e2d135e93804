package patch

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/apt"
	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/firstboot"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/packertest"
	ipatch "github.com/refit-images/packer-plugin-refit/internal/patch"
	"github.com/refit-images/packer-plugin-refit/internal/vmtest"
	"golang.org/x/sys/unix"
)

// oracleException is a path where the booted upgrade and the offline patch may differ,
// with the reason (docs/post-processors/patch.mdx, "Compared with a booted upgrade", lists
// them). A path ending in "/" is a folder and covers what is in it; anything else is one path.
// The list is narrow on purpose: a difference anywhere else fails the test.
type oracleException struct{ path, reason string }

var oracleExceptions = []oracleException{
	// Written by booting (copy A boots, copy B does not unless something was deferred).
	{"/etc/machine-id", "systemd writes the machine ID at the first boot"},
	{"/var/lib/systemd/random-seed", "systemd-random-seed saves entropy at boot and shutdown"},
	{"/var/lib/systemd/credential.secret", "systemd creates it at the first boot"},
	{"/var/lib/systemd/timers/", "stamps of timers that ran while booted"},
	{"/var/lib/systemd/linger/", "logind creates it at boot"},
	{"/var/lib/systemd/catalog/database", "journald rebuilds its catalog at boot"},
	{"/var/log/journal/", "the journal of the booted system"},
	{"/var/log/wtmp", "login records of the booted system"},
	{"/var/log/btmp", "login records of the booted system"},
	{"/var/log/lastlog", "login records of the booted system"},
	{"/var/lib/private/", "state of services started at boot"},
	{"/var/tmp/", "scratch of services started at boot (systemd-private-*)"},
	{"/tmp/", "scratch of services started at boot (systemd-private-*)"},
	{"/root/.ssh/authorized_keys", "the test's SSH key, added to the booted copy only"},
	// Written by apt and dpkg, where the booted run and the offline run differ in how, not what.
	{"/var/log/dpkg.log", "dpkg's log: times and the order of its runs"},
	{"/var/log/apt/history.log", "apt's log: times and command lines"},
	{"/var/log/apt/term.log", "apt's log: the terminal output"},
	{"/var/log/apt/eipp.log.xz", "apt's log of its planner's input"},
	{"/var/lib/dpkg/status-old", "dpkg's backup of the status before its last run, which differs as the runs are split differently"},
	{"/var/lib/dpkg/diversions-old", "dpkg's backup, as status-old"},
	{"/var/lib/dpkg/statoverride-old", "dpkg's backup, as status-old"},
	{"/var/cache/debconf/config.dat-old", "debconf's backup of its database before its last run"},
	{"/var/cache/debconf/templates.dat-old", "debconf's backup of its database before its last run"},
	{"/var/lib/dpkg/status", "compared stanza by stanza below (the order of stanzas is not state)"},
	// Derived from this filesystem's inodes, not from what is installed.
	{"/var/cache/ldconfig/aux-cache", "ldconfig's cache of each library's inode number, ctime and size on this filesystem, which only spares the next ldconfig run re-reading unchanged libraries; two filesystems with the same files have different inodes (ld.so.cache, what programs use, is compared)"},
}

// An initramfs (/boot/initrd.img-*) is compared by its unpacked contents (unmkinitramfs:
// every path's type, mode, owner, content and link target), not byte for byte: mkinitramfs
// writes each file's mtime, and the time it built the image, into the cpio archive, so two
// builds of the same files differ in their bytes.
const initrdPrefix = "/boot/initrd.img-"

// oracleExcepted returns the exception that covers name, if any.
func oracleExcepted(name string) (int, bool) {
	for i, x := range oracleExceptions {
		if name == strings.TrimSuffix(x.path, "/") || strings.HasSuffix(x.path, "/") && strings.HasPrefix(name, x.path) {
			return i, true
		}
	}
	return 0, false
}

// oracleEntry is what the comparison knows of one path.
type oracleEntry struct {
	kind     string // file, dir, symlink, char, block, fifo, socket
	mode     fs.FileMode
	uid, gid uint32
	sum      string // sha256 of a regular file
	link     string
	rdev     uint64
	size     int64
}

func (e oracleEntry) String() string {
	s := fmt.Sprintf("%s %v %d:%d", e.kind, e.mode, e.uid, e.gid)
	switch e.kind {
	case "file":
		s += fmt.Sprintf(" %d bytes sha256 %.12s", e.size, e.sum)
	case "symlink":
		s += " -> " + e.link
	case "char", "block":
		s += fmt.Sprintf(" %d,%d", unix.Major(e.rdev), unix.Minor(e.rdev))
	}
	return s
}

// oracleTree is one image as the comparison sees it.
type oracleTree struct {
	entries map[string]oracleEntry
	small   map[string]string // contents of files up to 16 KiB, to show differences
	status  map[string]string // package:arch → its dpkg status stanza
	skipped map[int]int       // exception index → paths it covered
	initrd  map[string]string // initramfs path → a host copy of it, unpacked when they differ
}

// readOracleTree opens image read-only and reads every path of its root filesystem (type,
// permissions, owner, content hash, link target, device numbers) and its dpkg status.
func readOracleTree(t *testing.T, image string) oracleTree {
	t.Helper()
	tr := oracleTree{entries: map[string]oracleEntry{}, small: map[string]string{}, status: map[string]string{}, skipped: map[int]int{},
		initrd: map[string]string{}}
	copies := t.TempDir()
	fixture.ReadImage(t, image, false, func(root string) {
		data, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
		if err != nil {
			t.Fatal(err)
		}
		for _, stanza := range strings.Split(strings.TrimSpace(string(data)), "\n\n") {
			entries, err := apt.ParseStatus(strings.NewReader(stanza + "\n"))
			if err != nil || len(entries) != 1 {
				t.Fatalf("dpkg status of %s: %v (%d entries in a stanza)", image, err, len(entries))
			}
			tr.status[entries[0].Package+":"+entries[0].Architecture] = stanza
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			name := filepath.Clean("/" + filepath.ToSlash(rel))
			if i, ok := oracleExcepted(name); ok {
				tr.skipped[i]++
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			st := info.Sys().(*syscall.Stat_t)
			e := oracleEntry{mode: info.Mode(), uid: st.Uid, gid: st.Gid}
			switch m := info.Mode(); {
			case m.IsRegular():
				e.kind, e.size, e.sum = "file", info.Size(), fixture.FileSHA256(t, p)
				if strings.HasPrefix(name, initrdPrefix) {
					tr.initrd[name] = filepath.Join(copies, filepath.Base(name))
					data, err := os.ReadFile(p)
					if err == nil {
						err = os.WriteFile(tr.initrd[name], data, 0o600)
					}
					if err != nil {
						return err
					}
				}
				if e.size <= 16<<10 {
					data, _ := os.ReadFile(p)
					tr.small[name] = string(data)
				}
			case m.IsDir():
				e.kind = "dir"
			case m&fs.ModeSymlink != 0:
				e.kind = "symlink"
				if e.link, err = os.Readlink(p); err != nil {
					return err
				}
			case m&fs.ModeCharDevice != 0:
				e.kind, e.rdev = "char", st.Rdev
			case m&fs.ModeDevice != 0:
				e.kind, e.rdev = "block", st.Rdev
			case m&fs.ModeNamedPipe != 0:
				e.kind = "fifo"
			case m&fs.ModeSocket != 0:
				e.kind = "socket"
			default:
				e.kind = "other"
			}
			tr.entries[name] = e
			return nil
		})
		if err != nil {
			t.Fatalf("walking %s: %v", image, err)
		}
	})
	return tr
}

// compareOracle returns every difference between the booted upgrade a and the offline patch
// b: paths only in one, paths whose entries differ (with a diff of small text files), and
// dpkg status stanzas that differ.
func compareOracle(t *testing.T, a, b oracleTree) []string {
	var diffs []string
	for _, name := range unionKeys(a.entries, b.entries) {
		ea, inA := a.entries[name]
		eb, inB := b.entries[name]
		switch {
		case !inB:
			diffs = append(diffs, fmt.Sprintf("%s: only in the booted upgrade (%v)", name, ea))
		case !inA:
			diffs = append(diffs, fmt.Sprintf("%s: only in the offline patch (%v)", name, eb))
		case ea != eb && ea.kind == "file" && ea.mode == eb.mode && ea.uid == eb.uid && ea.gid == eb.gid &&
			strings.HasPrefix(name, initrdPrefix):
			la, lb := initrdListing(t, a.initrd[name]), initrdListing(t, b.initrd[name])
			if la != lb {
				diffs = append(diffs, fmt.Sprintf("%s: the unpacked contents differ (booted, offline):\n%s", name, textDiff(t, la, lb)))
			} else {
				t.Logf("%s: the same unpacked contents (%d paths); the archives differ only in the times mkinitramfs recorded",
					name, strings.Count(la, "\n"))
			}
		case ea != eb:
			d := fmt.Sprintf("%s: booted %v, offline %v", name, ea, eb)
			ca, okA := a.small[name]
			cb, okB := b.small[name]
			if okA && okB && ea.sum != eb.sum {
				d += "\n" + textDiff(t, ca, cb)
			}
			diffs = append(diffs, d)
		}
	}
	for _, pkg := range unionKeys(a.status, b.status) {
		if a.status[pkg] != b.status[pkg] {
			diffs = append(diffs, fmt.Sprintf("dpkg status of %s:\n%s", pkg, textDiff(t, a.status[pkg], b.status[pkg])))
		}
	}
	return diffs
}

// initrdListing unpacks the initramfs at path with unmkinitramfs and lists every path in it
// with its type, mode, owner, size and sha256 or link target: what the kernel gets, not when
// each file was copied.
func initrdListing(t *testing.T, path string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("unmkinitramfs", path, dir).CombinedOutput(); err != nil {
		t.Fatalf("unmkinitramfs %s: %v\n%s", path, err, out)
	}
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		st := info.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %v %d:%d", rel, info.Mode(), st.Uid, st.Gid)
		switch m := info.Mode(); {
		case m.IsRegular():
			line += fmt.Sprintf(" %d %s", info.Size(), fixture.FileSHA256(t, p))
		case m&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatalf("listing the unpacked %s: %v", path, err)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}

func unionKeys[V any](a, b map[string]V) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// textDiff is diff -u of two texts (booted, offline).
func textDiff(t *testing.T, a, b string) string {
	dir := t.TempDir()
	pa, pb := filepath.Join(dir, "booted"), filepath.Join(dir, "offline")
	if os.WriteFile(pa, []byte(a), 0o644) != nil || os.WriteFile(pb, []byte(b), 0o644) != nil {
		return ""
	}
	out, _ := exec.Command("diff", "-u", pa, pb).Output()
	return string(out)
}

// The PAM-like package of the oracle. Its update 1.0-2 changes a library and a set-gid
// helper, replaces an unmodified conffile, keeps a conffile the admin changed (writing
// .dpkg-dist), drops a module, adds one and a symlink; its scripts are modelled on
// libpam-modules' preinst and libpam0g's postinst.
const (
	oraclePkg    = "refit-pam"
	oracleSecDir = "/usr/lib/x86_64-linux-gnu/security/"
	// like libpam-modules.preinst: a read-only perl one-liner over the PAM stacks, and pidof
	// (which refit answers offline: the preinst runs rewritten)
	oraclePreinst = `#!/bin/sh
set -e
if [ "$1" = upgrade ] && dpkg --compare-versions "$2" lt-nl 1.0-2; then
	users=$(perl -nle 'print $ARGV if /^[^#]*pam_refit_legacy/' /etc/pam.d/* | sort -u)
	if [ -n "$users" ]; then
		echo "refit-pam: pam_refit_legacy is gone in 1.0-2 but still named in $users" >&2
	fi
	if pidof xscreensaver xlockmore >/dev/null; then
		echo "refit-pam: unlock the screen saver after the upgrade" >&2
	fi
fi
`
	// like libpam0g.postinst: idl set by the script itself, systemd detected by
	// test -d /run/systemd/system, services restarted with systemctl try-restart or
	// invoke-rc.d; it also records what it saw, so that a script not run, or run with other
	// arguments or on other files, shows in the comparison
	oraclePostinst = `#!/bin/sh
set -e
if [ "$1" = configure ]; then
	mkdir -p /var/lib/refit-pam
	perl -nle 'print $ARGV if /^[^#]*pam_unix/' /etc/pam.d/* | sort -u > /var/lib/refit-pam/stacks
	echo "${2:-none}" > /var/lib/refit-pam/upgraded-from
fi
if [ "$1" = configure ] && [ -n "$2" ] && dpkg --compare-versions "$2" lt 1.0-2; then
	if test -d /run/systemd/system; then
		restart_service() {
			systemctl try-restart "$1.service" || failed="$failed $1"
		}
	else
		restart_service() {
			idl="invoke-rc.d $1"
			[ -x "/etc/init.d/$1" ] || return 0
			$idl stop >/dev/null 2>&1 || true
			$idl start >/dev/null 2>&1 || failed="$failed $1"
		}
	fi
	failed=""
	for service in cron ssh; do
		restart_service $service
	done
	[ -z "$failed" ] || echo "refit-pam: could not restart:$failed" >&2
fi
`
)

// oraclePackage is refit-pam at version v (1.0-1 or 1.0-2).
func oraclePackage(v string) fixture.DebPackage {
	p := fixture.DebPackage{Name: oraclePkg, Version: v, Arch: "amd64", Fields: "Multi-Arch: same\nPriority: optional\nSection: admin",
		Files: []fixture.DebFile{
			{Path: oracleSecDir + "pam_refit.so", Body: "pam_refit " + v + "\n"},
			{Path: "/usr/sbin/refit_chkpwd", Body: "#!/bin/sh\necho " + v + "\n", Mode: 0o755 | os.ModeSetgid, GID: 42}, // root:shadow, like unix_chkpwd
			{Path: "/etc/security/refit.conf", Body: "# refit " + v + "\nlevel = " + v + "\n", Conffile: true},
			{Path: "/etc/security/refit-access.conf", Body: "# access " + v + "\n", Conffile: true, Mode: 0o640},
			{Path: "/usr/share/doc/" + oraclePkg + "/changelog", Body: v + "\n"},
		}}
	if v == "1.0-1" {
		p.Files = append(p.Files, fixture.DebFile{Path: oracleSecDir + "pam_refit_legacy.so", Body: "legacy\n"})
		return p
	}
	p.Scripts = map[string]string{"preinst": oraclePreinst, "postinst": oraclePostinst}
	p.Files = append(p.Files,
		fixture.DebFile{Path: oracleSecDir + "pam_refit_faillock.so", Body: "new in " + v + "\n"},
		fixture.DebFile{Path: oracleSecDir + "pam_refit_compat.so", Link: "pam_refit.so"})
	return p
}

// oracleInput writes to dir/input.qcow2 the shared Debian 12 image with refit-pam 1.0-1
// installed (host dpkg --root) and /etc/security/refit-access.conf changed as an admin
// would, and returns its path.
func oracleInput(t *testing.T, dir string) string {
	t.Helper()
	ctx := context.Background()
	raw := filepath.Join(dir, "input.raw")
	if _, err := diskimage.MakeWorkingCopy(ctx, filepath.Join(fixture.DebianImage(t), "debian12.qcow2"), raw); err != nil {
		t.Fatal(err)
	}
	img, err := diskimage.Attach(ctx, raw, diskimage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := img.MountRoot(ctx, filepath.Join(dir, "input-root"))
	if err == nil {
		root := mounts.HostRoot()
		deb := fixture.BuildDeb(t, t.TempDir(), oraclePackage("1.0-1"))
		if out, derr := exec.Command("dpkg", "--root", root, "-i", deb).CombinedOutput(); derr != nil {
			err = fmt.Errorf("dpkg -i %s: %v\n%s", deb, derr, out)
		} else {
			err = os.WriteFile(filepath.Join(root, "etc/security/refit-access.conf"), []byte("# access 1.0-1, changed by the admin\n"), 0o640)
		}
	}
	if cerr := img.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("installing %s 1.0-1 into the input image: %v", oraclePkg, err)
	}
	in := filepath.Join(dir, "input.qcow2")
	if out, err := exec.Command("qemu-img", "convert", "-O", "qcow2", raw, in).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	os.Remove(raw)
	return in
}

// oracleGuestAPT returns the apt options a guest needs to use sources (a sources.list text):
// indexes, .debs and caches on the tmpfs /mnt (the image has about 720 MiB free; refit keeps
// them outside the image too), and, for a mirror this host reaches through /etc/hosts (which
// the guest's DNS does not know), that address as the mirror's HTTP proxy; a loopback address
// becomes qemu's host address 10.0.2.2.
func oracleGuestAPT(t *testing.T, sources string) []string {
	t.Helper()
	opts := []string{"-o Dir::Etc::SourceList=/mnt/oracle.list", "-o Dir::Etc::SourceParts=/mnt/none",
		"-o Dir::State::Lists=/mnt/lists", "-o Dir::Cache::Archives=/mnt/archives/", "-o Dir::Cache::pkgcache=",
		"-o Dir::Cache::srcpkgcache=", "-o Acquire::Check-Valid-Until=false", "-o DPkg::Lock::Timeout=300"}
	seen := map[string]bool{}
	for _, line := range strings.Split(sources, "\n") {
		for _, f := range strings.Fields(line) {
			u, err := url.Parse(f)
			if err != nil || u.Scheme != "http" || seen[u.Host] {
				continue
			}
			seen[u.Host] = true
			if strings.HasPrefix(u.Host, "10.0.2.2:") {
				continue
			}
			port := u.Port()
			if port == "" {
				port = "80"
			}
			addrs, err := net.LookupHost(u.Hostname())
			if err != nil || len(addrs) == 0 {
				t.Fatalf("resolving the mirror %s: %v", u.Hostname(), err)
			}
			ip := addrs[0]
			if net.ParseIP(ip).IsLoopback() {
				ip = "10.0.2.2"
			}
			opts = append(opts, fmt.Sprintf("-o Acquire::http::Proxy::%s=http://%s/", u.Hostname(), net.JoinHostPort(ip, port)))
		}
	}
	return opts
}

// TestAccPatchEqualsBootedUpgrade is the oracle of issue 15: offline patching gives the same
// image as the normal way. The input is the shared bootable Debian 12 image with refit-pam
// 1.0-1 (a PAM-like package, oraclePackage) installed; a signed repository served over HTTP
// by the test holds its update 1.0-2.
//   - A, the normal way: the input boots under qemu, apt-get upgrade --with-new-pkgs
//     --no-install-recommends (refit's default) runs over SSH against that repository, and
//     the guest powers off.
//   - B: the real Packer runs refit-patch on the input against the same repository, with
//     default settings. When something was deferred, B boots once so that the first-boot unit
//     installs it, and powers off.
//
// Both are then opened read-only and every path outside oracleExceptions must be equal (type,
// permissions, owner, content, symlink target, device numbers; /var/lib/dpkg/info included),
// and so must every dpkg status stanza.
//
// REFIT_ORACLE_REAL=1 adds this machine's bookworm, -updates and -security suites to both
// sides (by hand: about 25 minutes, the kernel update included), for the comparison on the
// real suites.
func TestAccPatchEqualsBootedUpgrade(t *testing.T) {
	env := packertest.Setup(t)
	fixture.NeedRoot(t)
	fixture.Need(t, "dpkg", "dpkg-deb", "apt-ftparchive", "gpg", "qemu-img", "qemu-system-x86_64", "ssh", "diff", "unmkinitramfs")
	onReal := os.Getenv("REFIT_ORACLE_REAL") == "1"
	start := time.Now()
	dir := t.TempDir()

	repo := fixture.BuildDebRepo(t, "oracle", "amd64", fixture.BuildDeb(t, t.TempDir(), oraclePackage("1.0-2")))
	srv := httptest.NewServer(http.FileServer(http.Dir(repo.Dir)))
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	in := oracleInput(t, dir)
	inSum := sum(t, in)

	// B: refit-patch through the real Packer, default settings.
	repos := []map[string]interface{}{{"name": "oracle", "url": srv.URL, "suite": repo.Suite, "components": []string{"main"}, "gpg_key": repo.Key}}
	guestSources := fmt.Sprintf("deb [signed-by=/mnt/oracle-key.asc] http://10.0.2.2:%d %s main\n", port, repo.Suite)
	if onReal {
		repos = append(repos, debianRepositories(t)...)
		guestSources += fixture.DebianSourcesList(t, fixture.DebianSuite, fixture.DebianSuite+"-updates", fixture.DebianSuite+"-security")
	}
	report := filepath.Join(dir, "report.json")
	tpl := patchTemplate(t, dir, in, report, repos)
	if _, err := env.Run(t, filepath.Dir(tpl), "build", tpl); err != nil {
		t.Fatalf("packer build: %v", err)
	}
	var rep ipatch.Report
	if data, err := os.ReadFile(report); err != nil || json.Unmarshal(data, &rep) != nil {
		t.Fatalf("the report %s: %v", report, err)
	}
	t.Logf("offline patch after %s: %s", time.Since(start).Round(time.Second), rep.Summary())
	for _, p := range rep.Updated {
		t.Logf("applied offline: %s %s → %s", p.Name, p.From, p.To)
	}
	// its scripts are what refit-patch must handle offline (issue 15: the PAM stack)
	if !slices.ContainsFunc(rep.Updated, func(p ipatch.PackageReport) bool { return p.Name == oraclePkg }) {
		t.Fatalf("%s was not applied offline: %s", oraclePkg, rep.Summary())
	}
	patched := filepath.Join(dir, "input-patched.qcow2")
	if sum(t, in) != inSum {
		t.Fatal("refit-patch changed its input image")
	}
	key := vmtest.NewKey(t)
	if len(rep.Deferred) > 0 {
		for _, d := range rep.Deferred {
			t.Logf("deferred to the first boot: %s %s (%s)", d.Name, d.To, d.Reason)
		}
		vm := vmtest.Boot(t, patched, key, vmtest.Options{AuthorizeKey: true})
		vm.Run("systemctl is-system-running --wait || true")
		unit := vm.Run("systemctl show -p Result,ExecMainStatus,ExecMainExitTimestampMonotonic " + firstboot.UnitName)
		if !strings.Contains(unit, "Result=success") || !strings.Contains(unit, "ExecMainStatus=0") || strings.Contains(unit, "ExecMainExitTimestampMonotonic=0\n") {
			t.Fatalf("%s did not run to success: %s", firstboot.UnitName, unit)
		}
		vm.Poweroff()
		patched = vm.Disk()
	}

	// A: the normal way.
	bootStart := time.Now()
	mem := 1024
	if onReal {
		mem = 2048 // the kernel's .debs and mkinitramfs's work tree go to the tmpfs
	}
	vm := vmtest.Boot(t, in, key, vmtest.Options{AuthorizeKey: true, MemoryMiB: mem})
	keyText, err := os.ReadFile(repo.Key)
	if err != nil {
		t.Fatal(err)
	}
	aptOpts := strings.Join(oracleGuestAPT(t, guestSources), " ")
	upgrade := "set -e\nmount -t tmpfs -o size=90% tmpfs /mnt\nmkdir -p /mnt/none /mnt/lists/partial /mnt/archives/partial /mnt/tmp\n" +
		"cat >/mnt/oracle.list <<'EOF'\n" + guestSources + "EOF\n" +
		"cat >/mnt/oracle-key.asc <<'EOF'\n" + string(keyText) + "EOF\n" +
		"export TMPDIR=/mnt/tmp DEBIAN_FRONTEND=noninteractive\n" +
		"apt-get -q " + aptOpts + " update\n" +
		"apt-get -q -y " + aptOpts + " -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade --with-new-pkgs --no-install-recommends\n"
	limit := 15 * time.Minute
	if onReal {
		limit = 90 * time.Minute // a kernel's initramfs takes many minutes under TCG on a busy host
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	out, err := vm.RunAs(ctx, "root", key, upgrade)
	cancel()
	if err != nil {
		t.Fatalf("apt-get upgrade in the booted VM: %v\n%s", err, out)
	}
	t.Logf("apt-get upgrade in the booted VM:\n%s", out[max(0, len(out)-3000):])
	vm.Poweroff()
	t.Logf("booted upgrade (boot, apt-get, power-off) in %s", time.Since(bootStart).Round(time.Second))

	a, b := readOracleTree(t, vm.Disk()), readOracleTree(t, patched)
	if !strings.Contains(a.status[oraclePkg+":amd64"], "\nVersion: 1.0-2") || a.small["/var/lib/refit-pam/upgraded-from"] != "1.0-1\n" {
		t.Fatalf("the booted upgrade did not bring %s to 1.0-2 through its scripts:\n%s", oraclePkg, a.status[oraclePkg+":amd64"])
	}
	var skipped []string
	for i, x := range oracleExceptions {
		if a.skipped[i]+b.skipped[i] > 0 {
			skipped = append(skipped, fmt.Sprintf("  %s: %d booted, %d offline (%s)", x.path, a.skipped[i], b.skipped[i], x.reason))
		}
	}
	t.Logf("compared %d and %d paths, %d and %d packages; not compared:\n%s",
		len(a.entries), len(b.entries), len(a.status), len(b.status), strings.Join(skipped, "\n"))
	if diffs := compareOracle(t, a, b); len(diffs) > 0 {
		t.Errorf("the offline patch and the booted upgrade differ in %d place(s):\n%s", len(diffs), strings.Join(diffs, "\n"))
	}
	t.Logf("whole test: %s", time.Since(start).Round(time.Second))
}
