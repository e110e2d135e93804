package scriptlet

import (
	"os"
	"testing"
)

// BenchmarkAnalyze measures the analysis of a large real maintainer script (libc6's preinst, 345
// lines) and of a small rpm scriptlet.
func BenchmarkAnalyze(b *testing.B) {
	large, err := os.ReadFile("testdata/debian/libc6.preinst")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		script Script
	}{
		{"libc6.preinst", Script{Kind: KindDebianPreInst, Body: string(large)}},
		{"systemd_postun", Script{Kind: KindPostUn,
			Body: "systemctl daemon-reload >/dev/null 2>&1 || :\nif [ $1 -ge 1 ] ; then\n  systemctl try-restart x.service >/dev/null 2>&1 || :\nfi\n"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.script.Body)))
			for b.Loop() {
				Analyze(bc.script)
			}
		})
	}
}
