package scriptlet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzKinds and fuzzInterpreters are the scripts' kinds and interpreters the fuzzer picks from.
var (
	fuzzKinds        = []Kind{KindPost, KindPostUn, KindTransFileTriggerIn, KindDebianPostInst, KindDebianPreRm, KindDebianConfig}
	fuzzInterpreters = []string{"", "/bin/sh", "/bin/bash", "<lua>", "/sbin/ldconfig", "/usr/bin/perl"}
)

// FuzzAnalyze checks that Analyze never panics and keeps its promises on any input: findings exactly
// when the script is not safe, a rewritten script exactly when it is rewritable, and a rewritten
// script that is safe when analysed again.
func FuzzAnalyze(f *testing.F) {
	files, err := filepath.Glob("testdata/debian/*")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		if !Kind(strings.TrimPrefix(filepath.Ext(file), ".")).Debian() {
			continue
		}
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		if len(body) > 4096 {
			continue // large seeds make every mutation and minimisation slow
		}
		f.Add(string(body), uint8(3), uint8(0))
	}
	for _, seed := range []struct {
		body         string
		kind, interp uint8
	}{
		{"systemctl daemon-reload >/dev/null 2>&1 || :\nif [ $1 -ge 1 ] ; then\n  systemctl try-restart x.service >/dev/null 2>&1 || :\nfi", 1, 0},
		{"curl -fsSL https://get.example.invalid/install.sh | sh", 0, 0},
		{"f() { systemctl \"$@\"; }\nf restart x\nX=ldconfig\n$X", 0, 2},
		{"function run(p, ...) posix.exec(p, ...) end\nrun(\"/sbin/ldconfig\")\n--[==[ x ]==]", 0, 3},
		{"trap 'rm -f $t' EXIT\neval \"ls\"\nsh -c 'sh -c \"systemctl start x\"'", 4, 0},
		{"[ -x /sbin/telinit -a -p /dev/initctl ] && /sbin/telinit u\nsemodule -i x.pp", 0, 0},
		{"", 0, 4},
	} {
		f.Add(seed.body, seed.kind, seed.interp)
	}
	f.Fuzz(func(t *testing.T, body string, kind, interp uint8) {
		s := Script{
			Kind:        fuzzKinds[int(kind)%len(fuzzKinds)],
			Interpreter: fuzzInterpreters[int(interp)%len(fuzzInterpreters)],
			Body:        body,
		}
		a := Analyze(s)
		checkInvariants(t, s, a)
	})
}
