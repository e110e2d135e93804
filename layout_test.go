package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// module is this repository's Go module path.
const module = "github.com/refit-images/packer-plugin-refit/"

// componentKinds are the folders holding one component package each (kind/name).
var componentKinds = []string{"builder", "provisioner", "datasource", "post-processor"}

// component returns the component package ("datasource/repodiff") that the
// module-relative path p lies in, or "".
func component(p string) string {
	parts := strings.Split(p, "/")
	for _, k := range componentKinds {
		if len(parts) >= 2 && parts[0] == k {
			return parts[0] + "/" + parts[1]
		}
	}
	return ""
}

// TestLayoutImports keeps the README's layout true: data flows one way, component →
// internal packages. No component imports another (shared HCL types live in
// internal/repoconfig), and internal packages import no component. Test files count too.
func TestLayoutImports(t *testing.T) {
	roots := append(append([]string{}, componentKinds...), "internal")
	checked := 0
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if name := d.Name(); name == "testdata" || (strings.HasPrefix(name, ".") && path != root) {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			checked++
			from := component(filepath.ToSlash(path))
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if !strings.HasPrefix(p, module) {
					continue
				}
				to := component(strings.TrimPrefix(p, module))
				if to == "" || to == from {
					continue
				}
				if from == "" {
					t.Errorf("%s imports the component %s: internal packages never import components", path, p)
				} else {
					t.Errorf("%s imports the component %s: components share code through internal packages (internal/repoconfig for HCL types), never through each other", path, p)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked == 0 {
		t.Fatal("no Go files found: run the test from the module root")
	}
}
