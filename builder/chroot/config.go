//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Config

package chroot

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/sbom"
)

// Config is the configuration of the refit-chroot builder.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// Path to the disk image to start from, a qcow2 or raw file; the format is
	// recognised by the file's content, not its name. The file is only read: the
	// build works on a copy in `output_directory`.
	SourceImage string `mapstructure:"source_image" required:"true"`
	// The expected checksum of `source_image`, as `sha256:<hex>`. When set, the
	// build checks it before copying the image and stops on a mismatch.
	SourceImageChecksum string `mapstructure:"source_image_checksum" required:"false"`
	// The folder the output image, its checksum file and its package manifest are
	// written to. It must not exist yet unless `force` is set (or Packer runs with
	// `-force`), in which case it is deleted first; a failed or cancelled build
	// deletes it. Defaults to `output-<build name>`.
	OutputDir string `mapstructure:"output_directory" required:"false"`
	// The file name of the output image inside `output_directory`. Defaults to
	// `<build name>.<format>`, for example `debian.qcow2`.
	OutputImageName string `mapstructure:"output_image_name" required:"false"`
	// The format of the output image: `qcow2` or `raw`. Defaults to the format of
	// `source_image`. Both are written sparse.
	OutputFormat string `mapstructure:"output_format" required:"false"`
	// Compress the qcow2 output (qemu-img convert -c, with `output_compression_type`): a smaller file, but
	// slower to write, and the first read of each cluster is slower for whatever boots
	// or copies it (blocks rewritten later are stored uncompressed). Only for qcow2
	// output. Either way, the blocks the build freed are discarded (fstrim) before the
	// image is written, so the output holds only what the filesystems use.
	OutputCompress bool `mapstructure:"output_compress" required:"false"`
	// How `output_compress` compresses: `zlib`, which every qcow2 reader reads, or `zstd`,
	// several times faster to write and a little smaller, which QEMU 5.1 and later read.
	// Defaults to the compression of `source_image` (a zstd-compressed image stays zstd),
	// else `zlib`.
	OutputCompressionType string `mapstructure:"output_compression_type" required:"false"`
	// Delete `output_directory` first when it exists, as Packer's `-force` flag does.
	Force bool `mapstructure:"force" required:"false"`
	// Which filesystem of the image is the root. By default (`""` or `"auto"`) it
	// is the one filesystem that holds `/etc/os-release`, on a plain partition or an
	// LVM logical volume. Otherwise a partition number (`"2"`), `UUID=…`, `LABEL=…`,
	// `PARTUUID=…`, or a logical volume (`"vg/root"`, `"/dev/vg/root"`,
	// `"/dev/mapper/vg-root"`).
	MountPartition string `mapstructure:"mount_partition" required:"false"`
	// Extra options for mounting the root filesystem (`mount -o`), such as
	// `["noatime"]`. XFS filesystems are always mounted with `nouuid`, so copies of
	// one image can be open at the same time.
	MountOptions []string `mapstructure:"mount_options" required:"false"`
	// Also mount the filesystems listed in the image's own `/etc/fstab` (`/boot`,
	// `/boot/efi`, `/var`, …; by `UUID=`, `LABEL=`, `PARTUUID=`, `/dev/mapper/…` or
	// `/dev/VG/LV`), so provisioners write to the partitions the booted system uses.
	// A listed filesystem that cannot be mounted (an EFI system partition on a host
	// kernel without vfat, a device that is not in the image) is covered with an
	// empty read-only directory: writes there fail instead of landing unseen in the
	// root filesystem. Defaults to `true`.
	MountFstab *bool `mapstructure:"mount_fstab" required:"false"`
	// Filesystems to mount inside the image after its own, each a list of three
	// strings: the filesystem type (or `bind`), the device (or the host path to
	// bind), and the mount point inside the image. Missing mount points are created
	// and removed again afterwards. Defaults to
	// `[["proc", "proc", "/proc"], ["sysfs", "sysfs", "/sys"], ["bind", "/dev", "/dev"],
	// ["devpts", "devpts", "/dev/pts"], ["binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc"]]`
	// (binfmt_misc is skipped when the host kernel lacks it). An empty list mounts
	// nothing.
	ChrootMounts [][]string `mapstructure:"chroot_mounts" required:"false"`
	// Host files copied into the image (at the same path) before provisioning, so
	// that, for example, DNS works inside it. Afterwards the image's own file (or
	// symlink) at each path is put back when the copy is still the regular file
	// with the bytes copied in. When the build changed the copy — rewrote it (as
	// refit-harden's `network.dns` does with `/etc/resolv.conf`), replaced it with
	// a symlink, or deleted it — the build's version stays, the image's original is
	// discarded, and the build output says so. Defaults to `["/etc/resolv.conf"]`;
	// an empty list copies nothing.
	CopyFiles []string `mapstructure:"copy_files" required:"false"`
	// Shell commands run on the host after the image is attached to loop devices
	// and before it is mounted. `{{.Device}}` is the loop device of the whole disk.
	// They run in the build's private mount namespace, like every command of the
	// build, so anything they mount stays private to the build.
	PreMountCommands []string `mapstructure:"pre_mount_commands" required:"false"`
	// Shell commands run on the host after the image's filesystems are mounted and
	// before `chroot_mounts` and `copy_files`. `{{.Device}}` is the loop device of
	// the whole disk and `{{.MountPath}}` the folder the image is mounted on.
	PostMountCommands []string `mapstructure:"post_mount_commands" required:"false"`
	// Shell commands run on the host after the provisioners and before anything is
	// unmounted, with `{{.Device}}` and `{{.MountPath}}` as in `post_mount_commands`.
	PreUnmountCommands []string `mapstructure:"pre_unmount_commands" required:"false"`
	// How to run every shell command of the build (mounts, copies, the
	// provisioners' commands in the chroot): a template in which `{{.Command}}` is
	// the command, for example `sudo {{.Command}}` or `env FOO=bar {{.Command}}`.
	// `{{.Command}}` already enters the build's mount namespace. Defaults to
	// `{{.Command}}`.
	CommandWrapper string `mapstructure:"command_wrapper" required:"false"`
	// Keep services from starting inside the image while it is provisioned: on
	// Debian-family images a `/usr/sbin/policy-rc.d` that denies every start is in
	// place during the build (the image's own is put back afterwards), and before
	// unmounting, any process still running inside the image (a daemon a package
	// script or provisioner started) is stopped, with a warning naming it.
	// Defaults to `true`.
	PreventServiceStart *bool `mapstructure:"prevent_service_start" required:"false"`
	// Write `<image>.manifest.json` beside the output image: a `refit-manifest/v1`
	// list of the installed packages, read from the finished image (its rpmdb or
	// dpkg status). Defaults to `true`.
	PackageManifest *bool `mapstructure:"package_manifest" required:"false"`
	// The SBOMs written beside the output image, read from the finished image's own
	// package database: `"cyclonedx-json"` writes `<image>.cdx.json` (CycloneDX 1.6),
	// `"spdx-json"` writes `<image>.spdx.json` (SPDX 2.3). Each installed package is a
	// component with its purl, source package, licenses and supplier; the operating
	// system is a component of its own; the image (name, sha256, format) is the
	// document's subject. `[]` writes none. Defaults to `["cyclonedx-json", "spdx-json"]`.
	SBOMFormats []string `mapstructure:"sbom_formats" required:"false"`

	ctx interpolate.Context
}

