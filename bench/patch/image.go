package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/arch"
	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/vmtest"
)

// runImage prints the path of fixture.DebianImage's debian12.qcow2 (fixture.DebianImageArch's
// for another -arch than the host's), building the image first when the cache has none (about 4 minutes natively,
// 25 under emulation). Treat the file as read-only.
func runImage(_ context.Context, args []string) error {
	fs := newFlags("image")
	debArch := fs.String("arch", arch.Host().Debian, "Debian architecture of the image")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var dir string
	build := func(tb testing.TB) { dir = fixture.DebianImage(tb) }
	if *debArch != arch.Host().Debian {
		build = func(tb testing.TB) { dir = fixture.DebianImageArch(tb, *debArch) }
	}
	if err := fixtureRun(build); err != nil {
		return err
	}
	fmt.Println(filepath.Join(dir, "debian12.qcow2"))
	return nil
}

// runUpdateSources prints, in one-line sources.list style, this machine's deb entries for
// the base suite's -updates and -security suites: where the local mirror's packages come
// from (the address is read from /etc/apt, never written into the project).
func runUpdateSources(_ context.Context, args []string) error {
	if err := newFlags("update-sources").Parse(args); err != nil {
		return err
	}
	var list string
	err := fixtureRun(func(tb testing.TB) {
		list = fixture.DebianSourcesList(tb, fixture.DebianSuite+"-updates", fixture.DebianSuite+"-security")
	})
	if err != nil {
		return err
	}
	fmt.Print(list)
	return nil
}

// runVersions opens an image read-only and prints one line per package in its dpkg
// database, "name:arch version status" (status as dpkg-query's db:Status-Abbrev, "ii"
// for installed), sorted. dpkg-query itself reads the database, so the three contenders'
// results are judged by dpkg, not by refit's own reader. With -dpkg-status, the image's
// /var/lib/dpkg/status is also copied to that file.
func runVersions(ctx context.Context, args []string) error {
	fs := newFlags("versions")
	statusCopy := fs.String("dpkg-status", "", "also copy the image's /var/lib/dpkg/status to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("one image is needed")
	}
	sess, err := diskimage.OpenReadOnly(ctx, fs.Arg(0), diskimage.Options{MountFstab: true})
	if err != nil {
		return err
	}
	defer sess.Close()
	admin, err := sess.Mounts.ResolvePath("/var/lib/dpkg")
	if err != nil {
		return err
	}
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "dpkg-query", "--admindir="+admin, "-W",
		"-f=${Package}:${Architecture} ${Version} ${db:Status-Abbrev}\n")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("dpkg-query on %s: %w\n%s", fs.Arg(0), err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	sort.Strings(lines)
	if *statusCopy != "" {
		data, err := os.ReadFile(filepath.Join(admin, "status"))
		if err != nil {
			return fmt.Errorf("reading the image's dpkg status: %w", err)
		}
		if err := os.WriteFile(*statusCopy, data, 0o644); err != nil {
			return err
		}
	}
	fmt.Println(strings.Join(lines, "\n"))
	return sess.Close()
}

// runAuthorize writes a qcow2 copy of an image with a public key appended to root's
// authorized_keys, so the benchmark can log in to the booted copy over SSH. It is set-up,
// not part of any measured time.
func runAuthorize(ctx context.Context, args []string) (err error) {
	fs := newFlags("authorize")
	key := fs.String("key", "", "public key file (one line)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *key == "" || fs.NArg() != 2 {
		fs.Usage()
		return errors.New("-key, an input and an output image are needed")
	}
	in := fs.Arg(0)
	out, err := filepath.Abs(fs.Arg(1)) // the mount point under its directory must be absolute
	if err != nil {
		return err
	}
	pub, err := os.ReadFile(*key)
	if err != nil {
		return fmt.Errorf("reading the public key: %w", err)
	}
	work, err := os.MkdirTemp(filepath.Dir(out), ".authorize-")
	if err != nil {
		return fmt.Errorf("creating a working directory beside %s: %w", out, err)
	}
	defer os.RemoveAll(work)
	raw := filepath.Join(work, "disk.raw")
	if _, err := diskimage.MakeWorkingCopy(ctx, in, raw); err != nil {
		return err
	}
	img, err := diskimage.Attach(ctx, raw, diskimage.Options{MountFstab: true})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := img.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	mounts, err := img.MountRoot(ctx, filepath.Join(work, "root"))
	if err != nil {
		return err
	}
	if err := vmtest.AuthorizeKey(mounts, strings.TrimSpace(string(pub))); err != nil {
		return fmt.Errorf("adding the key to %s: %w", in, err)
	}
	if err := img.Close(); err != nil {
		return err
	}
	return diskimage.Convert(ctx, raw, out, diskimage.FormatQcow2, diskimage.NoCompression)
}
