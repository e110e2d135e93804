package osrelease_test

import (
	"fmt"
	"strings"

	"github.com/refit-images/packer-plugin-refit/internal/osrelease"
)

func ExampleParse() {
	info, err := osrelease.Parse(strings.NewReader(`NAME="Rocky Linux"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(info.ID, info.VersionID, info.Family(), info.PackageManager())
	// Output: rocky 9.3 rhel rpm
}