// GetContext returns the interpolation context; the SDK's mount command steps use it.
func (c *Config) GetContext() interpolate.Context { return c.ctx }

// defaultChrootMounts are mounted inside the image unless chroot_mounts says otherwise.
var defaultChrootMounts = [][]string{
	{"proc", "proc", "/proc"},
	{"sysfs", "sysfs", "/sys"},
	{"bind", "/dev", "/dev"},
	{"devpts", "devpts", "/dev/pts"},
	{"binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc"},
}

// checkHost reports what keeps this host from building; tests replace it.
var checkHost = diskimage.CheckHost

var checksumPattern = regexp.MustCompile(`^sha256:[0-9a-fA-F]{64}$`)

// prepare decodes raws into c, applies the defaults and validates the result. It
// returns every problem at once.
func (c *Config) prepare(raws ...interface{}) ([]string, error) {
	err := config.Decode(c, &config.DecodeOpts{
		PluginType:         BuilderID,
		Interpolate:        true,
		InterpolateContext: &c.ctx,
		InterpolateFilter: &interpolate.RenderFilter{
			// Rendered later, with .Command, .Device and .MountPath.
			Exclude: []string{"command_wrapper", "pre_mount_commands", "post_mount_commands", "pre_unmount_commands"},
		},
	}, raws...)
	if err != nil {
		return nil, err
	}
	c.setDefaults()

	var errs *packersdk.MultiError
	var warns []string
	add := func(err error) { errs = packersdk.MultiErrorAppend(errs, err) }

	if c.SourceImage == "" {
		add(errors.New("source_image is required: the path of the qcow2 or raw image to start from"))
	}
	if c.SourceImageChecksum != "" && !checksumPattern.MatchString(c.SourceImageChecksum) {
		add(fmt.Errorf("source_image_checksum %q: want sha256:<64 hex digits> (the output of sha256sum)", c.SourceImageChecksum))
	}
	switch diskimage.Format(c.OutputFormat) {
	case "", diskimage.FormatQcow2:
	case diskimage.FormatRaw:
		if c.OutputCompress {
			add(errors.New(`output_compress needs output_format = "qcow2": raw images cannot be compressed`))
		}
		if c.OutputCompressionType != "" {
			add(errors.New(`output_compression_type needs output_format = "qcow2": raw images cannot be compressed`))
		}
	default:
		add(fmt.Errorf(`output_format %q: want "qcow2" or "raw"`, c.OutputFormat))
	}
	if err := diskimage.CheckCompression(c.OutputCompressionType); err != nil {
		add(fmt.Errorf("output_compression_type: %w", err))
	}
	if n := c.OutputImageName; n != "" && (strings.ContainsRune(n, '/') || n == "." || n == "..") {
		add(fmt.Errorf("output_image_name %q must be a file name without a folder: the image is written into output_directory", n))
	}
	if c.SourceImage != "" && c.OutputDir != "" && isInside(c.SourceImage, c.OutputDir) {
		add(fmt.Errorf("source_image %s lies inside output_directory %s, which the build creates afresh (and deletes with force): choose another output_directory", c.SourceImage, c.OutputDir))
	}
	for _, o := range c.MountOptions {
		if o == "" || strings.ContainsAny(o, " \t\n,") {
			add(fmt.Errorf("mount_options: %q is not one mount option (no blanks or commas; give each option as its own list element)", o))
		}
	}
	for i, m := range c.ChrootMounts {
		switch {
		case len(m) != 3:
			add(fmt.Errorf("chroot_mounts[%d]: want three elements (type, device, mount point), got %d", i, len(m)))
		case m[0] == "" || m[1] == "":
			add(fmt.Errorf("chroot_mounts[%d]: the type and the device must not be empty", i))
		case !filepath.IsAbs(m[2]) || filepath.Clean(m[2]) == "/":
			add(fmt.Errorf("chroot_mounts[%d]: the mount point %q must be an absolute path below / inside the image", i, m[2]))
		}
	}
	for _, f := range c.CopyFiles {
		if !filepath.IsAbs(f) || filepath.Clean(f) == "/" {
			add(fmt.Errorf("copy_files: %q must be an absolute path of a file", f))
		}
	}
	if err := sbom.CheckFormats(c.SBOMFormats); err != nil {
		add(err)
	}
	if _, err := c.wrapCommand("true"); err != nil {
		add(fmt.Errorf("command_wrapper %q: %w", c.CommandWrapper, err))
	} else if !strings.Contains(c.CommandWrapper, ".Command") {
		warns = append(warns, "command_wrapper does not use {{.Command}}: the build's commands will not run")
	}
	if !*c.PreventServiceStart {
		warns = append(warns, "prevent_service_start is false: a service a provisioner starts inside the image keeps it busy, and unmounting then fails")
	}
	// A template is often validated where it is not built (a lint stage, a laptop): what this
	// host lacks is a warning here; StepCheckHost stops the build itself.
	if err := checkHost(); err != nil {
		warns = append(warns, fmt.Sprintf("this host cannot run refit-chroot builds (packer build will stop before touching any image): %v", err))
	}
	if errs != nil && len(errs.Errors) > 0 {
		return warns, errs
	}
	return warns, nil
}

