package scriptlet

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/refit-images/packer-plugin-refit/internal/fixture"
)

// pythonCases are python3 -c programs: the safe ones only read files and print; the others are
// hostile variants of them, each reaching something else by another road.
var pythonCases = []struct {
	prog string
	safe bool
}{
	// Reading and printing.
	{`import sys; print(sys.version_info[0])`, true},
	{`import json,sys; print(json.load(open(sys.argv[1])).get("a", ""))`, true},
	{`import os.path; print(os.path.exists("/etc/hostname"))`, true},
	{`from os.path import isdir as d; print(d("/etc"))`, true},
	{`import re, sys
for line in open("/etc/passwd", "r", encoding="utf-8"):
    m = re.match(r"^(\w+):", line)
    if m: sys.stdout.write(m.group(1) + "\n")`, true},
	{`import configparser; c = configparser.ConfigParser(); c.read("/etc/x.conf"); print(c.sections())`, true},
	{`print(open(mode="rb", file="/etc/hostname").read()[:4])`, true},
	{`import glob; print(sorted(glob.glob("/etc/*.conf"))[:1])`, true},
	{`import sys; sys.exit(0 if len(sys.argv) > 1 else 1)`, true},
	// Writing files.
	{`open("/tmp/x", "w").write("y")`, false},
	{`open("/tmp/x", mode="a")`, false},
	{`open("/tmp/x", "r+")`, false},
	{`open("/tmp/x", "r" + "+")`, false},
	{`m = "w"; open("/tmp/x", m)`, false},
	{`f = open; f("/tmp/x", "w")`, false},
	{`open("/tmp/x", opener=print)`, false},
	{`open(*["/tmp/x", "w"])`, false},
	{`open("/tmp/x", **{"mode": "w"})`, false},
	{`open("/tmp/x", "w" if 1 else "r")`, false},
	{`import os; os.remove("/tmp/x")`, false},
	{`import shutil; shutil.rmtree("/tmp/x")`, false},
	{`import pathlib; pathlib.Path("/tmp/x").write_text("y")`, false},
	{`import io; io.open("/tmp/x", "w")`, false},
	{`import os.path; os.path.os.unlink("/tmp/x")`, false},
	{`from os import path; path.os.unlink("/tmp/x")`, false},
	// Running programs.
	{`import os; os.system("touch /tmp/x")`, false},
	{`import subprocess; subprocess.run(["touch", "/tmp/x"])`, false},
	{`from subprocess import call; call("true")`, false},
	{`import os as o; o.execv("/bin/true", ["true"])`, false},
	{`from os import *; system("true")`, false},
	{`import os; p = os; p.system("true")`, false},
	// Text as code, internals, escapes.
	{`exec("import os; os.system('true')")`, false},
	{`eval(compile("1", "x", "eval"))`, false},
	{`__import__("os").system("true")`, false},
	{`getattr(__builtins__, "ev" + "al")("1")`, false},
	{`print(().__class__.__base__.__subclasses__())`, false},
	{`g = (x for x in [1]); g.gi_frame.f_globals["__builtins__"].exec("1")`, false},
	{`print(f"{__import__('os').system('true')}")`, false},
	{`ｅｖａｌ("1")`, false},
	{`breakpoint()`, false},
	{`import importlib; importlib.import_module("os").system("true")`, false},
	{`import sys; sys.modules["os"].system("true")`, false},
	{`import sys; sys.path.insert(0, "/tmp"); import json`, false},
	{`import pickle; pickle.loads(b"")`, false},
	{`from . import x`, false},
	// Sockets and the live host.
	{`import socket; socket.create_connection(("127.0.0.1", 9))`, false},
	{`print(open("/proc/self/status").read())`, false},
	{`import os; print(os.listdir(os.path.join("/", "sys")))`, false},
	{`import os; print(os.environ["PATH"])`, false},
}

