package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/refit-images/packer-plugin-refit/internal/fetch"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
)

// chromium runs headless Chromium on page with args (--dump-dom, --screenshot=…) as on a
// fresh machine: a private profile, HOME and XDG folders, no sandbox (root), no GPU.
func chromium(t *testing.T, page string, args ...string) []byte {
	t.Helper()
	fixture.Need(t, "chromium")
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "chromium", append([]string{"--headless", "--no-sandbox", "--disable-gpu",
		"--no-first-run", "--disable-dev-shm-usage", "--user-data-dir=" + filepath.Join(home, "profile")},
		append(args, "file://"+page)...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"), "XDG_RUNTIME_DIR="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// shown reads what the rendered page shows: the text of each element with an id, of each
// table cell under an element carrying data-image or data-cve (keyed "image/name/class"),
// and of each chart bar's count (keyed "bar/severity").
func shown(t *testing.T, dom []byte) map[string]string {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}
	attr := func(n *html.Node, k string) string {
		for _, a := range n.Attr {
			if a.Key == k {
				return a.Val
			}
		}
		return ""
	}
	var text func(n *html.Node) string
	text = func(n *html.Node) string {
		if n.Type == html.TextNode {
			return n.Data
		}
		var b strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			b.WriteString(text(c))
		}
		return b.String()
	}
	out := map[string]string{}
	var walk func(n *html.Node, scope string)
	walk = func(n *html.Node, scope string) {
		if n.Type == html.ElementNode {
			if id := attr(n, "id"); id != "" && n.Data == "b" {
				out[id] = strings.TrimSpace(text(n))
			}
			switch {
			case attr(n, "data-image") != "" && n.Data == "tr":
				scope = "image/" + attr(n, "data-image") + "/"
			case attr(n, "data-cve") != "":
				scope = "cve/" + attr(n, "data-cve") + "/"
			case attr(n, "data-severity") != "":
				scope = "bar/" + attr(n, "data-severity")
			case n.Data == "section":
				scope = ""
			}
			cls := attr(n, "class")
			switch {
			case strings.HasPrefix(scope, "bar/") && cls == "bar-count":
				out[scope] = strings.TrimSpace(text(n))
			case scope != "" && !strings.HasPrefix(scope, "bar/") && n.Data == "td" && cls != "":
				out[scope+strings.Fields(cls)[len(strings.Fields(cls))-1]] = strings.TrimSpace(text(n))
			case strings.HasPrefix(scope, "cve/") && n.Data == "td" && cls == "":
				out[scope+"text"] += strings.TrimSpace(text(n)) + "|"
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, scope)
		}
	}
	walk(doc, "")
	return out
}

// TestReportInChromium renders the report of a real fleet (the RPM lab at three states),
// opens it in headless Chromium, screenshots it, and checks every number the page shows
// against the JSON report; the page must fetch nothing.
func TestReportInChromium(t *testing.T) {
	fixture.Need(t, "chromium", "rpm", "rpmbuild", "createrepo_c")
	lab := fixture.BuildRPMLab(t)
	images, repos := rpmLabStates(t, lab, false)
	dir := t.TempDir()
	var paths []string
	for _, im := range images {
		paths = append(paths, writeManifest(t, dir, im.name, im.root))
	}
	recs, err := ReadRecords(context.Background(), paths, 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Job{Records: recs, Repositories: repos, Loader: &repository.Loader{Fetch: fetch.New(t.TempDir())}})
	if err != nil {
		t.Fatal(err)
	}
	page, jsonPath := filepath.Join(dir, "fleet.html"), filepath.Join(dir, "fleet.json")
	if err := NewReport(res).WriteHTML(page); err != nil {
		t.Fatal(err)
	}
	if err := NewReport(res).WriteJSON(jsonPath); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?i)<script|<link|<img|<iframe|@import|url\(|src=|https?://`).Find(raw); m != nil {
		t.Errorf("the page is not self-contained: it has %q", m)
	}
	var rep Report
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.TotalCount == 0 || len(rep.CVEs) == 0 || len(rep.Outdated) == 0 {
		t.Fatalf("the lab fleet has nothing to show: %+v", rep)
	}

	shot := filepath.Join(os.Getenv("REFIT_SCREENSHOT_DIR"), "fleet-report.png")
	if os.Getenv("REFIT_SCREENSHOT_DIR") == "" {
		shot = filepath.Join(dir, "fleet-report.png")
	}
	chromium(t, page, "--screenshot="+shot, "--window-size=1280,1600", "--hide-scrollbars")
	png, err := os.ReadFile(shot)
	if err != nil || len(png) < 10000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("chromium made no real screenshot at %s (%d bytes, %v)", shot, len(png), err)
	}
	got := shown(t, chromium(t, page, "--dump-dom"))

	want := map[string]string{
		"total-images": strconv.Itoa(len(rep.Images)), "total-outdated": strconv.Itoa(len(rep.Outdated)),
		"total-count": strconv.Itoa(rep.TotalCount), "total-security": strconv.Itoa(rep.SecurityCount),
		"total-cves": strconv.Itoa(len(rep.CVEs)),
	}
	for _, bar := range rep.Chart {
		want["bar/"+bar.Severity] = strconv.Itoa(bar.Images)
	}
	for _, im := range rep.Images {
		p := "image/" + im.Name + "/"
		want[p+"count"], want[p+"security"] = strconv.Itoa(im.Count), strconv.Itoa(im.SecurityCount)
		want[p+"cves"], want[p+"installed"] = strconv.Itoa(len(im.CVEs)), strconv.Itoa(im.InstalledCount)
	}
	for _, c := range rep.CVEs {
		want["cve/"+c.ID+"/affected"] = strconv.Itoa(len(c.Images))
		want["cve/"+c.ID+"/text"] = c.ID + "|" + strings.Join(c.Images, ", ") + "|"
	}
	if !reflect.DeepEqual(got, want) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: the page shows %q, the JSON says %q", k, got[k], v)
			}
		}
		for k, v := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%s: the page shows %q, which the JSON lacks", k, v)
			}
		}
	}
	t.Logf("Chromium shows %d numbers, all equal to the JSON; screenshot %s", len(want), shot)
}
