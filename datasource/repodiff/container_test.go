package repodiff

import (
	"context"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// TestRunContainerImageMatchesRootfs: reading a container image of the lab root (an OCI
// layout and a docker-archive, written by tar and go-containerregistry) gives the same
// answer as reading the root directory.
func TestRunContainerImageMatchesRootfs(t *testing.T) {
	fixture.NeedRoot(t)
	fixture.Need(t, "rpmbuild", "createrepo_c", "tar", "nsenter", "mount")
	lab := fixture.BuildRPMLab(t)
	c := labConfig(lab)
	c.Rootfs = lab.Root
	c.CacheDir = t.TempDir()
	want, err := Run(context.Background(), c, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rootTar := filepath.Join(dir, "root.tar")
	if out, err := exec.Command("tar", "-C", lab.Root, "--numeric-owner", "-cf", rootTar, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	layer, err := tarball.LayerFromFile(rootTar)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	oci := filepath.Join(dir, "oci")
	p, err := layout.Write(oci, empty.Index)
	if err == nil {
		err = p.AppendImage(img, layout.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	}
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "image.docker.tar")
	if err := tarball.WriteToFile(archive, name.MustParseReference("localhost/lab:1"), img); err != nil {
		t.Fatal(err)
	}
	for _, image := range []string{oci, archive} {
		t.Run(filepath.Base(image), func(t *testing.T) {
			ic := labConfig(lab)
			ic.Image = image
			ic.CacheDir = t.TempDir()
			got, err := Run(context.Background(), ic, func(s string) { t.Log(s) })
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("container image result differs from rootfs result:\nimage:  %+v\nrootfs: %+v", got, want)
			}
		})
	}
}