// TestPythonPrograms judges each case as "python3 -c PROGRAM" in a maintainer script.
func TestPythonPrograms(t *testing.T) {
	for _, tc := range pythonCases {
		body := "#!/bin/sh\nset -e\npython3 -c '" + strings.ReplaceAll(tc.prog, "'", `'"'"'`) + "' /etc/x.json\n"
		a := Analyze(Script{Kind: KindDebianPostInst, Body: body})
		if got := a.Verdict == Safe; got != tc.safe {
			t.Errorf("%q: %s (%v), want safe=%v", tc.prog, a.Verdict, a.Findings, tc.safe)
		}
	}
	for _, tc := range []struct {
		cmd  string
		safe bool
	}{
		{`python3 -E -S -c 'print(1)'`, true},
		{`/usr/bin/python3.11 -Ic 'print(1)'`, false}, // -c inside a cluster: not analysed
		{`python3 -i -c 'print(1)'`, false},           // interactive: reads commands from stdin
		{`python3 -c "$prog"`, false},
		{`python3 - <<EOF
print(1)
EOF`, false}, // the program is in the here-document, which is not analysed
		{`python3 /tmp/x.py`, false},
	} {
		a := Analyze(Script{Kind: KindDebianPostInst, Body: "#!/bin/sh\n" + tc.cmd + "\n"})
		if got := a.Verdict == Safe; got != tc.safe {
			t.Errorf("%s: %s (%v), want safe=%v", tc.cmd, a.Verdict, a.Findings, tc.safe)
		}
	}
}

// TestPythonBuiltinsComplete checks pyBuiltins against the host's python3: every builtin it has is
// classified, so that none is taken for a name the program defined itself.
func TestPythonBuiltinsComplete(t *testing.T) {
	fixture.Need(t, "python3")
	out, err := exec.Command("python3", "-c", "import builtins; print(*dir(builtins))").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range strings.Fields(string(out)) {
		if _, ok := pyBuiltins[name]; !ok && !strings.HasPrefix(name, "_") {
			t.Errorf("builtin %s of python3 is not classified in pyBuiltins", name)
		}
	}
}

// TestPythonSafeProgramsOnlyRead runs every program judged safe under strace, with the real python3,
// and checks what the kernel saw: no file opened for writing, no program started, no socket, no file
// removed, renamed or created. This is the outside proof that "safe" means only reading and printing.
func TestPythonSafeProgramsOnlyRead(t *testing.T) {
	fixture.Need(t, "python3", "strace")
	dir := t.TempDir()
	input := filepath.Join(dir, "x.json")
	if err := os.WriteFile(input, []byte(`{"a": "b"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// Calls that change the file system, start programs or talk to the network.
	forbidden := regexp.MustCompile(`^(?:\[pid +\d+\] )?(?:(?:execve|execveat|fork|vfork|clone|clone3|socket|connect|` +
		`unlink|unlinkat|rename|renameat|renameat2|mkdir|mkdirat|rmdir|truncate|ftruncate|chmod|fchmod|fchmodat|` +
		`chown|fchown|fchownat|link|linkat|symlink|symlinkat|mknod|mknodat|creat)\(|open(?:at)?\(.*O_(?:WRONLY|RDWR|CREAT|TRUNC|APPEND))`)
	ran := 0
	for _, tc := range pythonCases {
		if !tc.safe {
			continue
		}
		trace := filepath.Join(dir, "trace")
		cmd := exec.Command("strace", "-f", "-qq", "-o", trace, "python3", "-c", tc.prog, input)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"}
		if out, err := cmd.CombinedOutput(); err != nil {
			if _, exited := err.(*exec.ExitError); !exited {
				t.Fatalf("strace python3 -c %q: %v\n%s", tc.prog, err, out)
			}
		}
		data, err := os.ReadFile(trace)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		// The first execve is python3 itself.
		first := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "execve(") })
		for i, l := range lines {
			if i != first && forbidden.MatchString(l) {
				t.Errorf("python3 -c %q, judged safe, made the call %s", tc.prog, l)
			}
		}
		ran++
	}
	if ran == 0 {
		t.Fatal("no safe program ran")
	}
}

// TestPythonInRealScripts judges the python3 -c programs of real maintainer scripts
// (testdata/debian/unattended-upgrades.postinst: "import apt … apt_pkg.get_lock", which takes a lock
// file, so unsafe).
func TestPythonInRealScripts(t *testing.T) {
	body, err := os.ReadFile("testdata/debian/unattended-upgrades.postinst")
	if err != nil {
		t.Fatal(err)
	}
	a := Analyze(Script{Kind: KindDebianPostInst, Body: string(body), Args: []string{"configure", "2.9.1+nmu2"}})
	if !slices.ContainsFunc(a.Findings, func(f Finding) bool {
		return strings.Contains(f.Reason, "python program imports apt")
	}) {
		t.Errorf("the python3 -c of unattended-upgrades' postinst is not judged by its import of apt: %s %v", a.Verdict, a.Findings)
	}
}
