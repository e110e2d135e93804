package patch

import (
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

// newProbeRepo builds the packages with dpkg-deb and the repository with fixture.BuildDebRepo.
func newProbeRepo(t *testing.T) probeRepo {
	t.Helper()
	files := func(v string) map[string]string {
		return map[string]string{"usr/share/" + probeName + "/version": v + "\n"}
	}
	old := buildDeb(t, t.TempDir(), probeName, "1.0-1", nil, files("1.0-1"))
	r := fixture.BuildDebRepo(t, "probe", "amd64", buildDeb(t, t.TempDir(), probeName, "1.0-2", map[string]string{"postinst": probePostinst}, files("1.0-2")))
	return probeRepo{dir: r.Dir, key: r.Key, old: old}
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
