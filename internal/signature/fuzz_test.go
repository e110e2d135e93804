package signature

import (
	"bytes"
	"testing"
)

// FuzzVerifyClearsigned feeds arbitrary bytes to the clearsigned-message
// path and the detached-signature path: neither may panic, and nothing but
// the fixture itself may verify.
func FuzzVerifyClearsigned(f *testing.F) {
	inRelease := readFixture(f, "InRelease")
	f.Add(inRelease)
	f.Add(readFixture(f, "Release"))
	f.Add(readFixture(f, "Release.gpg"))
	f.Add(readFixture(f, "Release.asc"))
	f.Add(bytes.Replace(inRelease, []byte("Suite: demo"), []byte("Suite: evil"), 1))
	f.Add([]byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----\n"))
	f.Add([]byte{0xc2, 0xff, 0, 0, 0, 1, 0xaa})
	k, err := LoadKeyring("testdata/key.asc")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		body, signer, err := k.VerifyClearsigned(data)
		if err == nil {
			if signer == nil || body == nil {
				t.Fatal("VerifyClearsigned succeeded without a signer or body")
			}
			// Only the signed fixture text can carry a valid signature.
			if !bytes.Equal(body, readFixture(t, "Release")) {
				t.Fatalf("a different body verified: %q", body)
			}
		}
		_, _ = ClearsignedBody(data)
		_, _ = k.VerifyDetached(bytes.NewReader(readFixture(t, "Release")), bytes.NewReader(data))
		_, _ = ParseKeyring(bytes.NewReader(data))
	})
}
