package scriptlet

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// checkGolden compares got with the golden file path, or rewrites it with -update.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the golden file: %v (run go test -run %s -update to create it)", err, t.Name())
	}
	if got == string(want) {
		return
	}
	gotLines, wantLines := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(gotLines), len(wantLines)); i++ {
		g, w := "", ""
		if i < len(gotLines) {
			g = gotLines[i]
		}
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if g != w {
			t.Fatalf("%s differs from line %d:\n got: %s\nwant: %s\n(review, then run go test -run %s -update)",
				path, i+1, g, w, t.Name())
		}
	}
}

// render prints an analysis for a golden file.
func render(a Analysis) string {
	var b strings.Builder
	fmt.Fprintf(&b, "verdict: %s\ninitramfs: %v\n", a.Verdict, a.Initramfs)
	for _, f := range a.Findings {
		fmt.Fprintf(&b, "finding: %s\n", f)
	}
	for _, n := range a.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if a.Verdict == Rewritable {
		fmt.Fprintf(&b, "--- rewritten\n%s", a.Rewritten)
	}
	return b.String()
}

// tally counts verdicts.
type tally struct {
	scripts, initramfs int
	verdicts           [3]int
}

func (c *tally) add(a Analysis) {
	c.scripts++
	c.verdicts[a.Verdict]++
	if a.Initramfs {
		c.initramfs++
	}
}

func (c tally) String() string {
	return fmt.Sprintf("%d scripts: %d safe, %d rewritable, %d unsafe, %d initramfs", c.scripts,
		c.verdicts[Safe], c.verdicts[Rewritable], c.verdicts[Unsafe], c.initramfs)
}

// hostDebianScripts returns every maintainer script dpkg keeps on this machine.
func hostDebianScripts(t *testing.T) []Script {
	t.Helper()
	scripts := dpkgInfoScripts(t, "/var/lib/dpkg/info")
	if len(scripts) == 0 {
		t.Skip("needs a Debian machine: no maintainer scripts under /var/lib/dpkg/info")
	}
	return scripts
}

// dpkgInfoScripts returns the maintainer scripts in dir, a copy of dpkg's /var/lib/dpkg/info; Package
// is the file's name without the script kind (with :arch for multi-arch packages).
func dpkgInfoScripts(t *testing.T, dir string) []Script {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var scripts []Script
	for _, f := range files {
		kind := Kind(strings.TrimPrefix(filepath.Ext(f), "."))
		if !kind.Debian() {
			continue
		}
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		scripts = append(scripts, Script{Package: strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)),
			Kind: kind, Body: string(body)})
	}
	return scripts
}

// TestDebianMaintainerScripts analyses every maintainer script installed on this machine (hundreds on
// a Debian 12 build host): each must parse, each rewrite must itself be safe, and the distribution is
// logged. The scripts differ from machine to machine; testdata/debian pins a selection.
func TestDebianMaintainerScripts(t *testing.T) {
	var all tally
	byKind := map[Kind]*tally{}
	for _, s := range hostDebianScripts(t) {
		a := Analyze(s)
		for _, f := range a.Findings {
			if strings.HasPrefix(f.Reason, "cannot be parsed") {
				t.Errorf("%s.%s: %s", s.Package, s.Kind, f)
			}
		}
		checkInvariants(t, s, a)
		all.add(a)
		if byKind[s.Kind] == nil {
			byKind[s.Kind] = &tally{}
		}
		byKind[s.Kind].add(a)
	}
	t.Logf("/var/lib/dpkg/info: %s", all)
	for _, kind := range slices.Sorted(func(yield func(Kind) bool) {
		for k := range byKind {
			if !yield(k) {
				return
			}
		}
	}) {
		t.Logf("  %-8s %s", kind, byKind[kind])
	}
	if all.verdicts[Safe] < all.scripts/2 {
		t.Errorf("fewer than half of the scripts are safe (%s): a rule is probably broken", all)
	}
}

