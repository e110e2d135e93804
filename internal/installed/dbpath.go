package installed

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/refit-images/packer-plugin-refit/internal/imageroot"
)

// defaultRPMDBDirs are the directories rpm keeps its database in when the image's macros do
// not say: the classic one, and the one Fedora 36+ and openSUSE moved it to (where
// /var/lib/rpm is then a symlink).
var defaultRPMDBDirs = []string{"/var/lib/rpm", "/usr/lib/sysimage/rpm"}

// rpmMacroFiles are the macros files rpm reads, in its order (the macrofiles of rpmrc.c: a
// later definition wins), that an image may set %_dbpath in. Platform and per-user files are
// left out: an image's rpm database is not chosen per architecture or per user.
var rpmMacroFiles = []string{
	"/usr/lib/rpm/macros",
	"/usr/lib/rpm/macros.d/macros.*",
	"/usr/lib/rpm/redhat/macros",
	"/usr/lib/rpm/suse/macros",
	"/etc/rpm/macros.*",
	"/etc/rpm/macros",
}

// rpmBuiltinMacros are the path macros rpm's own macros file defines, for images whose macros
// files set %_dbpath in their terms without defining them.
var rpmBuiltinMacros = map[string]string{
	"_prefix":        "/usr",
	"_exec_prefix":   "%{_prefix}",
	"_usr":           "/usr",
	"_var":           "/var",
	"_localstatedir": "/var",
	"_sysconfdir":    "/etc",
	"_lib":           "lib",
	"_usrlibrpm":     "/usr/lib/rpm",
}

// macroDefinition matches "%name body" at the start of a macros file line; a name followed
// by "(" is a parametric macro, which %_dbpath never is.
var macroDefinition = regexp.MustCompile(`^%([A-Za-z_][A-Za-z0-9_]*)(\(?)[ \t]*(.*)$`)

// rpmdbDirsOf returns the directories, inside root, to look for the rpm database in: the
// %_dbpath the image's macros files set, with the file that set it, or else the defaults.
// A %_dbpath refit cannot expand (a shell expansion, a conditional, an undefined macro) is
// returned as unexpanded, with the defaults to search instead: the database is read where it
// is found there, and the error for finding none names that %_dbpath.
func rpmdbDirsOf(root string) (dirs []string, origin string, unexpanded, err error) {
	defs := map[string]string{}
	origins := map[string]string{}
	for _, pattern := range rpmMacroFiles {
		files, err := macroFiles(root, pattern)
		if err != nil {
			return nil, "", nil, fmt.Errorf("reading the image's rpm macros: %w", err)
		}
		for _, file := range files {
			if err := readMacros(root, file, defs, origins); err != nil {
				return nil, "", nil, fmt.Errorf("reading the image's rpm macros: %w", err)
			}
		}
	}
	body, ok := defs["_dbpath"]
	if !ok {
		return defaultRPMDBDirs, "", nil, nil
	}
	for name, value := range rpmBuiltinMacros {
		if _, ok := defs[name]; !ok {
			defs[name] = value
		}
	}
	dir, err := expandMacros(body, defs, 0)
	if err == nil && !strings.HasPrefix(dir, "/") {
		err = errors.New("it is not an absolute path")
	}
	if err != nil {
		return defaultRPMDBDirs, "", fmt.Errorf("%s sets %%_dbpath to %q, which refit cannot expand (%v)",
			origins["_dbpath"], body, err), nil
	}
	return []string{filepath.Clean(dir)}, origins["_dbpath"], nil, nil
}

// macroFiles returns the files, as paths inside root, that pattern (a path inside root whose
// last element may hold a "*") names, sorted as rpm's glob sorts them.
func macroFiles(root, pattern string) ([]string, error) {
	dir, base := filepath.Split(pattern)
	hostDir, err := imageroot.Resolve(root, dir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(hostDir)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if ok, _ := filepath.Match(base, e.Name()); ok && !strings.HasSuffix(e.Name(), ".rpmnew") &&
			!strings.HasSuffix(e.Name(), ".rpmsave") && !strings.HasSuffix(e.Name(), ".rpmorig") {
			files = append(files, dir+e.Name())
		}
	}
	slices.Sort(files)
	return files, nil
}

// readMacros adds the definitions of the macros file at file (a path inside root) to defs,
// a later one replacing an earlier one as in rpm, and records in origins where each came from.
func readMacros(root, file string, defs, origins map[string]string) error {
	p, err := imageroot.Resolve(root, file)
	if err != nil {
		return err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil // a directory named like a macros file; rpm skips it too
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var line string
	for sc.Scan() {
		line += sc.Text()
		if strings.HasSuffix(line, "\\") { // continued on the next line
			line = strings.TrimSuffix(line, "\\") + "\n"
			continue
		}
		if m := macroDefinition.FindStringSubmatch(strings.TrimSpace(line)); m != nil && m[2] == "" {
			defs[m[1]] = strings.TrimSpace(m[3])
			origins[m[1]] = file
		}
		line = ""
	}
	return sc.Err()
}

// macroReference matches %name and %{name}; any other use of % is beyond refit.
var macroReference = regexp.MustCompile(`%(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))`)

// expandMacros expands the plain macro references in s; conditionals, shell and Lua
// expansions, and undefined macros are errors.
func expandMacros(s string, defs map[string]string, depth int) (string, error) {
	if depth > 16 {
		return "", errors.New("macros nest too deep")
	}
	var out strings.Builder
	for s != "" {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			out.WriteString(s)
			break
		}
		out.WriteString(s[:i])
		s = s[i:]
		if strings.HasPrefix(s, "%%") {
			out.WriteByte('%')
			s = s[2:]
			continue
		}
		m := macroReference.FindStringSubmatchIndex(s)
		if m == nil || m[0] != 0 {
			return "", fmt.Errorf("unsupported macro syntax at %q", s)
		}
		var name string
		if m[2] >= 0 {
			name = s[m[2]:m[3]] // %{name}
		} else {
			name = s[m[4]:m[5]] // %name
		}
		body, ok := defs[name]
		if !ok {
			return "", fmt.Errorf("macro %%%s is not defined", name)
		}
		v, err := expandMacros(body, defs, depth+1)
		if err != nil {
			return "", err
		}
		out.WriteString(v)
		s = s[m[1]:]
	}
	return out.String(), nil
}
