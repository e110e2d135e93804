// Command fleet runs the refit-fleet data source's job outside Packer, for benchmarks: the
// same code path (datasource/fleet.Run) over image records and rpm-md repositories given on
// the command line. It prints the images, outdated images, total updates and its own time.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/refit-images/packer-plugin-refit/datasource/fleet"
	"github.com/refit-images/packer-plugin-refit/internal/repoconfig"
)

type repoFlags []fleet.Repository

func (r *repoFlags) String() string { return fmt.Sprint(len(*r)) }

func (r *repoFlags) Set(s string) error {
	name, url, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want name=url, got %q", s)
	}
	*r = append(*r, fleet.Repository{Repository: repoconfig.Repository{Name: name, URL: url}})
	return nil
}

func main() {
	var c fleet.Config
	var repos repoFlags
	flag.StringVar(&c.CacheDir, "cache-dir", "", "metadata cache (default: a fresh temporary folder)")
	flag.StringVar(&c.HTMLReport, "html", "", "write the HTML report here")
	flag.StringVar(&c.JSONReport, "json", "", "write the JSON report here")
	flag.Var(&repos, "repo", "rpm-md repository as name=url (repeatable)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	c.Manifests = flag.Args()
	c.Repositories = repos
	if c.CacheDir == "" {
		dir, err := os.MkdirTemp("", "fleet-cache-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer os.RemoveAll(dir)
		c.CacheDir = dir
	}
	start := time.Now()
	out, _, err := fleet.Run(context.Background(), &c, func(string) {})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
	fmt.Printf("%d images, %d outdated, %d updates in %.2f s\n", len(out.Images), len(out.Outdated), out.TotalCount, time.Since(start).Seconds())
}
