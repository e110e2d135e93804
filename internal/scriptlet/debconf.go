package scriptlet

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// debconf: a maintainer script that sources /usr/share/debconf/confmodule asks debconf with db_get,
// which sets RET. Offline, refit-patch runs the scripts with DEBIAN_FRONTEND=noninteractive against
// the image's own database (/var/cache/debconf), where db_input and db_go ask nothing and db_get
// answers what the database holds. Given those answers (Script.Debconf, from DebconfDB.Questions), the
// analysis knows RET after "db_get question" and decides the tests of it as it decides those of
// the script's arguments.

// DebconfQuestion is one question of a debconf database.
type DebconfQuestion struct {
	// Value is what db_get answers: the question's value, or else its template's default.
	Value string
	// Owners are the packages that registered the question.
	Owners []string
	// Type is the template's type (boolean, select, string …).
	Type string
}

// DebconfDB is an image's debconf database: debconf's File databases config.dat and templates.dat
// of /var/cache/debconf, in debconf's 822 format.
type DebconfDB struct {
	config, templates map[string]map[string]string
}

// ReadDebconfDB reads config.dat and templates.dat.
func ReadDebconfDB(config, templates io.Reader) (*DebconfDB, error) {
	db := &DebconfDB{config: map[string]map[string]string{}, templates: map[string]map[string]string{}}
	if err := readDebconf822(templates, "name", func(name string, fields map[string]string) {
		db.templates[name] = fields
	}); err != nil {
		return nil, fmt.Errorf("reading debconf's templates: %w", err)
	}
	if err := readDebconf822(config, "name", func(name string, fields map[string]string) {
		db.config[name] = fields
	}); err != nil {
		return nil, fmt.Errorf("reading debconf's config: %w", err)
	}
	return db, nil
}

// Questions returns the questions whose db_get answer a maintainer script run with
// DEBIAN_FRONTEND=noninteractive can rely on, by name, after loading the templates files given (a
// package's "templates" control member, which replace the templates of the same names as debconf
// loads them when the package is unpacked). Left out are the questions whose template is missing,
// whose answer spans lines, and those a noninteractive db_input and db_go would change: a select
// question whose value is not one of its choices (debconf then takes the first choice; choices with
// ${variables} are not worked out here), and an error or text question with a value (debconf
// empties it).
func (db *DebconfDB) Questions(loaded ...string) (map[string]DebconfQuestion, error) {
	templates := db.templates
	if len(loaded) > 0 {
		templates = maps.Clone(db.templates)
		for _, text := range loaded {
			if err := readDebconf822(strings.NewReader(text), "template", func(name string, fields map[string]string) {
				templates[name] = fields
			}); err != nil {
				return nil, fmt.Errorf("reading a templates file: %w", err)
			}
		}
	}
	out := map[string]DebconfQuestion{}
	for name, fields := range db.config {
		t, ok := templates[fields["template"]]
		if !ok {
			continue
		}
		value, set := fields["value"]
		if !set {
			value = t["default"]
		}
		if strings.Contains(value, "\n") || !debconfStable(t, value) {
			continue
		}
		var owners []string
		if o := fields["owners"]; o != "" {
			owners = strings.Split(o, ", ")
		}
		out[name] = DebconfQuestion{Value: value, Owners: owners, Type: t["type"]}
	}
	return out, nil
}

// debconfStable reports whether debconf's noninteractive frontend keeps value when it shows a
// question of template t (Debconf::Element::Noninteractive and its Select, Error and Text).
func debconfStable(t map[string]string, value string) bool {
	switch t["type"] {
	case "select":
		choices, ok := t["choices-c"]
		if !ok {
			choices = t["choices"]
		}
		if strings.Contains(choices, "${") {
			return false
		}
		return slices.Contains(debconfChoices(choices), value)
	case "error", "text":
		return value == ""
	}
	return true
}

