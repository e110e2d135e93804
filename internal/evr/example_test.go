package evr_test

import (
	"fmt"

	"github.com/refit-images/packer-plugin-refit/internal/evr"
)

func ExampleCompare() {
	installed := evr.ParseRPM("1.0^git20240101-1.el9")
	available := evr.ParseRPM("1.0.1-1.el9")
	fmt.Println(evr.Compare(evr.RPM, installed, available))

	backport, _ := evr.ParseDeb("2.36-9+deb12u4~bpo11+1")
	stable, _ := evr.ParseDeb("2.36-9+deb12u4")
	fmt.Println(evr.Compare(evr.Deb, backport, stable))
	// Output:
	// -1
	// -1
}

func ExampleParseDeb() {
	v, err := evr.ParseDeb("1:2.30-1+deb12u1")
	fmt.Println(v.Epoch, v.Version, v.Release, err)

	_, err = evr.ParseDeb("1:")
	fmt.Println(err)
	// Output:
	// 1 2.30 1+deb12u1 <nil>
	// evr: invalid Debian version "1:": nothing after colon in version number; a Debian version is [epoch:]upstream_version[-debian_revision], see deb-version(7)
}

func ExampleRPMVerCmp() {
	fmt.Println(evr.RPMVerCmp("1.0~rc1", "1.0"), evr.RPMVerCmp("1.0^git1", "1.0"), evr.RPMVerCmp("1.01", "1.1"))
	// Output: -1 1 0
}

func ExampleEVR_String() {
	fmt.Println(evr.EVR{Epoch: 1, Version: "2.0", Release: "3.el9"}, evr.EVR{Version: "2.0"})
	// Output: 1:2.0-3.el9 2.0
}
