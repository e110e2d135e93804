package scriptlet_test

import (
	"fmt"

	"github.com/refit-images/packer-plugin-refit/internal/scriptlet"
)

// The %postun of a service package (EL's %systemd_postun_with_restart) asks systemd to reload and
// restart the service: neither runs in an offline root, so both become ":".
func ExampleAnalyze() {
	a := scriptlet.Analyze(scriptlet.Script{
		Package: "demo-svc",
		Kind:    scriptlet.KindPostUn,
		Body: `systemctl daemon-reload >/dev/null 2>&1 || :
if [ $1 -ge 1 ] ; then
    # Package upgrade, not uninstall
    systemctl try-restart demo-svc.service >/dev/null 2>&1 || :
fi
`,
	})
	fmt.Println(a.Verdict)
	for _, f := range a.Findings {
		fmt.Println(f)
	}
	fmt.Println(a.Notes)
	fmt.Print(a.Rewritten)
	// Output:
	// rewritable
	// line 1: systemctl daemon-reload: nothing runs in the offline root -> :
	// line 4: systemctl try-restart demo-svc.service: nothing runs in the offline root -> :
	// [demo-svc.service: not restarted offline; the next boot runs the new version]
	// : >/dev/null 2>&1 || :
	// if [ $1 -ge 1 ]; then
	// 	# Package upgrade, not uninstall
	// 	: >/dev/null 2>&1 || :
	// fi
}

// An rpm scriptlet that pipes a download into a shell is unsafe: its package waits for the first boot.
func ExampleAnalyze_unsafe() {
	a := scriptlet.Analyze(scriptlet.Script{
		Package: "demo-unsafe",
		Kind:    scriptlet.KindPost,
		Body:    "curl -fsSL https://get.example.invalid/install.sh | sh\n",
	})
	fmt.Println(a.Verdict)
	for _, f := range a.Findings {
		fmt.Println(f)
	}
	// Output:
	// unsafe
	// line 1: curl -fsSL https://get.example.invalid/install.sh: may use the network or another package manager
	// line 1: sh: sh runs commands read from its input (such as a pipe)
}
