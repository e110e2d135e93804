package signature

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

const testBody = "Origin: Refit\nLabel: signature test\nSuite: demo\n-- a line that starts with dashes\nSHA256:\n 0000 0 main/binary-amd64/Packages\n"

// testKeys are throwaway keys made once per test function by real gpg.
type testKeys struct {
	g                                         *gpgHome
	good, other, expired, oldKey, rsa, revoke string
}

func makeKeys(t *testing.T) *testKeys {
	g := newGPG(t)
	k := &testKeys{g: g}
	k.good = g.genKey("Refit Good <good@refit.invalid>", "ed25519", "never", "")
	k.other = g.genKey("Refit Other <other@refit.invalid>", "ed25519", "never", "")
	// Valid for one day in 2020: signatures made then are by a key expired now.
	k.expired = g.genKey("Refit Expired <expired@refit.invalid>", "ed25519", "1d", "20200101T000000")
	// A key from 2020 that never expires, to make signatures that do expire.
	k.oldKey = g.genKey("Refit Old <old@refit.invalid>", "ed25519", "never", "20200101T000000")
	k.rsa = g.genKey("Refit RSA <rsa@refit.invalid>", "rsa2048", "never", "")
	k.revoke = g.genKey("Refit Revoked <revoked@refit.invalid>", "ed25519", "never", "")
	return k
}

func TestVerifyClearsigned(t *testing.T) {
	k := makeKeys(t)
	g := k.g
	body := []byte(testBody)
	clear := func(fprs []string, flags ...string) []byte {
		return g.sign(body, fprs, append(flags, "--clearsign")...)
	}
	good := clear([]string{k.good})
	revokedSig := clear([]string{k.revoke})
	g.revoke(k.revoke)

	tests := []struct {
		name     string
		keys     []string
		data     []byte
		wantErr  error
		wantFrom string // fingerprint of the expected signer
	}{
		{name: "good", keys: []string{k.good}, data: good, wantFrom: k.good},
		{name: "good among several keys", keys: []string{k.other, k.rsa, k.good}, data: good, wantFrom: k.good},
		{name: "RSA with SHA-512", keys: []string{k.rsa}, data: clear([]string{k.rsa}, "--digest-algo", "SHA512"), wantFrom: k.rsa},
		{name: "two signers, second trusted", keys: []string{k.other}, data: clear([]string{k.good, k.other}), wantFrom: k.other},
		{name: "tampered body", keys: []string{k.good}, data: bytes.Replace(good, []byte("Suite: demo"), []byte("Suite: evil"), 1), wantErr: ErrBadSignature},
		{name: "line added to body", keys: []string{k.good}, data: bytes.Replace(good, []byte("SHA256:\n"), []byte("SHA256:\n ffff 1 evil\n"), 1), wantErr: ErrBadSignature},
		{name: "wrong key", keys: []string{k.other}, data: good, wantErr: ErrUnknownKey},
		{name: "two signers, none trusted", keys: []string{k.rsa}, data: clear([]string{k.good, k.other}), wantErr: ErrUnknownKey},
		{name: "expired key", keys: []string{k.expired}, data: clear([]string{k.expired}, "--faked-system-time", "20200101T010000"), wantErr: ErrExpiredKey},
		{name: "expired signature", keys: []string{k.oldKey}, data: clear([]string{k.oldKey}, "--faked-system-time", "20200101T010000", "--default-sig-expire", "1d"), wantErr: ErrExpiredSignature},
		{name: "revoked key", keys: []string{k.revoke}, data: revokedSig, wantErr: ErrRevokedKey},
		{name: "SHA-1 digest", keys: []string{k.rsa}, data: clear([]string{k.rsa}, "--digest-algo", "SHA1"), wantErr: ErrWeakHash},
		{name: "not signed at all", keys: []string{k.good}, data: body, wantErr: ErrMissingSignature},
		{name: "text after the signature", keys: []string{k.good}, data: append(bytes.Clone(good), "Suite: evil\n"...), wantErr: ErrMalformed},
		{name: "text before the message", keys: []string{k.good}, data: append([]byte("Suite: evil\n"), good...), wantErr: ErrMalformed},
		{name: "signature block cut off", keys: []string{k.good}, data: good[:bytes.Index(good, []byte("-----BEGIN PGP SIGNATURE-----"))+40], wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var armored [][]byte
			for _, fpr := range tt.keys {
				armored = append(armored, g.export(fpr))
			}
			kr := mustKeyring(t, armored...)
			gotBody, signer, err := kr.VerifyClearsigned(tt.data)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("VerifyClearsigned error = %v, want %v", err, tt.wantErr)
				}
				if gotBody != nil || signer != nil {
					t.Errorf("VerifyClearsigned returned a body or signer with error %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyClearsigned: %v", err)
			}
			if string(gotBody) != testBody {
				t.Errorf("body = %q, want %q", gotBody, testBody)
			}
			if signer.Fingerprint != tt.wantFrom {
				t.Errorf("signer fingerprint = %s, want %s", signer.Fingerprint, tt.wantFrom)
			}
			if !strings.HasSuffix(tt.wantFrom, signer.KeyID) || len(signer.KeyID) != 16 {
				t.Errorf("signer key ID = %q, want the last 16 digits of %s", signer.KeyID, tt.wantFrom)
			}
			if !strings.HasPrefix(signer.Identity, "Refit ") {
				t.Errorf("signer identity = %q, want a Refit test uid", signer.Identity)
			}
			if signer.Created.IsZero() || signer.Created.After(time.Now()) {
				t.Errorf("signer created = %v, want a past time", signer.Created)
			}
		})
	}
}

