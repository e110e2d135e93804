package installed

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// almaRoot extracts testdata/real/almalinux-9.0-aarch64-bdb-rpmdb.tar.xz (the Berkeley DB
// rpmdb of AlmaLinux 9.0's aarch64 container image: little-endian, 16 KiB pages, two package
// headers stored inline on the hash pages) into a new root and returns it.
func almaRoot(t *testing.T) string {
	t.Helper()
	fixture.Need(t, "tar", "xz")
	root := t.TempDir()
	out, err := exec.Command("tar", "--numeric-owner", "-xJf",
		filepath.Join("testdata", "real", "almalinux-9.0-aarch64-bdb-rpmdb.tar.xz"), "-C", root).CombinedOutput()
	if err != nil {
		t.Fatalf("extracting the AlmaLinux rpmdb: %v\n%s", err, out)
	}
	return root
}

// almaExpected reads expected-rpm-qa.txt of an almaRoot: what rpm -qa printed for it, as
// NAME-EPOCHNUM:VERSION-RELEASE.ARCH, in the form of nevra.
func almaExpected(t *testing.T, root string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "expected-rpm-qa.txt"))
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`^(.+)-(\d+):([^-]+)-([^-]+)\.([^.]+)$`)
	var out []string
	for _, l := range strings.Fields(string(data)) {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("expected-rpm-qa.txt: cannot parse %q", l)
		}
		out = append(out, strings.Join(m[1:], " "))
	}
	slices.Sort(out)
	return out
}

// TestReadRPMDBInlineHeaders reads the AlmaLinux 9.0 rpmdb, whose almalinux-gpg-keys and
// basesystem headers are small enough to be stored on the hash page itself (H_KEYDATA), and
// requires all 22 packages: what rpm -qa printed when the sample was taken and prints now.
func TestReadRPMDBInlineHeaders(t *testing.T) {
	root := almaRoot(t)
	want := almaExpected(t, root)
	if len(want) != 22 {
		t.Fatalf("expected-rpm-qa.txt lists %d packages, want 22", len(want))
	}
	pkgs := readRPMDBUnchanged(t, root)
	got := nevras(pkgs)
	requireSameSet(t, "NEVRAs vs expected-rpm-qa.txt", got, want)
	requireSameSet(t, "NEVRAs vs rpm -qa", got, rpmQueryAll(t, filepath.Join(root, "var", "lib", "rpm")))
}

// TestReadRPMDBLayouts reloads the AlmaLinux rpmdb with Berkeley DB's own db_dump and
// db_load at every page size in both byte orders, so that headers move between the hash
// pages and overflow chains, and requires each to list what rpm lists. The h_nelem line of
// the dump is dropped, as rpm never sets that hint (see TestReadRPMDBDamaged).
func TestReadRPMDBLayouts(t *testing.T) {
	fixture.Need(t, "db_dump", "db_load")
	alma := almaRoot(t)
	want := almaExpected(t, alma)
	dump := filepath.Join(t.TempDir(), "dump")
	dumpWithoutHint(t, filepath.Join(alma, "var", "lib", "rpm", "Packages"), dump)
	for _, pageSize := range []string{"512", "4096", "16384", "65536"} {
		for _, order := range []string{"1234", "4321"} {
			t.Run(pageSize+"-"+order, func(t *testing.T) {
				root := t.TempDir()
				db := filepath.Join(root, "var", "lib", "rpm", "Packages")
				if err := os.MkdirAll(filepath.Dir(db), 0o755); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command("db_load", "-c", "db_pagesize="+pageSize, "-c", "db_lorder="+order,
					"-f", dump, db).CombinedOutput(); err != nil {
					t.Fatalf("db_load: %v\n%s", err, out)
				}
				pkgs, err := ReadRPMDB(root)
				if err != nil {
					t.Fatalf("ReadRPMDB: %v", err)
				}
				got := nevras(pkgs)
				requireSameSet(t, "NEVRAs vs expected-rpm-qa.txt", got, want)
				requireSameSet(t, "NEVRAs vs rpm -qa", got, rpmQueryAll(t, filepath.Dir(db)))
			})
		}
	}
}

