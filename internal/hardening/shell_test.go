package hardening

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testShell is a POSIX shell the program must run with, and the awk it finds: each awk the
// supported systems ship (mawk on Debian and Ubuntu, gawk on RPM systems, busybox awk) is paired
// with one shell, because awks disagree in corners (backslashes in gsub replacements).
type testShell struct {
	name string
	argv []string
	awk  []string
}

var allShells = []testShell{
	{"dash+mawk", []string{"dash"}, []string{"mawk"}},
	{"bash+gawk", []string{"bash", "--posix"}, []string{"gawk"}},
	{"busybox", []string{"busybox", "sh"}, []string{"busybox", "awk"}},
}

// shells returns the shells installed here; CI has all three, so a missing one fails there.
func shells(t *testing.T) []testShell {
	t.Helper()
	var found []testShell
	var missing []string
	for _, s := range allShells {
		_, errShell := exec.LookPath(s.argv[0])
		_, errAwk := exec.LookPath(s.awk[0])
		switch {
		case errShell != nil:
			missing = append(missing, s.argv[0])
		case errAwk != nil:
			missing = append(missing, s.awk[0])
		default:
			found = append(found, s)
		}
	}
	if len(missing) > 0 {
		t.Logf("shells or awks not installed (apt-get install %s): only %d of %d combinations tested", strings.Join(missing, " "), len(found), len(allShells))
	}
	if len(found) == 0 {
		t.Skip("needs dash, bash or busybox")
	}
	return found
}

// runScript runs script with the shell and returns its standard output and exit status.
func runScript(t *testing.T, sh testShell, script string) (string, int) {
	t.Helper()
	cmd := exec.Command(sh.argv[0], append(sh.argv[1:], "-c", script)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", sh.name, err)
	}
	if stderr.Len() > 0 {
		t.Logf("%s stderr:\n%s", sh.name, stderr.String())
	}
	return stdout.String(), code
}

// withPrelude wraps a test body: the prelude's helpers, the shell's awk first in PATH, a private
// REFIT_TMP and Debian settings.
func withPrelude(t *testing.T, sh testShell, body string) string {
	t.Helper()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := "#!/bin/sh\nexec " + shWords(sh.awk...) + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "awk"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	return "REFIT_VERIFY=1\nREFIT_INSTALL=0\n" + prelude + "\nPATH=" + shq(bin) + ":$PATH\nREFIT_TMP=" + shq(tmp) +
		"\nREFIT_OS_ID=debian REFIT_OS_VERSION=12 REFIT_FAMILY=debian REFIT_RPM=0 REFIT_LIVE=0\n" + body
}

// checkApplyTwice runs a helper pair on file with the shell: check (which must fail first unless
// compliantBefore), apply, check (which must pass), apply again (which must not change file), and
// compares file with want.
func checkApplyTwice(t *testing.T, sh testShell, check, apply, file string, compliantBefore bool, want string) {
	t.Helper()
	before := "exit 7"
	if compliantBefore {
		before = ":"
	}
	body := check + " && " + before + "\n" + apply + " || exit 5\n" + check + " || exit 6\n" +
		"cp " + shq(file) + " " + shq(file+".1") + "\n" + apply + " || exit 5\ncmp -s " + shq(file) + " " + shq(file+".1") + " || exit 4"
	if _, code := runScript(t, sh, withPrelude(t, sh, body)); code != 0 {
		t.Fatalf("exit %d (7: compliant before the apply, 5: apply failed, 6: not compliant after it, 4: a second apply changed the file)", code)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s =\n%q\nwant\n%q", filepath.Base(file), got, want)
	}
}

// TestProtocolRoundTrip prints details with tabs, newlines, carriage returns and backslashes
// through the program's own refit_report and reads them back with ParseResults.
func TestProtocolRoundTrip(t *testing.T) {
	details := []string{
		"",
		"plain",
		"tab\there",
		"two\nlines\n",
		`back\slash \t not a tab`,
		"cr\r\nlf",
		"trailing backslash\\",
		"unicode ✓ and 'quotes' \"double\" $(not run) `nor this`",
	}
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			var body strings.Builder
			for i, d := range details {
				body.WriteString("refit_report " + shq("rule."+string(rune('a'+i))) + " changed 'title' " + shq(d) + "\n")
			}
			body.WriteString(`printf 'REFIT-DONE\t%d\t%d\t%d\t%d\n' "$REFIT_N_CHANGED" "$REFIT_N_OK" "$REFIT_N_SKIPPED" "$REFIT_N_FAILED"` + "\n")
			out, code := runScript(t, sh, withPrelude(t, sh, body.String()))
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, out)
			}
			results, err := ParseResults([]byte(out))
			if err != nil {
				t.Fatalf("ParseResults: %v\n%s", err, out)
			}
			if len(results) != len(details) {
				t.Fatalf("%d results, want %d", len(results), len(details))
			}
			for i, r := range results {
				// command substitution drops trailing newlines of a detail
				if want := strings.TrimRight(details[i], "\n"); r.Detail != want {
					t.Errorf("detail %d = %q, want %q", i, r.Detail, want)
				}
			}
		})
	}
}

