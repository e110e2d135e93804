package signature

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// gpgHome is a throwaway GnuPG home directory for one test.
type gpgHome struct {
	t   *testing.T
	dir string
}

// newGPG makes a fresh GNUPGHOME (fixture.GPGHome: short, its agents stopped at
// cleanup); the test is skipped when gpg is missing.
func newGPG(t *testing.T) *gpgHome {
	t.Helper()
	return &gpgHome{t: t, dir: fixture.GPGHome(t)}
}

// run runs gpg in the home with stdin and returns its stdout; any failure is fatal.
func (g *gpgHome) run(stdin []byte, args ...string) []byte {
	g.t.Helper()
	full := append([]string{"--homedir", g.dir, "--batch", "--yes", "--quiet", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)
	cmd := exec.Command("gpg", full...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		g.t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// genKey makes a key without passphrase and returns its fingerprint.
// fakedTime, when not empty, is gpg's --faked-system-time (e.g. "20200101T000000").
func (g *gpgHome) genKey(uid, algo, expire, fakedTime string) string {
	g.t.Helper()
	var args []string
	if fakedTime != "" {
		args = append(args, "--faked-system-time", fakedTime)
	}
	g.run(nil, append(args, "--quick-gen-key", uid, algo, "sign", expire)...)
	for _, line := range strings.Split(string(g.run(nil, "--with-colons", "--list-keys", uid)), "\n") {
		if fields := strings.Split(line, ":"); len(fields) > 9 && fields[0] == "fpr" {
			return fields[9]
		}
	}
	g.t.Fatalf("gpg listed no fingerprint for %q", uid)
	return ""
}

// export returns the armored public key of fpr.
func (g *gpgHome) export(fpr string) []byte {
	g.t.Helper()
	return g.run(nil, "--armor", "--export", fpr)
}

// exportBinary returns the binary public key of fpr.
func (g *gpgHome) exportBinary(fpr string) []byte {
	g.t.Helper()
	return g.run(nil, "--export", fpr)
}

// sign runs gpg with mode flags ("--clearsign", "--detach-sign", ...) over data,
// signing with every key in fprs.
func (g *gpgHome) sign(data []byte, fprs []string, flags ...string) []byte {
	g.t.Helper()
	var args []string
	for _, fpr := range fprs {
		args = append(args, "--local-user", fpr+"!")
	}
	return g.run(data, append(args, flags...)...)
}

// revoke imports the revocation certificate gpg made for fpr at key creation.
func (g *gpgHome) revoke(fpr string) {
	g.t.Helper()
	cert, err := os.ReadFile(filepath.Join(g.dir, "openpgp-revocs.d", fpr+".rev"))
	if err != nil {
		g.t.Fatal(err)
	}
	// gpg guards the certificate against accidental import with a leading colon.
	cert = bytes.Replace(cert, []byte(":-----BEGIN PGP PUBLIC KEY BLOCK-----"), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----"), 1)
	g.run(cert, "--import")
}

// keyring parses armored keys into a Keyring or fails the test.
func mustKeyring(t *testing.T, armored ...[]byte) *Keyring {
	t.Helper()
	k, err := ParseKeyring(bytes.NewReader(bytes.Join(armored, []byte("\n"))))
	if err != nil {
		t.Fatalf("ParseKeyring: %v", err)
	}
	return k
}
