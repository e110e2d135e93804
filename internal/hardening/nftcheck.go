package hardening

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// hostCheckTag is the program's line naming a ruleset file it wrote without validating it:
// nft -c in the image could not open netfilter's netlink socket, which qemu-user does not
// emulate, so the image is of a foreign architecture (offline builds only).
const hostCheckTag = "REFIT-NFT-HOSTCHECK"

// firewallRulesID is the rule that writes nftables rulesets.
const firewallRulesID = "firewall.rules"

// CheckRulesetsOnHost validates each ruleset file in rep.HostChecks with this host's
// `nft -c -f` of the same file (read back from the image with download) and records the
// outcome in the firewall.rules result: valid, rejected (the rule fails, with nft's message),
// or written but unchecked with the reason when this host has no usable nft. It returns the
// results it changed, and keeps rep.Counts equal to the results' totals.
func CheckRulesetsOnHost(ctx context.Context, rep *Report, download func(path string, w io.Writer) error) []Result {
	var changed []Result
	for _, path := range rep.HostChecks {
		i := -1
		for j, r := range rep.Results {
			if r.ID == firewallRulesID {
				i = j
			}
		}
		if i < 0 {
			continue
		}
		res := &rep.Results[i]
		failed, note := hostCheck(ctx, path, download)
		if failed {
			res.Status, res.Detail = StatusFailed, note
		} else {
			res.Detail += "; " + note
		}
		changed = append(changed, *res)
	}
	if len(changed) > 0 {
		rep.Counts = CountResults(rep.Results)
	}
	return changed
}

// hostCheck runs this host's nft -c -f on the image's file path. failed is true when nft
// rejects the ruleset; note says what was checked, or why nothing was.
func hostCheck(ctx context.Context, path string, download func(string, io.Writer) error) (failed bool, note string) {
	nft, err := exec.LookPath("nft")
	if err != nil {
		return false, fmt.Sprintf("written but NOT checked: the build host has no nft to check %s with (apt-get install nftables on the build host)", path)
	}
	f, err := os.CreateTemp("", "refit-nft-")
	if err != nil {
		return false, fmt.Sprintf("written but NOT checked: %v", err)
	}
	defer os.Remove(f.Name())
	err = download(path, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Sprintf("written but NOT checked: reading %s back from the image: %v", path, err)
	}
	version, _ := exec.CommandContext(ctx, nft, "--version").Output()
	by := "the build host's nft -c -f"
	if v := strings.TrimSpace(string(version)); v != "" {
		by += " (" + v + ")"
	}
	out, err := exec.CommandContext(ctx, nft, "-c", "-f", f.Name()).CombinedOutput()
	msg := strings.TrimSpace(strings.ReplaceAll(string(out), f.Name(), path))
	switch {
	case err == nil:
		return false, "checked with " + by + ": valid"
	case !errors.As(err, new(*exec.ExitError)):
		return false, fmt.Sprintf("written but NOT checked: %s: %v", by, err)
	case ctx.Err() != nil:
		return false, fmt.Sprintf("written but NOT checked: %s was cancelled", by)
	case strings.Contains(strings.ToLower(msg), "operation not permitted") || strings.Contains(strings.ToLower(msg), "protocol not supported"):
		return false, fmt.Sprintf("written but NOT checked: %s cannot reach nf_tables either (%s; run the build as root on a host with nf_tables)", by, lastLines([]byte(msg), 1))
	}
	return true, fmt.Sprintf("%s rejects the ruleset written to %s: %s", by, path, lastLines([]byte(msg), 5))
}

// lastLines is the last n lines of out.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