// TestClassifyOS runs the program's OS detection on real os-release files.
func TestClassifyOS(t *testing.T) {
	cases := []struct {
		file   string
		family string // "" = unsupported
	}{
		{"debian-12", "debian"},
		{"ubuntu-22.04", "debian"},
		{"ubuntu-24.04", "debian"},
		{"rhel-9.3", "rhel"},
		{"rocky-9.3", "rhel"},
		{"almalinux-8.9", "rhel"},
		{"centos-stream-9", "rhel"},
		{"fedora-40", "fedora"},
		{"debian-11", ""},
		{"ubuntu-20.04", ""},
		{"centos-7", ""},
		{"linuxmint-21.3", ""},
		{"amzn-2023", ""},
		{"alpine-3.19", ""},
		{"opensuse-leap-15.5", ""},
		{"sles-15-sp5", ""},
	}
	for _, sh := range shells(t) {
		for _, tc := range cases {
			t.Run(sh.name+"/"+tc.file, func(t *testing.T) {
				path, err := filepath.Abs(filepath.Join("testdata", "os-release", tc.file))
				if err != nil {
					t.Fatal(err)
				}
				out, code := runScript(t, sh, withPrelude(t, sh, "refit_os_release "+shq(path)+" || exit 9\nrefit_classify_os || exit 8\nprintf '%s' \"$REFIT_FAMILY\""))
				switch {
				case code == 9:
					t.Fatalf("could not read %s", path)
				case tc.family == "" && code != 8:
					t.Errorf("%s classified as %q, want unsupported", tc.file, out)
				case tc.family != "" && (code != 0 || out != tc.family):
					t.Errorf("%s: family %q (exit %d), want %q", tc.file, out, code, tc.family)
				}
			})
		}
	}
}