// debianFixtures are real maintainer scripts from Debian 12 packages, copied by testdata/debian/gen.sh.
func debianFixtures(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/debian/*")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if Kind(strings.TrimPrefix(filepath.Ext(f), ".")).Debian() {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatal("no Debian fixtures under testdata/debian (run testdata/debian/gen.sh)")
	}
	return out
}

// TestDebianFixtures pins the analysis and the rewritten text of selected real maintainer scripts in
// golden files (testdata/debian/*.golden).
func TestDebianFixtures(t *testing.T) {
	want := map[string]Verdict{
		"apt.postinst": Rewritable, "apt.prerm": Rewritable, "systemd.postinst": Rewritable,
		"libc6.postinst": Rewritable, "libc6.preinst": Rewritable, "libc-bin.postinst": Safe,
		"man-db.postinst": Rewritable, "hicolor-icon-theme.postinst": Safe, "python3-six.prerm": Safe,
		"dbus.postinst": Rewritable, "ssl-cert.postinst": Unsafe, "tzdata.config": Safe,
		"debian-archive-keyring.postinst": Unsafe, "libpam0g.postinst": Rewritable,
		"libpam-modules.preinst": Rewritable, "unattended-upgrades.postinst": Unsafe,
		"udev.prerm": Rewritable, "udev.postinst": Unsafe, "ucf.postinst": Safe, "bash.postinst": Safe,
		"libpam-runtime.postinst": Safe, "ca-certificates.postinst": Safe,
		// The boot loaders probe the live machine and run grub-install: deferred to the first boot.
		"grub-efi-amd64.postinst": Unsafe, "shim-signed.postinst": Unsafe,
	}
	for _, f := range debianFixtures(t) {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s := Script{Package: strings.TrimSuffix(name, filepath.Ext(name)),
				Kind: Kind(strings.TrimPrefix(filepath.Ext(name), ".")), Body: string(body)}
			a := Analyze(s)
			if v, ok := want[name]; !ok || a.Verdict != v {
				t.Errorf("verdict %s, want %s", a.Verdict, v)
			}
			checkInvariants(t, s, a)
			checkGolden(t, f+".golden", render(a))
		})
	}
}

// TestRPMDBScriptlets analyses every scriptlet, trigger and file trigger in the real rpmdbs shipped
// with go-rpmdb (CentOS 5–8, UBI 8, Fedora 35, CBL-Mariner 2, SLE 15 in bdb, sqlite and ndb),
// dumped by Debian's rpm. The verdict of every script that is not plainly safe is pinned in
// testdata/rpmdb/<corpus>.golden, and every distinct rewrite in testdata/rpmdb/rewrites.golden.
func TestRPMDBScriptlets(t *testing.T) {
	dbs := goRPMDBFixtures(t)
	var rewrites strings.Builder
	seen := map[string]bool{}
	total := newDeferrals()
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range dbs {
			if !yield(k) {
				return
			}
		}
	}) {
		t.Run(name, func(t *testing.T) {
			scripts := rpmdbScripts(t, dbs[name])
			sort.SliceStable(scripts, func(i, j int) bool {
				a, b := scripts[i], scripts[j]
				return a.Package+"\x00"+string(a.Kind)+"\x00"+a.Condition <
					b.Package+"\x00"+string(b.Kind)+"\x00"+b.Condition
			})
			var c tally
			var lines strings.Builder
			for _, s := range scripts {
				a := Analyze(s.Script)
				c.add(a)
				total.add(name+" "+s.Package, s.Script, a)
				checkInvariants(t, s.Script, a)
				for _, f := range a.Findings {
					if strings.HasPrefix(f.Reason, "cannot be parsed") {
						t.Errorf("%s %s: %s", s.Package, s.Kind, f)
					}
				}
				if a.Verdict == Safe && !a.Initramfs {
					continue
				}
				fmt.Fprintf(&lines, "%s %s %s", a.Verdict, s.Kind, s.Package)
				if s.Condition != "" {
					fmt.Fprintf(&lines, " (%s)", s.Condition)
				}
				if a.Initramfs {
					lines.WriteString(" [initramfs]")
				}
				lines.WriteString("\n")
				for _, f := range a.Findings {
					fmt.Fprintf(&lines, "\t%s\n", f)
				}
				key := string(s.Kind) + "\x00" + s.Interpreter + "\x00" + s.Body
				if a.Verdict == Rewritable && !seen[key] {
					seen[key] = true
					fmt.Fprintf(&rewrites, "=== %s %s (%s)\n%s", s.Kind, s.Package, name, a.Rewritten)
				}
			}
			t.Logf("%s: %s", name, c)
			if c.scripts == 0 && name != "libuuid" {
				t.Errorf("no scripts in %s", name)
			}
			checkGolden(t, filepath.Join("testdata", "rpmdb", name+".golden"),
				fmt.Sprintf("# %s: %s\n%s", name, c, lines.String()))
		})
	}
	total.log(t, "all go-rpmdb corpora")
	if !t.Failed() {
		checkGolden(t, filepath.Join("testdata", "rpmdb", "rewrites.golden"), rewrites.String())
	}
}

// TestRPMLabScriptlets builds the project's RPM lab (testdata/rpmlab: real rpmbuild output of specs
// with every scriptlet kind) and checks the verdict of each of its scripts.
func TestRPMLabScriptlets(t *testing.T) {
	lab := fixture.BuildRPMLab(t)
	var files []string
	seen := map[string]bool{}
	err := filepath.WalkDir(lab.Packages, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".rpm") && !seen[d.Name()] {
			seen[d.Name()] = true
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	scripts := queryRPMScripts(t, home, append([]string{"--dbpath", home, "-qp", "--nosignature", "--nodigest"},
		files...)...)
	type expect struct {
		verdict Verdict
		reason  string // substring of a finding
	}
	want := map[string]expect{
		"demo-lib post":                {verdict: Safe}, // -p /sbin/ldconfig
		"demo-lib postun":              {verdict: Safe},
		"demo-svc pre":                 {verdict: Safe}, // getent, groupadd, useradd
		"demo-svc post":                {verdict: Safe}, // systemctl preset
		"demo-svc preun":               {Rewritable, "--now would also start or stop"},
		"demo-svc postun":              {Rewritable, "nothing runs in the offline root"},
		"demo-trig pretrans":           {verdict: Safe}, // Lua
		"demo-trig posttrans":          {verdict: Safe},
		"demo-trig triggerin":          {verdict: Safe},
		"demo-trig triggerun":          {verdict: Safe},
		"demo-trig triggerpostun":      {verdict: Safe},
		"demo-trig filetriggerin":      {verdict: Safe},
		"demo-trig transfiletriggerin": {verdict: Safe},
		"demo-unsafe post":             {Unsafe, "network"},
		"demo-kernel posttrans":        {verdict: Safe},
		"kernel-core posttrans":        {verdict: Safe},
	}
	found := map[string]bool{}
	var c tally
	for _, s := range scripts {
		name := s.Package[:strings.LastIndex(s.Package[:strings.LastIndex(s.Package, "-")], "-")]
		key := name + " " + string(s.Kind)
		found[key] = true
		a := Analyze(s.Script)
		c.add(a)
		checkInvariants(t, s.Script, a)
		e, ok := want[key]
		switch {
		case !ok:
			t.Errorf("%s %s: no expectation for this script (%s)", s.Package, s.Kind, a.Verdict)
		case a.Verdict != e.verdict:
			t.Errorf("%s %s: %s, want %s: %v", s.Package, s.Kind, a.Verdict, e.verdict, a.Findings)
		case e.reason != "" && !slices.ContainsFunc(a.Findings, func(f Finding) bool {
			return strings.Contains(f.Reason, e.reason)
		}):
			t.Errorf("%s %s: no finding says %q: %v", s.Package, s.Kind, e.reason, a.Findings)
		}
		if key == "demo-unsafe post" && !slices.ContainsFunc(a.Findings, func(f Finding) bool {
			return strings.Contains(f.Reason, "read from its input")
		}) {
			t.Errorf("demo-unsafe post: the pipe into sh is not reported: %v", a.Findings)
		}
	}
	for key := range want {
		if !found[key] {
			t.Errorf("the lab has no script %q", key)
		}
	}
	t.Logf("RPM lab (%d packages): %s", len(files), c)
}

// corpusScripts returns the scripts of every real corpus: this machine's maintainer scripts and the
// go-rpmdb databases, without duplicates.
func corpusScripts(t *testing.T) []Script {
	t.Helper()
	scripts := hostDebianScripts(t)
	for _, db := range goRPMDBFixtures(t) {
		for _, s := range rpmdbScripts(t, db) {
			scripts = append(scripts, s.Script)
		}
	}
	seen := map[string]bool{}
	return slices.DeleteFunc(scripts, func(s Script) bool {
		key := string(s.Kind) + "\x00" + s.Interpreter + "\x00" + s.Body
		dup := seen[key]
		seen[key] = true
		return dup
	})
}

// TestShellAgreesOnSyntax uses the real shells as oracles: for every shell script of the corpora,
// bash -n (rpm) or dash -n (Debian) must accept exactly the scripts this package parses, and must
// accept every rewritten script.
func TestShellAgreesOnSyntax(t *testing.T) {
	fixture.Need(t, "bash", "dash")
	checked := 0
	for _, s := range corpusScripts(t) {
		prog, _ := interpreter(s)
		if !isShell(prog) {
			continue
		}
		shell := "bash"
		if dialect(prog, s.Kind) == syntax.LangPOSIX {
			shell = "dash"
		}
		a := Analyze(s)
		parsed := !slices.ContainsFunc(a.Findings, func(f Finding) bool {
			return strings.HasPrefix(f.Reason, "cannot be parsed")
		})
		if err := shellCheck(shell, s.Body); (err == nil) != parsed {
			t.Errorf("%s %s: %s -n says %v, this package parsed it: %v", s.Package, s.Kind, shell, err, parsed)
		}
		if a.Verdict == Rewritable {
			if err := shellCheck(shell, a.Rewritten); err != nil {
				t.Errorf("%s %s: %s -n rejects the rewritten script: %v\n%s", s.Package, s.Kind, shell, err, a.Rewritten)
			}
		}
		checked++
	}
	t.Logf("%d distinct shell scripts checked", checked)
}

// shellCheck runs shell -n on text.
func shellCheck(shell, text string) error {
	cmd := exec.Command(shell, "-n")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

// deferrals counts the scripts and packages an offline patch would leave to the first boot, by reason.
type deferrals struct {
	all      tally
	packages map[string]bool
	deferred map[string][]string // package -> "kind: first finding"
	reasons  map[string]int      // reason -> unsafe scripts that have it
}

func newDeferrals() *deferrals {
	return &deferrals{packages: map[string]bool{}, deferred: map[string][]string{}, reasons: map[string]int{}}
}

func (d *deferrals) add(pkg string, s Script, a Analysis) {
	d.all.add(a)
	d.packages[pkg] = true
	if a.Verdict != Unsafe {
		return
	}
	first := a.Findings[slices.IndexFunc(a.Findings, func(f Finding) bool { return f.Replacement == "" })]
	d.deferred[pkg] = append(d.deferred[pkg], fmt.Sprintf("%s: %s", s.Kind, first))
	seen := map[string]bool{}
	for _, f := range a.Findings {
		if f.Replacement != "" {
			continue
		}
		reason := f.Reason
		if strings.HasPrefix(reason, "unknown program") || strings.HasPrefix(reason, "cannot be parsed") {
			name, _, _ := strings.Cut(f.Command, " ")
			reason += ": " + name
		}
		if !seen[reason] {
			seen[reason] = true
			d.reasons[reason]++
		}
	}
}

// log writes the deferral rate and the reasons, most frequent first.
func (d *deferrals) log(t *testing.T, name string) {
	t.Helper()
	t.Logf("%s: %s; %d of %d packages with scripts deferred (%.1f%%), %.1f%% of scripts", name,
		d.all, len(d.deferred), len(d.packages), 100*float64(len(d.deferred))/float64(max(1, len(d.packages))),
		100*float64(d.all.verdicts[Unsafe])/float64(max(1, d.all.scripts)))
	reasons := slices.Collect(maps.Keys(d.reasons))
	sort.Slice(reasons, func(i, j int) bool {
		if d.reasons[reasons[i]] != d.reasons[reasons[j]] {
			return d.reasons[reasons[i]] > d.reasons[reasons[j]]
		}
		return reasons[i] < reasons[j]
	})
	for _, r := range reasons {
		t.Logf("  %3d unsafe scripts: %s", d.reasons[r], r)
	}
	for _, pkg := range slices.Sorted(maps.Keys(d.deferred)) {
		for _, why := range d.deferred[pkg] {
			t.Logf("  deferred %s %s", pkg, why)
		}
	}
}

// TestDebianRootMaintainerScripts analyses every maintainer script of the Debian fixture root
// (fixture.DebianRootTarball: a Debian 12 minbase install, the packages a standard server starts from)
// and logs the deferral rate: the scripts, and the packages, that an offline patch would leave to the
// first boot, with the reasons. It does so twice: with no more than the scripts, and as refit-patch
// judges the next upgrade of each package, with dpkg's arguments (the installed version as the old
// one and the new one) and the root's debconf answers of the questions the package alone owns.
// REFIT_DPKG_INFO names another root's /var/lib/dpkg/info to measure instead (bench/scriptlet/deferral.sh
// measures a standard install that way).
func TestDebianRootMaintainerScripts(t *testing.T) {
	info := os.Getenv("REFIT_DPKG_INFO")
	if info == "" {
		tarball := fixture.DebianRootTarball(t)
		dir := t.TempDir()
		if out, err := exec.Command("tar", "-C", dir, "-xf", tarball, "--wildcards", "./var/lib/dpkg/info/*",
			"./var/lib/dpkg/status", "./var/cache/debconf/*.dat").CombinedOutput(); err != nil {
			t.Fatalf("extracting dpkg's info: %v: %s", err, out)
		}
		info = filepath.Join(dir, "var/lib/dpkg/info")
	}
	root := filepath.Join(info, "../../../..")
	versions := dpkgVersions(t, filepath.Join(root, "var/lib/dpkg/status"))
	var questions map[string]DebconfQuestion
	if config, err := os.Open(filepath.Join(root, "var/cache/debconf/config.dat")); err == nil {
		defer config.Close()
		templates, err := os.Open(filepath.Join(root, "var/cache/debconf/templates.dat"))
		if err != nil {
			t.Fatal(err)
		}
		defer templates.Close()
		db, err := ReadDebconfDB(config, templates)
		if err != nil {
			t.Fatal(err)
		}
		if questions, err = db.Questions(); err != nil {
			t.Fatal(err)
		}
	}
	plain, upgrade := newDeferrals(), newDeferrals()
	for _, s := range dpkgInfoScripts(t, info) {
		pkg, _, _ := strings.Cut(s.Package, ":")
		a := Analyze(s)
		checkInvariants(t, s, a)
		plain.add(pkg, s, a)
		v := versions[pkg]
		s.Args = map[Kind][]string{KindDebianPreInst: {"upgrade", v, v}, KindDebianPostInst: {"configure", v},
			KindDebianPreRm: {"upgrade", v}, KindDebianPostRm: {"upgrade", v}, KindDebianConfig: {"configure", v}}[s.Kind]
		s.Debconf = map[string]string{}
		for q, answer := range questions {
			if len(answer.Owners) == 1 && answer.Owners[0] == pkg {
				s.Debconf[q] = answer.Value
			}
		}
		a = Analyze(s)
		checkInvariants(t, s, a)
		upgrade.add(pkg, s, a)
	}
	if plain.all.scripts == 0 {
		t.Fatalf("no maintainer scripts in %s", info)
	}
	plain.log(t, info+", the scripts alone")
	upgrade.log(t, fmt.Sprintf("%s, as the next upgrade of each package (dpkg's arguments, %d debconf answers)",
		info, len(questions)))
}

// dpkgVersions returns the version of each package in a dpkg status file.
func dpkgVersions(t *testing.T, status string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(status)
	if err != nil {
		t.Fatalf("reading the dpkg status beside the info directory: %v", err)
	}
	out := map[string]string{}
	for _, stanza := range strings.Split(string(data), "\n\n") {
		var name, version string
		for _, line := range strings.Split(stanza, "\n") {
			if v, ok := strings.CutPrefix(line, "Package: "); ok {
				name = v
			}
			if v, ok := strings.CutPrefix(line, "Version: "); ok {
				version = v
			}
		}
		if name != "" {
			out[name] = version
		}
	}
	return out
}

// TestPackagingToolsInRealScripts checks that each packaging tool the issue names is handled as the
// tool it is, in the real scripts that use it: the Debian fixtures (testdata/debian) and the
// go-rpmdb corpora. Every tool must occur in at least one script, and no occurrence may be what
// makes a script unsafe.
func TestPackagingToolsInRealScripts(t *testing.T) {
	var scripts []Script
	for _, f := range debianFixtures(t) {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		scripts = append(scripts, Script{Package: strings.TrimSuffix(name, filepath.Ext(name)),
			Kind: Kind(strings.TrimPrefix(filepath.Ext(name), ".")), Body: string(body)})
	}
	for _, db := range goRPMDBFixtures(t) {
		for _, s := range rpmdbScripts(t, db) {
			scripts = append(scripts, s.Script)
		}
	}
	// Each tool: how scripts spell it, and the command name its findings would show.
	tools := []struct{ name, spelled string }{
		{"ucf", "ucf "}, {"update-alternatives", "update-alternatives "}, {"pam-auth-update", "pam-auth-update "},
		{"dpkg-trigger", "dpkg-trigger "}, {"update-rc.d", "update-rc.d "}, {"deb-systemd-helper", "deb-systemd-helper "},
		{"ldconfig", "ldconfig"}, {"systemd-tmpfiles", "systemd-tmpfiles "}, {"systemd-sysusers", "systemd-sysusers"},
		{"systemd-update-helper", "systemd-update-helper "}, {"systemctl", "systemctl --no-reload preset"},
		{"update-ca-trust", "update-ca-trust"}, {"authselect", "authselect "},
		{"update-mime-database", "update-mime-database "}, {"useradd", "useradd "}, {"groupadd", "groupadd "},
	}
	for _, tool := range tools {
		uses := 0
		for _, s := range scripts {
			if !strings.Contains(s.Body, tool.spelled) && !strings.Contains(s.Interpreter, tool.spelled) {
				continue
			}
			uses++
			for _, f := range Analyze(s).Findings {
				word, _, _ := strings.Cut(f.Command, " ")
				if f.Replacement == "" && resolveName(word) == tool.name {
					t.Errorf("%s %s: %s makes it unsafe: %s", s.Package, s.Kind, tool.name, f)
				}
			}
		}
		if uses == 0 {
			t.Errorf("no real script uses %q", tool.spelled)
		}
		t.Logf("%-22s in %3d real scripts", tool.name, uses)
	}
}
