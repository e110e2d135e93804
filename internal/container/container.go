// Package container reads and writes container images for refit: an OCI image layout
// directory, an oci-archive or a docker-archive tarball (told apart by their content). It
// owns choosing the platforms of a multi-arch index, unpacking an image's layers for an
// overlay mount while refusing hostile input (unpack.go), turning the overlay's upper
// directory into one new layer (layer.go), and writing the patched image in the input's
// format (write.go). Images, indexes, layers and archives are read and written with
// github.com/google/go-containerregistry; this package adds only what it lacks: the
// checks, the overlay conversions and the oci-archive wrapper.
//
// It mounts the layers with overlayfs in a diskimage.Namespace (mount.go) and runs no
// package manager (internal/patch does).
package container

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Format is a container image's on-disk format.
type Format string

// The formats refit reads and writes.
const (
	// FormatOCILayout is an OCI image layout directory (oci-layout, index.json, blobs/).
	FormatOCILayout Format = "oci-layout"
	// FormatOCIArchive is a tar of an OCI image layout (podman save --format oci-archive).
	FormatOCIArchive Format = "oci-archive"
	// FormatDockerArchive is what docker save and podman save --format docker-archive
	// write: manifest.json, the configs and the layer tars.
	FormatDockerArchive Format = "docker-archive"
)

// Sentinel errors.
var (
	// ErrNotContainer is returned by Detect for a path that is no container image.
	ErrNotContainer = errors.New("not a container image")
	// ErrHostile is wrapped by every refusal of an image that could write outside its
	// root or lie about its content.
	ErrHostile = errors.New("container image refused")
)

// Detect tells the format of the container image at path from its content, or returns
// ErrNotContainer.
func Detect(path string) (Format, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "oci-layout")); err == nil {
			return FormatOCILayout, nil
		}
		return "", fmt.Errorf("%w: %s is a directory without an oci-layout file", ErrNotContainer, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for i := 0; i < 4096; i++ {
		h, err := tr.Next()
		if err != nil {
			break
		}
		switch strings.TrimPrefix(h.Name, "./") {
		case "oci-layout":
			return FormatOCIArchive, nil
		case "manifest.json":
			return FormatDockerArchive, nil
		}
	}
	return "", fmt.Errorf("%w: %s has neither an oci-layout nor a manifest.json entry", ErrNotContainer, path)
}

// Image is one image of a source: a platform of a multi-arch index, or the only one.
type Image struct {
	v1.Image
	// Platform is "os/arch[/variant]" from the index or the config.
	Platform string
	// Digest is the image manifest's digest.
	Digest v1.Hash
	// Name is its name in the source: the index's org.opencontainers.image.ref.name or the
	// docker-archive's first tag ("" when it has none).
	Name string
	// compressedChecked is set when Unpack must also check the layers' compressed digests
	// (they are the blobs' names in an OCI layout).
	compressedChecked bool
}

// Source is an opened container image. Close removes what Open unpacked.
type Source struct {
	Path   string
	Format Format
	// Index is the OCI layout's index (nil for a docker-archive).
	Index v1.ImageIndex
	// Images are every image of the source, in order, nested indexes flattened.
	Images []*Image
	// Tags are a docker-archive's entries in order: the tags of each image.
	Tags [][]string
	tmp  string
}

// Open reads the container image at path. An oci-archive is unpacked into a directory
// under work first.
func Open(path, work string) (*Source, error) {
	format, err := Detect(path)
	if err != nil {
		return nil, err
	}
	s := &Source{Path: path, Format: format}
	switch format {
	case FormatDockerArchive:
		err = s.openDockerArchive()
	case FormatOCIArchive:
		if s.tmp, err = os.MkdirTemp(work, "oci-archive-"); err != nil {
			return nil, err
		}
		if err = untarPlain(path, s.tmp); err == nil {
			err = s.openLayout(s.tmp)
		}
	default:
		err = s.openLayout(path)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("reading the %s %s: %w", format, path, err)
	}
	if len(s.Images) == 0 {
		s.Close()
		return nil, fmt.Errorf("reading the %s %s: it holds no image", format, path)
	}
	return s, nil
}

