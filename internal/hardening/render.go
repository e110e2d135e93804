package hardening

import (
	"bytes"
	_ "embed"
	"fmt"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/imageroot"
)

// prelude is the runtime every rendered program starts with: result reporting, OS detection and
// the helpers rules call.
//
//go:embed prelude.sh
var prelude string

// Program exit codes.
const (
	// ExitOK: every rule is ok, changed or skipped.
	ExitOK = 0
	// ExitRuleFailed: the program ran to the end and at least one rule failed.
	ExitRuleFailed = 1
	// ExitFatal: the program stopped before applying rules (unsupported OS, not root); it printed
	// a REFIT-ERROR line.
	ExitFatal = 3
)

// Render returns the POSIX-sh program that applies cfg. The program needs root, reads nothing but
// the system it runs on, and prints the results described in the package documentation.
func Render(cfg Config) ([]byte, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	rules, err := c.rules()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("#!/bin/sh\n")
	b.WriteString("# refit-harden program rendered by packer-plugin-refit (internal/hardening). Do not edit: render it again.\n")
	fmt.Fprintf(&b, "# profile %s, %d rules%s. Output: REFIT-RULE<TAB>id<TAB>status<TAB>title<TAB>detail\n", c.Profile, len(rules), map[bool]string{true: ", audit mode (checks only)"}[c.Audit])
	fmt.Fprintf(&b, "REFIT_VERIFY=%d\nREFIT_INSTALL=%d\nREFIT_AUDIT=%d\nREFIT_PROFILE=%s\nREFIT_SAVED_SUFFIX=%s\n",
		boolInt(c.Verify), boolInt(c.InstallPackages), boolInt(c.Audit), shq(c.Profile), shq(imageroot.SavedSuffix))
	b.WriteString(prelude)
	fmt.Fprintf(&b, "\n# refit_config: settings the helpers read.\nrefit_config() {\n%s\n}\n", body(configVars(c)))
	b.WriteString("\n# ---- rules --------------------------------------------------------------------------------\n")
	var calls strings.Builder
	for i, r := range rules {
		if strings.ContainsAny(r.ID+r.Title, "\t\n'") {
			return nil, fmt.Errorf("%w: rule %q has a tab, newline or quote in its id or title", ErrInvalid, r.ID)
		}
		if c.skipped(r.ID) {
			fmt.Fprintf(&calls, "\trefit_skip %s %s\n", shq(r.ID), shq(r.Title))
			continue
		}
		fn := fmt.Sprintf("refit_r%d", i+1)
		fmt.Fprintf(&b, "\n# %s\n%s_check() {\n%s\n}\n%s_apply() {\n%s\n}\n", r.ID, fn, body(r.check), fn, body(r.apply))
		fmt.Fprintf(&calls, "\trefit_rule %s %s %s\n", shq(r.ID), shq(r.Title), fn)
	}
	b.WriteString(`
refit_main() {
	REFIT_SELF=$0 REFIT_REMOVE=0 refit_sudo=0
	for refit_arg in "$@"; do
		case $refit_arg in
		--sudo) refit_sudo=1 ;;
		--remove) REFIT_REMOVE=1 ;;
		*) refit_fatal "unknown argument $refit_arg (known: --sudo, --remove); nothing was changed" ;;
		esac
	done
	if [ "$(id -u)" != 0 ] && [ "$refit_sudo" = 1 ]; then
		command -v sudo >/dev/null 2>&1 || refit_fatal "not running as root, and sudo is not installed; nothing was changed"
		exec sudo -n sh "$REFIT_SELF" "$@"
	fi
	refit_detect_os
	[ "$(id -u)" = 0 ] || refit_fatal "must run as root (pass --sudo to re-run through sudo -n); nothing was changed"
	refit_detect_live
	for refit_d in "${TMPDIR:-/tmp}" /var/tmp /run /root; do
		REFIT_TMP=$(mktemp -d "$refit_d/refit-harden.XXXXXX" 2>/dev/null) && break
		REFIT_TMP=
	done
	[ -n "$REFIT_TMP" ] || refit_fatal "cannot create a temporary directory (tried \$TMPDIR, /tmp, /var/tmp, /run, /root); nothing was changed"
	trap refit_cleanup EXIT
	trap 'exit 130' INT TERM HUP
	refit_config
	# the package lists download in the background while the first rules run
	if [ "$REFIT_AUDIT" = 0 ] && [ "$REFIT_INSTALL" = 1 ] && refit_want_pkgs_missing; then refit_apt_update_start; fi
	if [ "$REFIT_LIVE" = 1 ]; then refit_mode=live; else refit_mode=offline; fi
	printf 'REFIT-OS\t%s\t%s\t%s\t%s\n' "$REFIT_OS_ID" "$REFIT_OS_VERSION" "$REFIT_FAMILY" "$refit_mode"
	if [ "$REFIT_AUDIT" = 1 ]; then refit_mode=audit; else refit_mode=apply; fi
	printf 'REFIT-PROFILE\t%s\t%s\n' "$REFIT_PROFILE" "$refit_mode"
`)
	b.WriteString(calls.String())
	b.WriteString(`	printf 'REFIT-DONE\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n' "$REFIT_N_CHANGED" "$REFIT_N_OK" "$REFIT_N_SKIPPED" "$REFIT_N_FAILED" \
		"$REFIT_N_COMPLIANT" "$REFIT_N_WOULD" "$REFIT_N_NA"
	[ "$REFIT_N_FAILED" -eq 0 ] || exit 1
	exit 0
}

refit_main "$@"
`)
	return b.Bytes(), nil
}

// body returns a function body, never empty (an empty body is a syntax error).
func body(code string) string {
	// Not indented: a rule's code may hold quoted strings that span lines (file contents), and
	// indenting those would change what gets written.
	code = strings.Trim(code, "\n")
	if strings.TrimSpace(code) == "" {
		code = ":"
	}
	return code
}

// shq quotes s for POSIX sh.
func shq(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shWords quotes each word and joins them with spaces.
func shWords(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shq(w)
	}
	return strings.Join(q, " ")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
