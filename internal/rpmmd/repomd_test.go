package rpmmd

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRepomdFixture(t *testing.T) {
	f, err := os.Open(filepath.Join(fixtureRepo, "repodata", "repomd.xml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	md, err := ParseRepomd(f)
	if err != nil {
		t.Fatal(err)
	}
	if md.Revision != "1704067200" {
		t.Errorf("Revision = %q", md.Revision)
	}
	var types []string
	for _, d := range md.Data {
		types = append(types, d.Type)
	}
	want := "primary filelists other primary_db filelists_db other_db primary_zck filelists_zck other_zck modules updateinfo"
	if got := strings.Join(types, " "); got != want {
		t.Errorf("types = %s\nwant    %s", got, want)
	}

	tests := []struct {
		typ, suffix string
	}{
		{"primary", "-primary.xml.gz"},
		{"primary_db", "-primary.sqlite.gz"},
		{"primary_zck", "-primary.xml.zck"},
		{"updateinfo", "-updateinfo.xml.xz"},
		{"modules", "-modules.yaml.bz2"},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			d, ok := md.Find(tt.typ)
			if !ok {
				t.Fatalf("Find(%q) found nothing", tt.typ)
			}
			if d.Type != tt.typ || !strings.HasPrefix(d.Location, "repodata/") || !strings.HasSuffix(d.Location, tt.suffix) {
				t.Errorf("Find(%q) = %+v", tt.typ, d)
			}
			if d.Checksum.Type != "sha256" || len(d.Checksum.Value) != 64 || d.OpenChecksum.Type != "sha256" {
				t.Errorf("checksums %v / %v", d.Checksum, d.OpenChecksum)
			}
			if d.Timestamp != 1704067200 || d.Size <= 0 || d.OpenSize <= 0 {
				t.Errorf("timestamp %d size %d open-size %d", d.Timestamp, d.Size, d.OpenSize)
			}
		})
	}
	if _, ok := md.Find("group"); ok {
		t.Error("Find(group) found an entry the repository does not have")
	}
}

// Every <data> of the committed repository describes its file: the checksum
// is what sha256sum prints, the size what stat says, and the open checksum
// and size those of the decompressed contents.
func TestRepomdMatchesFiles(t *testing.T) {
	needTools(t, "sha256sum")
	f, err := os.Open(filepath.Join(fixtureRepo, "repodata", "repomd.xml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	md, err := ParseRepomd(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range md.Data {
		t.Run(d.Type, func(t *testing.T) {
			path := filepath.Join(fixtureRepo, d.Location)
			out, err := exec.Command("sha256sum", path).Output()
			if err != nil {
				t.Fatal(err)
			}
			if sum := strings.Fields(string(out))[0]; d.Checksum.String() != "sha256:"+sum {
				t.Errorf("checksum %s, sha256sum says %s", d.Checksum, sum)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() != d.Size {
				t.Errorf("size %d, file has %d bytes", d.Size, st.Size())
			}
			if strings.HasSuffix(d.Type, "_zck") {
				return // zchunk is not decoded here
			}
			rc := openFixture(t, fixtureRepo, d.Type)
			defer rc.Close()
			h := sha256.New()
			n, err := io.Copy(h, rc)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != d.OpenChecksum.Value || n != d.OpenSize {
				t.Errorf("decompressed: sha256 %s, %d bytes; repomd says %s, %d bytes", got, n, d.OpenChecksum.Value, d.OpenSize)
			}
		})
	}
}

func TestRepomdFind(t *testing.T) {
	md := &Repomd{Data: []Data{
		{Type: "primary_zck", Location: "a.zck"},
		{Type: "primary_db", Location: "a.sqlite.bz2"},
		{Type: "primary", Location: "a.xml.gz"},
		{Type: "updateinfo_zck", Location: "u.zck"},
	}}
	tests := []struct {
		typ      string
		want     string
		wantFind bool
	}{
		{"primary", "a.xml.gz", true},
		{"primary_zck", "a.zck", true},
		{"primary_db", "a.sqlite.bz2", true},
		{"updateinfo", "", false}, // only a zchunk variant: not usable as plain
		{"Primary", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			d, ok := md.Find(tt.typ)
			if ok != tt.wantFind || d.Location != tt.want {
				t.Errorf("Find(%q) = %q, %v; want %q, %v", tt.typ, d.Location, ok, tt.want, tt.wantFind)
			}
		})
	}
}

func TestParseRepomdVariants(t *testing.T) {
	const head = `<?xml version="1.0"?><repomd xmlns="http://linux.duke.edu/metadata/repo">`
	tests := []struct {
		name    string
		doc     string
		want    Data
		wantErr string
	}{
		{
			name: "legacy sha and fractional timestamp",
			doc: head + `<data type="primary"><checksum type="SHA">ABCDEF</checksum>` +
				`<location href="repodata/primary.xml.gz"/><timestamp>1400000000.25</timestamp><size>10</size></data></repomd>`,
			want: Data{Type: "primary", Location: "repodata/primary.xml.gz", Checksum: Checksum{"sha1", "abcdef"}, Timestamp: 1400000000, Size: 10},
		},
		{
			name: "unknown elements tolerated",
			doc: head + `<tags><content>binary-x86_64</content></tags><data type="primary"><x-future a="b"><y/></x-future>` +
				`<location href="p.xml"/></data></repomd>`,
			want: Data{Type: "primary", Location: "p.xml"},
		},
		{name: "no location", doc: head + `<data type="primary"><checksum type="sha256">00</checksum></data></repomd>`, wantErr: `<data type="primary"> has no <location`},
		{name: "no type", doc: head + `<data><location href="x"/></data></repomd>`, wantErr: "<data> without a type"},
		{name: "bad size", doc: head + `<data type="primary"><location href="x"/><size>-1</size></data></repomd>`, wantErr: `<size>: size "-1"`},
		{name: "bad timestamp", doc: head + `<data type="primary"><location href="x"/><timestamp>soon</timestamp></data></repomd>`, wantErr: "<timestamp>"},
		{name: "truncated", doc: head + `<data type="primary"><location href="x"/>`, wantErr: "ends early at line 1"},
		{name: "mismatched tags", doc: head + `<data type="primary"><location href="x"></data></repomd>`, wantErr: "element <location> closed by </data>"},
		{name: "empty", doc: "", wantErr: "no <repomd> element"},
		{name: "wrong file", doc: `<metadata/>`, wantErr: "root element is <metadata>, want <repomd>"},
		{name: "not xml", doc: "\x00\x01garbage<", wantErr: "repomd.xml line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, err := ParseRepomd(strings.NewReader(tt.doc))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("got %v, want an ErrInvalid containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(md.Data) != 1 || md.Data[0] != tt.want {
				t.Errorf("got %+v, want %+v", md.Data, tt.want)
			}
		})
	}
}

func TestChecksumString(t *testing.T) {
	tests := []struct {
		c    Checksum
		want string
	}{
		{Checksum{"sha256", "ab"}, "sha256:ab"},
		{newChecksum(" SHA512 ", " AB12 "), "sha512:ab12"},
		{newChecksum("sha", "00"), "sha1:00"},
		{Checksum{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.c.String(); got != tt.want {
				t.Errorf("%#v.String() = %q, want %q", tt.c, got, tt.want)
			}
		})
	}
}
