package hardening_test

import (
	"fmt"

	"github.com/refit-images/packer-plugin-refit/internal/hardening"
)

// The program prints one line per rule; ParseResults reads them back.
func ExampleParseResults() {
	output := "REFIT-OS\tdebian\t12\tdebian\toffline\n" +
		"REFIT-RULE\tsysctl.kernel.kptr_restrict\tchanged\tkernel.kptr_restrict = 2\tset kernel.kptr_restrict = 2\n" +
		"REFIT-RULE\tmodules.vfat\tskipped\tkernel module vfat cannot be loaded\tthe image boots with UEFI\n" +
		"REFIT-DONE\t1\t0\t1\t0\n"
	results, err := hardening.ParseResults([]byte(output))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range results {
		fmt.Printf("%s %s: %s\n", r.Status, r.ID, r.Detail)
	}
	// Output:
	// changed sysctl.kernel.kptr_restrict: set kernel.kptr_restrict = 2
	// skipped modules.vfat: the image boots with UEFI
}

// Render turns a configuration into the program; a bad SSH key is refused before anything runs.
func ExampleRender() {
	cfg := hardening.DefaultConfig()
	user := hardening.NewUser("deploy")
	user.Sudo = hardening.SudoNoPasswd
	user.SSHAuthorizedKeys = []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl deploy@example.com"}
	cfg.Users = []hardening.User{user}
	program, err := hardening.Render(cfg)
	fmt.Println(len(program) > 0, err)

	user.SSHAuthorizedKeys = []string{"ssh-ed25519 not-a-key"}
	cfg.Users = []hardening.User{user}
	_, err = hardening.Render(cfg)
	fmt.Println(err != nil)
	// Output:
	// true <nil>
	// true
}
