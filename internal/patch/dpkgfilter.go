package patch

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// dpkgPathFilter is dpkg's path-exclude/path-include configuration (dpkg.cfg(5)): files
// it matches are not unpacked, so dpkg --verify reports them missing by design.
type dpkgPathFilter struct {
	rules []dpkgPathRule
}

type dpkgPathRule struct {
	include bool
	re      *regexp.Regexp
}

// readDpkgPathFilter reads etc/dpkg/dpkg.cfg and etc/dpkg/dpkg.cfg.d/* of root, in the
// order dpkg reads them.
func readDpkgPathFilter(root string) *dpkgPathFilter {
	f := &dpkgPathFilter{}
	files := []string{filepath.Join(root, "etc/dpkg/dpkg.cfg")}
	more, _ := filepath.Glob(filepath.Join(root, "etc/dpkg/dpkg.cfg.d/*"))
	files = append(files, more...)
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimPrefix(strings.TrimSpace(line), "--")
			key, val, ok := strings.Cut(line, "=")
			if !ok {
				key, val, ok = strings.Cut(line, " ")
			}
			if !ok || (key != "path-exclude" && key != "path-include") {
				continue
			}
			if re, err := globRegexp(strings.TrimSpace(val)); err == nil {
				f.rules = append(f.rules, dpkgPathRule{include: key == "path-include", re: re})
			}
		}
	}
	return f
}

// excluded reports whether dpkg leaves p out: the last matching rule decides.
func (f *dpkgPathFilter) excluded(p string) bool {
	out := false
	for _, r := range f.rules {
		if r.re.MatchString(p) {
			out = !r.include
		}
	}
	return out
}

// globRegexp turns an fnmatch(3) pattern without FNM_PATHNAME ("*" also matches "/"),
// as dpkg uses it, into a regular expression.
func globRegexp(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := strings.IndexByte(glob[i:], ']')
			if j < 0 {
				b.WriteString(`\[`)
				continue
			}
			class := glob[i+1 : i+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
