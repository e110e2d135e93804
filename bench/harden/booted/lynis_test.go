package booted

import (
	"slices"
	"testing"
)

// TestLynisLost reads the lines Lynis 3.0.8 logs (copied from a run on the test image): a test
// that got its maximum is not listed, one that did not is, once per item it scored.
func TestLynisLost(t *testing.T) {
	log := `2026-12-08 01:07:06 Performing test ID DEB-0280 (Checking if libpam-tmpdir is installed and enabled.)
2026-12-08 01:07:06 Hardening: assigned maximum number of hardening points for this item (1). Currently having 1 points (out of 1)
2026-12-08 01:07:06 Performing test ID DEB-0810 (Checking for apt-listbugs)
2026-12-08 01:07:06 Hardening: assigned partial number of hardening points (0 of 2). Currently having 2 points (out of 4)
2026-12-08 01:07:20 Performing test ID FILE-6310 (Checking /tmp, /home and /var directory)
2026-12-08 01:07:20 Hardening: assigned partial number of hardening points (9 of 10). Currently having 60 points (out of 70)
2026-12-08 01:07:20 Hardening: assigned partial number of hardening points (10 of 10). Currently having 70 points (out of 80)
2026-12-08 01:07:20 Hardening: assigned partial number of hardening points (9 of 10). Currently having 79 points (out of 90)
`
	want := []string{"DEB-0810 0/2", "FILE-6310 9/10", "FILE-6310 9/10"}
	if got := lynisLost(log); !slices.Equal(got, want) {
		t.Errorf("lynisLost = %q, want %q", got, want)
	}
}