// TestKVHelpers edits key/value files the way login.defs, pwquality.conf and systemd files are
// edited, and checks the result and that a second edit changes nothing.
func TestKVHelpers(t *testing.T) {
	cases := []struct {
		name, in, key, value, sep, ci, want string
	}{
		{"login.defs replace", "# c\nPASS_MAX_DAYS\t99999\nUMASK 022\n", "PASS_MAX_DAYS", "365", "ws", "", "# c\nPASS_MAX_DAYS 365\nUMASK 022\n"},
		{"login.defs append", "UMASK 022\n", "PASS_MIN_DAYS", "1", "ws", "", "UMASK 022\nPASS_MIN_DAYS 1\n"},
		{"duplicates collapse", "A 1\nB 2\nA 3\n", "A", "4", "ws", "", "A 4\nB 2\n"},
		{"comment kept", "#minlen = 8\n", "minlen", "15", "eq", "", "#minlen = 8\nminlen = 15\n"},
		{"eq spacing", "minlen=8\n", "minlen", "15", "eq", "", "minlen = 15\n"},
		{"eq0 systemd", "[Journal]\n#Storage=auto\nStorage=volatile\n", "Storage", "persistent", "eq0", "", "[Journal]\n#Storage=auto\nStorage=persistent\n"},
		{"no final newline", "A 1", "B", "2", "ws", "", "A 1\nB 2\n"},
		{"case-insensitive", "passwordauthentication yes\n", "PasswordAuthentication", "no", "ws", "i", "PasswordAuthentication no\n"},
		{"missing file", "", "deny", "3", "eq", "", "deny = 3\n"},
	}
	for _, sh := range shells(t) {
		for _, tc := range cases {
			t.Run(sh.name+"/"+tc.name, func(t *testing.T) {
				f := filepath.Join(t.TempDir(), "conf")
				if tc.name != "missing file" {
					if err := os.WriteFile(f, []byte(tc.in), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				args := shWords(f, tc.key, tc.value, tc.sep, tc.ci)
				checkApplyTwice(t, sh, "refit_kv_is "+args, "refit_kv_set "+args, f, false, tc.want)
			})
		}
	}
}

// TestSSHDSetIn checks that sshd keywords are set before the first Match block, where they apply
// to every connection, and that Match blocks are left alone.
func TestSSHDSetIn(t *testing.T) {
	cases := []struct{ name, in, key, value, want string }{
		{"replace first", "Port 2222\nX11Forwarding yes\n", "X11Forwarding", "no", "Port 2222\nX11Forwarding no\n"},
		{"append", "Port 22\n", "MaxAuthTries", "3", "Port 22\nMaxAuthTries 3\n"},
		{"before match", "Port 22\nMatch User bob\n\tX11Forwarding yes\n", "X11Forwarding", "no", "Port 22\nX11Forwarding no\nMatch User bob\n\tX11Forwarding yes\n"},
		{"case and equals", "x11forwarding=yes\n", "X11Forwarding", "no", "X11Forwarding no\n"},
		{"commented left", "#PermitRootLogin yes\n", "PermitRootLogin", "no", "#PermitRootLogin yes\nPermitRootLogin no\n"},
	}
	for _, sh := range shells(t) {
		for _, tc := range cases {
			t.Run(sh.name+"/"+tc.name, func(t *testing.T) {
				f := filepath.Join(t.TempDir(), "sshd_config")
				if err := os.WriteFile(f, []byte(tc.in), 0o600); err != nil {
					t.Fatal(err)
				}
				if _, code := runScript(t, sh, withPrelude(t, sh, "refit_sshd_set_in "+shWords(f, tc.key, tc.value))); code != 0 {
					t.Fatalf("exit %d", code)
				}
				got, _ := os.ReadFile(f)
				if string(got) != tc.want {
					t.Errorf("file =\n%q\nwant\n%q", got, tc.want)
				}
			})
		}
	}
}

// TestSSHDExpand checks the effective-value reader: Include globs expand in order, the first
// value wins, and nothing after a Match counts.
func TestSSHDExpand(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"sshd_config":               "Include " + filepath.Join(dir, "d") + "/*.conf\nPermitRootLogin yes\nMaxAuthTries 6\nMatch User x\n\tLogLevel DEBUG\n",
		"d/00-first.conf":           "PermitRootLogin no\n",
		"d/50-second.conf":          "PermitRootLogin prohibit-password\nPasswordAuthentication=no\n",
		"d/not-included.disabled":   "MaxAuthTries 1\n",
		"d/99-last-with-match.conf": "Match Address 10.0.0.0/8\n\tMaxAuthTries 2\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct{ key, want string }{
		{"PermitRootLogin", "no"},
		{"PasswordAuthentication", "no"},
		{"MaxAuthTries", ""}, // the Match of 99-last-with-match.conf comes before the main file's line
		{"LogLevel", ""},
	}
	for _, sh := range shells(t) {
		for _, tc := range cases {
			t.Run(sh.name+"/"+tc.key, func(t *testing.T) {
				out, code := runScript(t, sh, withPrelude(t, sh, "REFIT_SSHD_MAIN="+shq(filepath.Join(dir, "sshd_config"))+"\nrefit_sshd_get "+tc.key))
				if code != 0 || strings.TrimSpace(out) != tc.want {
					t.Errorf("refit_sshd_get %s = %q (exit %d), want %q", tc.key, out, code, tc.want)
				}
			})
		}
	}
}

// TestGrubCfgEdit checks REFIT_AWK_GRUB_CFG on grub.cfg files laid out as grub-mkconfig writes
// them: the password section goes where grub-mkconfig would put 01_refit_password's (or replaces
// an older one), the menu entries of the 10_linux section become --unrestricted and the others
// (UEFI firmware settings) do not, the check passes afterwards and a second edit changes nothing.
func TestGrubCfgEdit(t *testing.T) {
	const (
		header  = "### BEGIN /etc/grub.d/00_header ###\nset default=\"0\"\n### END /etc/grub.d/00_header ###\n"
		theme   = "\n### BEGIN /etc/grub.d/05_debian_theme ###\nset menu_color_normal=cyan/blue\n### END /etc/grub.d/05_debian_theme ###\n"
		section = "### BEGIN /etc/grub.d/01_refit_password ###\nset superusers=\"root\"\nexport superusers\npassword_pbkdf2 root grub.pbkdf2.sha512.10000.AA.BB\n### END /etc/grub.d/01_refit_password ###\n"
		entry   = "menuentry 'Debian GNU/Linux' --class debian --class os%s $menuentry_id_option 'gnulinux-simple-1' {\n\tlinux\t/boot/vmlinuz root=UUID=1 ro\n}\n"
		sub     = "submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-1' {\n\tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-50-amd64 (recovery mode)' --class os%s $menuentry_id_option 'gnulinux-6.1-recovery-1' {\n\t\tlinux\t/boot/vmlinuz root=UUID=1 ro single\n\t}\n}\n"
		uefi    = "\n### BEGIN /etc/grub.d/30_uefi-firmware ###\nmenuentry 'UEFI Firmware Settings' $menuentry_id_option 'uefi-firmware' {\n\tfwsetup\n}\n### END /etc/grub.d/30_uefi-firmware ###\n"
	)
	linux := func(unrestricted string) string {
		return "\n### BEGIN /etc/grub.d/10_linux ###\n" + fmt.Sprintf(entry, unrestricted) + fmt.Sprintf(sub, unrestricted) + "\n### END /etc/grub.d/10_linux ###\n"
	}
	want := header + "\n" + section + theme + linux(" --unrestricted") + uefi
	cases := []struct{ name, in, want string }{
		{"as update-grub wrote it", header + theme + linux("") + uefi, want},
		{"an older password", header + "\n" + strings.Replace(section, "AA.BB", "CC.DD", 1) + theme + linux("") + uefi, want},
		{"already done", want, want},
		{"no 00_header", "set timeout=0\n" + linux(""), section + "\nset timeout=0\n" + linux(" --unrestricted")},
		{"no menuentry_id_option", header + "\n### BEGIN /etc/grub.d/10_linux ###\nmenuentry 'Linux' {\n}\n### END /etc/grub.d/10_linux ###\n",
			header + "\n" + section + "\n### BEGIN /etc/grub.d/10_linux ###\nmenuentry 'Linux' --unrestricted {\n}\n### END /etc/grub.d/10_linux ###\n"},
	}
	lines := "set superusers=\"root\"\nexport superusers\npassword_pbkdf2 root grub.pbkdf2.sha512.10000.AA.BB\n"
	for _, sh := range shells(t) {
		for _, tc := range cases {
			t.Run(sh.name+"/"+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				cfg, sec := filepath.Join(dir, "grub.cfg"), filepath.Join(dir, "lines")
				if err := os.WriteFile(cfg, []byte(tc.in), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(sec, []byte(lines), 0o600); err != nil {
					t.Fatal(err)
				}
				check := `awk -v sec=` + shq(sec) + ` "$REFIT_AWK_GRUB_CFG" ` + shq(cfg)
				body := check + " && echo BEFORE-OK\n" +
					`refit_filter ` + shq(cfg) + ` "$REFIT_AWK_GRUB_CFG" -v sec=` + shq(sec) + " -v fix=1 || exit 5\n" +
					check + " || exit 6\ncp " + shq(cfg) + " " + shq(cfg+".1") + "\n" +
					`refit_filter ` + shq(cfg) + ` "$REFIT_AWK_GRUB_CFG" -v sec=` + shq(sec) + " -v fix=1 || exit 5\n" +
					"cmp -s " + shq(cfg) + " " + shq(cfg+".1") + " || exit 4"
				out, code := runScript(t, sh, withPrelude(t, sh, body))
				if code != 0 {
					t.Fatalf("exit %d (6: the check fails after the edit, 4: a second edit changed the file):\n%s", code, out)
				}
				if before := strings.Contains(out, "BEFORE-OK"); before != (tc.in == tc.want) {
					t.Errorf("the check before the edit passed: %v, want %v (%s)", before, tc.in == tc.want, out)
				}
				got, _ := os.ReadFile(cfg)
				if string(got) != tc.want {
					t.Errorf("grub.cfg =\n%s\nwant\n%s", got, tc.want)
				}
			})
		}
		t.Run(sh.name+"/no 10_linux section", func(t *testing.T) {
			dir := t.TempDir()
			cfg, sec := filepath.Join(dir, "grub.cfg"), filepath.Join(dir, "lines")
			for name, content := range map[string]string{cfg: header + "menuentry 'Hand-made' {\n}\n", sec: lines} {
				if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			out, code := runScript(t, sh, withPrelude(t, sh, `awk -v sec=`+shq(sec)+` "$REFIT_AWK_GRUB_CFG" `+shq(cfg)))
			if code != 1 || !strings.Contains(out, "no-10_linux") {
				t.Errorf("exit %d, output %q; want 1 and no-10_linux", code, out)
			}
		})
	}
}
