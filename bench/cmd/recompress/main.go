// Command recompress copies an rpm-md repository's metadata (repodata/) into a new folder
// with every data file recompressed as gzip, xz or zstd by the system's own gzip, xz or
// zstd program (as createrepo_c's --compress-type would write it), and repomd.xml
// rewritten to match (location, checksum, size). Package files are not copied: the
// benchmarks never download them.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/decompress"
)

var tools = map[string]struct{ ext, cmd string }{
	"gzip": {".gz", "gzip"},
	"xz":   {".xz", "xz"},
	"zstd": {".zst", "zstd"},
}

func main() {
	if len(os.Args) != 4 || tools[os.Args[3]].cmd == "" {
		fmt.Fprintln(os.Stderr, "usage: recompress SRC-REPO DST-REPO gzip|xz|zstd")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "recompress:", err)
		os.Exit(1)
	}
}

var dataRE = regexp.MustCompile(`(?s)<data type="([^"]+)">.*?</data>`)

func run(src, dst, format string) error {
	repomd, err := os.ReadFile(filepath.Join(src, "repodata", "repomd.xml"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dst, "repodata"), 0o755); err != nil {
		return err
	}
	t := tools[format]
	var failed error
	out := dataRE.ReplaceAllStringFunc(string(repomd), func(block string) string {
		if failed != nil {
			return block
		}
		kind := dataRE.FindStringSubmatch(block)[1]
		href := regexp.MustCompile(`<location href="([^"]+)"`).FindStringSubmatch(block)[1]
		f, err := os.Open(filepath.Join(src, href))
		if err != nil {
			failed = err
			return block
		}
		defer f.Close()
		r, err := decompress.Reader(f, href, 0)
		if err != nil {
			failed = err
			return block
		}
		cmd := exec.Command(t.cmd, "-c", "-6")
		cmd.Stdin = r
		var packed bytes.Buffer
		cmd.Stdout, cmd.Stderr = &packed, os.Stderr
		if err := cmd.Run(); err != nil {
			failed = fmt.Errorf("%s: %w", t.cmd, err)
			return block
		}
		sum := sha256.Sum256(packed.Bytes())
		hexsum := hex.EncodeToString(sum[:])
		newHref := "repodata/" + hexsum + "-" + kind + ".xml" + t.ext
		if err := os.WriteFile(filepath.Join(dst, newHref), packed.Bytes(), 0o644); err != nil {
			failed = err
			return block
		}
		block = regexp.MustCompile(`<checksum type="sha256">[0-9a-f]+</checksum>`).ReplaceAllString(block, `<checksum type="sha256">`+hexsum+`</checksum>`)
		block = strings.Replace(block, `href="`+href+`"`, `href="`+newHref+`"`, 1)
		return regexp.MustCompile(`<size>\d+</size>`).ReplaceAllString(block, "<size>"+strconv.Itoa(packed.Len())+"</size>")
	})
	if failed != nil {
		return failed
	}
	return os.WriteFile(filepath.Join(dst, "repodata", "repomd.xml"), []byte(out), 0o644)
}
