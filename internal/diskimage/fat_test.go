package diskimage

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckFATName(t *testing.T) {
	for name, ok := range map[string]bool{
		"BOOTX64.EFI": true, "grubx64.efi": true, "A long name with spaces.txt": true, "ünïcödé.cfg": true,
		".hidden": true, strings.Repeat("x", 255): true,
		strings.Repeat("x", 256): false, "a:b": false, "a*": false, "what?": false, "tab\there": false,
		"trailing.": false, "trailing ": false, `back\slash`: false, "pipe|": false, `"quoted"`: false,
	} {
		if err := checkFATName(name); (err == nil) != ok {
			t.Errorf("checkFATName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

// espOffset is where gpt-efi.raw's EFI system partition starts (make-images.sh).
const espOffset = "1M"

// readESP copies the ESP of the raw image out with mtools, outside refit's code, checks it
// with fsck.fat -n, and returns its files (slash path → content; folders end in "/") and
// the volume line of mdir (label and serial).
func readESP(t *testing.T, raw string) (map[string]string, string) {
	t.Helper()
	dev := raw + "@@" + espOffset
	env := append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C.UTF-8")
	mtool := func(args ...string) string {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
		return string(out)
	}
	// fsck.fat takes no offset: check a copy of the partition.
	part := filepath.Join(t.TempDir(), "esp.img")
	if out, err := exec.Command("dd", "if="+raw, "of="+part, "bs=1M", "skip=1", "count=16", "status=none").CombinedOutput(); err != nil {
		t.Fatalf("dd: %v: %s", err, out)
	}
	if out, err := exec.Command("fsck.fat", "-n", part).CombinedOutput(); err != nil {
		t.Fatalf("fsck.fat -n on the ESP: %v: %s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "esp")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(mtool("mdir", "-b", "-a", "-i", dev, "::/")) != "" {
		mtool("mcopy", "-s", "-n", "-i", dev, "::/*", dir+"/")
	}
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			files[rel+"/"] = ""
			return nil
		}
		b, err := os.ReadFile(p)
		files[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var volume []string
	for _, l := range strings.Split(mtool("mdir", "-i", dev, "::/"), "\n") {
		if strings.Contains(l, "Volume") {
			volume = append(volume, strings.TrimSpace(l))
		}
	}
	return files, strings.Join(volume, "; ")
}

// buildOnESP attaches the working copy work, runs script with sh inside the image's mount
// namespace with $ESP set to the staged /boot/efi, and unmounts; it returns Unmount's error.
// The image is always detached at the end, and nothing may be left.
func buildOnESP(t *testing.T, work, script string) error {
	t.Helper()
	ctx := context.Background()
	img, err := Attach(ctx, work, Options{MountFstab: true, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	devices, holder := imageDevices(t, img), holderPID(img)
	defer func() {
		if err := img.Detach(canceled()); err != nil {
			t.Errorf("detaching: %v", err)
		}
		checkTornDown(t, work, devices, holder)
	}()
	m, err := img.MountRoot(ctx, filepath.Join(t.TempDir(), "mnt"))
	if err != nil {
		t.Fatal(err)
	}
	staged := false
	for _, f := range m.Filesystems() {
		staged = staged || (f.Mountpoint == "/boot/efi" && f.Staged)
	}
	if !staged {
		t.Fatalf("/boot/efi is not staged: %+v", m.Filesystems())
	}
	argv := append(m.CommandPrefix(), "sh", "-euc", script)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "ESP="+m.Root()+"/boot/efi")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build script: %v: %s", err, out)
	}
	return m.Unmount(ctx)
}

// canceled returns a context that is already done: Detach then discards staged files.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestFATWriteBack writes an ESP the kernel cannot mount through its staging tmpfs, in two
// builds (create, then overwrite, grow, shrink, delete, rename by case), and checks the
// partition with mtools and fsck.fat from outside: exactly the staged files, with names and
// case, and the volume label and serial kept. It does so on a FAT16 and on a FAT12 ESP (blkid
// says which); the UEFI image's FAT32 ESP is written by builder/chroot's TestAccUEFI.
func TestFATWriteBack(t *testing.T) {
	if err := fatStagingAvailable(); err != nil {
		t.Skip(err)
	}
	src := testImage(t, "gpt-efi.raw")
	srcSum := fileSHA256(t, src)
	for _, fat := range []string{"FAT16", "FAT12"} {
		t.Run(fat, func(t *testing.T) {
			work := workingCopy(t, "gpt-efi.raw")
			if fat == "FAT12" {
				makeFAT12(t, work)
			}
			fatWriteBack(t, work, fat)
		})
	}
	if fileSHA256(t, src) != srcSum {
		t.Errorf("the input image %s changed", src)
	}
}

// makeFAT12 formats the ESP of the working copy of gpt-efi.raw again as FAT12 (same volume ID,
// label and files), as small ESPs are.
func makeFAT12(t *testing.T, work string) {
	t.Helper()
	for _, c := range [][]string{
		{"mkfs.vfat", "-F", "12", "-i", "9E2C0001", "-n", "EFI", "--offset", "2048", work, "16384"},
		{"mmd", "-i", work + "@@" + espOffset, "::/EFI", "::/EFI/BOOT"},
		{"sh", "-c", `echo efi | mcopy -i "$0" - ::/EFI/BOOT/refit-fs && echo efi | mcopy -i "$0" - ::/refit-fs`, work + "@@" + espOffset},
	} {
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", c, err, out)
		}
	}
}

// fatWriteBack runs two builds on the working copy work whose ESP is of type fat.
func fatWriteBack(t *testing.T, work, fat string) {
	t.Helper()
	out, err := exec.Command("blkid", "-p", "-O", "1048576", "-s", "VERSION", "-o", "value", work).Output()
	if got := strings.TrimSpace(string(out)); err != nil || got != fat {
		t.Fatalf("the ESP is %q (%v), want %s", got, err, fat)
	}
	before, volume := readESP(t, work)
	if before["refit-fs"] != "efi\n" || before["EFI/BOOT/refit-fs"] != "efi\n" {
		t.Fatalf("unexpected ESP before the build: %q", before)
	}
	// A system and hidden file the build rewrites keeps those attributes.
	mattrib := func(args ...string) string {
		cmd := exec.Command("mattrib", append([]string{"-i", work + "@@" + espOffset}, args...)...)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mattrib %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	mattrib("+s", "+h", "::/EFI/BOOT/refit-fs")
	long := "A long name with spaces and ünïcödé.txt"
	err = buildOnESP(t, work, `
mkdir -p "$ESP/EFI/debian" "$ESP/EFI/Empty Dir"
head -c 300000 /dev/urandom > "$ESP/EFI/debian/grubx64.efi"
echo shrink-me-please-i-am-long > "$ESP/EFI/debian/grub.cfg"
echo new > "$ESP/EFI/BOOT/refit-fs"
echo long > "$ESP/`+long+`"
echo mixed > "$ESP/MixedCase.TXT"
echo lower > "$ESP/lower.txt"
echo upper > "$ESP/UPPER.TXT"
echo gone > "$ESP/delete-me"
rm "$ESP/refit-fs"
`)
	if err != nil {
		t.Fatal(err)
	}
	got, vol := readESP(t, work)
	if vol != volume {
		t.Errorf("volume changed: %q, was %q", vol, volume)
	}
	if flags := mattrib("::/EFI/BOOT/refit-fs"); !strings.Contains(flags, "SH") {
		t.Errorf("the rewritten EFI/BOOT/refit-fs lost its system and hidden attributes: %q", flags)
	}
	grub := got["EFI/debian/grubx64.efi"]
	want := map[string]string{
		"EFI/": "", "EFI/BOOT/": "", "EFI/BOOT/refit-fs": "new\n", "EFI/debian/": "", "EFI/Empty Dir/": "",
		"EFI/debian/grub.cfg": "shrink-me-please-i-am-long\n", long: "long\n", "MixedCase.TXT": "mixed\n",
		"lower.txt": "lower\n", "UPPER.TXT": "upper\n", "delete-me": "gone\n",
	}
	if len(grub) != 300000 {
		t.Errorf("grubx64.efi is %d bytes on the ESP, want 300000", len(grub))
	}
	want["EFI/debian/grubx64.efi"] = grub
	checkTree(t, got, want)

	// The second build sees the first one's files (read back from the partition).
	err = buildOnESP(t, work, `
echo "`+fmt.Sprintf("%x", sha256.Sum256([]byte(grub)))+`  $ESP/EFI/debian/grubx64.efi" | sha256sum -c --quiet
head -c 2000000 /dev/urandom > "$ESP/EFI/debian/grubx64.efi"
echo short > "$ESP/EFI/debian/grub.cfg"
rm "$ESP/delete-me"
rm -r "$ESP/EFI/Empty Dir"
mv "$ESP/lower.txt" "$ESP/LOWER.txt"
mkdir "$ESP/EFI/BOOT/sub"; echo deep > "$ESP/EFI/BOOT/sub/deep.txt"
`)
	if err != nil {
		t.Fatal(err)
	}
	got, vol = readESP(t, work)
	if vol != volume {
		t.Errorf("volume changed: %q, was %q", vol, volume)
	}
	if n := len(got["EFI/debian/grubx64.efi"]); n != 2000000 {
		t.Errorf("grown grubx64.efi is %d bytes, want 2000000", n)
	}
	want = map[string]string{
		"EFI/": "", "EFI/BOOT/": "", "EFI/BOOT/refit-fs": "new\n", "EFI/debian/": "", "EFI/BOOT/sub/": "",
		"EFI/BOOT/sub/deep.txt": "deep\n", "EFI/debian/grub.cfg": "short\n", long: "long\n",
		"MixedCase.TXT": "mixed\n", "LOWER.txt": "lower\n", "UPPER.TXT": "upper\n",
		"EFI/debian/grubx64.efi": got["EFI/debian/grubx64.efi"],
	}
	checkTree(t, got, want)
}

func checkTree(t *testing.T, got, want map[string]string) {
	t.Helper()
	for p, w := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("the ESP lacks %s", p)
		} else if g != w {
			t.Errorf("%s on the ESP holds %q, want %q", p, trim(g), trim(w))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("the ESP holds %s, which the build did not leave there", p)
		}
	}
}

func trim(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%d bytes", len(s))
	}
	return s
}

// TestFATWriteBackErrors: what FAT cannot hold stops the teardown with an error naming the
// file, the partition stays as it was, and nothing is left attached or mounted.
func TestFATWriteBackErrors(t *testing.T) {
	if err := fatStagingAvailable(); err != nil {
		t.Skip(err)
	}
	for _, tc := range []struct{ name, script, want string }{
		{"full partition", `head -c $(( $(df -B1 --output=avail "$ESP" | tail -1) - 8192 )) /dev/zero > "$ESP/EFI/huge.bin"`, "the partition is full"},
		{"invalid name", `echo x > "$ESP/EFI/a:b"`, `EFI/a:b: the name contains ':'`},
		{"case clash", `echo x > "$ESP/EFI/boot"`, "differ only in case"},
		{"symlink", `ln -s BOOT "$ESP/EFI/link"`, "EFI/link is a symbolic link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := workingCopy(t, "gpt-efi.raw")
			before, _ := readESP(t, work)
			err := buildOnESP(t, work, tc.script)
			if !errors.Is(err, ErrFATWriteBack) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Unmount: %v, want ErrFATWriteBack saying %q", err, tc.want)
			}
			t.Log(err)
			if tc.name == "full partition" {
				return // mtools wrote part of it: the build fails and its image is thrown away
			}
			after, _ := readESP(t, work)
			checkTree(t, after, before)
		})
	}
}

// TestFATStagedReadOnly: a read-only session sees the ESP's files, cannot write them, and
// leaves the image file unchanged.
func TestFATStagedReadOnly(t *testing.T) {
	if err := fatStagingAvailable(); err != nil {
		t.Skip(err)
	}
	src := testImage(t, "gpt-efi.raw")
	sum := fileSHA256(t, src)
	s, err := OpenReadOnly(context.Background(), src, Options{MountFstab: true, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got := readImageFile(t, s.Mounts, "/boot/efi/EFI/BOOT/refit-fs"); got != "efi" {
		t.Errorf("EFI/BOOT/refit-fs reads %q", got)
	}
	p, _ := s.Mounts.ResolvePath("/boot/efi/new")
	if err := os.WriteFile(p, []byte("x"), 0o644); err == nil {
		t.Error("writing to the read-only staged ESP succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fileSHA256(t, src) != sum {
		t.Error("the image changed")
	}
}
