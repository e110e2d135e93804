package rpmmd

import (
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseModulesFixture(t *testing.T) {
	f, err := os.Open("testdata/modules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseModules(f)
	if err != nil {
		t.Fatal(err)
	}
	want := &Modules{
		Streams: []ModuleStream{
			{Name: "nodejs", Stream: "18", Context: "rhel9", Arch: "x86_64", Version: 9030020231120100837, Artifacts: []string{
				"nodejs-1:18.19.0-1.module+el9.3.0+100+aaaa0018.src",
				"nodejs-1:18.19.0-1.module+el9.3.0+100+aaaa0018.x86_64",
			}},
			{Name: "nodejs", Stream: "20", Context: "rhel9", Arch: "x86_64", Version: 9030020240104000000, Artifacts: []string{
				"nodejs-1:20.11.0-1.module+el9.3.0+200+bbbb0020.src",
				"nodejs-1:20.11.0-1.module+el9.3.0+200+bbbb0020.x86_64",
			}},
		},
		// postgresql's defaults document names no stream; obsoletes and
		// translations documents are ignored.
		Defaults: map[string]string{"nodejs": "18"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	rc := openFixture(t, fixtureRepo, "modules")
	defer rc.Close()
	fromRepo, err := ParseModules(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromRepo, got) {
		t.Error("repodata's modules.yaml differs from testdata/modules.yaml")
	}
}

// The module artifacts name exactly the packages of the fixture repository.
func TestModuleArtifactsInPrimary(t *testing.T) {
	f, err := os.Open("testdata/modules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mods, err := ParseModules(f)
	if err != nil {
		t.Fatal(err)
	}
	rc := openFixture(t, fixtureRepo, "primary")
	defer rc.Close()
	pkgs, err := parseAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range mods.Streams {
		for _, a := range s.Artifacts {
			t.Run(a, func(t *testing.T) {
				name, epoch, ver, rel, arch, err := ParseNEVRA(a)
				if err != nil {
					t.Fatal(err)
				}
				if arch == "src" {
					return
				}
				for _, p := range pkgs {
					if p.Name == name && p.Epoch == epoch && p.Version == ver && p.Release == rel && p.Arch == arch {
						return
					}
				}
				t.Errorf("artifact %s is not in primary.xml", a)
			})
		}
	}
}

func TestParseModulesVariants(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want *Modules
	}{
		{
			name: "unquoted numeric stream and v1 document",
			doc: "document: modulemd\nversion: 1\ndata:\n  name: perl\n  stream: 5.30\n  version: 820200101\n" +
				"  artifacts:\n    rpms: [perl-4:5.30.1-452.module_el8+1+2.x86_64]\n",
			want: &Modules{
				Streams:  []ModuleStream{{Name: "perl", Stream: "5.30", Version: 820200101, Artifacts: []string{"perl-4:5.30.1-452.module_el8+1+2.x86_64"}}},
				Defaults: map[string]string{},
			},
		},
		{
			name: "empty documents and unknown types",
			doc:  "---\n...\n---\ndocument: modulemd-packager\nversion: 3\ndata: {name: x}\n---\n",
			want: &Modules{Defaults: map[string]string{}},
		},
		{
			name: "no documents at all",
			doc:  "",
			want: &Modules{Defaults: map[string]string{}},
		},
		{
			name: "numeric default stream",
			doc:  "document: modulemd-defaults\nversion: 1\ndata:\n  module: postgresql\n  stream: 15\n",
			want: &Modules{Defaults: map[string]string{"postgresql": "15"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseModules(strings.NewReader(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseModulesErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"unsupported modulemd version", "document: modulemd\nversion: 3\ndata: {name: a, stream: b}\n", "document 1 (line 1): modulemd version 3 is not supported"},
		{"no stream", "---\ndocument: modulemd-defaults\nversion: 1\ndata: {module: a}\n---\ndocument: modulemd\nversion: 2\ndata:\n  name: a\n", "document 2 (line 6): modulemd document without data.name or data.stream"},
		{"bad artifact", "document: modulemd\nversion: 2\ndata: {name: a, stream: b, artifacts: {rpms: [not-a-nevra]}}\n", `module a:b: artifact: rpmmd: invalid repository metadata: "not-a-nevra"`},
		{"negative version", "document: modulemd\nversion: 2\ndata: {name: a, stream: b, version: -1}\n", "document 1 (line 1)"},
		{"defaults without module", "document: modulemd-defaults\nversion: 1\ndata: {stream: x}\n", "without data.module"},
		{"defaults v2", "document: modulemd-defaults\nversion: 2\ndata: {module: a}\n", "modulemd-defaults version 2 is not supported"},
		{"not a modules file", "name: a\nstream: b\n", "no document: key"},
		{"malformed yaml", "document: modulemd\nversion: 2\ndata: {name: [\n", "modules.yaml document 1: yaml: line 3"},
		{"not a mapping", "- a\n- b\n", "document 1 (line 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseModules(strings.NewReader(tt.doc))
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v\nwant an ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

func TestParseNEVRA(t *testing.T) {
	tests := []struct {
		in                     string
		name                   string
		epoch                  int
		version, release, arch string
		wantErr                bool
	}{
		{in: "nodejs-1:18.19.0-1.module+el9.3.0+100+aaaa0018.x86_64", name: "nodejs", epoch: 1, version: "18.19.0", release: "1.module+el9.3.0+100+aaaa0018", arch: "x86_64"},
		{in: "python3-pip-wheel-21.2.3-7.el9.noarch", name: "python3-pip-wheel", version: "21.2.3", release: "7.el9", arch: "noarch"},
		{in: "perl-IO-Socket-SSL-0:2.066-4.module+el8.3.0+6446+594cad75.src", name: "perl-IO-Socket-SSL", version: "2.066", release: "4.module+el8.3.0+6446+594cad75", arch: "src"},
		{in: "a-2.0~rc1^git1-3.x86_64", name: "a", version: "2.0~rc1^git1", release: "3", arch: "x86_64"},
		{in: "noarch", wantErr: true},
		{in: "a-1.x86_64", wantErr: true},
		{in: "a-1-1", wantErr: true},
		{in: "-1-1.noarch", wantErr: true},
		{in: "a-x:1-1.noarch", wantErr: true},
		{in: "a-:1-1.noarch", wantErr: true},
		{in: "a-1:-1.noarch", wantErr: true},
		{in: "a-1-1.", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			name, epoch, version, release, arch, err := ParseNEVRA(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("got %q %d %q %q %q, %v; want ErrInvalid", name, epoch, version, release, arch, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if name != tt.name || epoch != tt.epoch || version != tt.version || release != tt.release || arch != tt.arch {
				t.Errorf("got %q %d %q %q %q", name, epoch, version, release, arch)
			}
		})
	}
}

// Read errors come back as themselves, not as malformed YAML.
func TestParseModulesReadError(t *testing.T) {
	broken := errors.New("connection reset")
	_, err := ParseModules(io.MultiReader(strings.NewReader("document: modulemd\n"), iotestErrReader{broken}))
	if !errors.Is(err, broken) || errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want the read error", err)
	}
}
