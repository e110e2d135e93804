package chroot

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
)

// withHost replaces the host check for one test.
func withHost(t *testing.T, err error) {
	t.Helper()
	old := checkHost
	checkHost = func() error { return err }
	t.Cleanup(func() { checkHost = old })
}

func TestPrepareDefaults(t *testing.T) {
	withHost(t, nil)
	var b Builder
	vars, warns, err := b.Prepare(map[string]interface{}{
		"source_image":      "/images/debian.qcow2",
		"packer_build_name": "debian",
	})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if len(warns) > 0 {
		t.Errorf("warnings: %q", warns)
	}
	c := b.config
	checks := []struct {
		name      string
		got, want interface{}
	}{
		{"output_directory", c.OutputDir, "output-debian"},
		{"mount_fstab", *c.MountFstab, true},
		{"prevent_service_start", *c.PreventServiceStart, true},
		{"package_manifest", *c.PackageManifest, true},
		{"sbom_formats", c.SBOMFormats, []string{"cyclonedx-json", "spdx-json"}},
		{"copy_files", c.CopyFiles, []string{"/etc/resolv.conf"}},
		{"chroot_mounts", c.ChrootMounts, defaultChrootMounts},
		{"command_wrapper", c.CommandWrapper, "{{.Command}}"},
		{"force", c.Force, false},
		{"output name (qcow2)", c.outputImageName(diskimage.FormatQcow2), "debian.qcow2"},
		{"output name (raw)", c.outputImageName(diskimage.FormatRaw), "debian.raw"},
		{"generated data", vars, generatedDataNames},
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			if !reflect.DeepEqual(ch.got, ch.want) {
				t.Errorf("got %#v, want %#v", ch.got, ch.want)
			}
		})
	}
}