// debconfChoices splits a Choices field as Debconf::Question's choices_split does: at a comma
// followed by white space; "\\," and "\\ " stand for a comma and a space.
func debconfChoices(s string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && (s[i+1] == ',' || s[i+1] == ' '):
			cur.WriteByte(s[i+1])
			i++
		case s[i] == ',' && i+1 < len(s) && isDebconfSpace(s[i+1]):
			out = append(out, cur.String())
			cur.Reset()
			for i+1 < len(s) && isDebconfSpace(s[i+1]) {
				i++
			}
		default:
			cur.WriteByte(s[i])
		}
	}
	return append(out, cur.String())
}

func isDebconfSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// readDebconf822 calls record for each stanza of a debconf 822 file, named by its field nameKey
// ("name" in debconf's databases, "template" in a package's templates file), with its fields by
// lower-case key as Debconf::Format::822 reads them ("\n" in a value is a newline; the indented
// lines after "Variables:" are skipped). An indented line continues the field before it, as in a
// package's templates file (" ." is an empty line).
func readDebconf822(r io.Reader, nameKey string, record func(name string, fields map[string]string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	name, fields, invars, last := "", map[string]string{}, false, ""
	flush := func() {
		if name != "" {
			record(name, fields)
		}
		name, fields, invars, last = "", map[string]string{}, false, ""
	}
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !invars && last != "" {
				more := strings.TrimSpace(line)
				if more == "." {
					more = ""
				}
				fields[last] += "\n" + more
			}
			continue
		}
		invars = false
		key, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		key, last = strings.ToLower(key), ""
		switch key {
		case nameKey:
			name = value
		case "variables":
			invars = true
		case "":
		default:
			fields[key] = strings.ReplaceAll(value, `\n`, "\n")
			last = key
		}
	}
	flush()
	return sc.Err()
}

// debconfChanging matches the debconf commands that change what db_get answers: the confmodule's
// db_set, db_reset, db_register, db_unregister, db_purge and db_x_* (loading templates), and
// debconf-set-selections and debconf-communicate, which can do it all.
var debconfChanging = regexp.MustCompile(`\bdb_(?:set|reset|register|unregister|purge|x_[a-z_]+)\b|\bdebconf-(?:set-selections|communicate|loadtemplate)\b`)

// ChangesDebconf reports whether a script's text may change what db_get answers. The caller gives
// a script Debconf answers only when no script that runs before it in the transaction does (the
// package's config and preinst above all); the analysis itself ignores them in a script that does.
func ChangesDebconf(body string) bool {
	return debconfChanging.MatchString(body)
}

// debconfAssignment returns the value s gives RET when s is "db_get question" (or "db_get question ||
// true") for a question whose answer the script was given; nil otherwise.
func (w *walker) debconfAssignment(s *syntax.Stmt, name string) *syntax.Word {
	if name != "RET" || w.a.debconf == nil || s.Background || s.Coprocess || s.Negated || len(s.Redirs) > 0 {
		return nil
	}
	call, ok := s.Cmd.(*syntax.CallExpr)
	if b, isBinary := s.Cmd.(*syntax.BinaryCmd); isBinary && b.Op == syntax.OrStmt {
		if y, isCall := b.Y.Cmd.(*syntax.CallExpr); isCall && len(y.Args) == 1 && len(y.Assigns) == 0 && !b.X.Negated {
			if cmd, _ := staticWord(y.Args[0]); cmd == "true" || cmd == ":" {
				call, ok = b.X.Cmd.(*syntax.CallExpr)
			}
		}
	}
	if !ok || len(call.Assigns) > 0 || len(call.Args) != 2 {
		return nil
	}
	cmd, _ := staticWord(call.Args[0])
	question, static := staticWord(call.Args[1])
	if cmd != "db_get" || !static {
		return nil
	}
	q, known := w.a.debconf[question]
	if !known {
		return nil
	}
	return &syntax.Word{Parts: []syntax.WordPart{&syntax.SglQuoted{Value: q}}}
}

// setsRET reports whether a command is a confmodule function, all of which set RET.
func setsRET(cmd string) bool {
	return strings.HasPrefix(cmd, "db_")
}
