package outdated

import (
	"context"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fetch"
	"github.com/refit-images/packer-plugin-refit/internal/fixture"
	"github.com/refit-images/packer-plugin-refit/internal/installed"
	"github.com/refit-images/packer-plugin-refit/internal/repository"
	"github.com/refit-images/packer-plugin-refit/internal/updates"
)

// BenchmarkRunFedoraSized diffs 1,000 installed packages against a 70,000-package
// repository (zstd primary, ~10 provides and requires each): the data source's whole job
// after the inventory is read. bench/repodiff-vs-dnf.sh runs dnf on the same data.
func BenchmarkRunFedoraSized(b *testing.B) {
	fixture.Need(b, "rpm", "rpmbuild")
	lab := fixture.BuildBigRPMRepo(b, 70000, 1000)
	m, err := installed.FromRoot(lab.Root)
	if err != nil {
		b.Fatal(err)
	}
	specs := rpmSpecs(lab.Repos)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := Run(context.Background(), Job{
			Manifest: m, Repositories: specs,
			Loader: &repository.Loader{Fetch: fetch.New("")},
			Filter: updates.Filter{},
		})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Updates) == 0 {
			b.Fatal("no updates")
		}
	}
}
