package harden

import (
	"net"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshProbe is what one SSH connection attempt with a password learnt about a server.
type sshProbe struct {
	// Negotiated is set once the key exchange finished: the server accepted one of the
	// client's algorithms.
	Negotiated bool
	// Banner is the pre-authentication banner the server sent.
	Banner string
	// Offered lists the password-like methods the server let the client try ("password",
	// "keyboard-interactive"): the client only tries methods the server lists.
	Offered []string
	// LoggedIn is set when the password was accepted.
	LoggedIn bool
	// Err says why the connection or the login failed.
	Err error
}

// offers reports whether the server let the client try method.
func (p sshProbe) offers(method string) bool { return slices.Contains(p.Offered, method) }

// probePassword connects to addr and tries to log in as user with password (password and
// keyboard-interactive authentication, nothing else), restricted to the algorithms in algs (zero
// fields: the library's defaults). It records what the server negotiated and offered.
func probePassword(addr, user, password string, algs ssh.Config) sshProbe {
	var p sshProbe
	offered := func(method string) {
		if !p.offers(method) {
			p.Offered = append(p.Offered, method)
		}
	}
	cfg := &ssh.ClientConfig{
		Config: algs,
		User:   user,
		Auth: []ssh.AuthMethod{
			ssh.PasswordCallback(func() (string, error) {
				offered("password")
				return password, nil
			}),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				offered("keyboard-interactive")
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = password
				}
				return answers, nil
			}),
		},
		// The host key is checked only after the key exchange succeeded.
		HostKeyCallback: func(string, net.Addr, ssh.PublicKey) error {
			p.Negotiated = true
			return nil
		},
		BannerCallback: func(message string) error {
			p.Banner = message
			return nil
		},
		Timeout: 60 * time.Second,
	}
	client, err := ssh.Dial("tcp", addr, cfg)
	if err != nil {
		p.Err = err
		return p
	}
	p.LoggedIn = true
	_ = client.Close()
	return p
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
