package patch

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/evr"
	"github.com/refit-images/packer-plugin-refit/internal/fetch"
	"github.com/refit-images/packer-plugin-refit/internal/firstboot"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/scriptlet"
	"github.com/refit-images/packer-plugin-refit/internal/signature"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// buildDeb builds a .deb with dpkg-deb: control fields, maintainer scripts and files.
func buildDeb(t *testing.T, dir, name, version string, scripts, files map[string]string) string {
	t.Helper()
	return buildDebControl(t, dir, name, version, "", scripts, files)
}

// buildDebControl is buildDeb with more control fields ("Depends: x\nProvides: y").
func buildDebControl(t *testing.T, dir, name, version, fields string, scripts, files map[string]string) string {
	t.Helper()
	pkg := filepath.Join(t.TempDir(), "pkg")
	os.MkdirAll(filepath.Join(pkg, "DEBIAN"), 0o755)
	if fields != "" {
		fields = strings.TrimRight(fields, "\n") + "\n"
	}
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: refit <t@example.org>\n%sDescription: refit test package\n", name, version, fields)
	os.WriteFile(filepath.Join(pkg, "DEBIAN/control"), []byte(control), 0o644)
	for n, body := range scripts {
		mode := os.FileMode(0o755)
		if n == "triggers" || n == "templates" {
			mode = 0o644
		}
		os.WriteFile(filepath.Join(pkg, "DEBIAN", n), []byte(body), mode)
	}
	for n, body := range files {
		p := filepath.Join(pkg, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	deb := filepath.Join(dir, fmt.Sprintf("%s_%s_all.deb", name, version))
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", pkg, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, out)
	}
	return deb
}

// debianLab returns a new copy of the Debian fixture root and the directory in it (/tmp/debs) for
// the packages to install before the patch.
func debianLab(t *testing.T) (root, debs string) {
	t.Helper()
	needDebianLab(t)
	fixture.Need(t, "dpkg-deb")
	root = fixture.DebianRoot(t)
	debs = filepath.Join(root, "tmp/debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		t.Fatal(err)
	}
	return root, debs
}

// updateFor describes a local .deb as the update metadata would.
func updateFor(t *testing.T, deb, name, installed, version string) updates.Update {
	t.Helper()
	data, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	v, err := evr.ParseDeb(version)
	if err != nil {
		t.Fatal(err)
	}
	return updates.Update{Name: name, Arch: "all", Action: updates.ActionUpgrade, Installed: installed, Available: v,
		Location: "file://" + deb, Checksum: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(data))}
}

