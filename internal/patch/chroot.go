package patch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/imageroot"
)

// command runs args inside the target root (chroot) with a clean offline environment.
func (t Target) command(ctx context.Context, args ...string) *exec.Cmd {
	argv := append(t.prefix(), t.chrootArgs(args...)...)
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// prefix is the argv prefix of every command run on the root: umask 022 (as a root
// shell has on the distributions; what scripts create must not depend on the umask of
// whoever runs refit, or the same patch would give different files), then t.Prefix.
func (t Target) prefix() []string {
	return append([]string{"/bin/sh", "-c", `umask 022 && exec "$@"`, "refit-umask"}, t.Prefix...)
}

// chrootArgs is the argv that runs args in the root (chroot) with a clean offline environment.
func (t Target) chrootArgs(args ...string) []string {
	if t.ChrootDir == "" {
		t.ChrootDir = t.HostRoot
	}
	argv := []string{"chroot", t.ChrootDir, "/usr/bin/env", "-i",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LC_ALL=C.UTF-8",
		"DEBIAN_FRONTEND=noninteractive", "DEBCONF_NONINTERACTIVE_SEEN=true", "SYSTEMD_OFFLINE=1"}
	return append(argv, args...)
}

func runIn(ctx context.Context, opts *Options, args ...string) (string, error) {
	return runCommand(opts.Target.command(ctx, args...), args)
}

// runCommand runs cmd (args inside the root) and returns its output; the error carries its tail.
func runCommand(cmd *exec.Cmd, args []string) (string, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		tail := out.String()
		if len(tail) > 4000 {
			tail = "…" + tail[len(tail)-4000:]
		}
		return out.String(), fmt.Errorf("%w: %s: %v\n%s", ErrApply, strings.Join(args, " "), err, tail)
	}
	return out.String(), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// mkdirInImage makes dir inside the root (imageroot.MkdirAll) and returns its host path;
// a symlink on the way is refused (ErrRefused).
func mkdirInImage(root, dir string) (string, error) {
	p, err := imageroot.MkdirAll(root, dir)
	return p, refuseSymlink(err)
}

// refuseSymlink makes an imageroot error about a symlinked directory a refusal: an image
// pointing a directory refit writes into elsewhere is hostile.
func refuseSymlink(err error) error {
	if errors.Is(err, imageroot.ErrSymlink) {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return err
}
