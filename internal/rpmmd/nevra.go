package rpmmd

import (
	"fmt"
	"strings"
)

// ParseNEVRA splits a package identifier of the form
// "name-[epoch:]version-release.arch", as module artifacts list them
// ("nodejs-1:18.19.0-1.module+el9.3.0+20816+af6d85d9.x86_64"). The epoch
// is 0 when absent. Names may contain dashes and releases dots: the arch is
// what follows the last dot, the release what lies between the last dash
// and that dot, the version what lies before it up to the dash before.
func ParseNEVRA(s string) (name string, epoch int, version, release, arch string, err error) {
	fail := func(why string) (string, int, string, string, string, error) {
		return "", 0, "", "", "", fmt.Errorf("%w: %q is not name-[epoch:]version-release.arch: %s", ErrInvalid, s, why)
	}
	rest, arch, ok := cutLast(s, ".")
	if !ok || arch == "" {
		return fail("no .arch")
	}
	rest, release, ok = cutLast(rest, "-")
	if !ok || release == "" {
		return fail("no -release")
	}
	name, version, ok = cutLast(rest, "-")
	if !ok || name == "" || version == "" {
		return fail("no name-version")
	}
	if e, v, ok := strings.Cut(version, ":"); ok {
		if epoch, err = parseEpoch(e); err != nil || e == "" {
			return fail("bad epoch")
		}
		version = v
		if version == "" {
			return fail("empty version")
		}
	}
	if strings.ContainsAny(arch+release+version, "-:") {
		return fail("stray '-' or ':'")
	}
	return name, epoch, version, release, arch, nil
}

// cutLast slices s around the last instance of sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
