package fleet

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/repoconfig"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// ReportFormat is the format string of the JSON report.
const ReportFormat = "refit-fleet-report/v1"

// Pending severities of an image, most urgent first: the highest advisory severity among
// its updates, Unrated when it has updates none of which fixes a rated advisory (Debian
// suites publish no severities), UpToDate when it has none.
const (
	Unrated  = "Unrated"
	UpToDate = "Up to date"
)

// Severities are the chart's bars, in order.
var Severities = []string{"Critical", "Important", "Moderate", "Low", Unrated, UpToDate}

// Report is the fleet report: the JSON document, and what the HTML page shows.
type Report struct {
	Format string `json:"format"`
	// Images, in the order of their records.
	Images []ImageReport `json:"images"`
	// Outdated names the images with updates.
	Outdated []string `json:"outdated"`
	// TotalCount and SecurityCount add up every image's updates.
	TotalCount    int `json:"total_count"`
	SecurityCount int `json:"security_count"`
	// Chart counts the images by pending severity (every entry of Severities, in order).
	Chart []SeverityCount `json:"chart"`
	// CVEs maps every CVE fixed by some image's updates to the images it affects, sorted.
	CVEs []CVEImages `json:"cves"`
}

// SeverityCount is one bar of the chart.
type SeverityCount struct {
	Severity string `json:"severity"`
	Images   int    `json:"images"`
}

// CVEImages is one entry of the CVE index.
type CVEImages struct {
	ID     string   `json:"id"`
	Images []string `json:"images"`
}

// ImageReport is one image in the report.
type ImageReport struct {
	Name           string `json:"name"`
	Path           string `json:"path"`
	OSID           string `json:"os_id"`
	OSVersionID    string `json:"os_version_id"`
	OSFamily       string `json:"os_family"`
	PackageManager string `json:"package_manager"`
	// Architecture is the image's, by its Debian name (Record.Arch; "" when its record
	// does not say).
	Architecture   string   `json:"architecture"`
	InstalledCount int      `json:"installed_count"`
	Repositories   []string `json:"repositories"`
	Count          int      `json:"count"`
	SecurityCount  int      `json:"security_count"`
	// Severity is the image's pending severity (one of Severities).
	Severity   string                    `json:"severity"`
	CVEs       []string                  `json:"cves"`
	Advisories []AdvisoryReport          `json:"advisories"`
	Updates    []repoconfig.UpdateOutput `json:"updates"`
}

// AdvisoryReport is an advisory an image's updates fix.
type AdvisoryReport struct {
	ID       string   `json:"id"`
	Type     string   `json:"type"`
	Severity string   `json:"severity"`
	Title    string   `json:"title"`
	CVEs     []string `json:"cves"`
}

// NewReport summarises res.
func NewReport(res *Result) *Report {
	rep := &Report{Format: ReportFormat, Images: []ImageReport{}, Outdated: []string{}, CVEs: []CVEImages{}}
	bars := map[string]int{}
	byCVE := map[string][]string{}
	for _, im := range res.Images {
		rec, r := im.Record, im.Result
		ir := ImageReport{
			Name: rec.Name, Path: rec.Path,
			OSID: rec.OS.ID, OSVersionID: rec.OS.VersionID, OSFamily: rec.OS.Family, PackageManager: rec.PackageManager,
			Architecture:   rec.Arch,
			InstalledCount: rec.InstalledCount, Repositories: repoconfig.NonNil(im.Repositories),
			Count: len(r.Updates), SecurityCount: r.SecurityCount, Severity: PendingSeverity(r),
			CVEs: repoconfig.NonNil(r.CVEs), Advisories: []AdvisoryReport{}, Updates: []repoconfig.UpdateOutput{},
		}
		for _, a := range r.Advisories {
			ir.Advisories = append(ir.Advisories, AdvisoryReport{ID: a.ID, Type: a.Type, Severity: a.Severity, Title: a.Title, CVEs: repoconfig.NonNil(a.CVEs)})
		}
		for _, u := range r.Updates {
			ir.Updates = append(ir.Updates, repoconfig.NewUpdateOutput(u))
		}
		rep.Images = append(rep.Images, ir)
		bars[ir.Severity]++
		rep.TotalCount += ir.Count
		rep.SecurityCount += ir.SecurityCount
		if ir.Count > 0 {
			rep.Outdated = append(rep.Outdated, ir.Name)
		}
		for _, c := range ir.CVEs {
			byCVE[c] = append(byCVE[c], ir.Name)
		}
	}
	for _, s := range Severities {
		rep.Chart = append(rep.Chart, SeverityCount{Severity: s, Images: bars[s]})
	}
	for id, images := range byCVE {
		sort.Strings(images)
		rep.CVEs = append(rep.CVEs, CVEImages{ID: id, Images: images})
	}
	sort.Slice(rep.CVEs, func(i, j int) bool { return rep.CVEs[i].ID < rep.CVEs[j].ID })
	return rep
}

// PendingSeverity is the image's entry of Severities for its result.
func PendingSeverity(r *updates.Result) string {
	if len(r.Updates) == 0 {
		return UpToDate
	}
	best, rank := Unrated, 0
	for _, u := range r.Updates {
		if k := updates.SeverityRank(u.Severity); k > rank {
			best, rank = Severities[4-k], k
		}
	}
	return best
}

// CVEList is every CVE of the index, sorted.
func (r *Report) CVEList() []string {
	out := make([]string, 0, len(r.CVEs))
	for _, c := range r.CVEs {
		out = append(out, c.ID)
	}
	return out
}

// WriteJSON writes the report as indented JSON to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, append(b, '\n'))
}

//go:embed report.html.tmpl
var pageSource string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"barWidth": func(n, max int) int {
		if max == 0 {
			return 0
		}
		return n * 600 / max
	},
	"add":   func(a, b int) int { return a + b },
	"mul":   func(a, b int) int { return a * b },
	"class": func(s string) string { return strings.ToLower(strings.ReplaceAll(s, " ", "")) },
}).Parse(pageSource))

// HTML renders the report as one self-contained page: inline CSS and SVG, no script, no
// font or image fetched at view time.
func (r *Report) HTML() ([]byte, error) {
	max := 0
	for _, b := range r.Chart {
		max = maxInt(max, b.Images)
	}
	var buf bytes.Buffer
	err := page.Execute(&buf, struct {
		*Report
		Max    int
		Height int
	}{r, max, 40*len(r.Chart) + 20})
	if err != nil {
		return nil, fmt.Errorf("rendering the fleet report: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteHTML writes the page to path.
func (r *Report) WriteHTML(path string) error {
	b, err := r.HTML()
	if err != nil {
		return err
	}
	return writeFile(path, b)
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// writeFile writes data to path atomically, creating its folder.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
