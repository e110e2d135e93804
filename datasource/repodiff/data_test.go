package repodiff

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
		{"rootfs and one repository", map[string]interface{}{"rootfs": "/", "repository": []map[string]interface{}{repo}}, nil},
		{"manifest with filters", map[string]interface{}{"manifest": "m.json", "repository": []map[string]interface{}{repo},
			"security_only": true, "min_severity": "Important", "include": []string{"kernel*"}, "timeout": "5m"}, nil},
		{"no input", map[string]interface{}{"repository": []map[string]interface{}{repo}}, []string{"exactly one of manifest, rootfs and image"}},
		{"two inputs", map[string]interface{}{"rootfs": "/", "manifest": "m.json", "repository": []map[string]interface{}{repo}}, []string{"exactly one of"}},
		{"no repository", map[string]interface{}{"rootfs": "/"}, []string{"at least one repository"}},
		{"bad repository fields", map[string]interface{}{"rootfs": "/", "repository": []map[string]interface{}{
			{"name": "a", "url": "file:///x", "type": "yum"},
			{"name": "a", "url": "file:///y", "type": "deb"},
			{"url": "file:///z", "suite": "bookworm"},
		}}, []string{`type must be "rpm-md" or "deb", not "yum"`, "the name is used twice", "suite is required", "repository 3: name is required", "suite and components apply to type = \"deb\" only"}},
		{"bad severity, glob and timeout", map[string]interface{}{"rootfs": "/", "repository": []map[string]interface{}{repo},
			"min_severity": "urgent", "exclude": []string{"[a-"}, "timeout": "soon"}, []string{"min_severity must be one of", "bad package name pattern", "timeout"}},
		{"image with a partition", map[string]interface{}{"image": "disk.qcow2", "mount_partition": "2", "repository": []map[string]interface{}{repo}}, nil},
		{"mount_partition without image", map[string]interface{}{"rootfs": "/", "mount_partition": "2", "repository": []map[string]interface{}{repo}}, []string{"mount_partition applies to image only"}},
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
