package sbom_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
	packageurl "github.com/package-url/packageurl-go"

	"github.com/refit-images/packer-plugin-refit/internal/diskimage"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/sbom"
	"github.com/refit-images/packer-plugin-refit/internal/sbom/sbomtest"
)

// syftPackage is one rpm or deb package as a purl says it.
type syftPackage struct {
	name, version, arch, epoch string
	purl                       packageurl.PackageURL
}

func (p syftPackage) key() string { return p.name + " " + p.epoch + ":" + p.version + " " + p.arch }

// osPackages returns the rpm and deb components of a CycloneDX document, by key.
func osPackages(t *testing.T, data []byte) map[string]syftPackage {
	t.Helper()
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(strings.NewReader(string(data)), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatal(err)
	}
	out := map[string]syftPackage{}
	if bom.Components == nil {
		return out
	}
	for _, c := range *bom.Components {
		u, err := packageurl.FromString(c.PackageURL)
		if err != nil || (u.Type != packageurl.TypeRPM && u.Type != packageurl.TypeDebian) {
			continue
		}
		q := u.Qualifiers.Map()
		p := syftPackage{name: u.Name, version: u.Version, arch: q["arch"], epoch: q["epoch"], purl: u}
		out[p.key()] = p
	}
	return out
}

// canonical is a purl with its qualifiers sorted, as the purl spec's canonical form has them.
func canonical(u packageurl.PackageURL, drop ...string) string {
	var q packageurl.Qualifiers
	for _, x := range u.Qualifiers {
		if !slices.Contains(drop, x.Key) {
			q = append(q, x)
		}
	}
	sort.Slice(q, func(i, j int) bool { return q[i].Key < q[j].Key })
	u.Qualifiers = q
	return u.ToString()
}

// agreement compares refit's CycloneDX SBOM of root with syft's scan of the same root and
// returns the figures and every difference.
type agreement struct {
	refit, syft, matched int
	purlsEqual           int // byte for byte after sorting qualifiers
	purlsEqualButDistro  int // equal once the distro qualifier is left out
	onlyRefit, onlySyft  []string
	purlDiffs            []string
}

func compareWithSyft(t *testing.T, root string) agreement {
	t.Helper()
	return compareWithSyftIn(t, root, nil, root)
}

// compareWithSyftIn reads root, and runs syft with the argv prefix on syftRoot: the same
// filesystem, as a command run with the prefix sees it (a disk image is mounted in a
// private mount namespace).
func compareWithSyftIn(t *testing.T, root string, prefix []string, syftRoot string) agreement {
	t.Helper()
	syft := fixture.Syft(t)
	inv, err := sbom.FromRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	inv.Image = sbom.Image{Name: "root", SHA256: strings.Repeat("0", 64), Format: "raw"}
	var ours, spdx strings.Builder
	if err := inv.EncodeCycloneDX(&ours); err != nil {
		t.Fatal(err)
	}
	if err := inv.EncodeSPDX(&spdx); err != nil {
		t.Fatal(err)
	}
	// the real package data (licenses of every kind) against the official schemas too
	if err := sbomtest.Validate(sbomtest.CycloneDX16, []byte(ours.String())); err != nil {
		t.Errorf("CycloneDX: %v", err)
	}
	if err := sbomtest.Validate(sbomtest.SPDX23, []byte(spdx.String())); err != nil {
		t.Errorf("SPDX: %v", err)
	}
	argv := append(slices.Clone(prefix), syft, "scan", "dir:"+syftRoot, "-o", "cyclonedx-json", "-q")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "SYFT_CHECK_FOR_APP_UPDATE=false", "HOME="+t.TempDir())
	theirs, err := cmd.Output()
	if err != nil {
		t.Fatalf("syft scan dir:%s: %v", root, err)
	}
	a, b := osPackages(t, []byte(ours.String())), osPackages(t, theirs)
	ag := agreement{refit: len(a), syft: len(b)}
	for k, p := range a {
		q, ok := b[k]
		if !ok {
			ag.onlyRefit = append(ag.onlyRefit, k)
			continue
		}
		ag.matched++
		switch {
		case canonical(p.purl) == canonical(q.purl):
			ag.purlsEqual++
		case canonical(p.purl, "distro") == canonical(q.purl, "distro"):
			ag.purlsEqualButDistro++
			ag.purlDiffs = append(ag.purlDiffs, fmt.Sprintf("%s: distro %s, syft %s", k, p.purl.Qualifiers.Map()["distro"], q.purl.Qualifiers.Map()["distro"]))
		default:
			ag.purlDiffs = append(ag.purlDiffs, fmt.Sprintf("%s: refit %s, syft %s", k, canonical(p.purl), canonical(q.purl)))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			ag.onlySyft = append(ag.onlySyft, k)
		}
	}
	slices.Sort(ag.onlyRefit)
	slices.Sort(ag.onlySyft)
	slices.Sort(ag.purlDiffs)
	t.Logf("syft agreement: packages matched %d/%d (refit %d, syft %d); purls equal %d/%d, equal but for distro %d",
		ag.matched, len(a)+len(b)-ag.matched, ag.refit, ag.syft, ag.purlsEqual, ag.matched, ag.purlsEqualButDistro)
	for _, d := range ag.onlyRefit {
		t.Logf("only refit: %s", d)
	}
	for _, d := range ag.onlySyft {
		t.Logf("only syft: %s", d)
	}
	for i, d := range ag.purlDiffs {
		if i < 10 {
			t.Logf("purl: %s", d)
		}
	}
	return ag
}

