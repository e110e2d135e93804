// Package scriptlet decides, for every script a package transaction would run, whether it can run in
// an offline image root (a chroot with no running systemd, no network and the build host's kernel
// underneath), whether it can be rewritten so that it can, or whether its package must wait for the
// image's first boot.
//
// It owns the safety rules of refit-patch: rpm scriptlets (%pretrans … %posttrans, triggers and file
// triggers, shell or Lua, and rpm's "-p program" form) and Debian maintainer scripts (preinst,
// postinst, prerm, postrm, and debconf's config). Shell scripts are parsed with mvdan.cc/sh: rpm
// scriptlets in the bash dialect (rpm runs them with /bin/sh, which is bash on every rpm
// distribution), Debian scripts in the POSIX dialect (dash) unless their #! line names bash.
//
// # Verdicts
//
// A script is Safe when every command it can run is known to act only on files inside the root:
// ldconfig, useradd, systemctl enable/disable/preset/is-enabled (answered from unit files),
// update-alternatives, cache regenerators, dpkg's and debconf's helpers, the usual file and text tools,
// and shell builtins and control flow. The table of known commands is in commands.go; anything not in
// it is unsafe.
//
// A script is Rewritable when its only other commands ask or change the running system, which offline
// means nothing, or means the build host. Each is replaced by the exit status it would have on a
// stopped system: actions such as "systemctl try-restart", "deb-systemd-invoke", "invoke-rc.d",
// "sysctl -p" or "load_policy" become ":" (success: there is nothing to act on, the next boot does it),
// and questions such as "systemctl is-active", "pidof", "selinuxenabled" or "[ -d /run/systemd/system ]"
// become "false" (nothing runs offline), and so does the chroot test of Debian's udev and fuse3
// ([ "$(stat -c %d/%i /)" = "$(stat -Lc %d/%i /proc/1/root)" ]: offline the script runs in a chroot). Because each replacement is the answer the command would give
// offline, a replaced command may sit anywhere, including if and while conditions and either side of
// && and ||, and the script still takes the branches it takes on a stopped system:
// "systemctl is-active -q x && systemctl restart x" becomes "false && :". A few commands are rewritten
// rather than dropped: systemctl loses --now, semodule gains -n and semanage -N (no policy reload).
// Commands that would bake a per-machine identity into the image (systemd-machine-id-setup,
// "dbus-uuidgen --ensure", systemd-random-seed) become ":" too; those that would generate secret keys
// (ssh-keygen, make-ssl-cert, openssl) make the script unsafe, as the image has to get them at first
// boot. Analysis.Notes tells what the next boot does instead (a restart, a start).
//
// Everything else is Unsafe: the network, other package managers, unknown programs, eval of text
// built at run time, commands read from a pipe ("curl … | sh"), sourcing files that are not known,
// background jobs, mounts, kernel modules, and any path under /proc, /sys or /dev (but /dev/null and
// the like), which in a chroot are the build host's.
//
// # Precision
//
// Branches that never run offline (after a replacement by false, or "if false") do not make a script
// unsafe, nor Rewritable for what is replaced in them. Given the arguments dpkg runs a maintainer
// script with (Script.Args: "upgrade <old> <new>" for a new preinst …), the tests of them at the
// script's top level are decided exactly, as dpkg passes the same arguments offline and at first
// boot: dpkg --compare-versions "$2" <op> <version> (args.go's CompareVersions, checked against dpkg),
// [ "$1" = upgrade ], [ -z "$2" ], case "$1" in …; not when the script may change its positional
// parameters (shift, set --, eval, sourcing a file other than debconf's confmodule). Tests of a
// variable are decided the same way when a single literal value reaches them (package_name=ucf …
// [ -z "$package_name" ]; an if whose every branch ends by assigning it counts as an assignment),
// and so are tests of RET after "db_get question" given the image's debconf answers
// (Script.Debconf, from DebconfDB.Questions, checked against the real debconf): what db_get answers
// with DEBIAN_FRONTEND=noninteractive, where db_input and db_go ask nothing and change no answer
// the analysis relies on; any other db_ call in between, or a script that may change answers
// (db_set, db_reset, debconf-set-selections …), leaves them undecided (debconf.go). A command with
// one argument named by a variable is judged for each literal value that reaches it
// (invoke-rc.d cron $_dh_action after _dh_action=restart or start). In a Debian script that never
// sets it, $DPKG_ROOT is empty, as dpkg exports it for the root / (a forwarding function's
// chroot "$DPKG_ROOT" "$@" branch then never runs).
// A function that passes its arguments on ("$@") is judged at each call as the command it
// passes them to. A program named by a variable is judged for every value that can reach the command:
// the last assignment that every path to it goes through (in its own function) and the conditional
// ones after it (idl="invoke-rc.d $service" … [ -x … ] && idl=… … $idl restart), or else every literal
// value the script assigns to the variable; a variable that may be set otherwise (read, for, a
// function called in between, the environment) names an unknown program. A function that nothing can
// call (its name appears nowhere else and no command name is chosen at run time) never runs, so its
// body does not count. Programs of other languages that scripts embed are judged by what they can do:
// a perl one-liner (-e, -ne, -nle, -pe …) or an awk program that only reads files and prints is safe;
// one that runs programs (system, backticks, qx, pipes, getline from a command), writes or removes
// files (open for writing, unlink, print > file, perl -i, gawk -i inplace), loads modules or
// evaluates text, or whose perl <> would open a file named at run time (or an argument perl could
// read as a switch), is unsafe; sed may edit and print files, but not run commands (e, s///e), write
// files its program names (w, s///w) or take its program from a file or from run time (oneliners.go);
// "python3 -c PROGRAM" is safe when an allow-list over its tokens proves that it only reads and prints:
// it imports only modules listed with the names it may use from them (json, re, os.path.exists …),
// calls open() only with a literal read mode, and names no builtin that runs text as code (eval,
// exec, compile, getattr …), no __dunder__ name, no frame attribute and no f-string (python.go); a
// program read from a file or a here-document is not analysed. The text of sh -c, su -c, eval and trap is analysed as a script when it is literal;
// eval $(apt-config shell NAME Key …) only assigns NAME (apt-config quotes the values).
// A script that redefines true, false, : or test as a function, or defines an alias, is unsafe, since
// the analysis relies on them. Bytes that are not UTF-8 (Latin-1 comments) are carried through.
// Commands that rebuild an initramfs or boot entries (dracut, kernel-install, update-initramfs,
// grubby, run-parts /etc/kernel/… ) do not decide the verdict: they set Analysis.Initramfs, and the
// caller applies its kernel policy.
//
// # Lua
//
// Lua scriptlets are analysed conservatively from their tokens and never rewritten: library calls must
// be on an allow-list (file operations in posix, io and os, rpm.expand and rpm.vercmp, and the string,
// table and math libraries); programs started with posix.exec or rpm.execute (also through a function
// that passes its arguments on, as glibc's post_exec does) are judged like shell commands and must be
// safe, except that systemctl actions are accepted because systemctl ignores them when
// SYSTEMD_OFFLINE=1; os.execute of a literal is analysed as a shell script. require, load, io.popen,
// os.exit, the library tables used as values, and paths under /proc, /sys or /dev make a Lua scriptlet
// unsafe.
//
// # For the caller
//
// Run the scripts that are applied offline with SYSTEMD_OFFLINE=1 and DEBIAN_FRONTEND=noninteractive
// in the environment: systemctl then edits unit files instead of asking a manager, and debconf takes
// its defaults instead of prompting.
package scriptlet
