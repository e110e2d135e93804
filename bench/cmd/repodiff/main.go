// Command repodiff runs the refit-repodiff data source's job outside Packer, for
// benchmarks: the same code path (datasource/repodiff.Run) with a root filesystem and
// rpm-md or deb repositories given on the command line. It prints the update count and,
// with -v, one line per update.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/refit-images/packer-plugin-refit/datasource/repodiff"
	"github.com/refit-images/packer-plugin-refit/internal/repoconfig"
)

type repoFlags []repoconfig.Repository

func (r *repoFlags) String() string { return fmt.Sprint(len(*r)) }

func (r *repoFlags) Set(s string) error {
	name, url, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want name=url, got %q", s)
	}
	*r = append(*r, repoconfig.Repository{Name: name, URL: url})
	return nil
}

func main() {
	var c repodiff.Config
	var repos repoFlags
	verbose := flag.Bool("v", false, "print every update")
	flag.StringVar(&c.Rootfs, "rootfs", "", "root filesystem to inspect")
	flag.StringVar(&c.Manifest, "manifest", "", "package manifest to inspect")
	flag.StringVar(&c.CacheDir, "cache-dir", "", "metadata cache (default: a fresh temporary folder)")
	flag.Var(&repos, "repo", "rpm-md repository as name=url (repeatable)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	c.Repositories = repos
	if c.CacheDir == "" {
		dir, err := os.MkdirTemp("", "repodiff-cache-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer os.RemoveAll(dir)
		c.CacheDir = dir
	}
	out, err := repodiff.Run(context.Background(), &c, func(string) {})
	if err != nil {
		fmt.Fprintln(os.Stderr, "repodiff:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
	if *verbose {
		for _, u := range out.Updates {
			fmt.Printf("%s.%s %s %s -> %s (%s)\n", u.Name, u.Arch, u.Action, u.Installed, u.Available, u.Repository)
		}
	}
	fmt.Printf("%d updates of %d installed packages\n", out.Count, out.InstalledCount)
}
