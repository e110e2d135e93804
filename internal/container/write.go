package container

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Addition is the layer a patch adds to an image and what the new image says about it.
type Addition struct {
	// LayerTar is the gzip-compressed layer (WriteLayer), stored as it is; Append reads it
	// into memory.
	LayerTar string
	// Time is the new config's and history entry's creation time.
	Time time.Time
	// CreatedBy is the history entry's created_by.
	CreatedBy string
	// Annotations are added to an OCI manifest (a docker-archive has none).
	Annotations map[string]string
}

// Append returns im with a's layer on top: the same layers below, a history entry, the
// same config otherwise (entrypoint, env, labels …).
func Append(im *Image, a Addition) (v1.Image, error) {
	mt, err := im.MediaType()
	if err != nil {
		return nil, err
	}
	layerType := types.DockerLayer
	if mt == types.OCIManifestSchema1 {
		layerType = types.OCILayer
	}
	// (cached: the file may go once the layer's digests are known)
	layer, err := tarball.LayerFromFile(a.LayerTar, tarball.WithMediaType(layerType), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	when := v1.Time{Time: a.Time.UTC()}
	img, err := mutate.Append(im.Image, mutate.Addendum{Layer: layer, History: v1.History{
		Created: when, CreatedBy: a.CreatedBy, Comment: "refit-patch",
	}})
	if err != nil {
		return nil, err
	}
	if img, err = mutate.CreatedAt(img, when); err != nil {
		return nil, err
	}
	if mt == types.OCIManifestSchema1 && len(a.Annotations) > 0 {
		m, err := im.Manifest()
		if err != nil {
			return nil, err
		}
		anns := map[string]string{}
		for k, v := range m.Annotations {
			anns[k] = v
		}
		for k, v := range a.Annotations {
			anns[k] = v
		}
		img = mutate.Annotations(img, anns).(v1.Image)
	}
	return img, nil
}

// Write writes the source to out in its own format, each image of patched (by the
// digest of the image it replaces) in place of the original. out appears complete or not
// at all (written under a temporary name beside it, then renamed; an existing out is
// replaced).
func (s *Source) Write(out string, patched map[v1.Hash]v1.Image) error {
	dir := filepath.Dir(out)
	tmp, err := os.MkdirTemp(dir, ".refit-container-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	staged := filepath.Join(tmp, "out")
	switch s.Format {
	case FormatDockerArchive:
		err = s.writeDockerArchive(staged, patched)
	default:
		var idx v1.ImageIndex
		if idx, err = rewriteIndex(s.Index, patched); err != nil {
			break
		}
		layoutDir := staged
		if s.Format == FormatOCIArchive {
			layoutDir = filepath.Join(tmp, "layout")
		}
		if _, err = layout.Write(layoutDir, idx); err != nil {
			break
		}
		if s.Format == FormatOCIArchive {
			err = tarLayout(layoutDir, staged)
		}
	}
	if err != nil {
		return fmt.Errorf("writing the %s %s: %w", s.Format, out, err)
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	return os.Rename(staged, out)
}

func (s *Source) writeDockerArchive(out string, patched map[v1.Hash]v1.Image) error {
	refs := map[name.Reference]v1.Image{}
	for i, im := range s.Images {
		img := im.Image
		if p, ok := patched[im.Digest]; ok {
			img = p
		}
		if len(s.Tags[i]) == 0 {
			d, err := img.Digest()
			if err != nil {
				return err
			}
			ref, err := name.NewDigest("untagged.invalid/image@" + d.String())
			if err != nil {
				return err
			}
			refs[ref] = img
			continue
		}
		for _, t := range s.Tags[i] {
			tag, err := name.NewTag(t)
			if err != nil {
				return err
			}
			refs[tag] = img
		}
	}
	return tarball.MultiRefWriteToFile(out, refs)
}

// rewriteIndex returns idx with the patched images in place of theirs, descriptors'
// platforms and annotations kept.
func rewriteIndex(idx v1.ImageIndex, patched map[v1.Hash]v1.Image) (v1.ImageIndex, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	mt, err := idx.MediaType()
	if err != nil {
		return nil, err
	}
	var adds []mutate.IndexAddendum
	for _, d := range m.Manifests {
		var add mutate.Appendable
		switch {
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, err
			}
			if p, ok := patched[d.Digest]; ok {
				img = p
			}
			add = img
		case d.MediaType.IsIndex():
			inner, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			if add, err = rewriteIndex(inner, patched); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("the index lists %s of media type %s, which refit cannot carry over", d.Digest, d.MediaType)
		}
		adds = append(adds, mutate.IndexAddendum{Add: add, Descriptor: v1.Descriptor{
			MediaType: d.MediaType, Platform: d.Platform, Annotations: d.Annotations, URLs: d.URLs, ArtifactType: d.ArtifactType,
		}})
	}
	out := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, mt), adds...)
	if len(m.Annotations) > 0 {
		out = mutate.Annotations(out, m.Annotations).(v1.ImageIndex)
	}
	return out, nil
}

// tarLayout writes the OCI layout directory dir as an oci-archive: sorted entries, fixed
// owners and times.
func tarLayout(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if d.IsDir() {
			hdr.Name, hdr.Mode, hdr.Typeflag = hdr.Name+"/", 0o755, tar.TypeDir
			return tw.WriteHeader(hdr)
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		fi, err := src.Stat()
		if err != nil {
			return err
		}
		hdr.Size = fi.Size()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = io.Copy(tw, src)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
