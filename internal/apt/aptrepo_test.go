package apt

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// isolatedAPT is an APT configuration in a temporary directory that sees
// only the fixture repository and nothing of the host's setup.
type isolatedAPT struct {
	t      *testing.T
	config string
}

func newIsolatedAPT(t *testing.T) *isolatedAPT {
	t.Helper()
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skipf("needs apt-get (package apt): %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: apt-get update runs its fetchers as APT::Sandbox::User=root here")
	}
	repo, err := filepath.Abs(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{"etc/apt.conf.d", "etc/preferences.d", "etc/sources.list.d", "state/lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	key := filepath.Join(repo, "refit-archive-key.asc")
	var sources strings.Builder
	for _, suite := range repoSuites {
		fmt.Fprintf(&sources, "deb [signed-by=%s] file://%s %s main\n", key, repo, suite)
	}
	config := fmt.Sprintf(`Dir::Etc "%[1]s/etc";
Dir::Etc::sourcelist "sources.list";
Dir::Etc::sourceparts "sources.list.d";
Dir::Etc::parts "apt.conf.d";
Dir::Etc::preferencesparts "preferences.d";
Dir::State "%[1]s/state";
Dir::State::status "%[1]s/status";
Dir::Cache "%[1]s/cache";
APT::Sandbox::User "root";
Debug::NoLocking "true";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
Acquire::Languages "none";
`, dir)
	files := map[string]string{"etc/sources.list": sources.String(), "status": "", "apt.conf": config}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &isolatedAPT{t: t, config: filepath.Join(dir, "apt.conf")}
}

func (a *isolatedAPT) run(name string, args ...string) []byte {
	a.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "APT_CONFIG="+a.config, "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		a.t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	if bytes.Contains(stderr.Bytes(), []byte("W: ")) || bytes.Contains(stderr.Bytes(), []byte("E: ")) {
		a.t.Errorf("%s %s warned:\n%s", name, strings.Join(args, " "), stderr.Bytes())
	}
	return out
}

// TestRepositoryWithRealAPT has APT itself fetch the fixture repository
// (signatures, Release, by-hash indexes) and checks that apt-cache show
// lists exactly the package versions ParsePackages reads from the same indexes.
func TestRepositoryWithRealAPT(t *testing.T) {
	apt := newIsolatedAPT(t)
	// By-Hash=force makes APT fetch every index through by-hash/SHA256/.
	apt.run("apt-get", "-q", "-o", "Acquire::By-Hash=force", "update")

	var want, names []string
	for _, suite := range repoSuites {
		err := ParsePackages(openFixture(t, filepath.Join(repoDir, "dists", suite, "main/binary-amd64/Packages")), func(p *Package) error {
			want = append(want, fmt.Sprintf("%s %s %s %s %d %s", p.Package, p.Version, p.Architecture, p.Filename, p.Size, p.SHA256))
			if !slices.Contains(names, p.Package) {
				names = append(names, p.Package)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// apt-cache show prints every version of each package (dumpavail only candidates).
	got := controlRecords(t, apt.run("apt-cache", append([]string{"show"}, names...)...))
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("apt-cache show:\n%s\nParsePackages:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// APT must order the versions as the fixture intends.
	policy := string(apt.run("apt-cache", "policy", "refit-demo", "refit-tilde", "refit-epoch", "refit-data"))
	for _, candidate := range []string{"1.0-2", "2.0-1", "1:2.0-1", "1.0-1"} {
		if !strings.Contains(policy, "Candidate: "+candidate+"\n") {
			t.Errorf("apt-cache policy has no candidate %s:\n%s", candidate, policy)
		}
	}
}

// controlRecords reads apt-cache's control-file output line by line,
// independently of the paragraph reader under test.
func controlRecords(t *testing.T, out []byte) []string {
	t.Helper()
	var records []string
	fields := map[string]string{}
	flush := func() {
		if fields["Package"] != "" {
			records = append(records, fmt.Sprintf("%s %s %s %s %s %s", fields["Package"], fields["Version"], fields["Architecture"], fields["Filename"], fields["Size"], fields["SHA256"]))
		}
		clear(fields)
	}
	scanner := bufio.NewScanner(bytes.NewReader(out))
	for scanner.Scan() {
		line := scanner.Text()
		if line == "" {
			flush()
			continue
		}
		if name, value, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, " ") {
			fields[name] = value
		}
	}
	flush()
	return records
}
