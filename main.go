// Command packer-plugin-refit is the refit Packer plugin: offline customisation,
// hardening and patching of qcow2/raw VM images.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/packer-plugin-sdk/plugin"

	"github.com/refit-images/packer-plugin-refit/builder/chroot"
	"github.com/refit-images/packer-plugin-refit/datasource/fleet"
	"github.com/refit-images/packer-plugin-refit/datasource/repodiff"
	"github.com/refit-images/packer-plugin-refit/post-processor/patch"
	"github.com/refit-images/packer-plugin-refit/provisioner/harden"
	"github.com/refit-images/packer-plugin-refit/version"
)

func main() {
	pps := plugin.NewSet()
	pps.RegisterBuilder("chroot", new(chroot.Builder))
	pps.RegisterDatasource("repodiff", new(repodiff.Datasource))
	pps.RegisterDatasource("fleet", new(fleet.Datasource))
	pps.RegisterPostProcessor("patch", new(patch.PostProcessor))
	pps.RegisterProvisioner("harden", new(harden.Provisioner))
	pps.SetVersion(version.PluginVersion)
	if err := pps.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err.Error())
		os.Exit(1)
	}
}
