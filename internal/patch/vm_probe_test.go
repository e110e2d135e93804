package patch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
)

// probeName is the package that makes sure a patch of the Debian image defers something,
// whatever the real updates of the day are.
const probeName = "refit-probe"

// probePostinst is the postinst of the probe's update. Reading /proc/1 is meaningless in an
// offline root, so refit-patch must defer the package; in the booted image the script
// records PID 1 (systemd) and the version it upgraded from, and restarts sshd through
// deb-systemd-invoke as openssh-server's own postinst does, which deadlocks a first-boot
// unit ordered before ssh.service. Without /proc (the oracle's chroot) it still succeeds.
const probePostinst = `#!/bin/sh
set -e
if [ "$1" = configure ]; then
	mkdir -p /var/lib/refit-probe
	cat /proc/1/comm > /var/lib/refit-probe/pid1 2>/dev/null || echo none > /var/lib/refit-probe/pid1
	echo "$2" > /var/lib/refit-probe/upgraded-from
	if [ -d /run/systemd/system ]; then
		deb-systemd-invoke restart ssh.service >/dev/null || true
	fi
fi
`

// probeRepo is a signed file:// APT repository (suite "probe", component main) holding
// refit-probe 1.0-2, and the 1.0-1 package that is installed in the image beforehand.
type probeRepo struct {
	dir string // the folder holding dists/ and pool/
	key string // armored public key the Release is signed with
	old string // refit-probe 1.0-1, not in the repository
}

// newProbeRepo builds the repository with dpkg-deb, apt-ftparchive and a throwaway gpg key.
func newProbeRepo(t *testing.T) probeRepo {
	t.Helper()
	r := probeRepo{dir: filepath.Join(t.TempDir(), "repo")}
	pool := filepath.Join(r.dir, "pool/main/r", probeName)
	bin := filepath.Join(r.dir, "dists/probe/main/binary-amd64")
	for _, d := range []string{pool, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := func(v string) map[string]string {
		return map[string]string{"usr/share/" + probeName + "/version": v + "\n"}
	}
	r.old = buildDeb(t, t.TempDir(), probeName, "1.0-1", nil, files("1.0-1"))
	buildDeb(t, pool, probeName, "1.0-2", map[string]string{"postinst": probePostinst}, files("1.0-2"))

	packages := runTool(t, r.dir, "apt-ftparchive", "packages", "pool")
	if err := os.WriteFile(filepath.Join(bin, "Packages"), []byte(packages), 0o644); err != nil {
		t.Fatal(err)
	}
	release := runTool(t, r.dir, "apt-ftparchive",
		"-o", "APT::FTPArchive::Release::Origin=refit", "-o", "APT::FTPArchive::Release::Label=refit probe",
		"-o", "APT::FTPArchive::Release::Suite=probe", "-o", "APT::FTPArchive::Release::Codename=probe",
		"-o", "APT::FTPArchive::Release::Architectures=amd64", "-o", "APT::FTPArchive::Release::Components=main",
		"release", "dists/probe")
	dist := filepath.Join(r.dir, "dists/probe")
	if err := os.WriteFile(filepath.Join(dist, "Release"), []byte(release), 0o644); err != nil {
		t.Fatal(err)
	}

	home := fixture.GPGHome(t)
	gpg := func(args ...string) string {
		t.Helper()
		return runTool(t, dist, "gpg", append([]string{"--homedir", home, "--batch", "--yes", "--quiet", "--no-tty",
			"--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
	}
	const uid = "refit probe archive <probe@refit.invalid>"
	gpg("--quick-gen-key", uid, "ed25519", "sign", "never")
	r.key = filepath.Join(r.dir, "probe-archive-key.asc")
	if err := os.WriteFile(r.key, []byte(gpg("--armor", "--export", uid)), 0o644); err != nil {
		t.Fatal(err)
	}
	gpg("--local-user", uid, "--digest-algo", "SHA256", "--clearsign", "--output", "InRelease", "Release")
	gpg("--local-user", uid, "--digest-algo", "SHA256", "--armor", "--detach-sign", "--output", "Release.gpg", "Release")
	return r
}

// spec is the repository as refit-patch is given it: signatures must verify.
func (r probeRepo) spec() repository.Spec {
	return repository.Spec{Name: probeName, URL: "file://" + r.dir, Type: repository.TypeDeb, Suite: "probe",
		Components: []string{"main"}, GPGKey: r.key}
}

// sourcesList is the repository as apt is given it (the oracle copies dir into its root).
func (r probeRepo) sourcesList() string {
	return "deb [signed-by=" + r.key + "] file://" + r.dir + " probe main\n"
}

// runTool runs name in dir and returns its standard output; a failure is fatal.
func runTool(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