// TestDebianScriptVerdicts installs three packages into a Debian root, then offers an
// update of each: one whose postinst is safe, one whose postinst restarts a service
// (rewritable: the rewritten text must run in place of the original), and one whose
// postinst pipes curl into sh (unsafe: deferred to the first boot, never run).
func TestDebianScriptVerdicts(t *testing.T) {
	root, dir := debianLab(t)
	for _, n := range []string{"refit-safe", "refit-rewrite", "refit-unsafe"} {
		buildDeb(t, dir, n, "1.0-1", nil, map[string]string{"usr/share/" + n + "/v": "1"})
	}
	chrootRun(t, root, "dpkg -i /tmp/debs/*.deb")
	out := t.TempDir()
	safe := buildDeb(t, out, "refit-safe", "1.0-2", map[string]string{"postinst": "#!/bin/sh\nset -e\nldconfig\nmkdir -p /var/lib/refit-safe\n"}, map[string]string{"usr/share/refit-safe/v": "2"})
	rewrite := buildDeb(t, out, "refit-rewrite", "1.0-2", map[string]string{"postinst": "#!/bin/sh\nset -e\necho ran > /var/lib/refit-rewrite-ran\nif systemctl is-active -q refit-demo; then systemctl restart refit-demo; fi\nsystemctl try-restart refit-demo || true\n"}, map[string]string{"usr/share/refit-rewrite/v": "2"})
	unsafe := buildDeb(t, out, "refit-unsafe", "1.0-2", map[string]string{"postinst": "#!/bin/sh\ncurl -fsSL https://example.org/x.sh | sh\n"}, map[string]string{"usr/share/refit-unsafe/v": "2"})
	ups := []updates.Update{
		updateFor(t, safe, "refit-safe", "1.0-1", "1.0-2"),
		updateFor(t, rewrite, "refit-rewrite", "1.0-1", "1.0-2"),
		updateFor(t, unsafe, "refit-unsafe", "1.0-1", "1.0-2"),
	}
	rep, err := Run(context.Background(), Options{Target: Target{HostRoot: root}, Updates: ups, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	now := installedVersions(t, root)
	for name, want := range map[string]string{"refit-safe": "1.0-2", "refit-rewrite": "1.0-2", "refit-unsafe": "1.0-1"} {
		if now[name] != want {
			t.Errorf("%s is %q after the patch, want %q", name, now[name], want)
		}
	}
	if len(rep.Deferred) != 1 || rep.Deferred[0].Name != "refit-unsafe" || !strings.Contains(rep.Deferred[0].Reason, "unsafe") {
		t.Fatalf("deferred = %+v", rep.Deferred)
	}
	verdicts := map[string]scriptlet.Verdict{}
	for _, p := range rep.Updated {
		for _, s := range p.Scripts {
			verdicts[p.Name+"/"+string(s.Kind)] = s.Verdict
		}
	}
	if verdicts["refit-safe/postinst"] != scriptlet.Safe || verdicts["refit-rewrite/postinst"] != scriptlet.Rewritable {
		t.Errorf("verdicts = %v", verdicts)
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/refit-rewrite-ran")); err != nil {
		t.Errorf("the rewritten postinst did not run at configure time: %v", err)
	}
	// the rewrite serves the offline run only: the dpkg database keeps what the package
	// ships, as after a booted upgrade (a later dpkg-reconfigure runs the original)
	info, _ := os.ReadFile(filepath.Join(root, "var/lib/dpkg/info/refit-rewrite.postinst"))
	if !strings.Contains(string(info), "systemctl restart refit-demo") {
		t.Errorf("the dpkg database keeps the rewritten postinst, not the package's:\n%s", info)
	}
	for _, n := range rep.Notes {
		if strings.Contains(n, "could not be swapped") {
			t.Error(n)
		}
	}
	queued, err := os.ReadFile(filepath.Join(root, firstboot.QueueDir, "packages"))
	if err != nil || string(queued) != "refit-unsafe=1.0-2\n" {
		t.Errorf("first-boot queue = %q, %v", queued, err)
	}
}

// TestDebianRewrittenPreinst: a new preinst that signals a process is rewritten, and dpkg
// runs the rewritten text at its point (before the unpack, from the staged package); dpkg's
// database keeps the package's original preinst afterwards, as after a booted upgrade.
func TestDebianRewrittenPreinst(t *testing.T) {
	root, dir := debianLab(t)
	buildDeb(t, dir, "refit-pre", "1.0-1", nil, map[string]string{"usr/share/refit-pre/v": "1"})
	chrootRun(t, root, "dpkg -i /tmp/debs/*.deb")
	// kill -0 1 finds the build host's init from the chroot (original); refit replaces it by false.
	preinst := "#!/bin/sh\nset -e\nif kill -0 1 2>/dev/null; then r=original; else r=rewritten; fi\n" +
		"echo \"$r $1 $2\" > /var/lib/refit-pre-ran\n"
	deb := buildDeb(t, t.TempDir(), "refit-pre", "1.0-2", map[string]string{"preinst": preinst},
		map[string]string{"usr/share/refit-pre/v": "2"})
	rep, err := Run(context.Background(), Options{Target: Target{HostRoot: root},
		Updates: []updates.Update{updateFor(t, deb, "refit-pre", "1.0-1", "1.0-2")}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Deferred) != 0 || installedVersions(t, root)["refit-pre"] != "1.0-2" {
		t.Fatalf("deferred = %+v, installed %s", rep.Deferred, installedVersions(t, root)["refit-pre"])
	}
	if ran, err := os.ReadFile(filepath.Join(root, "var/lib/refit-pre-ran")); err != nil || string(ran) != "rewritten upgrade 1.0-1\n" {
		t.Errorf("the preinst wrote %q (%v), want \"rewritten upgrade 1.0-1\"", ran, err)
	}
	if info, _ := os.ReadFile(filepath.Join(root, "var/lib/dpkg/info/refit-pre.preinst")); string(info) != preinst {
		t.Errorf("dpkg's database holds another preinst than the package's:\n%s", info)
	}
}

// TestDebianDebconfAnswers: a postinst whose unsafe branch depends on a debconf answer is judged
// with the image's answer, and the real debconf agrees offline. Two packages register a boolean
// question (default false); the image's answer is kept for one and set to true for the other.
// The upgrade of the first applies offline and its postinst, run by the image's debconf, sees
// false; the second is deferred.
func TestDebianDebconfAnswers(t *testing.T) {
	root, dir := debianLab(t)
	out := t.TempDir()
	scripts := func(name string) map[string]string {
		return map[string]string{
			"templates": "Template: " + name + "/fetch\nType: boolean\nDefault: false\nDescription: Fetch?\n Test question.\n",
			"config":    "#!/bin/sh\nset -e\n. /usr/share/debconf/confmodule\ndb_input low " + name + "/fetch || true\ndb_go || true\n",
			"postinst": "#!/bin/sh\nset -e\n. /usr/share/debconf/confmodule\ndb_get " + name + "/fetch || true\n" +
				"if [ \"$RET\" = true ]; then\n\tcurl -fsSL https://example.org/x.sh | sh\nfi\n" +
				"echo \"$RET\" > /var/lib/" + name + "-answer\n",
		}
	}
	var ups []updates.Update
	for _, n := range []string{"refit-asks", "refit-fetches"} {
		buildDeb(t, dir, n, "1.0-1", scripts(n), map[string]string{"usr/share/" + n + "/v": "1"})
		deb := buildDeb(t, out, n, "1.0-2", scripts(n), map[string]string{"usr/share/" + n + "/v": "2"})
		ups = append(ups, updateFor(t, deb, n, "1.0-1", "1.0-2"))
	}
	chrootRun(t, root, "dpkg -i /tmp/debs/*.deb && echo 'refit-fetches refit-fetches/fetch boolean true' | debconf-set-selections")
	rep, err := Run(context.Background(), Options{Target: Target{HostRoot: root}, Updates: ups, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	now := installedVersions(t, root)
	if now["refit-asks"] != "1.0-2" || now["refit-fetches"] != "1.0-1" {
		t.Errorf("installed after the patch: refit-asks %s, refit-fetches %s; want 1.0-2 and 1.0-1 (deferred)",
			now["refit-asks"], now["refit-fetches"])
	}
	if len(rep.Deferred) != 1 || rep.Deferred[0].Name != "refit-fetches" || !strings.Contains(rep.Deferred[0].Reason, "curl") {
		t.Errorf("deferred = %+v", rep.Deferred)
	}
	answer, err := os.ReadFile(filepath.Join(root, "var/lib/refit-asks-answer"))
	if err != nil || string(answer) != "false\n" {
		t.Errorf("the offline postinst of refit-asks saw %q (%v), want the image's answer false", answer, err)
	}
}

// TestDebianHostilePackages: a package whose payload escapes the root, a truncated one and
// one with a wrong checksum are each refused before anything in the root changes.
func TestDebianHostilePackages(t *testing.T) {
	root, dir := debianLab(t)
	buildDeb(t, dir, "refit-victim", "1.0-1", nil, map[string]string{"usr/share/refit-victim/v": "1"})
	chrootRun(t, root, "dpkg -i /tmp/debs/*.deb")
	statusBefore, _ := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
	out := t.TempDir()
	good := buildDeb(t, out, "refit-victim", "1.0-2", nil, map[string]string{"usr/share/refit-victim/v": "2"})

	escaping := filepath.Join(out, "escaping.deb")
	os.WriteFile(escaping, handMadeDeb(t, "Package: refit-victim\nVersion: 1.0-2\nArchitecture: all\n", "./../../etc/refit-pwned"), 0o644)
	throughLink := filepath.Join(out, "link.deb")
	os.WriteFile(throughLink, handMadeDeb(t, "Package: refit-victim\nVersion: 1.0-2\nArchitecture: all\n", "./usr/share/x -> /etc", "./usr/share/x/refit-pwned"), 0o644)
	data, _ := os.ReadFile(good)
	truncated := filepath.Join(out, "truncated.deb")
	os.WriteFile(truncated, data[:len(data)/2], 0o644)

	wrongSum := updateFor(t, good, "refit-victim", "1.0-1", "1.0-2")
	wrongSum.Checksum = "sha256:" + strings.Repeat("0", 64)
	truncUp := updateFor(t, good, "refit-victim", "1.0-1", "1.0-2") // metadata of the good file
	truncUp.Location = "file://" + truncated
	truncUp.Size = 0
	truncSum := sha256.Sum256(data[:len(data)/2])
	truncUp.Checksum = "sha256:" + hex.EncodeToString(truncSum[:])
	cases := []struct {
		name string
		up   updates.Update
		want error
	}{
		{"payload escapes with ..", updateFor(t, escaping, "refit-victim", "1.0-1", "1.0-2"), ErrRefused},
		{"payload escapes through its own symlink", updateFor(t, throughLink, "refit-victim", "1.0-1", "1.0-2"), ErrRefused},
		{"truncated package", truncUp, ErrRefused},
		{"wrong checksum", wrongSum, fetch.ErrChecksum},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Run(context.Background(), Options{Target: Target{HostRoot: root}, Updates: []updates.Update{c.up}, CacheDir: t.TempDir()})
			if err == nil {
				t.Fatal("the package was accepted")
			}
			if !errors.Is(err, c.want) {
				t.Errorf("error %v, want %v", err, c.want)
			}
			t.Log(err)
			if after, _ := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status")); !bytes.Equal(after, statusBefore) {
				t.Fatal("the dpkg status changed")
			}
			for _, p := range []string{"etc/refit-pwned", "var/lib/refit"} {
				if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
					t.Errorf("%s exists in the root", p)
				}
			}
		})
	}
}

// handMadeDeb writes a .deb whose data.tar holds the given entries ("a -> b" is a symlink),
// such as dpkg-deb refuses to build.
func handMadeDeb(t *testing.T, control string, entries ...string) []byte {
	t.Helper()
	tgz := func(add func(tw *tar.Writer)) []byte {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		add(tw)
		tw.Close()
		gz.Close()
		return buf.Bytes()
	}
	ctl := tgz(func(tw *tar.Writer) {
		tw.WriteHeader(&tar.Header{Name: "./control", Mode: 0o644, Size: int64(len(control)), Typeflag: tar.TypeReg})
		tw.Write([]byte(control))
	})
	data := tgz(func(tw *tar.Writer) {
		for _, e := range entries {
			if name, target, ok := strings.Cut(e, " -> "); ok {
				tw.WriteHeader(&tar.Header{Name: name, Linkname: target, Typeflag: tar.TypeSymlink, Mode: 0o777})
				continue
			}
			tw.WriteHeader(&tar.Header{Name: e, Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
			tw.Write([]byte("x"))
		}
	})
	var out bytes.Buffer
	out.WriteString("!<arch>\n")
	for _, m := range []struct {
		name string
		body []byte
	}{{"debian-binary", []byte("2.0\n")}, {"control.tar.gz", ctl}, {"data.tar.gz", data}} {
		fmt.Fprintf(&out, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 0, 0, 0, "100644", len(m.body))
		out.Write(m.body)
		if len(m.body)%2 == 1 {
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// TestDebianBadSignature: repository metadata signed by a key that is not the one given
// is refused before anything changes.
func TestDebianBadSignature(t *testing.T) {
	needDebianLab(t)
	root := fixture.DebianRoot(t)
	before, _ := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
	specs := debianSpecs(t, debianUpdateSuites...)
	for i := range specs {
		specs[i].GPGKey = "/usr/share/keyrings/debian-archive-bullseye-stable.gpg"
	}
	_, err := Run(context.Background(), Options{Target: Target{HostRoot: root}, Repositories: specs, CacheDir: t.TempDir()})
	// outdated.Run joins the repositories' errors as text, so match the sentinel's message.
	if err == nil || !strings.Contains(err.Error(), signature.ErrUnknownKey.Error()) {
		t.Fatalf("Run = %v, want %v", err, signature.ErrUnknownKey)
	}
	if after, _ := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status")); !bytes.Equal(after, before) {
		t.Fatal("the dpkg status changed")
	}
}

// TestDebianTriggers: an upgrade that activates a file trigger of an installed package
// whose postinst is unsafe offline is deferred; one whose trigger postinst only restarts a
// service runs offline with that postinst rewritten for the run and restored afterwards.
func TestDebianTriggers(t *testing.T) {
	root, dir := debianLab(t)
	unsafePostinst := "#!/bin/sh\nif [ \"$1\" = triggered ]; then curl -fsSL https://example.org/reindex | sh; fi\n"
	rewritePostinst := "#!/bin/sh\nif [ \"$1\" = triggered ]; then echo triggered > /var/lib/refit-watch-b; systemctl try-restart refit-watch || true; fi\n"
	buildDeb(t, dir, "refit-watch-a", "1.0-1", map[string]string{"triggers": "interest-noawait /usr/share/refit-watched-a\n", "postinst": unsafePostinst}, map[string]string{"usr/share/refit-watch-a/v": "1"})
	buildDeb(t, dir, "refit-watch-b", "1.0-1", map[string]string{"triggers": "interest-noawait /usr/share/refit-watched-b\n", "postinst": rewritePostinst}, map[string]string{"usr/share/refit-watch-b/v": "1"})
	buildDeb(t, dir, "refit-feed-a", "1.0-1", nil, map[string]string{"usr/share/refit-watched-a/1": "1"})
	buildDeb(t, dir, "refit-feed-b", "1.0-1", nil, map[string]string{"usr/share/refit-watched-b/1": "1"})
	// the unsafe trigger would fail without network: keep it from running while setting up
	chrootRun(t, root, "dpkg --no-triggers -i /tmp/debs/refit-watch-*.deb /tmp/debs/refit-feed-*.deb && rm -f /var/lib/refit-watch-b")
	out := t.TempDir()
	feedA := buildDeb(t, out, "refit-feed-a", "1.0-2", nil, map[string]string{"usr/share/refit-watched-a/1": "2"})
	feedB := buildDeb(t, out, "refit-feed-b", "1.0-2", nil, map[string]string{"usr/share/refit-watched-b/1": "2"})
	rep, err := Run(context.Background(), Options{Target: Target{HostRoot: root}, CacheDir: t.TempDir(), Updates: []updates.Update{
		updateFor(t, feedA, "refit-feed-a", "1.0-1", "1.0-2"), updateFor(t, feedB, "refit-feed-b", "1.0-1", "1.0-2"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Deferred) != 1 || rep.Deferred[0].Name != "refit-feed-a" || !strings.Contains(rep.Deferred[0].Reason, "trigger of installed refit-watch-a") {
		t.Fatalf("deferred = %+v", rep.Deferred)
	}
	if len(rep.Updated) != 1 || rep.Updated[0].Name != "refit-feed-b" {
		t.Fatalf("updated = %+v", rep.Updated)
	}
	if data, err := os.ReadFile(filepath.Join(root, "var/lib/refit-watch-b")); err != nil || string(data) != "triggered\n" {
		t.Errorf("refit-watch-b's trigger did not run: %q %v", data, err)
	}
	if info, _ := os.ReadFile(filepath.Join(root, "var/lib/dpkg/info/refit-watch-b.postinst")); string(info) != rewritePostinst {
		t.Errorf("refit-watch-b's postinst was not restored:\n%s", info)
	}
}

// TestRPMRewrittenScriptsRunAtTheirPoint: an upgrade whose every script kind is
// rewritable — the new package's %pretrans, %pre, %post, %posttrans and own %triggerin,
// the old package's %preun and %postun, and an installed package's triggers and file
// triggers of every kind on it — is applied offline, with each script run in its
// rewritten form by the image's own rpm at its own point. Each script logs its name, its
// arguments and (file triggers) the paths on its standard input, then calls systemctl
// try-restart, which the rewriting drops. The oracle is the same rpm -U in a copy of the
// root with the original scripts: the logs must be identical line for line, and only
// the copy may have called systemctl (which proves the call is detectable).
func TestRPMRewrittenScriptsRunAtTheirPoint(t *testing.T) {
	needDebianLab(t)
	fixture.Need(t, "rpm", "rpmbuild", "createrepo_c")
	lab := fixture.BuildRPMLab(t)
	root := rpmChrootRoot(t, lab)
	// A systemctl that leaves a trace (the Debian root has none of its own).
	writeFile(t, root, "usr/bin/systemctl", "#!/bin/sh\necho \"systemctl $*\" >> /var/tmp/refit-systemctl\n")
	os.Chmod(filepath.Join(root, "usr/bin/systemctl"), 0o755)
	script := func(kind, label string, stdin bool) string {
		files := ""
		if stdin {
			files = ` files: $(cat | sort | tr '\n' ' ')`
		}
		return fmt.Sprintf("%%%s\necho \"%s $# $1 $2%s\" >> /var/tmp/refit-order\nsystemctl try-restart refit-test.service || :\n\n", kind, label, files)
	}
	var watch strings.Builder
	for _, k := range []string{"triggerin", "triggerun", "triggerpostun"} {
		watch.WriteString(script(k+" -- refit-feed", "watch "+k, false))
	}
	for _, k := range []string{"filetriggerin", "filetriggerun", "filetriggerpostun", "transfiletriggerin", "transfiletriggerun", "transfiletriggerpostun"} {
		watch.WriteString(script(k+" -- /usr/share/refit-watched", "watch "+k, true))
	}
	rpms := map[string]string{
		"watch-1": buildRPM(t, "refit-watch", "1.0", "1", "", watch.String()),
		"feed-1": buildRPMWithFiles(t, "refit-feed", "1.0", "1", "", script("preun", "feed-1 preun", false)+script("postun", "feed-1 postun", false),
			map[string]string{"/usr/share/refit-watched/common": "1", "/usr/share/refit-watched/only-1": "1"}),
		"feed-2": buildRPMWithFiles(t, "refit-feed", "1.0", "2", "",
			script("pretrans", "feed-2 pretrans", false)+script("pre", "feed-2 pre", false)+script("post", "feed-2 post", false)+
				script("posttrans", "feed-2 posttrans", false)+script("triggerin -- refit-watch", "feed-2 triggerin", false),
			map[string]string{"/usr/share/refit-watched/common": "2", "/usr/share/refit-watched/only-2": "2"}),
	}
	for k, f := range rpms {
		data, _ := os.ReadFile(f)
		writeFile(t, root, "tmp/rpms/"+k+".rpm", string(data))
	}
	chrootRun(t, root, "rpm -i --nodeps /tmp/rpms/watch-1.rpm /tmp/rpms/feed-1.rpm && rm -f /var/tmp/refit-order /var/tmp/refit-systemctl")
	shBefore, _ := os.Readlink(filepath.Join(root, "usr/bin/sh"))

	oracle := fixture.CopyRoot(t, root)
	chrootRun(t, oracle, "rpm -U --nodeps /tmp/rpms/feed-2.rpm")
	want, err := os.ReadFile(filepath.Join(oracle, "var/tmp/refit-order"))
	if err != nil {
		t.Fatalf("the oracle's scripts left no log: %v", err)
	}
	if _, err := os.Stat(filepath.Join(oracle, "var/tmp/refit-systemctl")); err != nil {
		t.Fatalf("control: the original scripts did not call systemctl in the oracle copy: %v", err)
	}

	rep, err := Run(context.Background(), Options{Target: Target{HostRoot: root}, CacheDir: t.TempDir(),
		Updates: []updates.Update{rpmUpdateFor(t, rpms["feed-2"], "refit-feed", "1.0-1", "1.0-2")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Updated) != 1 || len(rep.Deferred) != 0 {
		t.Fatalf("want refit-feed applied offline: %s", rep.Summary())
	}
	verdicts := map[string]string{}
	for _, s := range rep.Updated[0].Scripts {
		verdicts[s.Side+" "+string(s.Kind)] = s.Verdict.String()
	}
	for _, k := range []string{"new pretrans", "new pre", "new post", "new posttrans", "new triggerin", "old preun", "old postun",
		"installed refit-watch triggerin", "installed refit-watch triggerun", "installed refit-watch triggerpostun",
		"installed refit-watch filetriggerin", "installed refit-watch filetriggerun", "installed refit-watch filetriggerpostun",
		"installed refit-watch transfiletriggerin", "installed refit-watch transfiletriggerun", "installed refit-watch transfiletriggerpostun"} {
		if verdicts[k] != "rewritable" {
			t.Errorf("%s: verdict %q, want rewritable (all: %v)", k, verdicts[k], verdicts)
		}
	}
	got, err := os.ReadFile(filepath.Join(root, "var/tmp/refit-order"))
	if err != nil {
		t.Fatalf("no rewritten script ran: %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("the rewritten scripts ran differently from rpm's own run:\nrefit:\n%s\nrpm (original scripts):\n%s", got, want)
	}
	t.Logf("script log (refit = rpm):\n%s", got)
	if data, err := os.ReadFile(filepath.Join(root, "var/tmp/refit-systemctl")); err == nil {
		t.Errorf("a rewritten script still called systemctl:\n%s", data)
	}
	for _, n := range rep.Notes {
		if strings.Contains(n, "did not run") || strings.Contains(n, "replaced by a package") {
			t.Error(n)
		}
	}
	if sh, err := os.Readlink(filepath.Join(root, "usr/bin/sh")); err != nil || sh != shBefore {
		t.Errorf("/usr/bin/sh after the run: %q %v, want the link to %q back", sh, err, shBefore)
	}
	if left, _ := filepath.Glob(filepath.Join(root, "usr/bin/.*refit*")); len(left) > 0 {
		t.Errorf("left in the image: %v", left)
	}
}