// setDefaults fills in every option the template left out.
func (c *Config) setDefaults() {
	name := c.PackerBuildName
	if name == "" {
		name = "refit-chroot"
	}
	if c.OutputDir == "" {
		c.OutputDir = "output-" + name
	}
	if c.MountPartition == "auto" {
		c.MountPartition = ""
	}
	if c.ChrootMounts == nil {
		c.ChrootMounts = defaultChrootMounts
	}
	if c.CopyFiles == nil {
		c.CopyFiles = []string{"/etc/resolv.conf"}
	}
	if c.CommandWrapper == "" {
		c.CommandWrapper = "{{.Command}}"
	}
	if c.SBOMFormats == nil {
		c.SBOMFormats = sbom.DefaultFormats
	}
	for _, b := range []**bool{&c.MountFstab, &c.PreventServiceStart, &c.PackageManifest} {
		if *b == nil {
			t := true
			*b = &t
		}
	}
	c.Force = c.Force || c.PackerForce
}

// wrapCommand renders command_wrapper around command.
func (c *Config) wrapCommand(command string) (string, error) {
	ictx := c.ctx
	ictx.Data = &wrappedCommandTemplate{Command: command}
	return interpolate.Render(c.CommandWrapper, &ictx)
}

// outputImageName returns the output file name for an image of format.
func (c *Config) outputImageName(format diskimage.Format) string {
	if c.OutputImageName != "" {
		return c.OutputImageName
	}
	name := c.PackerBuildName
	if name == "" {
		name = "image"
	}
	return name + "." + string(format)
}

// isInside reports whether path lies inside (or is) dir, comparing absolute paths.
func isInside(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
