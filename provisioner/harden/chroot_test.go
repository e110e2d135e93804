package harden

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/chroot"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/hardening"
)

// TestProvisionChroot runs the provisioner through the Packer SDK's chroot communicator (the one
// refit-chroot uses) against a minimal Debian 12 root: the program is uploaded, run with the
// default execute_command, deletes itself, and a second run changes nothing.
func TestProvisionChroot(t *testing.T) {
	fixture.NeedRoot(t)
	root := fixture.DebianRoot(t)
	if out, err := exec.Command("cp", "-a", "/dev/null", "/dev/zero", "/dev/urandom", filepath.Join(root, "dev")).CombinedOutput(); err != nil {
		t.Fatalf("device nodes: %v\n%s", err, out)
	}
	comm := &chroot.Communicator{Chroot: root, CmdWrapper: func(s string) (string, error) { return s, nil }}
	report := filepath.Join(t.TempDir(), "report.json")
	raw := map[string]interface{}{
		"report":           report,
		"install_packages": false,
		"user":             []map[string]interface{}{{"name": "deploy", "ssh_authorized_keys": []string{testKey}}},
		"network":          map[string]interface{}{"hostname": "chroot-test"},
	}
	for run := 1; run <= 2; run++ {
		var p Provisioner
		if err := p.Prepare(raw, map[string]interface{}{"packer_builder_type": "refit-chroot"}); err != nil {
			t.Fatal(err)
		}
		ui := &recordingUi{}
		if err := p.Provision(context.Background(), ui, comm, map[string]interface{}{"ConnType": "none"}); err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, ui.out.String())
		}
		if _, err := os.Stat(filepath.Join(root, p.config.RemotePath)); !os.IsNotExist(err) {
			t.Errorf("run %d: the program was not deleted: %v", run, err)
		}
		data, err := os.ReadFile(report)
		if err != nil {
			t.Fatal(err)
		}
		var rep hardening.Report
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatal(err)
		}
		if !rep.Complete || rep.OSID != "debian" || rep.Counts.Failed != 0 {
			t.Fatalf("run %d: report %+v\n%s", run, rep.Counts, ui.out.String())
		}
		if run == 1 && rep.Counts.Changed == 0 {
			t.Error("the first run changed nothing")
		}
		if run == 2 && rep.Counts.Changed != 0 {
			t.Errorf("the second run changed %d rules\n%s", rep.Counts.Changed, ui.out.String())
		}
	}
	if data, err := os.ReadFile(filepath.Join(root, "home/deploy/.ssh/authorized_keys")); err != nil || !strings.Contains(string(data), testKey+"\n") {
		t.Errorf("authorized_keys: %v\n%s", err, data)
	}
}
