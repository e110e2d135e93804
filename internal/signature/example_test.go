package signature_test

import (
	"fmt"
	"log"
	"os"

	"github.com/refit-images/packer-plugin-refit/internal/signature"
)

// Verify an APT InRelease file with the repository's public key and use the
// signed body.
func ExampleKeyring_VerifyClearsigned() {
	keyring, err := signature.LoadKeyring("testdata/key.asc")
	if err != nil {
		log.Fatal(err)
	}
	inRelease, err := os.ReadFile("testdata/InRelease")
	if err != nil {
		log.Fatal(err)
	}
	body, signer, err := keyring.VerifyClearsigned(inRelease)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(signer.Identity)
	fmt.Printf("%s", body[:len("Origin: Refit\n")])
	// Output:
	// Refit Fixture Key <fixture@refit.invalid>
	// Origin: Refit
}