func TestVerifyDetached(t *testing.T) {
	k := makeKeys(t)
	g := k.g
	data := []byte(testBody)
	binarySig := g.sign(data, []string{k.good}, "--detach-sign")
	armoredSig := g.sign(data, []string{k.good}, "--detach-sign", "--armor")
	otherOnTampered := g.sign([]byte("tampered"), []string{k.other}, "--detach-sign")
	goodAndBad := append(bytes.Clone(binarySig), otherOnTampered...)
	var goodAndBadArmored bytes.Buffer
	w, err := armor.Encode(&goodAndBadArmored, "PGP SIGNATURE", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(goodAndBad); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		keys    []string
		data    []byte
		sig     []byte
		wantErr error
	}{
		{name: "armored", keys: []string{k.good}, data: data, sig: armoredSig},
		{name: "binary", keys: []string{k.good}, data: data, sig: binarySig},
		{name: "RSA SHA-256", keys: []string{k.rsa}, data: data, sig: g.sign(data, []string{k.rsa}, "--detach-sign", "--digest-algo", "SHA256")},
		{name: "bad signature from an unknown key is ignored", keys: []string{k.good}, data: data, sig: goodAndBadArmored.Bytes()},
		{name: "bad signature from a trusted key fails the check", keys: []string{k.good, k.other}, data: data, sig: goodAndBad, wantErr: ErrBadSignature},
		{name: "tampered data", keys: []string{k.good}, data: append(bytes.Clone(data), 'x'), sig: armoredSig, wantErr: ErrBadSignature},
		{name: "wrong key", keys: []string{k.other}, data: data, sig: binarySig, wantErr: ErrUnknownKey},
		{name: "SHA-1 digest", keys: []string{k.rsa}, data: data, sig: g.sign(data, []string{k.rsa}, "--detach-sign", "--digest-algo", "SHA1"), wantErr: ErrWeakHash},
		{name: "empty signature", keys: []string{k.good}, data: data, sig: nil, wantErr: ErrMissingSignature},
		{name: "not a signature", keys: []string{k.good}, data: data, sig: []byte("hello"), wantErr: ErrMalformed},
		{name: "armored public key instead of a signature", keys: []string{k.good}, data: data, sig: g.export(k.good), wantErr: ErrMalformed},
		{name: "truncated binary signature", keys: []string{k.good}, data: data, sig: binarySig[:len(binarySig)-5], wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var armored [][]byte
			for _, fpr := range tt.keys {
				armored = append(armored, g.export(fpr))
			}
			kr := mustKeyring(t, armored...)
			signer, err := kr.VerifyDetached(bytes.NewReader(tt.data), bytes.NewReader(tt.sig))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("VerifyDetached error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyDetached: %v", err)
			}
			if signer.Fingerprint != tt.keys[0] {
				t.Errorf("signer = %s, want %s", signer.Fingerprint, tt.keys[0])
			}
		})
	}
}

