package signature

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hostKeyFiles lists the trusted APT keys of this machine.
func hostKeyFiles(t *testing.T) []string {
	t.Helper()
	var paths []string
	if _, err := os.Stat("/usr/share/keyrings/debian-archive-keyring.gpg"); err == nil {
		paths = append(paths, "/usr/share/keyrings/debian-archive-keyring.gpg")
	}
	for _, pattern := range []string{"/etc/apt/trusted.gpg.d/*.gpg", "/etc/apt/trusted.gpg.d/*.asc"} {
		matches, _ := filepath.Glob(pattern)
		paths = append(paths, matches...)
	}
	if len(paths) == 0 {
		t.Skip("needs the Debian archive keyring (package debian-archive-keyring): no /usr/share/keyrings/debian-archive-keyring.gpg or /etc/apt/trusted.gpg.d/ keys")
	}
	return paths
}

// TestHostInRelease verifies this machine's real InRelease files with its
// real archive keys, and checks signer and body against gpgv.
func TestHostInRelease(t *testing.T) {
	files, _ := filepath.Glob("/var/lib/apt/lists/*InRelease")
	if len(files) == 0 {
		t.Skip("needs downloaded APT lists: no /var/lib/apt/lists/*InRelease (run apt-get update)")
	}
	keyFiles := hostKeyFiles(t)
	k, err := LoadKeyring(keyFiles...)
	if err != nil {
		t.Fatalf("LoadKeyring(%v): %v", keyFiles, err)
	}
	t.Logf("%d keys from %d files", k.Len(), len(keyFiles))
	gpgv, gpgvErr := exec.LookPath("gpgv")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			body, signer, err := k.VerifyClearsigned(data)
			if err != nil {
				t.Fatalf("VerifyClearsigned: %v", err)
			}
			if !bytes.HasPrefix(body, []byte("Origin: ")) {
				t.Errorf("body does not start with an Origin field: %.60q", body)
			}
			unverified, err := ClearsignedBody(data)
			if err != nil || !bytes.Equal(unverified, body) {
				t.Errorf("ClearsignedBody differs from the verified body (err %v)", err)
			}
			t.Logf("signed by %s %s (%s) at %s", signer.KeyID, signer.Fingerprint, signer.Identity, signer.Created)
			if gpgvErr != nil {
				t.Skipf("needs gpgv (package gpgv) as the oracle: %v", gpgvErr)
			}
			// gpgv writes the signed body to --output and status lines to fd 1.
			out := filepath.Join(t.TempDir(), "body")
			args := []string{"--status-fd", "1", "--output", out}
			for _, kf := range keyFiles {
				args = append(args, "--keyring", kf)
			}
			status, err := exec.Command(gpgv, append(args, file)...).Output()
			if err != nil {
				t.Fatalf("gpgv: %v\n%s", err, status)
			}
			var primaries []string
			for _, line := range strings.Split(string(status), "\n") {
				// [GNUPG:] VALIDSIG <fpr> <date> <ts> <exp> <ver> <r> <pk> <hash> <class> <primary fpr>
				if f := strings.Fields(line); len(f) >= 12 && f[1] == "VALIDSIG" {
					primaries = append(primaries, f[11])
				}
			}
			found := false
			for _, p := range primaries {
				found = found || p == signer.Fingerprint
			}
			if !found {
				t.Errorf("signer %s is not among gpgv's valid signers %v", signer.Fingerprint, primaries)
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, want) {
				t.Errorf("body differs from gpgv's output (%d vs %d bytes)", len(body), len(want))
			}
		})
	}
}
