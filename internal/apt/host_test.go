package apt

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/signature"
)

// These tests read this machine's real APT lists and dpkg database and
// compare with dpkg's and APT's own tools.

const aptHelper = "/usr/lib/apt/apt-helper"

// hostPackagesLists returns the Packages lists APT downloaded, compressed
// or not, skipping the test when there are none.
func hostPackagesLists(t testing.TB) []string {
	t.Helper()
	files, _ := filepath.Glob("/var/lib/apt/lists/*_Packages*")
	if len(files) == 0 {
		t.Skip("needs downloaded APT lists: no /var/lib/apt/lists/*_Packages* (run apt-get update)")
	}
	return files
}

// readList returns the decompressed content of an APT list file, using APT's
// own decompressor so that lz4, gz, xz and zstd lists all work.
func readList(t testing.TB, file string) []byte {
	t.Helper()
	if _, err := os.Stat(aptHelper); err != nil {
		t.Skipf("needs %s (package apt) to decompress %s: %v", aptHelper, file, err)
	}
	out, err := exec.Command(aptHelper, "cat-file", file).Output()
	if err != nil {
		t.Fatalf("apt-helper cat-file %s: %v", file, err)
	}
	return out
}

// toolOutput runs a command with stdin and returns its stdout.
func toolOutput(t *testing.T, stdin []byte, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

func TestHostDpkgStatus(t *testing.T) {
	f, err := os.Open("/var/lib/dpkg/status")
	if err != nil {
		t.Skipf("needs dpkg's database /var/lib/dpkg/status: %v", err)
	}
	defer f.Close()
	entries, err := ParseStatus(f)
	if err != nil {
		t.Fatal(err)
	}
	compareWithDpkgQuery(t, "/var/lib/dpkg", entries)
}

// TestHostPackagesLists parses every Packages list of this machine and
// checks the count, the order of names and versions against grep and sed,
// and the decompressed bytes against the size and SHA-256 that the signed
// InRelease gives for them.
func TestHostPackagesLists(t *testing.T) {
	for _, file := range hostPackagesLists(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data := readList(t, file)
			var names, versions []string
			err := ParsePackages(bytes.NewReader(data), func(p *Package) error {
				names = append(names, p.Package)
				versions = append(versions, p.Version)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			count, err := strconv.Atoi(strings.TrimSpace(toolOutput(t, data, "grep", "-c", "^Package:")))
			if err != nil {
				t.Fatal(err)
			}
			if len(names) != count {
				t.Errorf("ParsePackages found %d packages, grep -c '^Package:' %d", len(names), count)
			}
			if want := strings.Fields(toolOutput(t, data, "sed", "-n", "s/^Package: //p")); !slices.Equal(names, want) {
				t.Errorf("package names differ from sed's")
			}
			if want := strings.Fields(toolOutput(t, data, "sed", "-n", "s/^Version: //p")); !slices.Equal(versions, want) {
				t.Errorf("versions differ from sed's")
			}
			t.Logf("%d packages in %d bytes", len(names), len(data))
			checkAgainstInRelease(t, file, data)
		})
	}
}

// checkAgainstInRelease finds the InRelease beside a list file and checks
// that it lists the uncompressed index with data's size and digest.
func checkAgainstInRelease(t *testing.T, listFile string, data []byte) {
	base := filepath.Base(listFile)
	inReleases, _ := filepath.Glob(filepath.Join(filepath.Dir(listFile), "*_InRelease"))
	for _, ir := range inReleases {
		prefix := strings.TrimSuffix(filepath.Base(ir), "InRelease")
		if !strings.HasPrefix(base, prefix) {
			continue
		}
		// "main_binary-amd64_Packages.lz4" -> "main/binary-amd64/Packages"
		rel := strings.ReplaceAll(strings.TrimPrefix(base, prefix), "_", "/")
		rel = strings.TrimSuffix(rel, filepath.Ext(rel))
		if !strings.HasSuffix(rel, "Packages") {
			rel += filepath.Ext(strings.TrimPrefix(base, prefix)) // was not compressed
		}
		signed, err := os.ReadFile(ir)
		if err != nil {
			t.Fatal(err)
		}
		body, err := signature.ClearsignedBody(signed)
		if err != nil {
			t.Fatal(err)
		}
		release, err := ParseRelease(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", ir, err)
		}
		fh, ok := release.Lookup(rel)
		if !ok {
			t.Fatalf("%s does not list %s", ir, rel)
		}
		sum := sha256.Sum256(data)
		if fh.Size != int64(len(data)) || fh.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: %d bytes sha256 %x; InRelease says %d %s", rel, len(data), sum, fh.Size, fh.SHA256)
		}
		if _, _, ok := release.IndexPath("main", "amd64"); !ok {
			t.Errorf("%s: IndexPath(main, amd64) found no Packages index", ir)
		}
		return
	}
	t.Logf("no InRelease beside %s; integrity not checked", base)
}