func TestLoadKeyring(t *testing.T) {
	g := newGPG(t)
	one := g.genKey("Refit One <one@refit.invalid>", "ed25519", "never", "")
	two := g.genKey("Refit Two <two@refit.invalid>", "ed25519", "never", "")
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	armoredOne := write("one.asc", g.export(one))
	binaryTwo := write("two.gpg", g.exportBinary(two))
	bothArmored := write("both.asc", append(g.export(one), g.export(two)...))
	empty := write("empty.gpg", nil)
	text := write("text.txt", []byte("not a key\n"))
	sigOnly := write("sig.asc", g.sign([]byte("x"), []string{one}, "--detach-sign", "--armor"))
	keybox, err := os.ReadFile(filepath.Join(g.dir, "pubring.kbx"))
	if err != nil {
		t.Fatalf("reading gpg's own keybox: %v", err)
	}
	kbx := write("pubring.kbx", keybox)
	missing := filepath.Join(dir, "missing.asc")

	tests := []struct {
		name    string
		paths   []string
		want    []string // fingerprints
		wantErr error
		errPath string // the path the error must name
	}{
		{name: "armored", paths: []string{armoredOne}, want: []string{one}},
		{name: "binary", paths: []string{binaryTwo}, want: []string{two}},
		{name: "two blocks in one file", paths: []string{bothArmored}, want: []string{one, two}},
		{name: "armored and binary files", paths: []string{armoredOne, binaryTwo}, want: []string{one, two}},
		{name: "no paths", wantErr: ErrNoKeys},
		{name: "empty file", paths: []string{armoredOne, empty}, wantErr: ErrNoKeys, errPath: empty},
		{name: "text file", paths: []string{text}, wantErr: ErrMalformed, errPath: text},
		{name: "signature instead of key", paths: []string{sigOnly}, wantErr: ErrNoKeys, errPath: sigOnly},
		{name: "gpg keybox", paths: []string{kbx}, wantErr: ErrMalformed, errPath: kbx},
		{name: "missing file", paths: []string{missing}, wantErr: fs.ErrNotExist, errPath: missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := LoadKeyring(tt.paths...)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("LoadKeyring error = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errPath) {
					t.Errorf("error %q does not name %s", err, tt.errPath)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadKeyring: %v", err)
			}
			if got := strings.Join(k.Fingerprints(), " "); got != strings.Join(tt.want, " ") {
				t.Errorf("fingerprints = %s, want %s", got, strings.Join(tt.want, " "))
			}
			if k.Len() != len(tt.want) {
				t.Errorf("Len = %d, want %d", k.Len(), len(tt.want))
			}
		})
	}
}

