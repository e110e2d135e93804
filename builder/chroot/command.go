package chroot

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/common"
)

// wrappedCommandTemplate is the data of the command_wrapper template.
type wrappedCommandTemplate struct {
	Command string
}

// namespaceCommandWrapper returns the command wrapper every shell command of the
// build goes through: the command runs under /bin/sh inside the image's mount
// namespace (prefix, from diskimage.Image.CommandPrefix), and the user's
// command_wrapper template wraps that whole invocation.
func namespaceCommandWrapper(c *Config, prefix []string) common.CommandWrapper {
	return func(command string) (string, error) {
		inner := shellJoin(prefix) + " /bin/sh -c " + shellQuote(command)
		return c.wrapCommand(inner)
	}
}

// runWrapped runs command through wrap on the host and returns an error carrying
// its output when it fails.
func runWrapped(wrap common.CommandWrapper, command string) error {
	line, err := wrap(command)
	if err != nil {
		return fmt.Errorf("building the command %q: %w", command, err)
	}
	cmd := common.ShellCommand(line)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", command, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// shellQuote quotes s for a POSIX shell: inside single quotes, where an embedded
// single quote closes the quoting, is escaped with a backslash, and reopens it.
// Words made only of safe characters are left as they are.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellJoin quotes each argument and joins them with blanks.
func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	return strings.Join(quoted, " ")
}
