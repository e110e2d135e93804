package fleet

import (
	"strings"
	"testing"
)

func TestConfigure(t *testing.T) {
	repo := map[string]interface{}{"name": "base", "url": "file:///srv/repo"}
	cases := []struct {
		name    string
		raw     map[string]interface{}
		wantErr []string // substrings; empty: valid
	}{
		{"manifests and one repository", map[string]interface{}{"manifests": []string{"/srv/*.json"}, "repository": []map[string]interface{}{repo}}, nil},
		{"os matching and filters", map[string]interface{}{"manifests": []string{"a.json", "b.json"}, "repository": []map[string]interface{}{
			{"name": "el9", "url": "file:///x", "os_id": []string{"rocky"}, "os_version_id": []string{"9*"}},
			{"name": "sec", "url": "file:///y", "type": "deb", "suite": "bookworm-security", "os_id": []string{"debian"}},
		}, "security_only": true, "min_severity": "Important", "html_report": "r.html", "json_report": "r.json"}, nil},
		{"no manifests", map[string]interface{}{"repository": []map[string]interface{}{repo}}, []string{"manifests is required"}},
		{"bad glob", map[string]interface{}{"manifests": []string{"[a-"}, "repository": []map[string]interface{}{repo}}, []string{"bad glob"}},
		{"no repository", map[string]interface{}{"manifests": []string{"a.json"}}, []string{"at least one repository"}},
		{"bad repository fields", map[string]interface{}{"manifests": []string{"a.json"}, "repository": []map[string]interface{}{
			{"name": "a", "url": "file:///x", "type": "yum"},
			{"name": "a", "url": "file:///y", "os_version_id": []string{"[9"}},
		}}, []string{`type must be "rpm-md" or "deb", not "yum"`, "the name is used twice", "bad os_version_id pattern"}},
		{"bad severity", map[string]interface{}{"manifests": []string{"a.json"}, "repository": []map[string]interface{}{repo},
			"min_severity": "urgent"}, []string{"min_severity must be one of"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d Datasource
			err := d.Configure(tc.raw)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want errors %q, got none", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