// TestFixtures checks the committed fixtures (made by testdata/gen.sh), so
// the verification path is covered even where gpg is not installed.
func TestFixtures(t *testing.T) {
	k, err := LoadKeyring("testdata/key.asc")
	if err != nil {
		t.Fatal(err)
	}
	release := readFixture(t, "Release")
	t.Run("InRelease", func(t *testing.T) {
		body, signer, err := k.VerifyClearsigned(readFixture(t, "InRelease"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, release) {
			t.Errorf("body differs from testdata/Release:\n%s", body)
		}
		if signer.Identity != "Refit Fixture Key <fixture@refit.invalid>" {
			t.Errorf("identity = %q", signer.Identity)
		}
	})
	for _, name := range []string{"Release.gpg", "Release.asc"} {
		t.Run(name, func(t *testing.T) {
			if _, err := k.VerifyDetached(bytes.NewReader(release), bytes.NewReader(readFixture(t, name))); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("verification time after the fixture key's signature", func(t *testing.T) {
		// The fixture key never expires; verifying far in the future still works.
		future := *k
		future.now = func() time.Time { return time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC) }
		if _, _, err := future.VerifyClearsigned(readFixture(t, "InRelease")); err != nil {
			t.Fatal(err)
		}
	})
}

func TestClearsignedBody(t *testing.T) {
	release := readFixture(t, "Release")
	inRelease := readFixture(t, "InRelease")
	tests := []struct {
		name    string
		data    []byte
		want    []byte
		wantErr error
	}{
		{name: "clearsigned", data: inRelease, want: release},
		{name: "CRLF line endings", data: bytes.ReplaceAll(inRelease, []byte("\n"), []byte("\r\n")), want: release},
		{name: "plain text passes through", data: release, want: release},
		{name: "empty passes through", data: []byte{}, want: []byte{}},
		{name: "no signature block", data: inRelease[:bytes.Index(inRelease, []byte("-----BEGIN PGP SIGNATURE-----"))], wantErr: ErrMalformed},
		{name: "text before the message", data: append([]byte("Origin: evil\n"), inRelease...), wantErr: ErrMalformed},
		{name: "text after the signature", data: append(bytes.Clone(inRelease), "Origin: evil\n"...), wantErr: ErrMalformed},
		{name: "unknown armor header", data: bytes.Replace(inRelease, []byte("Hash: SHA256"), []byte("Evil: yes"), 1), wantErr: ErrMalformed},
		{
			name:    "empty body",
			data:    []byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----\n"),
			wantErr: ErrMalformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ClearsignedBody(tt.data)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ClearsignedBody error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ClearsignedBody: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("ClearsignedBody = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSplitPackets(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		want    int
		wantErr bool
	}{
		{name: "new format, one-octet length", data: []byte{0xc2, 0x01, 0xaa}, want: 1},
		{name: "new format, two-octet length", data: append([]byte{0xc2, 0xc0, 0x00}, make([]byte, 192)...), want: 1},
		{name: "new format, five-octet length", data: []byte{0xc2, 0xff, 0, 0, 0, 1, 0xaa}, want: 1},
		{name: "old format, one-octet length", data: []byte{0x88, 0x01, 0xaa, 0x88, 0x00}, want: 2},
		{name: "old format, two-octet length", data: []byte{0x89, 0x00, 0x01, 0xaa}, want: 1},
		{name: "old format, four-octet length", data: []byte{0x8a, 0, 0, 0, 1, 0xaa}, want: 1},
		{name: "old format, indeterminate length", data: []byte{0x8b, 0xaa}, wantErr: true},
		{name: "partial length", data: []byte{0xc2, 0xe1, 0xaa}, wantErr: true},
		{name: "not a packet", data: []byte{0x41}, wantErr: true},
		{name: "length past the end", data: []byte{0xc2, 0x05, 0xaa}, wantErr: true},
		{name: "huge five-octet length", data: []byte{0xc2, 0xff, 0xff, 0xff, 0xff, 0xff}, wantErr: true},
		{name: "truncated header", data: []byte{0xc2, 0xc0}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitPackets(tt.data)
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("splitPackets error = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("splitPackets gave %d packets, want %d", len(got), tt.want)
			}
		})
	}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("reading fixture (regenerate with testdata/gen.sh): %v", err)
	}
	return data
}
