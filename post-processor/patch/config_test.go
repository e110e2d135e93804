package patch

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/packer"
)

func TestPrepare(t *testing.T) {
	key := filepath.Join(t.TempDir(), "key.asc")
	if err := os.WriteFile(key, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deb := map[string]interface{}{"name": "sec", "url": "file:///srv/debian", "type": "deb", "suite": "bookworm-security"}
	rpm := map[string]interface{}{"name": "base", "url": "https://example.org/repo"}
	upd := map[string]interface{}{"name": "bash", "location": "https://example.org/bash.rpm", "checksum": "sha256:00", "available": "5.1-2"}
	cases := []struct {
		name    string
		raw     map[string]interface{}
		wantErr []string // substrings of the error; none means success
		check   func(t *testing.T, c *Config)
	}{
		{name: "defaults", raw: map[string]interface{}{"repository": []interface{}{deb}}, check: func(t *testing.T, c *Config) {
			if c.Scriptlets != "analyze" || c.Kernel != "offline" || c.timeout.String() != "1h0m0s" || c.CacheDir == "" {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "updates only", raw: map[string]interface{}{"updates": []interface{}{upd}}},
		{name: "output_compress unset follows the input", raw: map[string]interface{}{"repository": []interface{}{deb}}, check: func(t *testing.T, c *Config) {
			if c.OutputCompress != nil {
				t.Errorf("output_compress = %v, want unset", *c.OutputCompress)
			}
		}},
		{name: "output_compress false", raw: map[string]interface{}{"repository": []interface{}{deb}, "output_compress": false}, check: func(t *testing.T, c *Config) {
			if c.OutputCompress == nil || *c.OutputCompress {
				t.Errorf("output_compress = %v, want false", c.OutputCompress)
			}
		}},
		{name: "updates_json", raw: map[string]interface{}{"updates_json": `[{"name":"bash","location":"https://example.org/b.deb","checksum":"sha256:00","available":"5.2-1","size":3,"advisories":[]}]`},
			check: func(t *testing.T, c *Config) {
				if len(c.Updates) != 1 || c.Updates[0].Name != "bash" || c.Updates[0].Size != 3 {
					t.Errorf("updates = %+v", c.Updates)
				}
			}},
		{name: "updates_json unknown at validate time", raw: map[string]interface{}{"updates_json": "<unknown>"}},
		{name: "bad updates_json", raw: map[string]interface{}{"updates_json": "{"}, wantErr: []string{"updates_json:"}},
		{name: "nothing to apply", raw: map[string]interface{}{}, wantErr: []string{"at least one repository block, or updates"}},
		{name: "output_compression_type zstd", raw: map[string]interface{}{"repository": []interface{}{deb}, "output_compression_type": "zstd"}},
		{name: "bad output_compression_type", raw: map[string]interface{}{"repository": []interface{}{deb}, "output_compression_type": "lz4"},
			wantErr: []string{`output_compression_type: "lz4": want "zlib"`}},
		{name: "bad scriptlets and kernel", raw: map[string]interface{}{"repository": []interface{}{deb}, "scriptlets": "run", "kernel": "later"},
			wantErr: []string{`scriptlets must be "analyze", "defer" or "fail"`, `kernel must be "offline", "firstboot" or "skip"`}},
		{name: "output and in_place", raw: map[string]interface{}{"repository": []interface{}{deb}, "output": "x.qcow2", "in_place": true},
			wantErr: []string{"output and in_place cannot both be set"}},
		{name: "deb without suite", raw: map[string]interface{}{"repository": []interface{}{map[string]interface{}{"name": "d", "url": "file:///x", "type": "deb"}}},
			wantErr: []string{"suite is required"}},
		{name: "duplicate names and bad type", raw: map[string]interface{}{"repository": []interface{}{rpm, rpm, map[string]interface{}{"name": "z", "url": "u", "type": "yum"}}},
			wantErr: []string{"used twice", `type must be "rpm-md" or "deb"`}},
		{name: "require_signatures without keys", raw: map[string]interface{}{"repository": []interface{}{rpm}, "require_signatures": true},
			wantErr: []string{"require_signatures is set, so it needs gpg_key"}},
		{name: "require_signatures with gpg_keys", raw: map[string]interface{}{"repository": []interface{}{rpm}, "require_signatures": true, "gpg_keys": []string{key}}},
		{name: "require_signatures with updates only", raw: map[string]interface{}{"updates": []interface{}{upd}, "require_signatures": true},
			wantErr: []string{"require_signatures with updates needs the repository blocks"}},
		{name: "missing key file", raw: map[string]interface{}{"repository": []interface{}{rpm}, "gpg_keys": []string{"/nonexistent/key"}},
			wantErr: []string{"gpg_keys:"}},
		{name: "update without checksum", raw: map[string]interface{}{"updates": []interface{}{map[string]interface{}{"name": "bash", "location": "x"}}},
			wantErr: []string{"name, location and checksum are required"}},
		{name: "filters", raw: map[string]interface{}{"repository": []interface{}{rpm}, "min_severity": "Urgent", "include": []string{"[a"}, "timeout": "soon"},
			wantErr: []string{"min_severity must be one of", "include/exclude", "timeout"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := c.Prepare(tc.raw)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
				if tc.check != nil {
					tc.check(t, &c)
				}
				return
			}
			if err == nil {
				t.Fatalf("Prepare succeeded, want errors %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// fileArtifact is an incoming artifact with the given files (and builder id: "test" when
// empty).
type fileArtifact struct {
	files   []string
	builder string
}

func (a fileArtifact) BuilderId() string {
	if a.builder == "" {
		return "test"
	}
	return a.builder
}
func (a fileArtifact) Files() []string          { return a.files }
func (a fileArtifact) Id() string               { return "test" }
func (a fileArtifact) String() string           { return "test" }
func (a fileArtifact) State(string) interface{} { return nil }
func (a fileArtifact) Destroy() error           { return nil }

var _ packer.Artifact = fileArtifact{}

func TestInputOutputImage(t *testing.T) {
	dir := t.TempDir()
	// what the docker builder's export_path holds: a file system tar; and a docker-archive
	exportTar, dockerArchive := filepath.Join(dir, "export.tar"), filepath.Join(dir, "saved.tar")
	for path, name := range map[string]string{exportTar: "etc/os-release", dockerArchive: "manifest.json"} {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Close()
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name      string
		c         Config
		files     []string
		builder   string
		wantIn    string
		wantOut   string
		wantError string // part of the error; "" for none
	}{
		{name: "artifact qcow2", files: []string{"out/x.manifest.json", "out/x.qcow2"}, wantIn: "out/x.qcow2", wantOut: "out/x-patched.qcow2"},
		{name: "artifact img", files: []string{"out/disk.IMG"}, wantIn: "out/disk.IMG", wantOut: "out/disk-patched.IMG"},
		{name: "image wins", c: Config{Image: "a.raw", Output: "b.raw"}, files: []string{"x.qcow2"}, wantIn: "a.raw", wantOut: "b.raw"},
		{name: "in place", c: Config{Image: "a.raw", InPlace: true}, wantIn: "a.raw", wantOut: "a.raw"},
		{name: "no image", files: []string{"x.ova"}, wantError: "no .qcow2, .raw or .img file and no container image"},
		// Packer's docker builder: commit = true hands on an image id, export_path a flat tar
		{name: "docker commit", builder: "packer.post-processor.docker-import", wantError: "an image in the Docker daemon's store (the docker builder's commit, or docker-import), not a container image refit can read: build with the docker builder's commit = true and add the docker-save post-processor"},
		{name: "docker export", builder: "packer.docker", files: []string{exportTar}, wantError: "the docker builder's export (export_path"},
		{name: "docker-save", builder: "packer.post-processor.docker-save", files: []string{dockerArchive}, wantIn: dockerArchive, wantOut: strings.TrimSuffix(dockerArchive, ".tar") + "-patched.tar"},
		{name: "docker image set", builder: "packer.post-processor.docker-import", c: Config{Image: dockerArchive}, wantIn: dockerArchive, wantOut: strings.TrimSuffix(dockerArchive, ".tar") + "-patched.tar"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, err := inputImage(&tc.c, fileArtifact{tc.files, tc.builder})
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("inputImage = %q, %v; want an error saying %q", in, err, tc.wantError)
				}
				return
			}
			if err != nil || in != tc.wantIn {
				t.Fatalf("inputImage = %q, %v; want %q", in, err, tc.wantIn)
			}
			if out := outputImage(&tc.c, in); out != tc.wantOut {
				t.Errorf("outputImage = %q, want %q", out, tc.wantOut)
			}
		})
	}
}
