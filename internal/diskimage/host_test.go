package diskimage

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckHostNamesPackages empties PATH: every missing tool must be reported with
// the package that installs it.
func TestCheckHostNamesPackages(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := CheckHost()
	if !errors.Is(err, ErrHostNotReady) || !errors.Is(err, ErrMissingTool) {
		t.Fatalf("CheckHost = %v, want ErrHostNotReady and ErrMissingTool", err)
	}
	for _, want := range []string{"qemu-img", "apt-get install qemu-utils", "losetup", "partx", "blkid", "fsfreeze", "nsenter", "e2fsck", "e2fsprogs"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("CheckHost error does not mention %q:\n%v", want, err)
		}
	}
}

func TestLookToolXFS(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if err := lookTool(xfsRepair); !errors.Is(err, ErrMissingTool) || !strings.Contains(err.Error(), "apt-get install xfsprogs") {
		t.Errorf("lookTool(xfs_repair) = %v", err)
	}
}
