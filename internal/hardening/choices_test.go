package hardening

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// choicesSSGRules are the SCAP Security Guide rules the remote logging and root mail alias
// settings answer, by the judged profile that selects them.
var choicesSSGRules = map[string][]string{
	"cis_level1_server":       {"package_systemd-journal-remote_installed", "systemd_journal_upload_url", "systemd_journal_upload_server_tls"},
	"anssi_bp28_intermediary": {"postfix_client_configure_mail_alias"},
}

// TestUserChoicesChroot applies remote logging and root's mail alias, with the baseline catalogue
// (its package installs and AIDE skipped: TestDebianChroot covers them), in a chroot of the
// Debian 12 server root, which lacks systemd-journal-remote: the rule installs it from the
// Debian mirror of this machine's apt configuration. An audit first finds both rules would
// change and changes nothing; the apply run changes them; a second run changes nothing and an
// audit finds them compliant. Outside oracles: this host's dpkg-query and systemctl on the root;
// postfix (installed in the root first), whose postalias answers root's alias from the database
// the rule's newaliases rebuilt;
// OpenSCAP with SSG's rules, tailored with the same values as an auditor's tailoring file sets
// them (the datastream's defaults are placeholders such as "remotelogserver"), which fail on the
// root before and pass after; and the root's own systemd-journal-upload, which sends an entry over
// TLS to a systemd-journal-remote server as its configuration files say (this host's journalctl
// reads what the server received) and refuses a server its trusted CA did not sign.
func TestUserChoicesChroot(t *testing.T) {
	fixture.Need(t, "dpkg-query", "systemctl", "journalctl", "unshare")
	root := extractRoot(t, flavourServer)
	// apt inside the root resolves the mirror's name like this host
	if out, err := exec.Command("cp", "-L", "/etc/resolv.conf", filepath.Join(root, "etc/resolv.conf")).CombinedOutput(); err != nil {
		t.Skipf("needs this host's /etc/resolv.conf for apt in the root: %v %s", err, out)
	}
	// SSG's rules apply to a machine, which its CPE tells by the linux-base package (the Debian
	// kernel's helper scripts); this root has no kernel, so it gets linux-base from the mirror,
	// and postfix, whose alias database (newaliases) and postalias read root's alias
	if out, err := inRoot(t, root, "sh", "-c", `printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d &&
apt-get -q -o Acquire::Retries=3 update && DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends install linux-base postfix; rc=$?
rm -f /usr/sbin/policy-rc.d; exit $rc`); err != nil {
		t.Fatalf("installing linux-base and postfix in the root: %v\n%s", err, lastLines([]byte(out), 20))
	}
	// an /etc/aliases with a root alias spread over a continuation line, and an older upload
	// setting in another drop-in: both are replaced, the other lines kept
	writeFile(t, root, "etc/aliases", "# local aliases\npostmaster: root\nROOT: old@example.test,\n\tother@example.test\nwebmaster: root\n")
	writeFile(t, root, "etc/systemd/journal-upload.conf.d/50-old.conf", "[Upload]\nURL=https://old.example.test\n")

	cfg := DefaultConfig()
	cfg.Skip = []string{"packages.install.*", "integrity.*"}
	port := freePort(t)
	cfg.RemoteLogging = RemoteLogging{URL: "https://localhost:" + strconv.Itoa(port)}
	cfg.RootMailAlias = "security@example.test"
	ids := []string{"logging.journal-upload", "mail.root-alias"}

	before := judgeChoices(t, root, cfg)
	pre := auditRun(t, root, cfg) // and nothing changes
	for _, id := range ids {
		if got := resultsByID(pre)[id]; got.Status != StatusWouldChange {
			t.Errorf("audit before: %s %s (%s), want would change", id, got.Status, got.Detail)
		}
	}

	first, out := runProgram(t, root, cfg, "/bin/sh")
	if first.Counts.Failed != 0 {
		t.Fatalf("%d rules failed:\n%s", first.Counts.Failed, failures(first))
	}
	for _, id := range ids {
		if got := resultsByID(first)[id]; got.Status != StatusChanged {
			t.Errorf("%s: %s (%s), want changed", id, got.Status, got.Detail)
		}
	}
	if got := resultsByID(first)["live.journal-upload"]; got.Status != StatusSkipped {
		t.Errorf("live.journal-upload offline: %s (%s), want skipped", got.Status, got.Detail)
	}
	second, _ := runProgram(t, root, cfg, "/bin/sh")
	if second.Counts.Changed != 0 || second.Counts.Failed != 0 {
		t.Errorf("second run: %d changed, %d failed:\n%s%s", second.Counts.Changed, second.Counts.Failed, changes(second), failures(second))
	}
	post := auditRun(t, root, cfg)
	for _, id := range ids {
		if got := resultsByID(post)[id]; got.Status != StatusCompliant {
			t.Errorf("audit after: %s %s (%s), want compliant", id, got.Status, got.Detail)
		}
	}
	if t.Failed() {
		t.Logf("first run:\n%s", out)
		return
	}

	t.Run("dpkg and systemd", func(t *testing.T) {
		if out, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f", "${db:Status-Status}", "systemd-journal-remote").CombinedOutput(); err != nil || string(out) != "installed" {
			t.Errorf("dpkg-query says systemd-journal-remote is %q (%v), want installed", out, err)
		}
		for unit, want := range map[string]string{"systemd-journal-upload.service": "enabled", "systemd-journal-remote.socket": "masked", "systemd-journal-remote.service": "masked"} {
			out, _ := exec.Command("systemctl", "--root="+root, "is-enabled", unit).CombinedOutput()
			if got := strings.TrimSpace(string(out)); got != want {
				t.Errorf("systemctl --root is-enabled %s: %q, want %q", unit, got, want)
			}
		}
	})
	t.Run("postfix", func(t *testing.T) {
		// the alias database newaliases rebuilt is what postfix's own lookup answers from
		for name, want := range map[string]string{"root": "security@example.test", "webmaster": "root"} {
			out, err := inRoot(t, root, "postalias", "-q", name, "hash:/etc/aliases")
			if err != nil || strings.TrimSpace(out) != want {
				t.Errorf("postalias -q %s hash:/etc/aliases: %q (%v), want %q", name, strings.TrimSpace(out), err, want)
			}
		}
	})
	t.Run("files", func(t *testing.T) {
		if got, want := readFile(t, root, "etc/aliases"), "# local aliases\npostmaster: root\nroot: security@example.test\nwebmaster: root\n"; got != want {
			t.Errorf("/etc/aliases:\n%s\nwant:\n%s", got, want)
		}
		if got := readFile(t, root, "etc/systemd/journal-upload.conf.d/50-old.conf"); !strings.Contains(got, "\n# URL=https://old.example.test  # replaced by refit-harden") {
			t.Errorf("the older drop-in still sets its URL:\n%s", got)
		}
		if got := readFile(t, root, strings.TrimPrefix(JournalUploadDropIn, "/")); got != journalUploadConf(cfg.withDefaults().RemoteLogging) {
			t.Errorf("%s:\n%s", JournalUploadDropIn, got)
		}
	})
	t.Run("SSG", func(t *testing.T) {
		after := judgeChoices(t, root, cfg)
		for p, rules := range choicesSSGRules {
			for _, r := range rules {
				if before[p].Rules[r] != "fail" || after[p].Rules[r] != "pass" {
					t.Errorf("SSG %s %s: %q before, %q after; want fail, then pass", p, r, before[p].Rules[r], after[p].Rules[r])
				}
			}
		}
	})
	t.Run("upload over TLS", func(t *testing.T) {
		// What the configuration is for: the image's own systemd-journal-upload, reading only its
		// configuration files, sends a journal entry to a systemd-journal-remote server over
		// HTTPS; it verifies the server against TrustedCertificateFile, and this host's
		// journalctl finds the entry in what the server received. Signed by another CA, the
		// server is refused.
		ca, caKey := testCA(t, "refit test CA")
		serverCert, serverKey := testCert(t, ca, caKey, "localhost", true)
		clientCert, clientKey := testCert(t, ca, caKey, "refit-client", false)
		for rel, content := range map[string][]byte{"srv/pki/server.crt": serverCert, "srv/pki/server.key": serverKey,
			"etc/ssl/certs/journal-upload.pem": clientCert, "etc/ssl/private/journal-upload.pem": clientKey} {
			writeFile(t, root, rel, string(content))
			if strings.HasSuffix(rel, "key") || strings.Contains(rel, "private") {
				if err := os.Chmod(filepath.Join(root, rel), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		writeFile(t, root, "etc/ssl/ca/trusted.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})))
		if out, err := uploadProbe(t, root, port, "refit-upload-probe-1"); err != nil || !strings.Contains(out, "refit-upload-probe-1") {
			t.Fatalf("upload: %v; the server received:\n%s", err, out)
		}
		other, _ := testCA(t, "another CA")
		writeFile(t, root, "etc/ssl/ca/trusted.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Raw})))
		if out, err := uploadProbe(t, root, port, "refit-upload-probe-2"); err == nil || strings.Contains(out, "refit-upload-probe-2") {
			t.Errorf("the upload to a server the trusted CA did not sign succeeded (%v):\n%s", err, out)
		} else {
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "Upload to ") {
					t.Logf("refused: %s", l)
					break
				}
			}
		}
	})
}

// uploadScript runs, in private mount and PID namespaces with /proc mounted in the root (journal
// files are linked in through /proc/self/fd), the root's systemd-journal-remote: once to turn a
// journal export with the probe message into a journal file, once as an HTTPS server on the port;
// then the root's systemd-journal-upload sends that file as its configuration says. It prints
// what the server received, or fails with the upload's status.
const uploadScript = `set -u
root=$1 port=$2 probe=$3
mount -t proc proc "$root/proc" || exit 1
rm -rf "$root/srv/remote" "$root/srv/local.journal" && mkdir -p "$root/srv/remote" || exit 1
printf '__REALTIME_TIMESTAMP=1796680000000000\n__MONOTONIC_TIMESTAMP=1000\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=refit\nMESSAGE=%s\n\n' "$probe" >"$root/srv/export.txt"
chroot "$root" /lib/systemd/systemd-journal-remote --output=/srv/local.journal /srv/export.txt 2>&1 || exit 1
chroot "$root" /lib/systemd/systemd-journal-remote --listen-https="127.0.0.1:$port" --key=/srv/pki/server.key --cert=/srv/pki/server.crt --output=/srv/remote/ 2>&1 &
rc=1
for i in 1 2 3 4 5 6 7 8 9 10; do
	sleep 0.3
	out=$(chroot "$root" /lib/systemd/systemd-journal-upload --follow=no --file=/srv/local.journal 2>&1) && { rc=0; break; }
	case $out in *"Couldn't connect"*) ;; *) printf '%s\n' "$out"; break ;; esac # retry until the server listens
done
sleep 0.3
kill $! 2>/dev/null
wait
for f in "$root"/srv/remote/*.journal; do [ ! -f "$f" ] || journalctl --file="$f" -o cat; done
exit $rc
`

// uploadProbe runs uploadScript and returns its output.
func uploadProbe(t *testing.T, root string, port int, probe string) (string, error) {
	t.Helper()
	out, err := exec.Command("unshare", "--mount", "--pid", "--fork", "--propagation", "private",
		"sh", "-c", uploadScript, "upload", root, strconv.Itoa(port), probe).CombinedOutput()
	return string(out), err
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testCA returns a new self-signed CA certificate and its key.
func testCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

// testCert returns the PEM certificate and key of a server (for the DNS name) or client, signed by ca.
func testCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tpl.DNSNames, tpl.ExtKeyUsage = []string{name}, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// judgeChoices evaluates choicesSSGRules on root with OpenSCAP, tailored with cfg's values.
func judgeChoices(t *testing.T, root string, cfg Config) map[string]fixture.SSGResult {
	t.Helper()
	r := cfg.withDefaults().RemoteLogging
	values := map[string]string{
		"var_journal_upload_url":                             r.URL,
		"var_journal_upload_server_key_file":                 r.ServerKeyFile,
		"var_journal_upload_server_certificate_file":         r.ServerCertificateFile,
		"var_journal_upload_server_trusted_certificate_file": r.TrustedCertificateFile,
		"var_postfix_root_mail_alias":                        cfg.RootMailAlias,
	}
	res := map[string]fixture.SSGResult{}
	for p, rules := range choicesSSGRules {
		res[p] = fixture.JudgeSSGTailored(t, root, fixture.SSGTailoring{Values: values, Rules: rules}, p)[p]
	}
	return res
}

// TestUserChoicesUnset: without the settings, the rules are not in the catalogue
// (TestDebianChroot checks that a run leaves their files unwritten).
func TestUserChoicesUnset(t *testing.T) {
	rules, err := Catalogue(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Group == GroupLogging || r.Group == GroupMail || r.ID == "live.journal-upload" {
			t.Errorf("rule %s without remote_logging or root_mail_alias", r.ID)
		}
	}
}
