package hardening

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMountOpts runs fs.tmp's and fs.dev-shm's helpers on fstab files with each shell and awk: a
// missing line becomes a tmpfs line, a partition of its own keeps its file system and gains the
// missing options, comments stay, the check passes afterwards and a second apply changes nothing.
// As root, the kernel then mounts a tmpfs with the options the tmpfs line gives.
func TestMountOpts(t *testing.T) {
	cases := []struct{ name, mountpoint, in, want string }{
		{"no line", "/tmp", "UUID=1 / ext4 errors=remount-ro 0 1\n",
			"UUID=1 / ext4 errors=remount-ro 0 1\ntmpfs /tmp tmpfs defaults,nodev,nosuid,noexec 0 0\n"},
		{"no fstab", "/tmp", "", "tmpfs /tmp tmpfs defaults,nodev,nosuid,noexec 0 0\n"},
		{"own partition", "/tmp", "# /tmp was on /dev/vda2\nUUID=2\t/tmp\text4\tdefaults,nosuid\t0\t2\n",
			"# /tmp was on /dev/vda2\nUUID=2 /tmp ext4 defaults,nosuid,nodev,noexec 0 2\n"},
		{"commented line", "/tmp", "#tmpfs /tmp tmpfs defaults 0 0\n",
			"#tmpfs /tmp tmpfs defaults 0 0\ntmpfs /tmp tmpfs defaults,nodev,nosuid,noexec 0 0\n"},
		{"dev-shm", "/dev/shm", "tmpfs /dev/shm tmpfs defaults 0 0\n", "tmpfs /dev/shm tmpfs defaults,nodev,nosuid,noexec 0 0\n"},
		{"already", "/dev/shm", "tmpfs /dev/shm tmpfs noexec,nodev,nosuid 0 0\n", "tmpfs /dev/shm tmpfs noexec,nodev,nosuid 0 0\n"},
	}
	for _, sh := range shells(t) {
		for _, tc := range cases {
			t.Run(sh.name+"/"+tc.name, func(t *testing.T) {
				f := filepath.Join(t.TempDir(), "fstab")
				if tc.in != "" {
					if err := os.WriteFile(f, []byte(tc.in), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				args := shWords(f, tc.mountpoint)
				checkApplyTwice(t, sh, "refit_mount_opts_check "+args, "refit_mount_opts_apply "+args, f, tc.in == tc.want, tc.want)
			})
		}
	}

	// the kernel takes the tmpfs line's options
	if os.Geteuid() != 0 {
		t.Log("not root: the tmpfs line's options were not mounted")
		return
	}
	dir := t.TempDir()
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		"mount -t tmpfs -o defaults,nodev,nosuid,noexec tmpfs "+shq(dir)+" && findmnt -n -o OPTIONS "+shq(dir)).CombinedOutput()
	if err != nil {
		t.Fatalf("mounting a tmpfs with the line's options: %v\n%s", err, out)
	}
	for _, o := range []string{"nodev", "nosuid", "noexec"} {
		if !strings.Contains(","+strings.TrimSpace(string(out))+",", ","+o+",") {
			t.Errorf("the mounted tmpfs's options %q lack %s", strings.TrimSpace(string(out)), o)
		}
	}
}
