package scriptlet

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/knqyf263/go-rpmdb/pkg/ndb"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// corpusScript is a script of a real package, with the condition of a trigger.
type corpusScript struct {
	Script
	// Condition is what a trigger or file trigger fires on ("demo-lib >= 1.0", "/usr/lib64").
	Condition string
}

// rpmScriptsQueryFormat makes rpm print every scriptlet, trigger and file trigger of a package as XML,
// escaped by rpm's own :xml formatter (which wraps each value in <string>). The array iterations follow
// rpm's --triggerscripts and --filetriggerscripts aliases (rpmpopt).
var rpmScriptsQueryFormat = func() string {
	var b strings.Builder
	b.WriteString("<pkg><nevra>%{NEVRA:xml}</nevra>")
	for _, s := range []struct{ kind, tag string }{
		{"pretrans", "PRETRANS"}, {"pre", "PREIN"}, {"post", "POSTIN"}, {"preun", "PREUN"},
		{"postun", "POSTUN"}, {"posttrans", "POSTTRANS"},
	} {
		fmt.Fprintf(&b, `<script kind="%s"><body>%%|%s?{%%{%s:xml}}|</body><prog>[%%{%sPROG:xml}]</prog></script>`,
			s.kind, s.tag, s.tag, s.tag)
	}
	b.WriteString(`[<script kind="trigger%{TRIGGERTYPE}"><cond>%{TRIGGERCONDS:xml}</cond>` +
		`<body>%{TRIGGERSCRIPTS:xml}</body><prog>%{TRIGGERSCRIPTPROG:xml}</prog></script>]`)
	b.WriteString(`[<script kind="filetrigger%{FILETRIGGERTYPE}"><cond>%{FILETRIGGERCONDS:xml}</cond>` +
		`<body>%{FILETRIGGERSCRIPTS:xml}</body><prog>%{FILETRIGGERSCRIPTPROG:xml}</prog></script>]`)
	b.WriteString(`[<script kind="transfiletrigger%{TRANSFILETRIGGERTYPE}">` +
		`<cond>%{TRANSFILETRIGGERCONDS:xml}</cond><body>%{TRANSFILETRIGGERSCRIPTS:xml}</body>` +
		`<prog>%{TRANSFILETRIGGERSCRIPTPROG:xml}</prog></script>]`)
	b.WriteString("</pkg>\n")
	return b.String()
}()

// rpmStrings is an element holding rpm's <string> values; inside an array iteration rpm wraps them in
// <rpmTag name="…">.
type rpmStrings struct {
	Values []string `xml:"string"`
	Tagged []struct {
		Values []string `xml:"string"`
	} `xml:"rpmTag"`
}

func (s rpmStrings) join(sep string) string {
	values := s.Values
	for _, t := range s.Tagged {
		values = append(values, t.Values...)
	}
	return strings.Join(values, sep)
}

type rpmQueryPackage struct {
	NEVRA   rpmStrings `xml:"nevra"`
	Scripts []struct {
		Kind string     `xml:"kind,attr"`
		Cond rpmStrings `xml:"cond"`
		Body rpmStrings `xml:"body"`
		Prog rpmStrings `xml:"prog"`
	} `xml:"script"`
}

// queryRPMScripts runs rpm with args (which select the packages: --dbpath DIR -qa, or -qp FILES) and
// returns every script of every package, in rpm's order. home is a throwaway HOME for rpm.
func queryRPMScripts(tb testing.TB, home string, args ...string) []corpusScript {
	tb.Helper()
	cmd := exec.Command("rpm", append(args, "--qf", rpmScriptsQueryFormat)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("rpm %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	dec := xml.NewDecoder(io.MultiReader(strings.NewReader("<corpus>"), bytes.NewReader(out),
		strings.NewReader("</corpus>")))
	var corpus struct {
		Packages []rpmQueryPackage `xml:"pkg"`
	}
	if err := dec.Decode(&corpus); err != nil {
		tb.Fatalf("decoding rpm's XML output: %v", err)
	}
	var scripts []corpusScript
	for _, p := range corpus.Packages {
		for _, s := range p.Scripts {
			body := s.Body.join("")
			prog := s.Prog.join(" ")
			if strings.TrimSpace(body) == "" && prog == "" {
				continue // no such scriptlet
			}
			scripts = append(scripts, corpusScript{
				Script: Script{Package: p.NEVRA.join(""), Kind: Kind(s.Kind), Interpreter: prog,
					Body: body},
				Condition: s.Cond.join(""),
			})
		}
	}
	return scripts
}

// goRPMDBFixtures returns the real rpmdbs shipped with the go-rpmdb module: corpus name → the
// database file (Packages: bdb, rpmdb.sqlite, Packages.db: ndb).
func goRPMDBFixtures(tb testing.TB) map[string]string {
	tb.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/knqyf263/go-rpmdb").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		tb.Fatalf("locating the go-rpmdb module (needs the go command; run go mod download): %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "pkg", "testdata")
	files, err := filepath.Glob(filepath.Join(dir, "*", "*"))
	if err != nil {
		tb.Fatal(err)
	}
	dbs := map[string]string{}
	for _, f := range files {
		switch filepath.Base(f) {
		case "Packages", "rpmdb.sqlite", "Packages.db":
			dbs[filepath.Base(filepath.Dir(f))] = f
		}
	}
	if len(dbs) == 0 {
		tb.Fatalf("no rpm databases under %s", dir)
	}
	return dbs
}

// rpmdbScripts returns every script in the rpm database file db, read by Debian's rpm from a copy:
// bdb through its read-only backend, sqlite directly, and ndb (which Debian's rpm lacks) after
// importing go-rpmdb's reading of its header blobs into a new sqlite database with rpmdb --importdb.
func rpmdbScripts(tb testing.TB, db string) []corpusScript {
	tb.Helper()
	fixture.Need(tb, "rpm", "rpmdb")
	work := tb.TempDir()
	dbDir := filepath.Join(work, "db")
	if err := os.Mkdir(dbDir, 0o755); err != nil {
		tb.Fatal(err)
	}
	args := []string{"--dbpath", dbDir}
	switch filepath.Base(db) {
	case "Packages":
		copyFile(tb, db, filepath.Join(dbDir, "Packages"))
		args = append(args, "--define", "_db_backend bdb_ro")
	case "rpmdb.sqlite":
		copyFile(tb, db, filepath.Join(dbDir, "rpmdb.sqlite"))
	case "Packages.db":
		importNDB(tb, db, dbDir, work)
	default:
		tb.Fatalf("unknown rpm database %s", db)
	}
	return queryRPMScripts(tb, work, append(args, "-qa")...)
}

// importNDB writes the headers of the ndb database db, as rpmdb --exportdb would (header magic and
// blob), and imports them into a new database in dbDir.
func importNDB(tb testing.TB, db, dbDir, home string) {
	tb.Helper()
	src, err := ndb.Open(db)
	if err != nil {
		tb.Fatalf("opening %s: %v", db, err)
	}
	defer src.Close()
	var headers bytes.Buffer
	for entry := range src.Read() {
		if entry.Err != nil {
			tb.Fatalf("reading %s: %v", db, entry.Err)
		}
		headers.Write([]byte{0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0})
		headers.Write(entry.Value)
	}
	cmd := exec.Command("rpmdb", "--dbpath", dbDir, "--importdb")
	cmd.Stdin = &headers
	cmd.Env = append(os.Environ(), "HOME="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("rpmdb --importdb: %v\n%s", err, out)
	}
}

func copyFile(tb testing.TB, src, dst string) {
	tb.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}
