package apt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/signature"
)

const repoDir = "testdata/aptrepo"

var repoSuites = []string{"demo", "demo-security"}

func openFixture(t testing.TB, name string) *os.File {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatalf("opening fixture (regenerate with testdata/gen.sh): %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestParseReleaseFixture(t *testing.T) {
	rel, err := ParseRelease(openFixture(t, filepath.Join(repoDir, "dists/demo/Release")))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{
		"Origin": rel.Origin, "Label": rel.Label, "Suite": rel.Suite, "Codename": rel.Codename,
		"Date": rel.Date, "Architectures": strings.Join(rel.Architectures, " "), "Components": strings.Join(rel.Components, " "),
	}
	want := map[string]string{
		"Origin": "Refit", "Label": "Refit demo", "Suite": "demo", "Codename": "demo",
		"Date": "Thu, 28 May 2026 20:26:40 UTC", "Architectures": "amd64", "Components": "main",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fields = %v, want %v", got, want)
	}
	if !rel.AcquireByHash {
		t.Error("AcquireByHash = false, want true")
	}
	paths := slices.Sorted(maps.Keys(rel.Files))
	wantPaths := []string{"main/binary-amd64/Packages", "main/binary-amd64/Packages.gz", "main/binary-amd64/Packages.xz", "main/binary-amd64/Release"}
	if !slices.Equal(paths, wantPaths) {
		t.Errorf("Files = %v, want %v", paths, wantPaths)
	}
}

// TestRepositoryFixtureIntegrity checks every file each fixture Release
// names against its size and SHA-256, and its by-hash copy, for both the
// plain Release and the InRelease body.
func TestRepositoryFixtureIntegrity(t *testing.T) {
	keyring, err := signature.LoadKeyring(filepath.Join(repoDir, "refit-archive-key.asc"))
	if err != nil {
		t.Fatal(err)
	}
	for _, suite := range repoSuites {
		t.Run(suite, func(t *testing.T) {
			dists := filepath.Join(repoDir, "dists", suite)
			inRelease, err := os.ReadFile(filepath.Join(dists, "InRelease"))
			if err != nil {
				t.Fatal(err)
			}
			body, _, err := keyring.VerifyClearsigned(inRelease)
			if err != nil {
				t.Fatalf("InRelease: %v", err)
			}
			plain, err := os.ReadFile(filepath.Join(dists, "Release"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, plain) {
				t.Error("InRelease body differs from Release")
			}
			if _, err := keyring.VerifyDetached(bytes.NewReader(plain), openFixture(t, filepath.Join(dists, "Release.gpg"))); err != nil {
				t.Fatalf("Release.gpg: %v", err)
			}
			rel, err := ParseRelease(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if rel.Suite != suite {
				t.Errorf("Suite = %q, want %q", rel.Suite, suite)
			}
			for _, fh := range rel.Files {
				for _, p := range []string{fh.Path, ByHashPath(fh.Path, fh.SHA256)} {
					data, err := os.ReadFile(filepath.Join(dists, filepath.FromSlash(p)))
					if err != nil {
						t.Errorf("%s: %v", p, err)
						continue
					}
					sum := sha256.Sum256(data)
					if int64(len(data)) != fh.Size || hex.EncodeToString(sum[:]) != fh.SHA256 {
						t.Errorf("%s: size %d sha256 %x, Release says %d %s", p, len(data), sum, fh.Size, fh.SHA256)
					}
				}
			}
		})
	}
}

func TestParseReleaseErrors(t *testing.T) {
	const digest = "5bf07795310aee64c3b8f571c53af0e95a4ef13180de5ab57741ab1258fefd50"
	header := "Origin: Refit\nSuite: demo\n"
	tests := []struct {
		name    string
		input   string
		wantErr error
		wantMsg string
	}{
		{name: "empty", input: "", wantErr: ErrSyntax, wantMsg: "empty"},
		{name: "blank lines only", input: "\n\n", wantErr: ErrSyntax, wantMsg: "empty"},
		{name: "no SHA256 field", input: header + "MD5Sum:\n 1d42d1102491e6f29044232fa28020d2 1 main/x\n", wantErr: ErrNoSHA256},
		{name: "SHA256 field without files", input: header + "SHA256:\n", wantErr: ErrNoSHA256},
		{name: "malformed line", input: header + "garbage\nSHA256:\n " + digest + " 1 x\n", wantErr: ErrSyntax, wantMsg: "line 3:"},
		{name: "short digest", input: header + "SHA256:\n abc 1 main/x\n", wantErr: ErrSyntax, wantMsg: "line 4: \"abc\" is not a SHA-256 digest"},
		{name: "non-hex digest", input: header + "SHA256:\n " + strings.Repeat("g", 64) + " 1 main/x\n", wantErr: ErrSyntax, wantMsg: "line 4:"},
		{name: "bad size", input: header + "SHA256:\n " + digest + " 12x main/x\n", wantErr: ErrSyntax, wantMsg: "line 4: size"},
		{name: "negative size", input: header + "SHA256:\n " + digest + " -1 main/x\n", wantErr: ErrSyntax, wantMsg: "line 4: size"},
		{name: "two fields", input: header + "SHA256:\n " + digest + " 1\n", wantErr: ErrSyntax, wantMsg: "line 4:"},
		{name: "four fields", input: header + "SHA256:\n " + digest + " 1 a b\n", wantErr: ErrSyntax, wantMsg: "line 4:"},
		{name: "absolute path", input: header + "SHA256:\n " + digest + " 1 /etc/passwd\n", wantErr: ErrSyntax, wantMsg: "line 4: path"},
		{name: "path climbing out", input: header + "SHA256:\n " + digest + " 1 main/../../x\n", wantErr: ErrSyntax, wantMsg: "line 4: path"},
		{name: "dot-dot path", input: header + "SHA256:\n " + digest + " 1 ..\n", wantErr: ErrSyntax, wantMsg: "line 4: path"},
		{name: "same path twice", input: header + "SHA256:\n " + digest + " 1 main/x\n " + digest + " 2 main/x\n", wantErr: ErrSyntax, wantMsg: "line 5: main/x is listed twice"},
		{name: "second paragraph", input: header + "SHA256:\n " + digest + " 1 main/x\n\nOrigin: evil\n", wantErr: ErrSyntax, wantMsg: "line 6: a second paragraph"},
		{name: "duplicate SHA256 field", input: header + "SHA256:\n " + digest + " 1 main/x\nSHA256:\n " + digest + " 1 main/y\n", wantErr: ErrSyntax, wantMsg: "line 5:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel, err := ParseRelease(strings.NewReader(tt.input))
			if !errors.Is(err, tt.wantErr) || !strings.Contains(errString(err), tt.wantMsg) {
				t.Fatalf("ParseRelease error = %v, want %v containing %q", err, tt.wantErr, tt.wantMsg)
			}
			if rel != nil {
				t.Errorf("ParseRelease returned a Release with error %v", err)
			}
		})
	}
}

func TestParseReleaseDigestCase(t *testing.T) {
	upper := "SHA256:\n 5BF07795310AEE64C3B8F571C53AF0E95A4EF13180DE5AB57741AB1258FEFD50 7 main/x\n"
	rel, err := ParseRelease(strings.NewReader(upper))
	if err != nil {
		t.Fatal(err)
	}
	if got := rel.Files["main/x"].SHA256; got != strings.ToLower(got) {
		t.Errorf("SHA256 = %q, want lower case", got)
	}
}

func TestIndexPath(t *testing.T) {
	release := func(paths ...string) *Release {
		r := &Release{Files: map[string]FileHash{}}
		for i, p := range paths {
			r.Files[p] = FileHash{Path: p, Size: int64(i)}
		}
		return r
	}
	tests := []struct {
		name                  string
		rel                   *Release
		component, arch, want string
	}{
		{name: "xz preferred", rel: release("main/binary-amd64/Packages", "main/binary-amd64/Packages.gz", "main/binary-amd64/Packages.xz"), component: "main", arch: "amd64", want: "main/binary-amd64/Packages.xz"},
		{name: "gz before plain", rel: release("main/binary-amd64/Packages", "main/binary-amd64/Packages.gz"), component: "main", arch: "amd64", want: "main/binary-amd64/Packages.gz"},
		{name: "plain only", rel: release("main/binary-amd64/Packages"), component: "main", arch: "amd64", want: "main/binary-amd64/Packages"},
		{name: "other component", rel: release("main/binary-amd64/Packages.xz", "contrib/binary-amd64/Packages.gz"), component: "contrib", arch: "amd64", want: "contrib/binary-amd64/Packages.gz"},
		{name: "other architecture only", rel: release("main/binary-arm64/Packages.xz"), component: "main", arch: "amd64"},
		{name: "unknown compression only", rel: release("main/binary-amd64/Packages.bz2"), component: "main", arch: "amd64"},
		{name: "empty", rel: release(), component: "main", arch: "amd64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, fh, ok := tt.rel.IndexPath(tt.component, tt.arch)
			if ok != (tt.want != "") || p != tt.want {
				t.Fatalf("IndexPath = %q, %v; want %q", p, ok, tt.want)
			}
			if ok && fh != tt.rel.Files[p] {
				t.Errorf("FileHash = %+v, want %+v", fh, tt.rel.Files[p])
			}
			if got, found := tt.rel.Lookup(p); ok && (!found || got != fh) {
				t.Errorf("Lookup(%q) = %+v, %v", p, got, found)
			}
		})
	}
}

func TestByHashPath(t *testing.T) {
	const sum = "5bf07795310aee64c3b8f571c53af0e95a4ef13180de5ab57741ab1258fefd50"
	tests := []struct{ path, want string }{
		{"main/binary-amd64/Packages.xz", "main/binary-amd64/by-hash/SHA256/" + sum},
		{"main/i18n/Translation-en.bz2", "main/i18n/by-hash/SHA256/" + sum},
		{"Packages", "by-hash/SHA256/" + sum},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := ByHashPath(tt.path, sum); got != tt.want {
				t.Errorf("ByHashPath(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestParseReleaseDate(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "Sat, 10 Jun 2023 08:53:47 UTC", want: time.Date(2023, 6, 10, 8, 53, 47, 0, time.UTC)},
		{in: "Sun, 2 Jul 2023 01:02:03 UTC", want: time.Date(2023, 7, 2, 1, 2, 3, 0, time.UTC)},
		{in: "Sun, 02 Jul 2023 01:02:03 +0200", want: time.Date(2023, 7, 1, 23, 2, 3, 0, time.UTC)},
		{in: " Thu, 28 May 2026 20:26:40 UTC ", want: time.Date(2026, 5, 28, 20, 26, 40, 0, time.UTC)},
		{in: "2023-06-10T08:53:47Z", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseReleaseDate(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("ParseReleaseDate(%q) error = %v, want ErrSyntax", tt.in, err)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("ParseReleaseDate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestFlatRelease: the Release refit writes for its local flat repositories parses, and names
// the Packages index with its real size and digest.
func TestFlatRelease(t *testing.T) {
	packages := "Package: demo\nVersion: 1.0-1\nArchitecture: all\nFilename: ./demo_1.0-1_all.deb\n\n"
	r, err := ParseRelease(strings.NewReader(FlatRelease("test queue", packages)))
	if err != nil {
		t.Fatal(err)
	}
	fh, ok := r.Lookup("Packages")
	sum := sha256.Sum256([]byte(packages))
	if !ok || fh.SHA256 != hex.EncodeToString(sum[:]) || fh.Size != int64(len(packages)) {
		t.Fatalf("Packages entry %+v (found %v), want size %d sha256 %x", fh, ok, len(packages), sum)
	}
	if _, err := ParseReleaseDate(r.Date); err != nil {
		t.Errorf("Date %q: %v", r.Date, err)
	}
}
