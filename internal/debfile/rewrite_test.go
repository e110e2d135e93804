package debfile

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestReplaceScriptsAgainstDpkgDeb builds a package with dpkg-deb in each compression, replaces its
// preinst, and asks dpkg-deb (the oracle) about the result: it reads the archive, the preinst is the
// new text with its mode, the postinst, control file and payload are unchanged.
func TestReplaceScriptsAgainstDpkgDeb(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("needs dpkg-deb (apt-get install dpkg)")
	}
	dir := t.TempDir()
	pkg := filepath.Join(dir, "pkg")
	os.MkdirAll(filepath.Join(pkg, "DEBIAN"), 0o755)
	os.MkdirAll(filepath.Join(pkg, "usr/share/refit-test"), 0o755)
	os.WriteFile(filepath.Join(pkg, "DEBIAN/control"), []byte("Package: refit-test\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: t\n"), 0o644)
	os.WriteFile(filepath.Join(pkg, "DEBIAN/preinst"), []byte("#!/bin/sh\nsystemctl stop x\n"), 0o755)
	os.WriteFile(filepath.Join(pkg, "DEBIAN/postinst"), []byte("#!/bin/sh\nset -e\n"), 0o755)
	os.WriteFile(filepath.Join(pkg, "usr/share/refit-test/data"), bytes.Repeat([]byte("x"), 4097), 0o644)
	const preinst = "#!/bin/sh\n:\n"
	for _, z := range []string{"gzip", "xz", "zstd", "none"} {
		t.Run(z, func(t *testing.T) {
			deb := filepath.Join(dir, z+".deb")
			if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-Z"+z, "--build", pkg, deb).CombinedOutput(); err != nil {
				t.Skipf("dpkg-deb cannot build -Z%s here: %v: %s", z, err, out)
			}
			in, err := os.Open(deb)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			var out bytes.Buffer
			if err := ReplaceScripts(in, &out, map[string]string{"preinst": preinst}); err != nil {
				t.Fatal(err)
			}
			rewritten := filepath.Join(dir, z+"-rewritten.deb")
			if err := os.WriteFile(rewritten, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			orig, now := filepath.Join(dir, z+"-orig"), filepath.Join(dir, z+"-now")
			for d, f := range map[string]string{orig: deb, now: rewritten} {
				if msg, err := exec.Command("dpkg-deb", "--control", f, d).CombinedOutput(); err != nil {
					t.Fatalf("dpkg-deb --control %s: %v: %s", f, err, msg)
				}
			}
			got, _ := os.ReadFile(filepath.Join(now, "preinst"))
			if string(got) != preinst {
				t.Errorf("preinst after ReplaceScripts: %q", got)
			}
			if fi, err := os.Stat(filepath.Join(now, "preinst")); err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("preinst mode: %v %v", fi, err)
			}
			for _, f := range []string{"postinst", "control"} {
				a, _ := os.ReadFile(filepath.Join(orig, f))
				b, _ := os.ReadFile(filepath.Join(now, f))
				if !bytes.Equal(a, b) || len(a) == 0 {
					t.Errorf("%s changed: %q -> %q", f, a, b)
				}
			}
			a, err1 := exec.Command("dpkg-deb", "--fsys-tarfile", deb).Output()
			b, err2 := exec.Command("dpkg-deb", "--fsys-tarfile", rewritten).Output()
			if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
				t.Errorf("the payload changed (%v, %v)", err1, err2)
			}
			in.Seek(0, 0)
			if err := ReplaceScripts(in, &out, map[string]string{"config": "x"}); err == nil {
				t.Error("replacing a script the package does not have did not fail")
			}
		})
	}
}