func TestPrepare(t *testing.T) {
	tmp := t.TempDir()
	tests := []struct {
		name string
		raw  map[string]interface{}
		host error
		// wantErrs are substrings the error must contain; none means Prepare succeeds.
		wantErrs []string
		wantWarn string
		check    func(t *testing.T, c *Config)
	}{
		{
			name:     "source_image missing",
			raw:      map[string]interface{}{},
			wantErrs: []string{"source_image is required"},
		},
		{
			name: "every option set",
			raw: map[string]interface{}{
				"source_image": "in.raw", "source_image_checksum": "sha256:" + strings.Repeat("ab", 32),
				"output_directory": "out", "output_image_name": "hardened.img", "output_format": "qcow2",
				"output_compress": true, "force": true, "mount_partition": "LABEL=root",
				"mount_options": []string{"noatime", "data=ordered"}, "mount_fstab": false,
				"chroot_mounts": [][]string{{"proc", "proc", "/proc"}}, "copy_files": []string{"/etc/hosts"},
				"pre_mount_commands": []string{"true {{.Device}}"}, "post_mount_commands": []string{"true {{.MountPath}}"},
				"pre_unmount_commands": []string{"sync"}, "command_wrapper": "env A=1 {{.Command}}",
				"prevent_service_start": true, "package_manifest": false,
			},
			check: func(t *testing.T, c *Config) {
				if *c.MountFstab || *c.PackageManifest || !c.Force || c.OutputImageName != "hardened.img" {
					t.Errorf("options not kept: %+v", c)
				}
				if got := c.PreMountCommands[0]; got != "true {{.Device}}" {
					t.Errorf("pre_mount_commands were interpolated early: %q", got)
				}
				if got, _ := c.wrapCommand("ls"); got != "env A=1 ls" {
					t.Errorf("command_wrapper renders %q", got)
				}
			},
		},
		{
			name: "empty lists disable the defaults",
			raw:  map[string]interface{}{"source_image": "in.raw", "copy_files": []interface{}{}, "chroot_mounts": []interface{}{}},
			check: func(t *testing.T, c *Config) {
				if len(c.CopyFiles) != 0 || len(c.ChrootMounts) != 0 {
					t.Errorf("copy_files %q, chroot_mounts %q: want both empty", c.CopyFiles, c.ChrootMounts)
				}
			},
		},
		{
			name: "mount_partition auto",
			raw:  map[string]interface{}{"source_image": "in.raw", "mount_partition": "auto"},
			check: func(t *testing.T, c *Config) {
				if c.MountPartition != "" {
					t.Errorf("mount_partition = %q, want it resolved to automatic (\"\")", c.MountPartition)
				}
			},
		},
		{
			name: "packer -force sets force",
			raw:  map[string]interface{}{"source_image": "in.raw", "packer_force": true},
			check: func(t *testing.T, c *Config) {
				if !c.Force {
					t.Error("force is false")
				}
			},
		},
		{
			name:     "bad checksum",
			raw:      map[string]interface{}{"source_image": "in.raw", "source_image_checksum": "md5:abc"},
			wantErrs: []string{"source_image_checksum", "sha256:<64 hex digits>"},
		},
		{
			name:     "bad sbom format",
			raw:      map[string]interface{}{"source_image": "in.raw", "sbom_formats": []string{"cyclonedx-xml"}},
			wantErrs: []string{`"cyclonedx-xml"`, `"spdx-json"`},
		},
		{
			name: "sboms off",
			raw:  map[string]interface{}{"source_image": "in.raw", "sbom_formats": []string{}},
			check: func(t *testing.T, c *Config) {
				if len(c.SBOMFormats) != 0 {
					t.Errorf("sbom_formats = [] gave %q", c.SBOMFormats)
				}
			},
		},
		{
			name:     "bad output format",
			raw:      map[string]interface{}{"source_image": "in.raw", "output_format": "vmdk"},
			wantErrs: []string{`output_format "vmdk"`},
		},
		{
			name:     "compressed raw",
			raw:      map[string]interface{}{"source_image": "in.raw", "output_format": "raw", "output_compress": true},
			wantErrs: []string{"output_compress needs output_format"},
		},
		{
			name:     "compression type of a raw output, and an unknown one",
			raw:      map[string]interface{}{"source_image": "in.raw", "output_format": "raw", "output_compression_type": "xz"},
			wantErrs: []string{"output_compression_type needs output_format", `output_compression_type: "xz": want "zlib"`},
		},
		{
			name:     "output name with a folder",
			raw:      map[string]interface{}{"source_image": "in.raw", "output_image_name": "sub/x.qcow2"},
			wantErrs: []string{"output_image_name"},
		},
		{
			name:     "source inside the output directory",
			raw:      map[string]interface{}{"source_image": filepath.Join(tmp, "out", "in.raw"), "output_directory": filepath.Join(tmp, "out")},
			wantErrs: []string{"lies inside output_directory"},
		},
		{
			name:     "mount option with a comma",
			raw:      map[string]interface{}{"source_image": "in.raw", "mount_options": []string{"ro,noatime"}},
			wantErrs: []string{"mount_options"},
		},
		{
			name: "bad chroot_mounts",
			raw: map[string]interface{}{"source_image": "in.raw", "chroot_mounts": [][]string{
				{"proc", "/proc"}, {"proc", "proc", "proc"}, {"", "x", "/x"}, {"tmpfs", "tmpfs", "/"}}},
			wantErrs: []string{"chroot_mounts[0]: want three", "chroot_mounts[1]", "chroot_mounts[2]", "chroot_mounts[3]"},
		},
		{
			name:     "relative copy_files",
			raw:      map[string]interface{}{"source_image": "in.raw", "copy_files": []string{"etc/hosts"}},
			wantErrs: []string{`copy_files: "etc/hosts"`},
		},
		{
			name:     "broken command_wrapper",
			raw:      map[string]interface{}{"source_image": "in.raw", "command_wrapper": "sudo {{.Command"},
			wantErrs: []string{"command_wrapper"},
		},
		{
			name:     "command_wrapper without the command",
			raw:      map[string]interface{}{"source_image": "in.raw", "command_wrapper": "true"},
			wantWarn: "does not use {{.Command}}",
		},
		{
			name:     "prevent_service_start off",
			raw:      map[string]interface{}{"source_image": "in.raw", "prevent_service_start": false},
			wantWarn: "prevent_service_start is false",
		},
		{
			name:     "host not ready",
			raw:      map[string]interface{}{"source_image": "in.raw"},
			host:     errors.New("not running as root: run packer with sudo"),
			wantWarn: "cannot run refit-chroot builds (packer build will stop before touching any image): not running as root: run packer with sudo",
		},
		{
			name:     "all errors at once",
			raw:      map[string]interface{}{"output_format": "vmdk", "copy_files": []string{"x"}},
			host:     errors.New("no loop device support"),
			wantErrs: []string{"source_image is required", "output_format", "copy_files"},
			wantWarn: "no loop device support",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withHost(t, tt.host)
			var b Builder
			_, warns, err := b.Prepare(tt.raw)
			if len(tt.wantErrs) == 0 && err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if len(tt.wantErrs) > 0 {
				if err == nil {
					t.Fatalf("Prepare succeeded, want errors %q", tt.wantErrs)
				}
				for _, want := range tt.wantErrs {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not mention %q", err, want)
					}
				}
			}
			if tt.wantWarn != "" && !strings.Contains(strings.Join(warns, "\n"), tt.wantWarn) {
				t.Errorf("warnings %q do not mention %q", warns, tt.wantWarn)
			}
			if tt.check != nil {
				tt.check(t, &b.config)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"/dev/loop3p1", "/dev/loop3p1"},
		{"", "''"},
		{"two words", "'two words'"},
		{"it's", `'it'\''s'`},
		{`$HOME "x"`, `'$HOME "x"'`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := shellQuote(tt.in)
			if got != tt.want {
				t.Fatalf("shellQuote(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestNamespaceCommandWrapper(t *testing.T) {
	withHost(t, nil)
	var b Builder
	if _, _, err := b.Prepare(map[string]interface{}{"source_image": "in.raw", "command_wrapper": "sudo -E {{.Command}}"}); err != nil {
		t.Fatal(err)
	}
	wrap := namespaceCommandWrapper(&b.config, []string{"nsenter", "--target", "42", "--mount", "--"})
	got, err := wrap(`chroot /mnt /bin/sh -c "echo it's"`)
	if err != nil {
		t.Fatal(err)
	}
	want := `sudo -E nsenter --target 42 --mount -- /bin/sh -c 'chroot /mnt /bin/sh -c "echo it'\''s"'`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// TestStepCheckHost: what Prepare only warns about stops the build at its first step,
// with the fix in the message; a ready host lets it continue.
func TestStepCheckHost(t *testing.T) {
	for _, tt := range []struct {
		name string
		host error
		want multistep.StepAction
	}{
		{"ready", nil, multistep.ActionContinue},
		{"not root", errors.New("not running as root: run packer with sudo"), multistep.ActionHalt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			withHost(t, tt.host)
			state := new(multistep.BasicStateBag)
			ui := packersdk.TestUi(t)
			state.Put(stateUI, ui)
			if got := (&StepCheckHost{}).Run(context.Background(), state); got != tt.want {
				t.Fatalf("Run = %v, want %v", got, tt.want)
			}
			err, _ := state.Get("error").(error)
			if tt.host == nil {
				if err != nil {
					t.Fatalf("error %v on a ready host", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "cannot run on this host") || !strings.Contains(err.Error(), "run packer with sudo") {
				t.Fatalf("error %v: want the host problem and its fix", err)
			}
		})
	}
}
