package chroot

import (
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// State bag keys. "ui", "hook", "config", "wrappedCommand", "device", "mount_path",
// "communicator" and "generated_data" are the names the SDK's steps read; the rest
// are this builder's.
const (
	stateUI             = "ui"
	stateHook           = "hook"
	stateConfig         = "config"
	stateWrappedCommand = "wrappedCommand"
	stateDevice         = "device"
	stateMountPath      = "mount_path"
	stateCommunicator   = "communicator"
	stateGeneratedData  = "generated_data"

	stateSourceFormat = "source_format" // diskimage.Format of source_image
	stateWorkImage    = "work_image"    // path of the raw working copy
	stateOutputImage  = "output_image"  // path the output image is written to
	stateOutputFormat = "output_format" // diskimage.Format of the output
	stateImage        = "image"         // *diskimage.Image, the attached working copy
	stateMounts       = "mounts"        // *diskimage.Mounts, its mounted filesystems
	stateOSRelease    = "os_release"    // osrelease.Info of the image
	stateArch         = "arch"          // arch.Arch of the image
	stateManifest     = "manifest_path" // path of the written package manifest
	stateChecksum     = "checksum_path" // path of the written checksum file
	stateSHA256       = "sha256"        // hex sha256 of the output image
	stateInventory    = "inventory"     // *sbom.Inventory of the finished image
	stateSBOMs        = "sbom_paths"    // []string, the SBOMs written

	// Early cleanups (chroot.Cleanup), run by StepTearDown in this order.
	cleanupPreventServiceStart = "prevent_service_start_cleanup"
	cleanupCopyFiles           = "copy_files_cleanup"
	cleanupMountExtra          = "mount_extra_cleanup"
	cleanupMountRoot           = "mount_root_cleanup"
	cleanupAttach              = "attach_cleanup"
)

// halt records err as the build's error, shows it, and stops the build.
func halt(state multistep.StateBag, err error) multistep.StepAction {
	state.Put("error", err)
	if ui, ok := state.Get(stateUI).(packersdk.Ui); ok {
		ui.Error(err.Error())
	}
	return multistep.ActionHalt
}

// uiOf returns the build's Ui.
func uiOf(state multistep.StateBag) packersdk.Ui {
	return state.Get(stateUI).(packersdk.Ui)
}

// stringOf returns the string stored under key, or "".
func stringOf(state multistep.StateBag, key string) string {
	s, _ := state.Get(key).(string)
	return s
}
