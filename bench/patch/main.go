// Command patch is the Go side of bench/patch/compare.sh, the refit-patch benchmark of
// issue 5: it runs refit-patch's engine (internal/patch) on a disk image outside Packer,
// and does the small jobs the shell script needs Go for (the cached Debian image, the
// installed versions of a result image, an SSH key in a VM copy, the local mirror's HTTP
// server). Each job is a subcommand:
//
//	patch -image IN -output OUT -repo URL -suite S -gpg-key KEY   patch IN into OUT, timed
//	image                      print the path of the cached bootable Debian 12 qcow2 (built once)
//	update-sources             print this machine's deb lines for the -updates and -security suites
//	versions [-dpkg-status F] IMAGE
//	                           print "name:arch version status" of every package in IMAGE (dpkg-query)
//	authorize -key PUB IN OUT  copy IN to OUT (qcow2) with PUB in root's authorized_keys
//	serve -dir D -port-file F -log L
//	                           serve D over HTTP on 127.0.0.1 (a free port, written to F)
//	free-port                  print a free TCP port on 127.0.0.1
//
// Everything that mounts an image needs root and stops cleanly on Ctrl-C (no mount or
// loop device is left behind).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// subcommand is one job of the benchmark helper.
type subcommand struct {
	usage string
	run   func(ctx context.Context, args []string) error
}

// subcommands returns the jobs by name (a function, not a variable: the jobs' flag sets
// read their usage lines from it).
func subcommands() map[string]subcommand {
	return map[string]subcommand{
		"patch":           {"-image IN -output OUT -repo URL -suite SUITE -gpg-key KEY", runPatch},
		"image":           {"[-arch DEBIAN-ARCH]", runImage},
		"container-image": {"", runContainerImage},
		"patch-container": {"-image IN -output OUT", runPatchContainer},
		"podman-config":   {"DIR", runPodmanConfig},
		"update-sources":  {"", runUpdateSources},
		"versions":        {"[-dpkg-status FILE] IMAGE", runVersions},
		"authorize":       {"-key PUBKEY IN OUT", runAuthorize},
		"serve":           {"-dir DIR -port-file FILE [-log FILE]", runServe},
		"free-port":       {"", runFreePort},
	}
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, ok := subcommands()[os.Args[1]]
	if !ok {
		usage()
		os.Exit(2)
	}
	// Ctrl-C or SIGTERM cancels the context: the image code then unmounts and detaches
	// before the process ends.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cmd.run(ctx, os.Args[2:])
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench/patch %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	all := subcommands()
	names := make([]string, 0, len(all))
	for name := range all {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage (the benchmark is bench/patch/compare.sh):\n")
	for _, name := range names {
		fmt.Fprintf(&b, "  %s\n", strings.TrimSpace("go run ./bench/patch "+name+" "+all[name].usage))
	}
	fmt.Fprint(os.Stderr, b.String())
}

// newFlags returns a flag set for a subcommand that reports errors instead of exiting.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./bench/patch %s %s\n", name, subcommands()[name].usage)
	}
	return fs
}