// The agreement tests hold refit's CycloneDX SBOM of a root against syft's scan of the same
// root: the same packages (name, epoch, version, arch) and the same purls, except for the
// differences docs/builders/chroot.mdx ("SBOMs") explains, each asserted here exactly.

// TestSyftAgreesRPMLab: the RPM lab's root (sqlite rpmdb; epochs, install-only kernels,
// noarch) agrees fully.
func TestSyftAgreesRPMLab(t *testing.T) {
	lab := fixture.BuildRPMLab(t)
	ag := compareWithSyft(t, fixture.CopyRoot(t, lab.Root))
	if ag.matched != ag.refit || ag.matched != ag.syft || ag.purlsEqual != ag.matched || ag.matched == 0 {
		t.Errorf("refit and syft disagree on the RPM lab root (see the log)")
	}
}

// TestSyftAgreesAlmaLinux: on the real AlmaLinux 9.0 rpmdb (Berkeley DB, 16 KiB pages) syft
// misses the two packages whose headers Berkeley DB stores on the hash page itself (its
// go-rpmdb reader skips H_KEYDATA items); rpm lists all 22, as refit does.
func TestSyftAgreesAlmaLinux(t *testing.T) {
	ag := compareWithSyft(t, almaRoot(t))
	want := []string{"almalinux-gpg-keys :9.0-3.el9 aarch64", "basesystem :11-13.el9 noarch"}
	if ag.refit != 22 || !slices.Equal(ag.onlyRefit, want) || len(ag.onlySyft) != 0 || ag.purlsEqual != ag.matched {
		t.Errorf("want refit's 22 packages (rpm -qa's) to be syft's and %q, with equal purls (see the log)", want)
	}
}

// TestSyftAgreesDebianImage: on the Debian 12 image every package agrees; the purls differ
// only in distro: refit writes os-release's VERSION_ID ("debian-12", the purl form the
// DESIGN contract names), syft the point release of /etc/debian_version ("debian-12.15").
func TestSyftAgreesDebianImage(t *testing.T) {
	image := filepath.Join(fixture.DebianImage(t), "debian12.qcow2")
	s, err := diskimage.OpenReadOnly(context.Background(), image, diskimage.Options{MountFstab: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	point, err := os.ReadFile(filepath.Join(s.Root(), "etc", "debian_version"))
	if err != nil {
		t.Fatal(err)
	}
	ag := compareWithSyftIn(t, s.Root(), s.Mounts.CommandPrefix(), s.Mounts.Root())
	if ag.matched != ag.refit || ag.matched != ag.syft || ag.matched == 0 || ag.purlsEqual+ag.purlsEqualButDistro != ag.matched {
		t.Errorf("refit and syft disagree on the Debian image (see the log)")
	}
	wantDistro := "debian-12, syft debian-" + strings.TrimSpace(string(point))
	for _, d := range ag.purlDiffs {
		if !strings.HasSuffix(d, ": distro "+wantDistro) {
			t.Errorf("unexplained purl difference: %s", d)
		}
	}
}
