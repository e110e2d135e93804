package debfile

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strings"
)

// ReplaceScripts copies the .deb read from r to w with the text of the named maintainer scripts
// (preinst …) replaced. Every other member and every other entry of the control archive is kept as
// it was (names, modes, owners, times); the control archive is written as control.tar.gz, which dpkg
// reads whatever the original's compression. A script not in the package is an error.
func ReplaceScripts(r io.Reader, w io.Writer, scripts map[string]string) error {
	br := bufio.NewReader(r)
	magic := make([]byte, 8)
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != "!<arch>\n" {
		return fmt.Errorf("%w: no ar magic", ErrFormat)
	}
	if _, err := io.WriteString(w, "!<arch>\n"); err != nil {
		return err
	}
	replaced := map[string]bool{}
	for {
		name, size, err := readARHeader(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		member := &exactReader{r: br, n: size}
		if strings.HasPrefix(name, "control.tar") {
			var control bytes.Buffer
			if err := rewriteControl(member, name, &control, scripts, replaced); err != nil {
				return err
			}
			if err := writeARMember(w, "control.tar.gz", control.Bytes()); err != nil {
				return err
			}
		} else {
			var buf bytes.Buffer
			if _, err := io.Copy(&buf, member); err != nil {
				return fmt.Errorf("%w: member %s: %v", ErrFormat, name, err)
			}
			if err := writeARMember(w, name, buf.Bytes()); err != nil {
				return err
			}
		}
		if size%2 == 1 {
			if _, err := br.ReadByte(); err != nil && err != io.EOF {
				return fmt.Errorf("%w: %v", ErrFormat, err)
			}
		}
	}
	for name := range scripts {
		if !replaced[name] {
			return fmt.Errorf("%w: the package has no %s to replace", ErrFormat, name)
		}
	}
	return nil
}

// rewriteControl copies the control archive member (compressed as its name says) into out as a
// gzip-compressed tar with the scripts' texts replaced, recording which were.
func rewriteControl(member io.Reader, name string, out io.Writer, scripts map[string]string, replaced map[string]bool) error {
	gz := gzip.NewWriter(out)
	tw := tar.NewWriter(gz)
	err := controlEntries(member, name, func(h *tar.Header, base string, tr *tar.Reader) error {
		body, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("%w: %s: %s: %v", ErrFormat, name, h.Name, err)
		}
		if text, replace := scripts[base]; replace && h.Typeflag == tar.TypeReg {
			body, replaced[base] = []byte(text), true
		}
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = tw.Write(body)
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// writeARMember writes one ar member as dpkg-deb does: the name without a trailing slash, time,
// owner and group 0, mode 100644, and a padding newline after an odd size.
func writeARMember(w io.Writer, name string, data []byte) error {
	if len(name) > 16 {
		return fmt.Errorf("%w: ar member name %q is too long", ErrFormat, name)
	}
	hdr := fmt.Sprintf("%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, 0, 0, 0, "100644", len(data))
	if _, err := io.WriteString(w, hdr); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	if len(data)%2 == 1 {
		_, err := w.Write([]byte{'\n'})
		return err
	}
	return nil
}