// dumpWithoutHint writes db_dump's output for the database src to dst, without the h_nelem
// header line.
func dumpWithoutHint(t *testing.T, src, dst string) {
	t.Helper()
	out, err := exec.Command("db_dump", src).Output()
	if err != nil {
		t.Fatalf("db_dump %s: %v", src, err)
	}
	out = regexp.MustCompile(`(?m)^h_nelem=.*\n`).ReplaceAll(out, nil)
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReadRPMDBDamaged damages copies of the AlmaLinux rpmdb (16 KiB pages: hash pages 1 and
// 2 hold all 23 key/data pairs, 22 packages and the instance counter) and requires an error
// naming the database and, where records went missing, both counts: never a shorter list.
func TestReadRPMDBDamaged(t *testing.T) {
	alma := almaRoot(t)
	src := filepath.Join(alma, "var", "lib", "rpm", "Packages")
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 16384
	damage := func(f func(b []byte)) []byte {
		b := slices.Clone(orig)
		f(b)
		return b
	}
	// inlineHeader returns the offset of the first package header stored on hash page 2.
	inlineHeader := func() int {
		page := orig[2*pageSize : 3*pageSize]
		for i := 1; i < int(binary.LittleEndian.Uint16(page[20:])); i += 2 {
			off := int(binary.LittleEndian.Uint16(page[26+2*i:]))
			end := int(binary.LittleEndian.Uint16(page[26+2*(i-1):]))
			if page[off] == 1 && end-off > 100 {
				return 2*pageSize + off + 1
			}
		}
		t.Fatal("no inline header on hash page 2")
		return 0
	}()
	tests := []struct {
		name string
		data []byte
		want []string
	}{
		{"hash page 2 zeroed", damage(func(b []byte) { clear(b[2*pageSize : 3*pageSize]) }),
			[]string{"the hash metadata counts 23 records", "hold 12", "11 records could not be read", "all-zero pages: [2"}},
		{"element count raised", damage(func(b []byte) { binary.LittleEndian.PutUint32(b[bdbNelemOffset:], 24) }),
			[]string{"the hash metadata counts 24 records", "hold 23 (22 packages and the instance counter)"}},
		{"inline header damaged", damage(func(b []byte) { binary.BigEndian.PutUint32(b[inlineHeader:], 0xffff) }),
			[]string{"header"}},
		{"inline item type changed", damage(func(b []byte) { b[inlineHeader-1] = 2 }),
			[]string{"item type 2"}},
		{"key replaced by an overflow item", damage(func(b []byte) {
			off := int(binary.LittleEndian.Uint16(b[pageSize+26:]))
			b[pageSize+off] = bdbHOffPage
		}), []string{"hash page 1: key 0 is not a package instance number"}},
		{"overflow chain cut short", damage(func(b []byte) {
			for pg := 3; pg*pageSize < len(b); pg++ { // the first overflow page that ends a chain
				p := b[pg*pageSize:]
				if p[25] == bdbPageOverflow && binary.LittleEndian.Uint32(p[16:]) == 0 {
					binary.LittleEndian.PutUint16(p[22:], binary.LittleEndian.Uint16(p[22:])-1)
					return
				}
			}
		}), []string{"overflow chain from hash page", "its item says"}},
	}
	if _, err := exec.LookPath("db_dump"); err == nil {
		if _, err := exec.LookPath("db_load"); err == nil {
			// db_dump | db_load as people repair rpmdbs: db_load counts the dump's h_nelem
			// hint into the element count, which rpm's own databases never carry.
			hinted := filepath.Join(t.TempDir(), "Packages")
			if out, err := exec.Command("sh", "-c", `db_dump "$1" | db_load "$2"`, "sh", src, hinted).CombinedOutput(); err != nil {
				t.Fatalf("db_dump | db_load: %v\n%s", err, out)
			}
			data, err := os.ReadFile(hinted)
			if err != nil {
				t.Fatal(err)
			}
			tests = append(tests, struct {
				name string
				data []byte
				want []string
			}{"reloaded with an h_nelem hint", data, []string{"the hash metadata counts 46 records", "hold 23", "rpm --rebuilddb"}})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			path := filepath.Join(root, "var", "lib", "rpm", "Packages")
			copyFileContent(t, path, string(tt.data))
			pkgs, err := ReadRPMDB(root)
			if !errors.Is(err, ErrCorruptRPMDB) || !strings.Contains(err.Error(), path) {
				t.Fatalf("ReadRPMDB = %d packages, error %v; want ErrCorruptRPMDB naming %s", len(pkgs), err, path)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
