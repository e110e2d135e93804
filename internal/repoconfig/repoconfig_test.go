package repoconfig

import (
	"reflect"
	"testing"
	"time"

	"github.com/refit-images/packer-plugin-refit/internal/evr"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

func TestSpecs(t *testing.T) {
	off := false
	got := Specs([]Repository{
		{Name: "base", URL: "https://example.org/base", Priority: 10},
		{Name: "sec", URL: "file:///srv/debian", Type: "deb", Suite: "bookworm-security", Components: []string{"main"}, Architecture: "arm64", GPGKey: "own.asc"},
		{Name: "off", URL: "https://example.org/off", Enabled: &off},
	}, "default.asc")
	want := []repository.Spec{
		{Name: "base", URL: "https://example.org/base", Priority: 10, GPGKey: "default.asc"},
		{Name: "sec", URL: "file:///srv/debian", Type: "deb", Suite: "bookworm-security", Components: []string{"main"}, Arch: "arm64", GPGKey: "own.asc"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Specs = %+v\nwant %+v", got, want)
	}
}

func TestUpdateOutputRoundTrip(t *testing.T) {
	for _, u := range []updates.Update{
		{Name: "bash", Arch: "x86_64", Action: updates.ActionUpgrade, Installed: "5.1-1", Available: evr.EVR{Epoch: 1, Version: "5.1", Release: "2.el9"},
			Location: "https://example.org/bash.rpm", Checksum: "sha256:00", Size: 3, Advisories: []string{"RHSA-1"}},
		{Name: "libssl3", Arch: "amd64", Action: updates.ActionUpgrade, Available: evr.EVR{Version: "3.0.11", Release: "1~deb12u2"}},
	} {
		o := NewUpdateOutput(u)
		if o.Advisories == nil || o.Replaces == nil {
			t.Errorf("%s: null lists in %+v", u.Name, o)
		}
		if back := o.Update(); back.Available.String() != u.Available.String() || back.Name != u.Name || back.Checksum != u.Checksum {
			t.Errorf("%s: round trip gave %+v", u.Name, back)
		}
	}
}

func TestValidate(t *testing.T) {
	f := Filters{MinSeverity: "urgent", Exclude: []string{"[a-"}}
	if errs := f.Validate(); len(errs) != 2 {
		t.Errorf("Validate = %v, want a severity and a glob error", errs)
	}
	if d, err := ParseTimeout("", time.Hour); err != nil || d != time.Hour {
		t.Errorf("ParseTimeout(\"\") = %v, %v", d, err)
	}
	for _, s := range []string{"soon", "-5m", "0s"} {
		if _, err := ParseTimeout(s, time.Hour); err == nil {
			t.Errorf("ParseTimeout(%q) accepted", s)
		}
	}
}
