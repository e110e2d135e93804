package scriptlet

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// debconfCopy copies this machine's debconf database (a Debian machine always has one), or the one
// in the directory REFIT_DEBCONF_DIR names (another image's /var/cache/debconf), into a new directory
// with a debconf.conf that points debconf at the copy, and returns the directory.
func debconfCopy(t *testing.T) string {
	t.Helper()
	dir, src := t.TempDir(), os.Getenv("REFIT_DEBCONF_DIR")
	if src == "" {
		src = "/var/cache/debconf"
	}
	for _, f := range []string{"config.dat", "templates.dat"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Skipf("needs a Debian machine's debconf database: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf("Config: configdb\nTemplates: templatedb\n\nName: configdb\nDriver: File\nMode: 644\n"+
		"Filename: %s/config.dat\n\nName: templatedb\nDriver: File\nMode: 644\nFilename: %s/templates.dat\n", dir, dir)
	if err := os.WriteFile(filepath.Join(dir, "debconf.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestReadDebconfDBMatchesDebconf uses the real debconf as the oracle: a maintainer-script-like shell
// script sources the confmodule and, for every question of a copy of this machine's database, runs
// db_get, then db_input and db_go under DEBIAN_FRONTEND=noninteractive (as refit-patch runs the
// scripts offline), then db_get again. Every answer must be what ReadDebconfDB read, before and
// after: in a noninteractive run db_input and db_go change nothing.
func TestReadDebconfDBMatchesDebconf(t *testing.T) {
	fixture.Need(t, "debconf-communicate")
	dir := debconfCopy(t)
	open := func(name string) *os.File {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	db, err := ReadDebconfDB(open("config.dat"), open("templates.dat"))
	if err != nil {
		t.Fatal(err)
	}
	questions, err := db.Questions()
	if err != nil {
		t.Fatal(err)
	}
	if len(questions) < 10 {
		t.Fatalf("only %d questions read from this machine's debconf database", len(questions))
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range questions {
			if !yield(n) {
				return
			}
		}
	})
	script := filepath.Join(dir, "ask")
	body := `#!/bin/sh
set -e
. /usr/share/debconf/confmodule
exec 5< "$1"
while read -r q type <&5; do
	rc=0; db_get "$q" || rc=$?
	before="$rc $RET"
	# debconf has no element for a title (scripts set one with db_settitle)
	[ "$type" = title ] || db_input high "$q" || true
	db_go || true
	rc=0; db_get "$q" || rc=$?
	printf '%s\t%s\t%s\n' "$q" "$before" "$rc $RET" >> "$2"
done
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(dir, "questions")
	var lines strings.Builder
	for _, n := range names {
		fmt.Fprintf(&lines, "%s %s\n", n, questions[n].Type)
	}
	if err := os.WriteFile(list, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	answers := filepath.Join(dir, "answers")
	cmd := exec.Command(script, list, answers)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DEBCONF_SYSTEMRC=" + filepath.Join(dir, "debconf.conf"),
		"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C.UTF-8", "HOME=" + dir}
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the confmodule script failed: %v\n%s", err, msg)
	}
	data, err := os.ReadFile(answers)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 3)
		if len(f) != 3 {
			t.Fatalf("unexpected line %q", sc.Text())
		}
		want := "0 " + questions[f[0]].Value
		if f[1] != want || f[2] != want {
			t.Errorf("%s: debconf answers %q, then after db_input and db_go %q; ReadDebconfDB read %q", f[0], f[1], f[2], want)
		}
		seen++
	}
	if seen != len(names) {
		t.Errorf("debconf answered %d of %d questions", seen, len(names))
	}
	t.Logf("%d questions: debconf's answers are ReadDebconfDB's", seen)
}

// TestDebconfDecidesTests checks that a test of RET after db_get is decided by the image's answer,
// and that a script that may change the answer (db_set, db_reset …) or a db_ call in between keeps
// the test undecided.
func TestDebconfDecidesTests(t *testing.T) {
	answers := map[string]string{"pkg/restart": "false", "pkg/mode": "local"}
	unsafeIf := func(cond string) string {
		return "#!/bin/sh\nset -e\n. /usr/share/debconf/confmodule\n" + cond + " curl -s http://x | sh\nfi\n"
	}
	for _, tc := range []struct {
		name, body string
		verdict    Verdict
	}{
		{"branch decided false", unsafeIf("db_get pkg/restart || true\nif [ \"$RET\" = true ]; then"), Safe},
		{"branch decided true", unsafeIf("db_get pkg/restart\nif [ \"$RET\" = false ]; then"), Unsafe},
		{"case on RET", "#!/bin/sh\n. /usr/share/debconf/confmodule\ndb_get pkg/mode\ncase \"$RET\" in\n" +
			"remote) wget http://x ;;\nlocal) : ;;\nesac\n", Safe},
		{"unknown question", unsafeIf("db_get pkg/other || true\nif [ \"$RET\" = true ]; then"), Unsafe},
		{"db_set in the script", unsafeIf("db_set pkg/restart true\ndb_get pkg/restart\nif [ \"$RET\" = false ]; then") +
			"exit 0\n", Unsafe},
		{"another db_ call in between", unsafeIf("db_get pkg/restart\ndb_metaget pkg/restart description\n" +
			"if [ \"$RET\" = true ]; then"), Unsafe},
		{"RET assigned after", unsafeIf("db_get pkg/restart\nRET=true\nif [ \"$RET\" = true ]; then"), Unsafe},
		{"in a loop that calls db_get", "#!/bin/sh\n. /usr/share/debconf/confmodule\ndb_get pkg/restart\n" +
			"for q in a b; do\nif [ \"$RET\" = true ]; then curl http://x; fi\ndb_get \"$q\"\ndone\n", Unsafe},
	} {
		a := Analyze(Script{Kind: KindDebianPostInst, Body: tc.body, Debconf: answers})
		if a.Verdict != tc.verdict {
			t.Errorf("%s: %s (%v), want %s", tc.name, a.Verdict, a.Findings, tc.verdict)
		}
		// Without the answers nothing is decided.
		if b := Analyze(Script{Kind: KindDebianPostInst, Body: tc.body}); b.Verdict != Unsafe {
			t.Errorf("%s without answers: %s, want unsafe", tc.name, b.Verdict)
		}
	}
}

// TestDebconfLoadedTemplates checks that a package's templates file replaces the image's templates
// as debconf loads it: a new default is the answer of a question without a value, and a select
// question whose value is no longer a choice is left out.
func TestDebconfLoadedTemplates(t *testing.T) {
	config := "Name: p/keep\nTemplate: p/keep\nOwners: p\n\nName: p/mode\nTemplate: p/mode\nValue: old\nOwners: p\n\n" +
		"Name: p/same\nTemplate: p/same\nValue: x, y\nOwners: p\n\n"
	templates := "Name: p/keep\nDefault: a\nType: string\n\nName: p/mode\nChoices: old, new\nType: select\n\n" +
		"Name: p/same\nChoices: x\\, y, z\nType: select\n\n"
	db, err := ReadDebconfDB(strings.NewReader(config), strings.NewReader(templates))
	if err != nil {
		t.Fatal(err)
	}
	before, err := db.Questions()
	if err != nil {
		t.Fatal(err)
	}
	if before["p/keep"].Value != "a" || before["p/mode"].Value != "old" || before["p/same"].Value != "x, y" {
		t.Errorf("before loading: %v", before)
	}
	loaded := "Template: p/keep\nType: string\nDefault: b\nDescription: Keep?\n Long text\n .\n more\n\n" +
		"Template: p/mode\nType: select\nChoices: new, newer\nDescription: Mode\n"
	after, err := db.Questions(loaded)
	if err != nil {
		t.Fatal(err)
	}
	if after["p/keep"].Value != "b" {
		t.Errorf("p/keep after loading a new default: %q, want b", after["p/keep"].Value)
	}
	if q, ok := after["p/mode"]; ok {
		t.Errorf("p/mode, whose value is no longer a choice, is answered %q", q.Value)
	}
	if after["p/same"].Value != "x, y" {
		t.Errorf("p/same: %q", after["p/same"].Value)
	}
}
