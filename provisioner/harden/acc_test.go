package harden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/packertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	packertest.Cleanup()
	os.Exit(code)
}

// TestAccValidate runs the real Packer: the example template validates, and a template with a
// bad SSH key, or closing SSH in a build that connects over SSH, is refused at validation time.
// Needs PACKER_ACC=1 and the plugin registering the provisioner as "harden" (refit-harden).
func TestAccValidate(t *testing.T) {
	env := packertest.Setup(t)
	example := filepath.Join(packertest.RepoRoot(), "example", "harden")
	if out, err := env.Run(t, example, "validate", "."); err != nil {
		t.Fatalf("packer validate example/harden: %v\n%s", err, out)
	}
	cases := []struct{ name, block, want string }{
		{"bad key", `user {
      name                = "deploy"
      ssh_authorized_keys = ["ssh-ed25519 AAAA broken"]
    }`, "ssh_authorized_keys 1"},
		{"ssh closed over ssh", `firewall {
      allow_ssh = false
    }`, "would lock this build out"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := packertest.Template(t, `source "null" "vm" {
  communicator   = "ssh"
  ssh_host       = "192.0.2.10"
  ssh_username   = "debian"
  ssh_agent_auth = true
}
build {
  sources = ["source.null.vm"]
  provisioner "refit-harden" {
    `+tc.block+`
  }
}
`)
			out, err := env.Run(t, dir, "validate", ".")
			if err == nil || !strings.Contains(strings.Join(strings.Fields(out), " "), tc.want) {
				t.Fatalf("packer validate: %v, want an error mentioning %q\n%s", err, tc.want, out)
			}
		})
	}
}
