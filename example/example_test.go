// Package example holds the example templates; its test checks that the real Packer
// accepts every one of them with the plugin installed.
package example

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/packertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	packertest.Cleanup()
	os.Exit(code)
}

// TestAccExamplesValidate runs packer validate on every folder of example/.
func TestAccExamplesValidate(t *testing.T) {
	env := packertest.Setup(t)
	dirs, err := filepath.Glob("*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			continue
		}
		n++
		t.Run(d, func(t *testing.T) {
			abs, _ := filepath.Abs(d)
			if out, err := env.Run(t, abs, "validate", "."); err != nil {
				t.Fatalf("packer validate example/%s: %v\n%s", d, err, out)
			}
		})
	}
	if n == 0 {
		t.Fatal("no example folders found")
	}
}
