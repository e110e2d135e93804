package installed

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// dpkgQueryInstalled asks dpkg-query for the installed packages (every state but not-installed
// and config-files) of the dpkg database directory admindir, as "name epoch version release
// arch" with the version split by Dpkg::Version, dpkg's own Perl implementation.
func dpkgQueryInstalled(t *testing.T, admindir string) []string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skipf("needs dpkg-query as oracle: %v", err)
	}
	out, err := exec.Command("dpkg-query", "--admindir="+admindir, "-W",
		"-f", `${db:Status-Status} ${Package} ${Version} ${Architecture}\n`).Output()
	if err != nil {
		t.Fatalf("dpkg-query --admindir=%s: %v", admindir, err)
	}
	var names, versions, arches []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] == "not-installed" || f[0] == "config-files" {
			continue
		}
		names, versions, arches = append(names, f[1]), append(versions, f[2]), append(arches, f[3])
	}
	split := splitWithDpkgPerl(t, versions)
	lines := make([]string, len(names))
	for i := range names {
		lines[i] = names[i] + " " + split[i] + " " + arches[i]
	}
	slices.Sort(lines)
	return lines
}

// splitWithDpkgPerl splits Debian versions with libdpkg-perl's Dpkg::Version into
// "epoch upstream revision", with an empty revision for native versions.
func splitWithDpkgPerl(t *testing.T, versions []string) []string {
	t.Helper()
	const script = `use Dpkg::Version; while (<STDIN>) { chomp; my $v = Dpkg::Version->new($_);
		print join(" ", $v->epoch, $v->version, $v->is_native ? "" : $v->revision), "\n" }`
	cmd := exec.Command("perl", "-e", script)
	cmd.Stdin = strings.NewReader(strings.Join(versions, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("needs perl with Dpkg::Version (Debian package libdpkg-perl) as oracle: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(versions) {
		t.Fatalf("Dpkg::Version split %d versions into %d lines", len(versions), len(lines))
	}
	return lines
}

func dpkgNEVRAs(pkgs []Package) []string {
	out := make([]string, 0, len(pkgs))
	for _, p := range pkgs {
		out = append(out, strings.Join([]string{p.Name, strconv.Itoa(p.Epoch), p.Version, p.Release, p.Arch}, " "))
	}
	slices.Sort(out)
	return out
}

// TestReadDpkgStatusFixture reads a status file taken from a Debian 12 system plus synthetic
// held, removed, purged and unpacked packages, and compares with dpkg-query on the same file.
func TestReadDpkgStatusFixture(t *testing.T) {
	root := filepath.Join("testdata", "roots", "debian-12")
	before := snapshotTree(t, root)
	pkgs, err := ReadDpkgStatus(root)
	if err != nil {
		t.Fatalf("ReadDpkgStatus: %v", err)
	}
	requireUnchanged(t, before, snapshotTree(t, root))
	requireSameSet(t, "packages vs dpkg-query", dpkgNEVRAs(pkgs), dpkgQueryInstalled(t, filepath.Join(root, "var", "lib", "dpkg")))

	want := map[string]Package{
		"bsdutils":       {Name: "bsdutils", Epoch: 1, Version: "2.38.1", Release: "5+deb12u3", Arch: "amd64", SourceRPM: "util-linux"},
		"base-files":     {Name: "base-files", Version: "12.4+deb12u11", Arch: "amd64"},
		"bash":           {Name: "bash", Version: "5.2.15", Release: "2+b8", Arch: "amd64"},
		"gcc":            {Name: "gcc", Epoch: 4, Version: "12.2.0", Release: "3", Arch: "amd64", SourceRPM: "gcc-defaults"},
		"refit-held":     {Name: "refit-held", Epoch: 2, Version: "1.0~rc1", Release: "0.1", Arch: "all"},
		"refit-unpacked": {Name: "refit-unpacked", Version: "3.2", Arch: "i386"},
	}
	for _, p := range pkgs {
		if w, ok := want[p.Name]; ok {
			if !slices.Equal(p.Provides, w.Provides) || p.Name != w.Name || p.Epoch != w.Epoch || p.Version != w.Version ||
				p.Release != w.Release || p.Arch != w.Arch || p.SourceRPM != w.SourceRPM {
				t.Errorf("got %+v, want %+v", p, w)
			}
			delete(want, p.Name)
		}
		if p.Name == "refit-removed" || p.Name == "refit-purged" {
			t.Errorf("%s is not installed but listed", p.Name)
		}
	}
	for name := range want {
		t.Errorf("%s missing", name)
	}
}

// TestReadDpkgStatusHost compares this machine's own dpkg database with dpkg-query.
func TestReadDpkgStatusHost(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skipf("needs a Debian-based host with /var/lib/dpkg/status: %v", err)
	}
	pkgs, err := ReadDpkgStatus("/")
	if err != nil {
		t.Fatalf("ReadDpkgStatus(/): %v", err)
	}
	want := dpkgQueryInstalled(t, "/var/lib/dpkg")
	requireSameSet(t, "host packages vs dpkg-query", dpkgNEVRAs(pkgs), want)
	t.Logf("%d installed packages on this host", len(pkgs))
}

// TestReadDpkgStatusUpdatesJournal applies dpkg's not yet merged journal, as dpkg-query does.
func TestReadDpkgStatusUpdatesJournal(t *testing.T) {
	root := t.TempDir()
	copyDir(t, filepath.Join("testdata", "roots", "debian-12"), root)
	updates := filepath.Join(root, "var", "lib", "dpkg", "updates")
	journal := map[string]string{
		"0001":  "Package: bash\nStatus: install ok installed\nMaintainer: x\nDescription: x\nArchitecture: amd64\nVersion: 5.2.15-2+b9\n",
		"0002":  "Package: tzdata\nStatus: deinstall ok config-files\nMaintainer: x\nDescription: x\nArchitecture: all\nVersion: 2025b-0+deb12u2\n",
		"0003":  "Package: refit-new\nStatus: install ok half-configured\nMaintainer: x\nDescription: x\nArchitecture: amd64\nVersion: 0.9-1\n",
		"tmp.i": "this is no status record and must be ignored",
	}
	for name, content := range journal {
		copyFileContent(t, filepath.Join(updates, name), content)
	}
	pkgs, err := ReadDpkgStatus(root)
	if err != nil {
		t.Fatalf("ReadDpkgStatus: %v", err)
	}
	os.Remove(filepath.Join(updates, "tmp.i")) // dpkg-query would reject it
	got := dpkgNEVRAs(pkgs)
	requireSameSet(t, "packages vs dpkg-query", got, dpkgQueryInstalled(t, filepath.Join(root, "var", "lib", "dpkg")))
	for _, want := range []string{"bash 0 5.2.15 2+b9 amd64", "refit-new 0 0.9 1 amd64"} {
		if !slices.Contains(got, want) {
			t.Errorf("%q missing from %q", want, got)
		}
	}
}

func copyFileContent(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadDpkgStatusErrors(t *testing.T) {
	tests := []struct {
		name    string
		status  *string // nil: no status file
		wantErr error
		wantMsg string
	}{
		{"no status file", nil, ErrNoDpkgStatus, "expected var/lib/dpkg/status"},
		{"nothing installed", ptr("Package: a\nStatus: purge ok not-installed\nArchitecture: all\n"), ErrNoPackages, "status"},
		{"empty file", ptr(""), ErrNoPackages, "status"},
		{"line without colon", ptr("Package: a\nStatus install ok installed\n"), ErrDpkgStatusSyntax, "line 2"},
		{"continuation before any field", ptr(" folded\nPackage: a\n"), ErrDpkgStatusSyntax, "line 1"},
		{"paragraph without Package", ptr("Status: install ok installed\nVersion: 1\n"), ErrDpkgStatusSyntax, "no Package field"},
		{"duplicate field", ptr("Package: a\npackage: b\n"), ErrDpkgStatusSyntax, "duplicate"},
		{"status not three words", ptr("Package: a\nStatus: installed\nArchitecture: all\nVersion: 1\n"), ErrDpkgStatusSyntax, "three words"},
		{"unknown state", ptr("Package: a\nStatus: install ok great\nArchitecture: all\nVersion: 1\n"), ErrDpkgStatusSyntax, "unknown package state"},
		{"installed without version", ptr("Package: a\nStatus: install ok installed\nArchitecture: all\n"), ErrDpkgStatusSyntax, "empty Version"},
		{"installed without architecture", ptr("Package: a\nStatus: install ok installed\nVersion: 1\n"), ErrDpkgStatusSyntax, "Architecture"},
		{"one bad stanza among good ones", ptr("Package: a\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n\n" +
			"Package: b\nStatus: install ok installed\nVersion: 1\n\n" +
			"Package: c\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n"), ErrDpkgStatusSyntax, "package b (line 6)"},
		{"bad epoch", ptr("Package: a\nStatus: install ok installed\nArchitecture: all\nVersion: x:1\n"), ErrDpkgStatusSyntax, "epoch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			path := filepath.Join(root, "var", "lib", "dpkg", "status")
			if tt.status != nil {
				copyFileContent(t, path, *tt.status)
			}
			_, err := ReadDpkgStatus(root)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("ReadDpkgStatus error = %v, want %v saying %q", err, tt.wantErr, tt.wantMsg)
			}
			if tt.status != nil && !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// TestSplitDebianVersion checks the split against Dpkg::Version.
func TestSplitDebianVersion(t *testing.T) {
	valid := []string{
		"1.0", "1.0-1", "1:1.0-1", "0:1.0", "2:1.0~rc1-0.1", "1.2-3-4", "1:2:3-4", "7.4.629-5.el6_8.1",
		"12.4+deb12u11", "2025b-0+deb12u2", "1.0+dfsg-1~bpo12+1", "10:1", "0.0.0-0",
	}
	oracle := splitWithDpkgPerl(t, valid)
	for i, v := range valid {
		t.Run(v, func(t *testing.T) {
			epoch, upstream, revision, err := splitDebianVersion(v)
			if err != nil {
				t.Fatalf("splitDebianVersion(%q): %v", v, err)
			}
			if got := strings.Join([]string{strconv.Itoa(epoch), upstream, revision}, " "); got != oracle[i] {
				t.Errorf("split %q = %q, Dpkg::Version says %q", v, got, oracle[i])
			}
		})
	}
	for _, v := range []string{"", ":1.0", "a:1.0", "-1:1.0", "1.0-", "1:", "1:-1", "99999999999999999999:1", "1.0 beta"} {
		t.Run("invalid "+v, func(t *testing.T) {
			if _, _, _, err := splitDebianVersion(v); err == nil {
				t.Errorf("splitDebianVersion(%q) accepted an invalid version", v)
			}
		})
	}
}

func FuzzDpkgStatus(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "roots", "debian-12", "var", "lib", "dpkg", "status")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("Package: a\nStatus: install ok installed\nArchitecture: all\nVersion: 1:2-3\n\nPackage: b\n"))
	f.Add([]byte("Package: a\n folded\n\n\n# comment\nStatus: hold ok installed\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		records, err := parseDpkgStatus(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrDpkgStatusSyntax) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		pkgs, err := installedDpkgPackages(records)
		if err != nil {
			return
		}
		// Whatever is accepted must make a valid manifest entry and keep its version intact.
		m := Manifest{Format: ManifestFormat, OS: OS{Family: "debian"}, PackageManager: "dpkg", Packages: pkgs}
		if err := m.validate(); err != nil {
			t.Fatalf("accepted packages make an invalid manifest: %v", err)
		}
		for _, p := range pkgs {
			epoch, upstream, revision, err := splitDebianVersion(p.EVR())
			if err != nil || epoch != p.Epoch || upstream != p.Version || revision != p.Release {
				t.Fatalf("EVR %q of %+v does not split back: %d %q %q %v", p.EVR(), p, epoch, upstream, revision, err)
			}
		}
	})
}
