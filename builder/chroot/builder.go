// Package chroot is the refit-chroot builder: it opens an existing qcow2 or raw
// disk image offline (loop devices, a private mount namespace, no VM), runs the
// build's provisioners inside it through a chroot communicator, and writes the
// result as a new qcow2 or raw image with a checksum and a package manifest. The
// package holds the configuration, the Packer wiring and the steps; attaching,
// mounting and tearing down images is internal/diskimage's work.
package chroot

import (
	"context"
	"errors"

	"github.com/hashicorp/hcl/v2/hcldec"
	sdkchroot "github.com/hashicorp/packer-plugin-sdk/chroot"
	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/multistep/commonsteps"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/osrelease"
	"github.com/refit-images/packer-plugin-refit/internal/sbom"
)

// BuilderID is the unique id of this builder's artifacts.
const BuilderID = "refit-images.refit-chroot"

// generatedDataNames are the build variables provisioners and post-processors
// can read as build.<name>.
var generatedDataNames = []string{
	"SourceImage", "SourceFormat", "OutputImage", "Device", "MountPath",
	"OSID", "OSVersionID", "OSFamily", "PackageManager",
}

// Builder is the refit-chroot builder.
type Builder struct {
	config Config
	runner multistep.Runner
}

// ConfigSpec implements packersdk.Builder.
func (b *Builder) ConfigSpec() hcldec.ObjectSpec { return b.config.FlatMapstructure().HCL2Spec() }

// Prepare implements packersdk.Builder: it decodes and validates the
// configuration and checks that this host can attach images.
func (b *Builder) Prepare(raws ...interface{}) ([]string, []string, error) {
	warns, err := b.config.prepare(raws...)
	if err != nil {
		return nil, warns, err
	}
	return generatedDataNames, warns, nil
}

// Run implements packersdk.Builder.
func (b *Builder) Run(ctx context.Context, ui packersdk.Ui, hook packersdk.Hook) (packersdk.Artifact, error) {
	c := &b.config
	state := new(multistep.BasicStateBag)
	state.Put(stateConfig, c)
	state.Put(stateHook, hook)
	state.Put(stateUI, ui)
	generated := &packerbuilderdata.GeneratedData{State: state}

	steps := []multistep.Step{
		&StepCheckHost{},
		&commonsteps.StepOutputDir{Force: c.Force, Path: c.OutputDir},
		&StepCopySource{Config: c, GeneratedData: generated},
		&StepAttachImage{
			Options: diskimage.Options{
				MountPartition: c.MountPartition,
				MountOptions:   c.MountOptions,
				MountFstab:     *c.MountFstab,
			},
			Wrap:          func(prefix []string) common.CommandWrapper { return namespaceCommandWrapper(c, prefix) },
			GeneratedData: generated,
		},
		&sdkchroot.StepPreMountCommands{Commands: c.PreMountCommands},
		&StepMountRoot{GeneratedData: generated},
		&StepCheckArchitecture{},
		&sdkchroot.StepPostMountCommands{Commands: c.PostMountCommands},
		&StepMountExtra{ChrootMounts: c.ChrootMounts},
		&StepCopyFiles{Files: c.CopyFiles},
		&StepPreventServiceStart{Enabled: *c.PreventServiceStart},
		&StepCreateCommunicator{},
		&commonsteps.StepProvision{},
		&StepPreUnmountCommands{Commands: c.PreUnmountCommands},
		&StepTearDown{},
		&StepWriteManifest{Enabled: *c.PackageManifest, SBOMs: len(c.SBOMFormats) > 0, MountPartition: c.MountPartition},
		&StepConvertImage{Compress: c.OutputCompress, Type: c.OutputCompressionType, Source: c.SourceImage},
		&StepWriteChecksum{},
		&StepWriteSBOMs{Formats: c.SBOMFormats},
	}
	b.runner = commonsteps.NewRunner(steps, c.PackerConfig, ui)
	b.runner.Run(ctx, state)

	if err, ok := state.GetOk("error"); ok {
		return nil, err.(error)
	}
	if _, ok := state.GetOk(multistep.StateCancelled); ok {
		return nil, errors.New("refit-chroot: build cancelled")
	}
	if _, ok := state.GetOk(multistep.StateHalted); ok {
		return nil, errors.New("refit-chroot: build halted")
	}
	return newArtifact(state), nil
}

// newArtifact builds the artifact from the state of a finished build.
func newArtifact(state multistep.StateBag) *Artifact {
	info, _ := state.Get(stateOSRelease).(osrelease.Info)
	format, _ := state.Get(stateOutputFormat).(diskimage.Format)
	a := &Artifact{
		Image:    stringOf(state, stateOutputImage),
		Format:   string(format),
		Manifest: stringOf(state, stateManifest),
		Checksum: stringOf(state, stateChecksum),
	}
	a.SBOMs, _ = state.Get(stateSBOMs).([]string)
	// Sizes only inform: a file that cannot be measured leaves them 0.
	a.Size, _ = diskimage.ImageSize(a.Image)
	if c, ok := state.Get(stateConfig).(*Config); ok {
		a.InputSize, _ = diskimage.ImageSize(c.SourceImage)
	}
	a.StateData = map[string]interface{}{
		"os_id":           info.ID,
		"os_version_id":   info.VersionID,
		"os_family":       info.Family(),
		"package_manager": info.PackageManager(),
		"generated_data":  state.Get(stateGeneratedData),
		"image":           a.Image,
		"image_format":    a.Format,
		"manifest":        a.Manifest,
		"checksum":        a.Checksum,
		// in bytes
		"bytes_on_disk":       a.Size.OnDisk,
		"virtual_size":        a.Size.Virtual,
		"input_bytes_on_disk": a.InputSize.OnDisk,
		"input_virtual_size":  a.InputSize.Virtual,
	}
	for k, p := range sbom.Named(a.SBOMs) {
		a.StateData[k] = p
	}
	var m *installed.Manifest
	if inv, ok := state.Get(stateInventory).(*sbom.Inventory); ok {
		m = inv.Manifest
	}
	source := ""
	if c, ok := state.Get(stateConfig).(*Config); ok {
		source = c.SourceImage
	}
	// Only fails for a nil artifact.
	a.StateData[registryimage.ArtifactStateURI], _ = sbom.RegistryImage(a, source, m, a.SBOMs, map[string]string{
		"image_format": a.Format, "sha256": stringOf(state, stateSHA256),
	})
	return a
}