// Close removes what Open unpacked.
func (s *Source) Close() {
	if s.tmp != "" {
		os.RemoveAll(s.tmp)
	}
}

func (s *Source) openLayout(dir string) error {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return err
	}
	s.Index = idx
	return walkIndex(idx, "", func(img v1.Image, d v1.Descriptor, ref string) error {
		plat := ""
		if d.Platform != nil {
			plat = d.Platform.String()
		}
		if plat == "" {
			plat = configPlatform(img)
		}
		s.Images = append(s.Images, &Image{Image: img, Platform: plat, Digest: d.Digest, Name: ref, compressedChecked: true})
		return nil
	})
}

// walkIndex calls fn for every image of idx, nested indexes included, in order; ref is
// the nearest org.opencontainers.image.ref.name annotation.
func walkIndex(idx v1.ImageIndex, ref string, fn func(v1.Image, v1.Descriptor, string) error) error {
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range m.Manifests {
		r := ref
		if n := d.Annotations["org.opencontainers.image.ref.name"]; n != "" {
			r = n
		}
		switch {
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return err
			}
			if err := checkManifestDigest(img, d.Digest); err != nil {
				return err
			}
			if err := fn(img, d, r); err != nil {
				return err
			}
		case d.MediaType.IsIndex():
			inner, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return err
			}
			if err := walkIndex(inner, r, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkManifestDigest refuses an image whose manifest or config is not what its digest says.
func checkManifestDigest(img v1.Image, want v1.Hash) error {
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	if got, _, _ := v1.SHA256(strings.NewReader(string(raw))); got != want {
		return fmt.Errorf("%w: the manifest %s has digest %s", ErrHostile, want, got)
	}
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if got, _, _ := v1.SHA256(strings.NewReader(string(cfg))); got != m.Config.Digest {
		return fmt.Errorf("%w: the config %s has digest %s", ErrHostile, m.Config.Digest, got)
	}
	return nil
}

func (s *Source) openDockerArchive() error {
	opener := func() (io.ReadCloser, error) { return os.Open(s.Path) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return err
	}
	for i, e := range m {
		var tag *name.Tag
		if len(e.RepoTags) > 0 {
			t, err := name.NewTag(e.RepoTags[0])
			if err != nil {
				return fmt.Errorf("entry %d: tag %q: %w", i, e.RepoTags[0], err)
			}
			tag = &t
		} else if len(m) > 1 {
			return fmt.Errorf("entry %d has no tag; refit reads untagged images only from a docker-archive holding one image", i)
		}
		img, err := tarball.Image(opener, tag)
		if err != nil {
			return err
		}
		d, err := img.Digest()
		if err != nil {
			return err
		}
		im := &Image{Image: img, Platform: configPlatform(img), Digest: d}
		if tag != nil {
			im.Name = tag.String()
		}
		s.Images = append(s.Images, im)
		s.Tags = append(s.Tags, e.RepoTags)
	}
	return nil
}

// configPlatform is the platform the image's config names.
func configPlatform(img v1.Image) string {
	cf, err := img.ConfigFile()
	if err != nil || cf.OS == "" {
		return ""
	}
	if p := cf.Platform(); p != nil {
		return p.String()
	}
	return ""
}

// Select returns the images to patch: those of platform ("os/arch[/variant]"), or every
// image that names a real platform when platform is "" (attestation manifests, with
// platform unknown/unknown, are left as they are).
func (s *Source) Select(platform string) ([]*Image, error) {
	var out []*Image
	var have []string
	for _, im := range s.Images {
		if strings.HasPrefix(im.Platform, "unknown") {
			continue
		}
		have = append(have, im.Platform)
		if platform == "" || samePlatform(im.Platform, platform) {
			out = append(out, im)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no image for platform %q (it has: %s)", s.Path, platform, strings.Join(have, ", "))
	}
	return out, nil
}

// samePlatform compares "os/arch[/variant]" platforms, a missing variant matching any.
func samePlatform(have, want string) bool {
	if have == want {
		return true
	}
	h, w := strings.Split(have, "/"), strings.Split(want, "/")
	if len(w) < 3 && len(h) >= 2 && len(w) >= 2 {
		return h[0] == w[0] && h[1] == w[1]
	}
	return false
}