// TestHostDumpavail checks that every package version apt-cache dumpavail
// knows is found by ParsePackages in the lists, or is installed (dumpavail
// also prints installed versions that no list offers).
func TestHostDumpavail(t *testing.T) {
	lists := hostPackagesLists(t)
	if _, err := exec.LookPath("apt-cache"); err != nil {
		t.Skipf("needs apt-cache (package apt): %v", err)
	}
	parsed := map[string]bool{}
	for _, file := range lists {
		err := ParsePackages(bytes.NewReader(readList(t, file)), func(p *Package) error {
			parsed[p.Package+" "+p.Version+" "+p.Architecture] = true
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	if f, err := os.Open("/var/lib/dpkg/status"); err == nil {
		entries, err := ParseStatus(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			parsed[e.Package+" "+e.Version+" "+e.Architecture] = true
		}
	}
	out, err := exec.Command("apt-cache", "dumpavail").Output()
	if err != nil {
		t.Fatalf("apt-cache dumpavail: %v", err)
	}
	// Read dumpavail with awk-like line matching, independently of the parser.
	var pkg, version, arch string
	missing, seen := 0, 0
	scanner := bufio.NewScanner(bytes.NewReader(out))
	scanner.Buffer(nil, maxLineBytes)
	flush := func() {
		if pkg == "" {
			return
		}
		seen++
		if key := pkg + " " + version + " " + arch; !parsed[key] {
			missing++
			if missing <= 10 {
				t.Errorf("dumpavail has %s, ParsePackages did not find it", key)
			}
		}
		pkg, version, arch = "", "", ""
	}
	for scanner.Scan() {
		line := scanner.Text()
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "Package: "):
			pkg = strings.TrimPrefix(line, "Package: ")
		case strings.HasPrefix(line, "Version: "):
			version = strings.TrimPrefix(line, "Version: ")
		case strings.HasPrefix(line, "Architecture: "):
			arch = strings.TrimPrefix(line, "Architecture: ")
		}
	}
	flush()
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	if missing > 0 {
		t.Errorf("%d of %d dumpavail entries missing", missing, seen)
	}
	t.Logf("%d dumpavail entries, %d parsed package versions", seen, len(parsed))
}

// BenchmarkParsePackages parses this machine's biggest Packages list, or a
// generated one of 20,000 packages when there is none.
func BenchmarkParsePackages(b *testing.B) {
	var data []byte
	files, _ := filepath.Glob("/var/lib/apt/lists/*_Packages*")
	if _, err := os.Stat(aptHelper); err == nil && len(files) > 0 {
		var biggest string
		var size int64
		for _, f := range files {
			if st, err := os.Stat(f); err == nil && st.Size() > size {
				biggest, size = f, st.Size()
			}
		}
		data = readList(b, biggest)
		b.Logf("%s: %d bytes", biggest, len(data))
	} else {
		var buf bytes.Buffer
		for i := range 20000 {
			fmt.Fprintf(&buf, "Package: pkg%d\nVersion: 1.%d-1\nArchitecture: amd64\nDepends: libc6 (>= 2.36), libfoo%d\nFilename: pool/main/p/pkg%d/pkg%d_1.%d-1_amd64.deb\nSize: %d\nSHA256: %064x\nDescription: package %d\n %s\n\n",
				i, i, i, i, i, i, 1000+i, i, i, strings.Repeat("long description text ", 20))
		}
		data = buf.Bytes()
		b.Logf("generated: %d bytes", len(data))
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := ParsePackages(bytes.NewReader(data), func(*Package) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
