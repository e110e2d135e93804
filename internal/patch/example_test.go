package patch_test

import (
	"fmt"

	"github.com/refit-images/packer-plugin-refit/internal/patch"
)

func ExampleReport_Summary() {
	rep := &patch.Report{
		Updated:  []patch.PackageReport{{Name: "openssl", From: "3.0.11-1~deb12u1", To: "3.0.15-1~deb12u1"}},
		Deferred: []patch.PackageReport{{Name: "vendor-agent", To: "2.1-1", Reason: "new postinst is unsafe offline: line 2: curl …: network"}},
		CVEs:     []string{"CVE-2024-5535"},
	}
	fmt.Println(rep.Summary())
	// Output:
	// 1 package(s) updated offline, 1 deferred to the first boot, 0 held back; 1 CVE(s) fixed
	//   deferred vendor-agent 2.1-1: new postinst is unsafe offline: line 2: curl …: network
}
