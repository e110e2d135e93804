# ---- refit-harden runtime (internal/hardening/prelude.sh) ----------------------------------
# POSIX sh: runs with dash, bash and busybox sh. Every rule has a _check function (0 = in effect,
# 1 = needs a change, 2 = not applicable here, anything else = cannot tell) and an _apply function
# (0 = done). REFIT_DETAIL carries the explanation of the last check or apply.
set -u
umask 022
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LC_ALL=C
export PATH LC_ALL
unset CDPATH 2>/dev/null || true
REFIT_TAB=$(printf '\t')
REFIT_CR=$(printf '\r')
REFIT_NL='
'
REFIT_DETAIL= REFIT_ESC=
REFIT_N_CHANGED=0 REFIT_N_OK=0 REFIT_N_SKIPPED=0 REFIT_N_FAILED=0
REFIT_N_COMPLIANT=0 REFIT_N_WOULD=0 REFIT_N_NA=0
REFIT_SYSCTL_DIRTY=0 REFIT_SSHD_DIRTY=0 REFIT_FIREWALL_DIRTY=0 REFIT_HOSTNAME_DIRTY=0 REFIT_NETWORK_DIRTY=0 REFIT_UPLOAD_DIRTY=0
REFIT_HOSTNAME= REFIT_FW= REFIT_MANAGED_USERS= REFIT_WANT_PKGS= REFIT_BATCH=
REFIT_SYSCTL_LIST= REFIT_SYSCTL_OWN=0 REFIT_APT_UPDATED=0 REFIT_APT_PID= REFIT_POLICY_GUARD=0 REFIT_TMP= REFIT_SSHD_ERR= REFIT_REMOVE=0 REFIT_SELF=

# refit_fatal MESSAGE: stops before (or instead of) applying anything.
refit_fatal() {
	printf 'REFIT-ERROR\t%s\n' "$(refit_escape "$1")"
	exit 3
}

refit_cleanup() {
	if [ -n "${REFIT_APT_PID:-}" ]; then kill "$REFIT_APT_PID" 2>/dev/null; wait "$REFIT_APT_PID" 2>/dev/null; fi
	if [ "$REFIT_POLICY_GUARD" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
	if [ -n "$REFIT_TMP" ]; then rm -rf "$REFIT_TMP"; fi
	if [ "${REFIT_REMOVE:-0}" = 1 ]; then rm -f "$REFIT_SELF"; fi
}

# refit_escape TEXT: backslash, tab, carriage return and newline as \\ \t \r \n.
refit_escape() {
	case $1 in
	*\\* | *"$REFIT_TAB"* | *"$REFIT_NL"* | *"$REFIT_CR"*)
		# sed, not awk's gsub: awks disagree on backslashes in replacements (mawk, gawk, busybox)
		printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/$REFIT_TAB/\\\\t/g" -e "s/$REFIT_CR/\\\\r/g" |
			awk 'BEGIN { ORS = "" } { if (NR > 1) printf "\\n"; print }'
		;;
	*) printf '%s' "$1" ;;
	esac
}

# refit_escape_var TEXT: sets REFIT_ESC to the escaped text; forks only when there is something
# to escape.
refit_escape_var() {
	case $1 in
	*\\* | *"$REFIT_TAB"* | *"$REFIT_NL"* | *"$REFIT_CR"*) REFIT_ESC=$(refit_escape "$1") ;;
	*) REFIT_ESC=$1 ;;
	esac
}

# refit_report ID STATUS TITLE DETAIL
refit_report() {
	case $2 in
	changed) REFIT_N_CHANGED=$((REFIT_N_CHANGED + 1)) ;;
	ok) REFIT_N_OK=$((REFIT_N_OK + 1)) ;;
	skipped) REFIT_N_SKIPPED=$((REFIT_N_SKIPPED + 1)) ;;
	compliant) REFIT_N_COMPLIANT=$((REFIT_N_COMPLIANT + 1)) ;;
	'would change') REFIT_N_WOULD=$((REFIT_N_WOULD + 1)) ;;
	'not applicable') REFIT_N_NA=$((REFIT_N_NA + 1)) ;;
	*) REFIT_N_FAILED=$((REFIT_N_FAILED + 1)) ;;
	esac
	refit_escape_var "$4"
	printf 'REFIT-RULE\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$REFIT_ESC"
}

# refit_rule ID TITLE FUNCTION: check, apply when needed, verify, report. In audit mode
# (REFIT_AUDIT=1) only the check runs.
refit_rule() {
	REFIT_DETAIL=
	"${3}_check"
	refit_rc=$?
	if [ "$REFIT_AUDIT" = 1 ]; then
		case $refit_rc in
		0) refit_report "$1" compliant "$2" "$REFIT_DETAIL" ;;
		1) refit_report "$1" 'would change' "$2" "$REFIT_DETAIL" ;;
		2) refit_report "$1" 'not applicable' "$2" "$REFIT_DETAIL" ;;
		*) refit_report "$1" failed "$2" "check: ${REFIT_DETAIL:-could not inspect the current state}" ;;
		esac
		return 0
	fi
	case $refit_rc in
	0) refit_report "$1" ok "$2" "$REFIT_DETAIL" ;;
	2) refit_report "$1" skipped "$2" "$REFIT_DETAIL" ;;
	1)
		REFIT_DETAIL=
		"${3}_apply"
		refit_rc=$?
		if [ "$refit_rc" -eq 2 ]; then
			refit_report "$1" skipped "$2" "$REFIT_DETAIL"
			return 0
		elif [ "$refit_rc" -ne 0 ]; then
			refit_report "$1" failed "$2" "${REFIT_DETAIL:-the change could not be applied}"
			return 0
		fi
		refit_done=$REFIT_DETAIL
		if [ "$REFIT_VERIFY" = 1 ]; then
			REFIT_DETAIL=
			"${3}_check"
			refit_rc=$?
			if [ "$refit_rc" -ne 0 ]; then
				refit_report "$1" failed "$2" "verify: ${REFIT_DETAIL:-still not in effect after the change}"
				return 0
			fi
		fi
		refit_report "$1" changed "$2" "$refit_done"
		;;
	*) refit_report "$1" failed "$2" "check: ${REFIT_DETAIL:-could not inspect the current state}" ;;
	esac
	return 0
}

# refit_skip ID TITLE: a rule the configuration skips.
refit_skip() {
	refit_report "$1" skipped "$2" "skipped by configuration"
}

# refit_detail TEXT: sets REFIT_DETAIL and returns 1 (for "needs a change" and failed applies).
refit_detail() {
	REFIT_DETAIL=$1
	return 1
}

# refit_na TEXT: not applicable here (return 2).
refit_na() {
	REFIT_DETAIL=$1
	return 2
}

refit_has() { command -v "$1" >/dev/null 2>&1; }

# refit_run COMMAND...: runs a command; on failure REFIT_DETAIL holds its last lines of output.
refit_run() {
	if "$@" >"$REFIT_TMP/run.out" 2>&1; then
		return 0
	fi
	refit_rc=$?
	REFIT_DETAIL="$1 failed (exit $refit_rc): $(tail -n 5 "$REFIT_TMP/run.out" 2>/dev/null)"
	return 1
}

# refit_os_release [FILE]: reads ID, VERSION_ID and PRETTY_NAME without executing the file.
refit_os_release() {
	refit_f=${1:-/etc/os-release}
	[ -r "$refit_f" ] || refit_f=/usr/lib/os-release
	[ -r "$refit_f" ] || return 1
	REFIT_OS_ID= REFIT_OS_VERSION= REFIT_OS_NAME=
	while IFS='=' read -r refit_k refit_v || [ -n "$refit_k" ]; do
		refit_v=${refit_v#\"} refit_v=${refit_v%\"}
		refit_v=${refit_v#\'} refit_v=${refit_v%\'}
		case $refit_k in
		ID) REFIT_OS_ID=$refit_v ;;
		VERSION_ID) REFIT_OS_VERSION=$refit_v ;;
		PRETTY_NAME) REFIT_OS_NAME=$refit_v ;;
		esac
	done <"$refit_f"
	return 0
}

# refit_classify_os: sets REFIT_FAMILY (debian, rhel or fedora) from REFIT_OS_ID and
# REFIT_OS_VERSION, or returns 1 for an unsupported system.
refit_classify_os() {
	REFIT_FAMILY=
	case $REFIT_OS_ID in
	debian) [ "$REFIT_OS_VERSION" != 12 ] || REFIT_FAMILY=debian ;;
	ubuntu) case $REFIT_OS_VERSION in 22.04 | 24.04) REFIT_FAMILY=debian ;; esac ;;
	rhel | rocky | almalinux | centos) case ${REFIT_OS_VERSION%%.*} in 8 | 9) REFIT_FAMILY=rhel ;; esac ;;
	fedora) [ -z "$REFIT_OS_VERSION" ] || REFIT_FAMILY=fedora ;;
	esac
	[ -n "$REFIT_FAMILY" ]
}

# refit_detect_os: sets REFIT_FAMILY and the per-family settings, or stops the program.
refit_detect_os() {
	refit_os_release || refit_fatal "no /etc/os-release or /usr/lib/os-release: cannot tell which operating system this is; nothing was changed"
	refit_classify_os || refit_fatal "unsupported operating system ${REFIT_OS_NAME:-$REFIT_OS_ID $REFIT_OS_VERSION} (ID=$REFIT_OS_ID VERSION_ID=$REFIT_OS_VERSION): refit-harden supports Debian 12, Ubuntu 22.04 and 24.04, RHEL, Rocky, AlmaLinux and CentOS Stream 8 and 9, and Fedora; nothing was changed"
	REFIT_RPM=0 REFIT_SHADOW_GROUP=shadow REFIT_HOSTKEY_MODE=0600 REFIT_HOSTKEY_GROUP=root REFIT_HASH_METHOD=YESCRYPT
	if [ "$REFIT_FAMILY" != debian ]; then
		REFIT_RPM=1 REFIT_SHADOW_GROUP=root REFIT_HOSTKEY_MODE=0640 REFIT_HOSTKEY_GROUP=-
		[ "$REFIT_FAMILY" != rhel ] || REFIT_HASH_METHOD=SHA512
	fi
}

# refit_detect_live: REFIT_LIVE=1 on a running system (systemd is PID 1 and / is PID 1's root),
# 0 in a chroot or an image: then only persistent configuration is written.
refit_detect_live() {
	REFIT_LIVE=0
	[ -d /run/systemd/system ] || return 0
	[ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] || return 0
	refit_a=$(stat -L -c '%d:%i' / 2>/dev/null) || return 0
	refit_b=$(stat -L -c '%d:%i' /proc/1/root/ 2>/dev/null) || return 0
	[ "$refit_a" = "$refit_b" ] && REFIT_LIVE=1
	return 0
}

# refit_only FAMILY...: returns 2 (not applicable) unless this system is one of the families.
refit_only() {
	for refit_fam in "$@"; do
		[ "$refit_fam" != "$REFIT_FAMILY" ] || return 0
	done
	REFIT_DETAIL="not applicable on $REFIT_OS_ID"
	return 2
}

# ---- packages ------------------------------------------------------------------------------

refit_pkg_installed() {
	if [ "$REFIT_RPM" = 1 ]; then
		rpm -q --quiet "$1" 2>/dev/null
	else
		[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
	fi
}

# refit_pkg_install PACKAGE...: installs from the image's own repositories when allowed.
refit_pkg_install() {
	if [ "$REFIT_INSTALL" != 1 ]; then
		REFIT_DETAIL="$* not installed, and installing packages is turned off (install_packages = false)"
		return 1
	fi
	if [ "$REFIT_RPM" = 1 ]; then
		refit_pm=dnf
		refit_has dnf || refit_pm=yum
		REFIT_SYSCTL_LIST=
		refit_run "$refit_pm" -y -q install --setopt=install_weak_deps=False "$@" || {
			REFIT_DETAIL="could not install $* (are the image's repositories reachable?): $REFIT_DETAIL"
			return 1
		}
		return 0
	fi
	refit_apt_update_start
	refit_apt_wait
	refit_unsafe=
	# offline, an interrupted run leaves a half-built image anyway: spare dpkg its fsyncs
	[ "$REFIT_LIVE" = 1 ] || refit_unsafe=--force-unsafe-io
	if [ "$REFIT_LIVE" != 1 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
		# offline: keep maintainer scripts from starting daemons
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && REFIT_POLICY_GUARD=1
	fi
	DEBIAN_FRONTEND=noninteractive refit_run apt-get -q -y --no-install-recommends -o DPkg::Lock::Timeout=120 \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold ${refit_unsafe:+-o Dpkg::Options::=$refit_unsafe} install "$@"
	refit_rc=$?
	REFIT_SYSCTL_LIST= # packages may bring sysctl.d files
	if [ "$REFIT_POLICY_GUARD" = 1 ]; then
		rm -f /usr/sbin/policy-rc.d
		REFIT_POLICY_GUARD=0
	fi
	if [ "$refit_rc" -ne 0 ]; then
		REFIT_DETAIL="could not install $* (are the image's repositories reachable?): $REFIT_DETAIL"
		return 1
	fi
	return 0
}

refit_pkg_remove() {
	if [ "$REFIT_RPM" = 1 ]; then
		if refit_has dnf; then refit_run dnf -y -q remove "$@"; else refit_run rpm -e "$@"; fi
	else
		refit_apt_wait
		DEBIAN_FRONTEND=noninteractive refit_run apt-get -q -y -o DPkg::Lock::Timeout=120 purge "$@"
	fi
}

# refit_apt_update_start: starts apt-get update in the background (once), so that the package
# lists download while other rules run; refit_apt_wait waits for it.
refit_apt_update_start() {
	[ "$REFIT_APT_UPDATED" = 0 ] && [ "$REFIT_RPM" = 0 ] && [ "$REFIT_INSTALL" = 1 ] || return 0
	REFIT_APT_UPDATED=1
	refit_to=
	if refit_has timeout; then refit_to="timeout 300"; fi
	# shellcheck disable=SC2086
	(
		$refit_to apt-get -q update -o Acquire::Retries=1 -o Acquire::Languages=none >"$REFIT_TMP/apt-update.out" 2>&1
		echo $? >"$REFIT_TMP/apt-update.rc"
	) &
	REFIT_APT_PID=$!
}

refit_apt_wait() {
	[ -n "$REFIT_APT_PID" ] || return 0
	wait "$REFIT_APT_PID" 2>/dev/null || true
	REFIT_APT_PID=
}

# refit_want_pkgs_missing: some package of REFIT_WANT_PKGS is not installed.
refit_want_pkgs_missing() {
	for refit_pair in $REFIT_WANT_PKGS; do
		if [ "$REFIT_RPM" = 1 ]; then refit_w=${refit_pair#*:}; else refit_w=${refit_pair%%:*}; fi
		[ "$refit_w" = - ] || refit_pkg_installed "$refit_w" || return 0
	done
	return 1
}

# ---- files ---------------------------------------------------------------------------------

# refit_same FILE CONTENT: FILE exists and holds exactly CONTENT.
refit_same() {
	[ -f "$1" ] || return 1
	printf '%s' "$2" >"$REFIT_TMP/same"
	cmp -s "$REFIT_TMP/same" "$1" 2>/dev/null && return 0
	refit_has cmp && return 1
	[ "$(cat "$1")" = "$(cat "$REFIT_TMP/same")" ]
}

# refit_relabel PATH: restores the SELinux label where SELinux tools are present.
refit_relabel() {
	if refit_has restorecon && [ -e /etc/selinux/config ]; then restorecon -F "$1" >/dev/null 2>&1 || true; fi
}

# refit_put FILE MODE OWNER:GROUP CONTENT: writes the whole file (atomically, in its directory).
refit_put() {
	refit_dir=${1%/*}
	[ -d "${refit_dir:-/}" ] || mkdir -p "$refit_dir" || { REFIT_DETAIL="cannot create $refit_dir"; return 1; }
	printf '%s' "$4" >"$1.refit-new" || { REFIT_DETAIL="cannot write $1"; return 1; }
	chmod "$2" "$1.refit-new" && chown "$3" "$1.refit-new" && mv -f "$1.refit-new" "$1" || {
		rm -f "$1.refit-new"
		REFIT_DETAIL="cannot install $1"
		return 1
	}
	refit_relabel "$1"
	REFIT_DETAIL="wrote $1"
	return 0
}

# refit_file_is FILE MODE OWNER:GROUP CONTENT: the file exists with that content, mode and owner.
refit_file_is() {
	[ -f "$1" ] || refit_detail "$1 is missing" || return 1
	refit_same "$1" "$4" || refit_detail "$1 differs from the wanted content" || return 1
	refit_st=$(stat -c '%a %U:%G' "$1")
	[ "$refit_st" = "${2#0} $3" ] || refit_detail "$1 is $refit_st, want ${2#0} $3" || return 1
	return 0
}

# refit_overwrite FILE CONTENT: replaces the content and keeps inode, mode, owner and label.
refit_overwrite() {
	printf '%s' "$2" >"$REFIT_TMP/overwrite" && cat "$REFIT_TMP/overwrite" >"$1" || {
		REFIT_DETAIL="cannot write $1"
		return 1
	}
	return 0
}

# refit_filter FILE AWK-PROGRAM [awk options...]: rewrites FILE through awk when the output differs.
refit_filter() {
	refit_ff=$1 refit_prog=$2
	shift 2
	awk "$@" "$refit_prog" "$refit_ff" >"$REFIT_TMP/filter" || { REFIT_DETAIL="cannot read $refit_ff"; return 1; }
	cmp -s "$REFIT_TMP/filter" "$refit_ff" && return 0
	cat "$REFIT_TMP/filter" >"$refit_ff" || { REFIT_DETAIL="cannot write $refit_ff"; return 1; }
	return 0
}

# refit_mount_opts_check FSTAB MOUNTPOINT: FSTAB mounts MOUNTPOINT with nodev, nosuid and noexec.
refit_mount_opts_check() {
	awk -v mp="$2" '$1 !~ /^#/ && $2 == mp { n = split($4, o, ","); split("", f); for (i = 1; i <= n; i++) f[o[i]] = 1; ok = f["nodev"] && f["nosuid"] && f["noexec"]; seen = 1 } END { exit !(seen && ok) }' "$1" 2>/dev/null ||
		refit_detail "$1 has no $2 line with nodev,nosuid,noexec"
}

# refit_mount_opts_apply FSTAB MOUNTPOINT: adds the options nodev, nosuid and noexec that
# MOUNTPOINT's line in FSTAB lacks (keeping its file system), or a tmpfs line when there is none.
refit_mount_opts_apply() {
	[ -e "$1" ] || : >"$1"
	refit_filter "$1" '$1 !~ /^#/ && $2 == mp { n = split($4, o, ","); split("", f); for (i = 1; i <= n; i++) f[o[i]] = 1; add = ""; if (!f["nodev"]) add = add ",nodev"; if (!f["nosuid"]) add = add ",nosuid"; if (!f["noexec"]) add = add ",noexec"; if (add != "") $4 = $4 add; seen = 1 } { print } END { if (!seen) print "tmpfs " mp " tmpfs defaults,nodev,nosuid,noexec 0 0" }' -v mp="$2" || return 1
	REFIT_DETAIL="$2 mounted with nodev,nosuid,noexec from $1"
}

# Key/value files. SEP is "ws" (key value, as login.defs), "eq" (key = value) or "eq0" (key=value,
# as systemd and /etc/default files); CASE is "i" for case-insensitive keys. The effective value is
# the last active one.
REFIT_AWK_KV='
function kv_key(t,   k) {
	k = t
	if (sep != "ws") { if (t !~ /=/) return ""; sub(/[ \t]*=.*$/, "", k) } else sub(/[ \t=].*$/, "", k)
	return ci ? tolower(k) : k
}
function kv_val(t,   v) {
	v = t
	if (sep != "ws") sub(/^[^=]*=[ \t]*/, "", v); else sub(/^[^ \t=]+[ \t=]+/, "", v)
	sub(/[ \t]+$/, "", v)
	return v
}'

# refit_kv_get FILE KEY SEP [CASE]: prints the effective value, or nothing.
refit_kv_get() {
	[ -r "$1" ] || return 0
	awk -v key="$2" -v sep="$3" -v ci="${4:+1}" "$REFIT_AWK_KV"'
		{ t = $0; sub(/^[ \t]+/, "", t); if (t == "" || t ~ /^#/) next
		  if (kv_key(t) == (ci ? tolower(key) : key)) { v = kv_val(t); found = 1 } }
		END { if (found) print v }' "$1"
}

# refit_kv_is FILE KEY VALUE SEP [CASE]
refit_kv_is() {
	refit_cur=$(refit_kv_get "$1" "$2" "$4" "${5:-}")
	[ "$refit_cur" = "$3" ] && return 0
	REFIT_DETAIL="$2 is ${refit_cur:-unset} in $1, want $3"
	return 1
}

# refit_kv_set FILE KEY VALUE SEP [CASE]: one active KEY line, at the place of the first one.
refit_kv_set() {
	if [ ! -e "$1" ]; then
		refit_d=${1%/*}
		[ -d "$refit_d" ] || mkdir -p "$refit_d" || return 1
		: >"$1" || return 1
	fi
	case $4 in
	eq) refit_line="$2 = $3" ;;
	eq0) refit_line="$2=$3" ;;
	*) refit_line="$2 $3" ;;
	esac
	refit_filter "$1" "$REFIT_AWK_KV"'
		{ t = $0; sub(/^[ \t]+/, "", t)
		  if (t != "" && t !~ /^#/ && kv_key(t) == (ci ? tolower(key) : key)) { if (!done) print line; done = 1; next }
		  print }
		END { if (!done) print line }' -v key="$2" -v sep="$4" -v ci="${5:+1}" -v line="$refit_line" || return 1
	REFIT_DETAIL="set $2 to $3 in $1"
	return 0
}

# refit_line_has FILE LINE: FILE has LINE (exactly) as an active line.
refit_line_has() {
	[ -r "$1" ] && grep -qxF -- "$2" "$1"
}

# refit_line_add FILE LINE: appends LINE unless present.
refit_line_add() {
	refit_line_has "$1" "$2" && return 0
	if [ ! -e "$1" ]; then
		refit_d=${1%/*}
		[ -d "$refit_d" ] || mkdir -p "$refit_d" || return 1
	fi
	if [ -s "$1" ] && [ -n "$(tail -c 1 "$1")" ]; then printf '\n' >>"$1"; fi
	printf '%s\n' "$2" >>"$1" || { REFIT_DETAIL="cannot write $1"; return 1; }
	return 0
}

# refit_mode_at_most PATH MODE [OWNER [GROUP]]: no permission bits beyond MODE; owner and group
# as given ("-" for any). A missing path passes.
refit_mode_at_most() {
	[ -e "$1" ] || [ -L "$1" ] || return 0
	[ ! -L "$1" ] || return 0
	refit_st=$(stat -c '%a %U %G' "$1") || return 3
	set -- "$1" "$2" "${3:--}" "${4:--}" $refit_st
	if [ $((0$5 & ~0$2 & 07777)) -ne 0 ]; then
		REFIT_DETAIL="$1 has mode $5, want at most ${2#0}"
		return 1
	fi
	if [ "$3" != - ] && [ "$6" != "$3" ]; then
		REFIT_DETAIL="$1 is owned by $6, want $3"
		return 1
	fi
	if [ "$4" != - ] && [ "$7" != "$4" ]; then
		REFIT_DETAIL="$1 has group $7, want $4"
		return 1
	fi
	return 0
}

# refit_mode_fix PATH MODE [OWNER [GROUP]]: clears permission bits beyond MODE, sets owner/group.
refit_mode_fix() {
	[ -e "$1" ] && [ ! -L "$1" ] || return 0
	refit_cur=$(stat -c '%a' "$1")
	chmod "$(printf '%o' $((0$refit_cur & 0$2)))" "$1" || return 1
	if [ "${3:--}" != - ]; then chown "$3" "$1" || return 1; fi
	if [ "${4:--}" != - ]; then chgrp "$4" "$1" || return 1; fi
	REFIT_DETAIL="$1: mode $(stat -c '%a %U:%G' "$1")"
	return 0
}

# refit_group_exists NAME / refit_user_exists NAME
refit_group_exists() { grep -q "^$1:" /etc/group 2>/dev/null; }
refit_user_exists() { grep -q "^$1:" /etc/passwd 2>/dev/null; }

# refit_uid_min: the first UID of regular users (login.defs UID_MIN, default 1000).
refit_uid_min() {
	refit_m=$(refit_kv_get /etc/login.defs UID_MIN ws)
	case $refit_m in '' | *[!0-9]*) refit_m=1000 ;; esac
	printf '%s' "$refit_m"
}

# refit_human_homes: "user:home" of regular users with a login shell and an existing home.
refit_human_homes() {
	awk -F: -v min="$(refit_uid_min)" '$3 >= min && $3 != 65534 && $7 !~ /(nologin|false|sync|shutdown|halt)$/ && $6 ~ /^\/./ { print $1 ":" $6 }' /etc/passwd
}

# ---- systemd units (offline-capable) -------------------------------------------------------

refit_unit_masked() { [ "$(readlink "/etc/systemd/system/$1" 2>/dev/null)" = /dev/null ]; }

refit_unit_mask() {
	if refit_has systemctl; then
		refit_run systemctl mask "$1" && return 0
	fi
	mkdir -p /etc/systemd/system && ln -sf /dev/null "/etc/systemd/system/$1"
}

refit_unit_exists() {
	for refit_d in /etc/systemd/system /run/systemd/system /usr/lib/systemd/system /lib/systemd/system; do
		[ ! -e "$refit_d/$1" ] || return 0
	done
	return 1
}

refit_unit_enabled() {
	if refit_has systemctl; then
		case $(systemctl is-enabled "$1" 2>/dev/null) in enabled | enabled-runtime | static | alias | indirect) return 0 ;; esac
		return 1
	fi
	ls /etc/systemd/system/*.wants/"$1" >/dev/null 2>&1
}

refit_unit_enable() {
	refit_run systemctl enable "$1"
}

# ---- sysctl --------------------------------------------------------------------------------

REFIT_SYSCTL_FILE=/etc/sysctl.d/zz-refit-hardening.conf

# refit_sysctl_files: the files systemd-sysctl reads, in order (same names in earlier
# directories win), then /etc/sysctl.conf, which procps reads last.
refit_sysctl_files() {
	for refit_d in /etc/sysctl.d /run/sysctl.d /usr/local/lib/sysctl.d /usr/lib/sysctl.d /lib/sysctl.d; do
		for refit_f in "$refit_d"/*.conf; do
			[ -f "$refit_f" ] && printf '%s\t%s\n' "${refit_f##*/}" "$refit_f"
		done
	done | awk -F '\t' '!seen[$1]++' | sort -t "$REFIT_TAB" -k1,1 | cut -f2
	[ ! -f /etc/sysctl.conf ] || printf '%s\n' /etc/sysctl.conf
}

# refit_sysctl_list: REFIT_SYSCTL_LIST, the sysctl files in order; computed once a run, again
# once refit's own file exists, and after package installs. Call it outside $(...).
refit_sysctl_list() {
	if [ -z "$REFIT_SYSCTL_LIST" ] || { [ "$REFIT_SYSCTL_OWN" = 0 ] && [ -f "$REFIT_SYSCTL_FILE" ]; }; then
		REFIT_SYSCTL_LIST="$(refit_sysctl_files | tr '\n' ' ') "
		REFIT_SYSCTL_OWN=0
		[ ! -f "$REFIT_SYSCTL_FILE" ] || REFIT_SYSCTL_OWN=1
	fi
}

# refit_sysctl_get KEY: the persistent value: the last explicit assignment wins over globs.
refit_sysctl_get() {
	refit_sysctl_list
	[ -n "${REFIT_SYSCTL_LIST% }" ] || return 0
	# shellcheck disable=SC2086
	awk -v key="$1" '
		function norm(s) { gsub(/\//, ".", s); return s }
		{ t = $0; sub(/^[ \t]+/, "", t); if (t == "" || t ~ /^[#;]/ || t !~ /=/) next
		  k = t; sub(/[ \t]*=.*$/, "", k); sub(/^-/, "", k); k = norm(k)
		  v = t; sub(/^[^=]*=[ \t]*/, "", v); sub(/[ \t]+$/, "", v); gsub(/[ \t]+/, " ", v)
		  if (k == key) { ev = v; e = 1 }
		  else if (k ~ /[*?]/) { re = k; gsub(/\./, "[.]", re); gsub(/\*/, ".*", re); gsub(/\?/, ".", re)
		    if (key ~ ("^" re "$")) { gv = v; g = 1 } } }
		END { if (e) print ev; else if (g) print gv }' $REFIT_SYSCTL_LIST
}

refit_sysctl_is() {
	refit_sysctl_list
	refit_cur=$(refit_sysctl_get "$1")
	[ "$refit_cur" = "$2" ] && return 0
	REFIT_DETAIL="$1 is ${refit_cur:-unset} after reading sysctl.d, want $2"
	return 1
}

# refit_sysctl_set KEY VALUE: sets KEY in refit's sysctl.d file and comments out other
# assignments of a different value in /etc.
refit_sysctl_set() {
	refit_kv_set "$REFIT_SYSCTL_FILE" "$1" "$2" eq || return 1
	# only files that mention the key (as a.b.c or a/b/c) can conflict
	refit_re=$(printf '%s' "$1" | sed 's/[.\/]/[.\/]/g')
	for refit_f in $(grep -lE "^[[:space:]]*-?$refit_re[[:space:]]*=" /etc/sysctl.conf /etc/sysctl.d/*.conf 2>/dev/null); do
		[ -f "$refit_f" ] && [ "$refit_f" != "$REFIT_SYSCTL_FILE" ] || continue
		refit_filter "$refit_f" '
			{ t = $0; sub(/^[ \t]+/, "", t)
			  if (t !~ /^[#;]/ && t ~ /=/) { k = t; sub(/[ \t]*=.*$/, "", k); sub(/^-/, "", k); gsub(/\//, ".", k)
			    v = t; sub(/^[^=]*=[ \t]*/, "", v); sub(/[ \t]+$/, "", v)
			    if (k == key && v != val) { print "# " $0 "  # disabled by refit-harden"; next } }
			  print }' -v key="$1" -v val="$2" || return 1
	done
	REFIT_SYSCTL_DIRTY=1
	REFIT_DETAIL="set $1 = $2 in $REFIT_SYSCTL_FILE"
	return 0
}

# refit_sysctl_live: loads refit's sysctl file into the running kernel, then gives the network
# interfaces that exist already what a boot gives them. The kernel copies
# net.ipv{4,6}.conf.default.* only into interfaces created later, and for settings such as
# accept_redirects and send_redirects an interface's own value counts besides "all": without
# this, eth0 would keep accepting redirects until the next boot. Keys the sysctl files set for
# the interface itself (by name or glob) win, as systemd-sysctl applies them when it appears;
# lo keeps its own values, as at boot (it exists before sysctl.d is read).
refit_sysctl_live() {
	refit_run sysctl -q -e -p "$REFIT_SYSCTL_FILE" || return 1
	refit_copied= refit_bad=
	refit_sysctl_list
	awk '{ t = $0; sub(/^[ \t]+/, "", t); if (t ~ /^[#;]/ || t !~ /=/) next
	       k = t; sub(/[ \t]*=.*$/, "", k); v = t; sub(/^[^=]*=[ \t]*/, "", v); sub(/[ \t]+$/, "", v)
	       if (k ~ /^net\.ipv[46]\.conf\.default\.[A-Za-z0-9_]+$/ && v !~ /[ \t]/) print k, v }' \
		"$REFIT_SYSCTL_FILE" >"$REFIT_TMP/sysctl.defaults" || return 1
	while read -r refit_k refit_v; do
		refit_fam=${refit_k#net.} refit_fam=${refit_fam%%.*} refit_leaf=${refit_k##*.}
		for refit_p in /proc/sys/net/"$refit_fam"/conf/*; do
			refit_if=${refit_p##*/}
			case $refit_if in all | default | lo) continue ;; esac
			[ -f "$refit_p/$refit_leaf" ] || continue
			refit_want=$(refit_sysctl_get "net.$refit_fam.conf.$refit_if.$refit_leaf")
			[ -n "$refit_want" ] || refit_want=$refit_v
			[ "$(cat "$refit_p/$refit_leaf" 2>/dev/null)" != "$refit_want" ] || continue
			if printf '%s\n' "$refit_want" >"$refit_p/$refit_leaf" 2>/dev/null; then
				case " $refit_copied " in *" $refit_if "*) ;; *) refit_copied="$refit_copied $refit_if" ;; esac
			else
				refit_bad="$refit_bad $refit_if/$refit_leaf"
			fi
		done
	done <"$REFIT_TMP/sysctl.defaults"
	REFIT_DETAIL="sysctl -p $REFIT_SYSCTL_FILE"
	[ -z "$refit_copied" ] || REFIT_DETAIL="$REFIT_DETAIL; the default.* values also set on the existing interfaces:$refit_copied"
	[ -z "$refit_bad" ] || refit_detail "$REFIT_DETAIL; could not set$refit_bad" || return 1
	return 0
}

# ---- kernel modules ------------------------------------------------------------------------

REFIT_MODPROBE_FILE=/etc/modprobe.d/refit-hardening.conf

refit_modprobe_is_off() {
	refit_m=$1
	refit_alt=$(printf '%s' "$1" | tr '_-' '-_')
	cat /etc/modprobe.d/*.conf /run/modprobe.d/*.conf /usr/lib/modprobe.d/*.conf /lib/modprobe.d/*.conf 2>/dev/null |
		awk -v m="$refit_m" -v a="$refit_alt" '
			($1 == "install" && ($2 == m || $2 == a) && $3 ~ /\/(false|true)$/) { i = 1 }
			($1 == "blacklist" && ($2 == m || $2 == a)) { b = 1 }
			END { exit !(i && b) }' && return 0
	REFIT_DETAIL="module $1 is not blacklisted with an install /bin/false line"
	return 1
}

refit_modprobe_off() {
	refit_line_add "$REFIT_MODPROBE_FILE" "install $1 /bin/false" &&
		refit_line_add "$REFIT_MODPROBE_FILE" "blacklist $1" || return 1
	REFIT_DETAIL="install $1 /bin/false and blacklist $1 in $REFIT_MODPROBE_FILE"
}

# ---- sshd ----------------------------------------------------------------------------------

REFIT_SSHD_MAIN=/etc/ssh/sshd_config
REFIT_SSHD_DROPIN=/etc/ssh/sshd_config.d/00-refit-hardening.conf

# refit_sshd_present: the OpenSSH server is installed.
refit_sshd_present() {
	[ -f "$REFIT_SSHD_MAIN" ] && { [ -x /usr/sbin/sshd ] || refit_has sshd; }
}

# refit_sshd_target: where settings go: the drop-in when the main file includes
# sshd_config.d/*.conf before any Match block, else the main file (OpenSSH < 8.2).
refit_sshd_target() {
	if awk 'tolower($1) == "match" { exit 1 } tolower($1) == "include" && $0 ~ /sshd_config\.d\/\*(\.conf)?[ \t]*$/ { found = 1; exit 0 } END { exit !found }' "$REFIT_SSHD_MAIN" 2>/dev/null; then
		printf '%s' "$REFIT_SSHD_DROPIN"
	else
		printf '%s' "$REFIT_SSHD_MAIN"
	fi
}

# REFIT_AWK_SSHD reads sshd's configuration like sshd: Include lines are replaced by the files
# their globs name (in order, relative to /etc/ssh), and the first value of a keyword outside
# Match blocks wins. With key set it prints that value; with main set it ignores Include lines.
REFIT_AWK_SSHD='
function lookup(file, depth,    line, t, w, n, i, pat, cmd, f, list, m, j, k, v) {
	if (depth > 8 || stop) return
	while (!stop && (getline line < file) > 0) {
		t = line; sub(/^[ \t]+/, "", t)
		if (t == "" || t ~ /^#/) continue
		k = t; sub(/[ \t=].*$/, "", k); k = tolower(k)
		if (k == "include" && !main) {
			n = split(t, w, /[ \t]+/)
			for (i = 2; i <= n && !stop; i++) {
				pat = w[i]
				if (pat !~ /^[A-Za-z0-9_.\/*?,-]+$/) continue
				if (pat !~ /^\//) pat = "/etc/ssh/" pat
				cmd = "for f in " pat "; do [ -f \"$f\" ] && printf \"%s\\n\" \"$f\"; done"
				list = ""
				while ((cmd | getline f) > 0) list = list "\n" f
				close(cmd)
				m = split(substr(list, 2), files, "\n")
				for (j = 1; j <= m && !stop; j++) { f = files[j]; lookup(f, depth + 1); m = split(substr(list, 2), files, "\n") }
			}
			continue
		}
		if (k == "match") { stop = 1; break }
		if (k == key) { v = t; sub(/^[^ \t=]+[ \t=]+/, "", v); sub(/[ \t]+$/, "", v); print v; stop = 1; break }
	}
	close(file)
}
BEGIN { key = tolower(key); lookup(cfg, 0) }'

# refit_sshd_get KEY: the effective value of KEY, as sshd reads its configuration.
refit_sshd_get() {
	awk -v key="$1" -v cfg="$REFIT_SSHD_MAIN" -v main= "$REFIT_AWK_SSHD" </dev/null
}

# refit_sshd_main_get KEY: the first value of KEY in the main file alone, outside Match blocks.
refit_sshd_main_get() {
	awk -v key="$1" -v cfg="$REFIT_SSHD_MAIN" -v main=1 "$REFIT_AWK_SSHD" </dev/null
}

# refit_sshd_is KEY VALUE [list]: the effective value equals VALUE (case-insensitively), and so
# does the main file's own value: settings live in refit's drop-in, and are mirrored into
# sshd_config for the tools that read only that file (such as the SCAP Security Guide's Debian
# checks). With "list" (see refit_sshd_list_set), the main file must not set KEY at all.
refit_sshd_is() {
	refit_sshd_present || refit_na "the OpenSSH server is not installed" || return 2
	refit_cur=$(refit_sshd_get "$1")
	if ! refit_same_ci "$refit_cur" "$2"; then
		REFIT_DETAIL="sshd $1 is ${refit_cur:-the default}, want $2"
		return 1
	fi
	[ "$(refit_sshd_target)" != "$REFIT_SSHD_MAIN" ] || return 0
	refit_cur=$(refit_sshd_main_get "$1")
	if [ "${3:-}" = list ]; then
		[ -z "$refit_cur" ] && return 0
		REFIT_DETAIL="$REFIT_SSHD_MAIN itself says $1 $refit_cur, which sshd adds to the drop-in's list"
		return 1
	fi
	refit_same_ci "$refit_cur" "$2" && return 0
	REFIT_DETAIL="$REFIT_SSHD_MAIN itself says $1 ${refit_cur:-nothing}, want $2 there too"
	return 1
}

# refit_same_ci A B: A and B are equal ignoring ASCII case (without a fork when they are equal).
refit_same_ci() {
	[ "$1" = "$2" ] && return 0
	[ "$(printf '%s' "$1" | tr 'A-Z' 'a-z')" = "$(printf '%s' "$2" | tr 'A-Z' 'a-z')" ]
}

# refit_sshd_set_in FILE KEY VALUE: sets the first occurrence of KEY before any Match block and
# drops later ones there; without one, inserts the line before the first Match (or at the end).
# refit's drop-in is created when missing.
refit_sshd_set_in() {
	if [ "$1" = "$REFIT_SSHD_DROPIN" ] && [ ! -e "$1" ]; then
		refit_put "$1" 0600 root:root "# Managed by refit-harden: sshd takes the first value of each keyword, so this file sorts first.
" || return 1
	fi
	refit_filter "$1" '
		{ t = $0; sub(/^[ \t]+/, "", t); k = t; sub(/[ \t=].*$/, "", k); k = tolower(k)
		  if (k == "match" && !done) { print line; done = 1 }
		  if (k == "match") inmatch = 1
		  if (!inmatch && t !~ /^#/ && k == tolower(key)) { if (!done) print line; done = 1; next }
		  print }
		END { if (!done) print line }' -v key="$2" -v line="$2 $3"
}

# refit_sshd_set KEY VALUE: sets KEY in refit's drop-in (which sorts first, and sshd takes the
# first value of a keyword) and the same value in sshd_config; without Include support, in
# sshd_config only.
refit_sshd_set() {
	refit_sshd_save
	refit_t=$(refit_sshd_target)
	if [ "$refit_t" != "$REFIT_SSHD_MAIN" ]; then
		refit_sshd_set_in "$refit_t" "$1" "$2" || return 1
	fi
	refit_sshd_set_in "$REFIT_SSHD_MAIN" "$1" "$2" || return 1
	REFIT_SSHD_DIRTY=1
	if [ "$refit_t" != "$REFIT_SSHD_MAIN" ]; then
		REFIT_DETAIL="set $1 $2 in $refit_t and $REFIT_SSHD_MAIN"
	else
		REFIT_DETAIL="set $1 $2 in $REFIT_SSHD_MAIN"
	fi
	return 0
}

# refit_sshd_list_set KEY VALUE: for AllowUsers and AllowGroups, whose lines sshd adds up instead
# of taking the first: VALUE goes into refit's drop-in only, and sshd_config loses its own lines
# outside Match blocks (they would widen the list). Checked with refit_sshd_is KEY VALUE list.
refit_sshd_list_set() {
	refit_t=$(refit_sshd_target)
	[ "$refit_t" != "$REFIT_SSHD_MAIN" ] || { refit_sshd_set "$1" "$2"; return; }
	refit_sshd_save
	refit_sshd_set_in "$refit_t" "$1" "$2" || return 1
	refit_filter "$REFIT_SSHD_MAIN" '
		{ t = $0; sub(/^[ \t]+/, "", t); k = t; sub(/[ \t=].*$/, "", k); k = tolower(k)
		  if (k == "match") inmatch = 1
		  if (!inmatch && k == tolower(key)) next
		  print }' -v key="$1" || return 1
	REFIT_SSHD_DIRTY=1
	REFIT_DETAIL="set $1 $2 in $refit_t only (sshd adds up $1 lines)"
}

# refit_sshd_unset_is KEY / refit_sshd_unset KEY: a setting the configuration no longer makes is
# removed from refit's drop-in, and from sshd_config where it holds the mirrored value.
refit_sshd_unset_is() {
	[ -f "$REFIT_SSHD_DROPIN" ] || return 0
	! awk -v key="$1" 'tolower($1) == tolower(key) { found = 1 } END { exit !found }' "$REFIT_SSHD_DROPIN" ||
		refit_detail "$REFIT_SSHD_DROPIN sets $1, which the configuration no longer asks for"
}
refit_sshd_unset() {
	refit_sshd_save
	refit_old=$(awk -v key="$1" 'tolower($1) == tolower(key) { $1 = ""; sub(/^ +/, ""); print; exit }' "$REFIT_SSHD_DROPIN")
	refit_filter "$REFIT_SSHD_DROPIN" 'tolower($1) != tolower(key)' -v key="$1" || return 1
	if [ -n "$refit_old" ] && [ "$(refit_sshd_main_get "$1")" = "$refit_old" ]; then
		refit_filter "$REFIT_SSHD_MAIN" '
			{ t = $0; sub(/^[ \t]+/, "", t); k = t; sub(/[ \t=].*$/, "", k); k = tolower(k)
			  if (k == "match") inmatch = 1
			  if (!inmatch && !done && k == tolower(key)) { done = 1; next }
			  print }' -v key="$1" || return 1
	fi
	REFIT_SSHD_DIRTY=1
	REFIT_DETAIL="removed $1 from $REFIT_SSHD_DROPIN"
}

# refit_sshd_save: keeps the sshd configuration as it was before this run's first change.
refit_sshd_save() {
	[ ! -f "$REFIT_TMP/sshd.saved" ] || return 0
	cp -p "$REFIT_SSHD_MAIN" "$REFIT_TMP/sshd.main" 2>/dev/null
	if [ -f "$REFIT_SSHD_DROPIN" ]; then cp -p "$REFIT_SSHD_DROPIN" "$REFIT_TMP/sshd.dropin"; fi
	: >"$REFIT_TMP/sshd.saved"
}

# refit_sshd_restore: puts back what refit_sshd_save kept.
refit_sshd_restore() {
	[ -f "$REFIT_TMP/sshd.saved" ] || return 0
	if [ -f "$REFIT_TMP/sshd.main" ]; then cat "$REFIT_TMP/sshd.main" >"$REFIT_SSHD_MAIN"; fi
	if [ -f "$REFIT_TMP/sshd.dropin" ]; then cat "$REFIT_TMP/sshd.dropin" >"$REFIT_SSHD_DROPIN"; else rm -f "$REFIT_SSHD_DROPIN"; fi
	REFIT_SSHD_DIRTY=0
}

# refit_ssh_supported KIND NAMES: the comma-separated NAMES the image's OpenSSH knows (ssh -Q);
# all of them when it cannot be asked.
refit_ssh_supported() {
	if ! refit_has ssh || ! ssh -Q "$1" >"$REFIT_TMP/ssh-q" 2>/dev/null || [ ! -s "$REFIT_TMP/ssh-q" ]; then
		printf '%s' "$2"
		return 0
	fi
	printf '%s' "$2" | tr ',' '\n' | grep -xF -f "$REFIT_TMP/ssh-q" | paste -sd, -
}

# refit_sshd_validate: sshd -t on the whole configuration, with a throw-away host key when the
# image has none (cloud images generate theirs at first boot).
refit_sshd_validate() {
	refit_sshd=/usr/sbin/sshd
	[ -x "$refit_sshd" ] || refit_sshd=$(command -v sshd) || refit_na "sshd is not installed" || return 2
	set -- -t -f "$REFIT_SSHD_MAIN"
	if ! ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1; then
		rm -f "$REFIT_TMP/hostkey" "$REFIT_TMP/hostkey.pub"
		ssh-keygen -q -t ed25519 -N '' -f "$REFIT_TMP/hostkey" >/dev/null 2>&1 && set -- "$@" -h "$REFIT_TMP/hostkey"
	fi
	# sshd -t wants its privilege separation folder; one made here goes again (an audit changes nothing)
	refit_rundir=
	[ -d /run/sshd ] || { mkdir -p /run/sshd 2>/dev/null && refit_rundir=/run/sshd; }
	"$refit_sshd" "$@" >"$REFIT_TMP/sshd-t" 2>&1
	refit_rc=$?
	[ -z "$refit_rundir" ] || rmdir "$refit_rundir" 2>/dev/null
	[ "$refit_rc" != 0 ] || return 0
	REFIT_DETAIL="sshd -t rejects the configuration: $(tail -n 3 "$REFIT_TMP/sshd-t")"
	return 1
}

# ---- sudo ----------------------------------------------------------------------------------

# refit_sudoers_put FILE CONTENT: installs a sudoers drop-in after visudo -cf accepts it.
refit_sudoers_put() {
	refit_has visudo || refit_detail "visudo is missing: install sudo" || return 1
	printf '%s' "$2" >"$REFIT_TMP/sudoers" && chmod 0440 "$REFIT_TMP/sudoers" || return 1
	if ! visudo -cqf "$REFIT_TMP/sudoers" >"$REFIT_TMP/visudo" 2>&1; then
		REFIT_DETAIL="visudo -c rejects the drop-in: $(tail -n 3 "$REFIT_TMP/visudo")"
		return 1
	fi
	mkdir -p /etc/sudoers.d
	refit_put "$1" 0440 root:root "$2" || return 1
	if ! visudo -cq >"$REFIT_TMP/visudo" 2>&1; then
		rm -f "$1"
		REFIT_DETAIL="visudo -c rejects the sudoers configuration with $1, which was removed again: $(tail -n 3 "$REFIT_TMP/visudo")"
		return 1
	fi
	REFIT_DETAIL="wrote $1 (visudo -c passes)"
	return 0
}

# ---- kernel command line -------------------------------------------------------------------

# refit_cmdline_has ARG...: every ARG is in GRUB_CMDLINE_LINUX (/etc/default/grub), on every
# linux line of an existing grub.cfg, and in /etc/kernel/cmdline when that exists.
refit_cmdline_has() {
	refit_any=0
	if [ -f /etc/default/grub ]; then
		refit_any=1
		refit_cl=$(sed -n 's/^GRUB_CMDLINE_LINUX="\(.*\)"$/\1/p' /etc/default/grub | tail -n 1)
		for refit_arg in "$@"; do
			case " $refit_cl " in *" $refit_arg "*) ;; *) refit_detail "$refit_arg is not in GRUB_CMDLINE_LINUX" || return 1 ;; esac
		done
	fi
	for refit_g in /boot/grub/grub.cfg /boot/grub2/grub.cfg; do
		[ -f "$refit_g" ] || continue
		refit_any=1
		for refit_arg in "$@"; do
			awk -v a="$refit_arg" '$1 == "linux" || $1 == "linux16" || $1 == "linuxefi" { n++; found = 0; for (i = 3; i <= NF; i++) if ($i == a) found = 1; if (!found) bad = 1 } END { exit bad }' "$refit_g" ||
				refit_detail "$refit_arg is missing from a linux line of $refit_g" || return 1
		done
	done
	for refit_g in /etc/kernel/cmdline /boot/loader/entries/*.conf; do
		[ -f "$refit_g" ] || continue
		refit_any=1
		for refit_arg in "$@"; do
			if [ "$refit_g" = /etc/kernel/cmdline ]; then
				case " $(cat "$refit_g") " in *" $refit_arg "*) ;; *) refit_detail "$refit_arg is not in $refit_g" || return 1 ;; esac
			else
				awk -v a="$refit_arg" '$1 == "options" { for (i = 2; i <= NF; i++) if ($i == a) found = 1 } END { exit !found }' "$refit_g" ||
					refit_detail "$refit_arg is not in the options of $refit_g" || return 1
			fi
		done
	done
	[ "$refit_any" = 1 ] || refit_na "no boot loader configuration (/etc/default/grub, grub.cfg, /etc/kernel/cmdline, BLS entries) in this image" || return 2
	return 0
}

# refit_cmdline_add ARG...: adds the arguments without running update-grub (which writes
# the chroot's loop device into grub.cfg): it edits /etc/default/grub, grub.cfg's linux lines,
# /etc/kernel/cmdline and BLS entries directly.
refit_cmdline_add() {
	for refit_arg in "$@"; do
		if [ -f /etc/default/grub ]; then
			if grep -q '^GRUB_CMDLINE_LINUX=' /etc/default/grub; then
				refit_filter /etc/default/grub '
					/^GRUB_CMDLINE_LINUX="/ { v = $0; sub(/^GRUB_CMDLINE_LINUX="/, "", v); sub(/"[ \t]*$/, "", v)
					  if ((" " v " ") !~ (" " a " ")) { v = (v == "" ? a : v " " a) }
					  print "GRUB_CMDLINE_LINUX=\"" v "\""; next }
					{ print }' -v a="$refit_arg" || return 1
			else
				refit_line_add /etc/default/grub "GRUB_CMDLINE_LINUX=\"$refit_arg\"" || return 1
			fi
		fi
		for refit_g in /boot/grub/grub.cfg /boot/grub2/grub.cfg; do
			[ -f "$refit_g" ] || continue
			refit_filter "$refit_g" '
				($1 == "linux" || $1 == "linux16" || $1 == "linuxefi") { found = 0; for (i = 3; i <= NF; i++) if ($i == a) found = 1
				  if (!found) { print $0 " " a; next } }
				{ print }' -v a="$refit_arg" || return 1
		done
		if [ -f /etc/kernel/cmdline ]; then
			case " $(cat /etc/kernel/cmdline) " in
			*" $refit_arg "*) ;;
			*) refit_overwrite /etc/kernel/cmdline "$(cat /etc/kernel/cmdline) $refit_arg$REFIT_NL" || return 1 ;;
			esac
		fi
		for refit_g in /boot/loader/entries/*.conf; do
			[ -f "$refit_g" ] || continue
			refit_filter "$refit_g" '
				$1 == "options" { found = 0; for (i = 2; i <= NF; i++) if ($i == a) found = 1
				  if (!found) { print $0 " " a; next } }
				{ print }' -v a="$refit_arg" || return 1
		done
		if [ -f /etc/default/grub ] && refit_has grubby && [ "$REFIT_RPM" = 1 ]; then
			refit_run grubby --update-kernel=ALL --args="$refit_arg" || return 1
		fi
	done
	REFIT_DETAIL="added $* to the kernel command line"
	return 0
}

# ---- package rules -------------------------------------------------------------------------

# refit_want_pkg_check DEBIAN-NAME RPM-NAME ("-": not packaged there). A package installed in
# this run by another rule's batch (REFIT_BATCH) still counts as a change of this rule.
refit_want_pkg_check() {
	if [ "$REFIT_RPM" = 1 ]; then refit_p=$2; else refit_p=$1; fi
	[ "$refit_p" != - ] || refit_na "not packaged on $REFIT_OS_ID" || return 2
	case " $REFIT_BATCH " in *" $refit_p "*) REFIT_DETAIL="$refit_p is not installed yet" && return 1 ;; esac
	refit_pkg_installed "$refit_p" && return 0
	[ "$REFIT_INSTALL" = 1 ] || refit_na "$refit_p is not installed, and install_packages is false" || return 2
	REFIT_DETAIL="$refit_p is not installed"
	return 1
}

# refit_want_pkg_apply DEBIAN-NAME RPM-NAME: installs the package together with every other
# missing package of REFIT_WANT_PKGS (one package manager run); returns 2 (skipped) when it cannot.
refit_want_pkg_apply() {
	if [ "$REFIT_RPM" = 1 ]; then refit_p=$2; else refit_p=$1; fi
	case " $REFIT_BATCH " in
	*" $refit_p "*)
		REFIT_BATCH=$(printf '%s\n' $REFIT_BATCH | grep -vxF "$refit_p" | tr '\n' ' ')
		REFIT_DETAIL="installed $refit_p"
		return 0
		;;
	esac
	refit_missing=
	for refit_pair in $REFIT_WANT_PKGS; do
		if [ "$REFIT_RPM" = 1 ]; then refit_w=${refit_pair#*:}; else refit_w=${refit_pair%%:*}; fi
		[ "$refit_w" != - ] && [ "$refit_w" != "$refit_p" ] || continue
		refit_pkg_installed "$refit_w" || refit_missing="$refit_missing $refit_w"
	done
	# shellcheck disable=SC2086
	if [ -n "$refit_missing" ] && refit_pkg_install "$refit_p" $refit_missing 2>/dev/null; then
		REFIT_BATCH=$refit_missing
	else
		refit_pkg_install "$refit_p" || return 2
	fi
	REFIT_DETAIL="installed $refit_p"
	return 0
}

# refit_absent_check PACKAGE...: none of the packages is installed.
refit_absent_check() {
	refit_found=
	for refit_p in "$@"; do
		if refit_pkg_installed "$refit_p"; then refit_found="$refit_found $refit_p"; fi
	done
	[ -z "$refit_found" ] && return 0
	REFIT_DETAIL="installed:$refit_found"
	return 1
}

refit_absent_apply() {
	refit_absent_check "$@" && return 0
	# shellcheck disable=SC2086
	refit_pkg_remove $refit_found || return 1
	REFIT_DETAIL="removed$refit_found"
	return 0
}

# refit_efi_image: the image boots with UEFI (an EFI system partition is mounted or listed).
refit_efi_image() {
	[ -d /sys/firmware/efi ] && [ "$REFIT_LIVE" = 1 ] && return 0
	[ -d /boot/efi/EFI ] && return 0
	awk '$2 == "/boot/efi" || $2 == "/efi" || $3 == "vfat" { found = 1 } END { exit !found }' /etc/fstab 2>/dev/null
}

# ---- scans over logs and home directories --------------------------------------------------

# refit_scan_result fix|"" FIXED FOUND: ends a scan that collected paths in refit_bad: after a fix
# the detail is FIXED and the paths; otherwise the scan fails with FOUND and the paths, if any.
refit_scan_result() {
	if [ "$1" = fix ]; then
		REFIT_DETAIL="$2$refit_bad"
		return 0
	fi
	[ -z "$refit_bad" ] || refit_detail "$3$refit_bad"
}

# refit_varlog_scan [fix]: files under /var/log at most 0640 (wtmp/lastlog 0664, btmp 0660).
refit_varlog_scan() {
	[ -d /var/log ] || return 0
	find /var/log -xdev -type f -perm /0137 >"$REFIT_TMP/varlog" 2>/dev/null || : >"$REFIT_TMP/varlog"
	refit_bad=
	while IFS= read -r refit_f; do
		case ${refit_f##*/} in
		wtmp* | lastlog*) refit_max=0664 ;;
		btmp*) refit_max=0660 ;;
		*) refit_max=0640 ;;
		esac
		refit_mode_at_most "$refit_f" $refit_max && continue
		if [ "${1:-}" = fix ]; then refit_mode_fix "$refit_f" $refit_max || return 1; fi
		refit_bad="$refit_bad ${refit_f#/var/log/}"
	done <"$REFIT_TMP/varlog"
	refit_scan_result "${1:-}" "fixed:" "too permissive:"
}

# refit_homes_scan [fix]: regular users' home directories at most 0750 and owned by the user;
# users of user blocks (REFIT_MANAGED_USERS) keep their configured home_mode.
refit_homes_scan() {
	refit_bad=
	for refit_uh in $(refit_human_homes); do
		refit_u=${refit_uh%%:*} refit_h=${refit_uh#*:}
		case " $REFIT_MANAGED_USERS " in *" $refit_u "*) continue ;; esac
		[ -d "$refit_h" ] && [ "$refit_h" != / ] || continue
		refit_mode_at_most "$refit_h" 0750 "$refit_u" && continue
		if [ "${1:-}" = fix ]; then refit_mode_fix "$refit_h" 0750 "$refit_u" || return 1; fi
		refit_bad="$refit_bad $refit_h"
	done
	refit_scan_result "${1:-}" "fixed:" "too open or not owned by their user:"
}

# refit_dotfiles_scan [fix]: dot files in regular users' homes at most 0740 (.bash_history 0600).
refit_dotfiles_scan() {
	refit_bad=
	for refit_uh in $(refit_human_homes); do
		refit_h=${refit_uh#*:}
		[ -d "$refit_h" ] && [ "$refit_h" != / ] || continue
		for refit_f in "$refit_h"/.[!.]*; do
			[ -f "$refit_f" ] && [ ! -L "$refit_f" ] || continue
			case ${refit_f##*/} in .bash_history | .*_history) refit_max=0600 ;; *) refit_max=0740 ;; esac
			refit_mode_at_most "$refit_f" $refit_max && continue
			if [ "${1:-}" = fix ]; then refit_mode_fix "$refit_f" $refit_max || return 1; fi
			refit_bad="$refit_bad $refit_f"
		done
	done
	refit_scan_result "${1:-}" "fixed:" "too permissive:"
}

# refit_trustfiles_scan NAMES SYSTEM-FILES [fix]: none of NAMES in root's and regular users'
# homes, none of SYSTEM-FILES.
refit_trustfiles_scan() {
	refit_bad=
	for refit_h in /root $(refit_human_homes | cut -d: -f2-); do
		[ -d "$refit_h" ] && [ "$refit_h" != / ] || continue
		for refit_n in $1; do
			[ -e "$refit_h/$refit_n" ] || [ -L "$refit_h/$refit_n" ] || continue
			if [ "${3:-}" = fix ]; then rm -f "$refit_h/$refit_n" || return 1; fi
			refit_bad="$refit_bad $refit_h/$refit_n"
		done
	done
	for refit_f in $2; do
		[ -e "$refit_f" ] || continue
		if [ "${3:-}" = fix ]; then rm -f "$refit_f" || return 1; fi
		refit_bad="$refit_bad $refit_f"
	done
	if [ "${3:-}" = fix ]; then
		REFIT_DETAIL="deleted$refit_bad"
		return 0
	fi
	[ -z "$refit_bad" ] || refit_detail "present:$refit_bad"
}

# ---- accounts ------------------------------------------------------------------------------

# refit_ageing_users: "user max min warn inactive" for accounts with a password outside the policy
# (values already stricter than the policy are kept).
refit_ageing_users() {
	awk -F: '$2 != "" && $2 !~ /^[!*]/ {
		M = ($5 == "" || $5 + 0 > 365) ? 365 : $5; m = ($4 == "" || $4 + 0 < 1) ? 1 : $4
		W = ($6 == "" || $6 + 0 < 7) ? 7 : $6; I = ($7 == "" || $7 + 0 > 45 || $7 + 0 < 0) ? 45 : $7
		if (M != $5 || m != $4 || W != $6 || I != $7) print $1 ":" M ":" m ":" W ":" I }' /etc/shadow 2>/dev/null
}

refit_ageing_fix() {
	refit_fixed=
	for refit_a in $(refit_ageing_users); do
		IFS=: read -r refit_u refit_max refit_min refit_warn refit_inact <<EOT
$refit_a
EOT
		refit_run chage -M "$refit_max" -m "$refit_min" -W "$refit_warn" -I "$refit_inact" "$refit_u" || return 1
		refit_fixed="$refit_fixed $refit_u"
	done
	REFIT_DETAIL="password ageing set for:$refit_fixed"
	return 0
}

# refit_system_login_users: system accounts (UID < UID_MIN) with a login shell.
refit_system_login_users() {
	awk -F: -v min="$(refit_uid_min)" '$3 < min && $1 != "root" && $1 != "sync" && $1 != "shutdown" && $1 != "halt" && $7 !~ /(nologin|false)$/ { print $1 }' /etc/passwd
}

REFIT_TMOUT_SH='# Managed by refit-harden: idle interactive shells end after 10 minutes.
if ! readonly -p 2>/dev/null | grep -q " TMOUT="; then
	if [ -n "${BASH_VERSION:-}" ]; then
		declare -xr TMOUT=600
	else
		TMOUT=600
		readonly TMOUT
		export TMOUT
	fi
fi
'

# REFIT_AWK_LOGROTATE: with -v fix=1 prints /etc/logrotate.conf with its global (outside any
# { } block) frequency set to daily and its rotate count raised to 28, adding either where
# missing; without it, exits 0 when the file already says so.
REFIT_AWK_LOGROTATE='
function strip(t) { sub(/#.*/, "", t); return t }
{
	line = $0; t = strip($0)
	if (depth == 0 && t ~ /^[ \t]*(hourly|daily|weekly|monthly|yearly)[ \t]*$/) {
		freq++
		if (t !~ /daily/) { bad = 1; line = "daily" }
	} else if (depth == 0 && t ~ /^[ \t]*rotate[ \t]+[0-9]+[ \t]*$/) {
		rot++
		n = t; gsub(/[^0-9]/, "", n)
		if (n + 0 < 28) { bad = 1; line = "rotate 28" }
	}
	o = t; depth += gsub(/\{/, "", o); o = t; depth -= gsub(/\}/, "", o)
	if (fix) out[NR] = line
}
END {
	if (!fix) exit (bad || !freq || !rot)
	if (!freq) print "daily"
	if (!rot) print "rotate 28"
	for (i = 1; i <= NR; i++) print out[i]
}'

# refit_umask_files check|fix MASK: every umask in the system shell profiles is MASK (027 or 077).
refit_umask_files() {
	refit_bad=
	for refit_f in /etc/profile /etc/bash.bashrc /etc/bashrc; do
		[ -f "$refit_f" ] || continue
		if awk -v m="$2" '/^[ \t]*umask[ \t]+[0-7]+/ { n++; if ($2 != m && $2 != "0" m) bad = 1 } END { exit !(n && !bad) }' "$refit_f"; then
			continue
		fi
		refit_bad="$refit_bad $refit_f"
		if [ "$1" = fix ]; then
			refit_filter "$refit_f" '
				/^[ \t]*umask[ \t]+[0-7]+/ { sub(/umask[ \t]+[0-7]+/, "umask " m); n++ }
				{ print }
				END { if (!n) print "umask " m }' -v m="$2" || return 1
		fi
	done
	if [ "$1" = fix ]; then
		REFIT_DETAIL="umask $2 in$refit_bad"
		return 0
	fi
	[ -z "$refit_bad" ] || refit_detail "umask is not $2 in$refit_bad"
}

# ---- PAM -----------------------------------------------------------------------------------

refit_pam_files() {
	if [ "$REFIT_FAMILY" = debian ]; then
		printf '/etc/pam.d/common-%s\n' "$1"
	else
		printf '%s\n' /etc/pam.d/system-auth /etc/pam.d/password-auth
	fi
}

# refit_pam_module_exists MODULE: the PAM module is installed.
refit_pam_module_exists() {
	for refit_d in /lib/security /lib64/security /usr/lib/security /usr/lib64/security /lib/*/security /usr/lib/*/security; do
		[ ! -f "$refit_d/$1" ] || return 0
	done
	return 1
}

# refit_pam_module_check TYPE MODULE: an active TYPE line of the common stacks loads MODULE.
refit_pam_module_check() {
	for refit_f in $(refit_pam_files "$1"); do
		[ -f "$refit_f" ] || refit_na "$refit_f is missing" || return 2
		grep -Eq "^[[:space:]]*-?$1[[:space:]].*[[:space:]/]$2([[:space:]]|\$)" "$refit_f" ||
			refit_detail "$2 is not in the $1 stack of $refit_f" || return 1
	done
	return 0
}

REFIT_PAM_FAILLOCK='Name: refit-harden: deny logins after repeated failures (pam_faillock)
Default: yes
Priority: 0
Auth-Type: Primary
Auth:
	[default=die]	pam_faillock.so authfail
	sufficient	pam_faillock.so authsucc
Account-Type: Additional
Account:
	required	pam_faillock.so
'
REFIT_PAM_FAILLOCK_NOTIFY='Name: refit-harden: count failed logins and reset the count on success (pam_faillock)
Default: yes
Priority: 1024
Auth-Type: Primary
Auth:
	required	pam_faillock.so preauth
'
REFIT_PAM_PWHISTORY='Name: refit-harden: refuse the last 24 passwords (pam_pwhistory)
Default: yes
Priority: 1023
Password-Type: Primary
Password:
	requisite	pam_pwhistory.so remember=24 enforce_for_root use_authtok
'

# refit_pam_enable DEBIAN-PROFILE AUTHSELECT-FEATURE
refit_pam_enable() {
	if [ "$REFIT_FAMILY" = debian ]; then
		refit_has pam-auth-update || refit_detail "pam-auth-update is missing (libpam-runtime)" || return 1
		case $1 in
		pwquality)
			[ -f /usr/share/pam-configs/pwquality ] || refit_detail "no pwquality PAM profile: install libpam-pwquality" || return 1
			set -- pwquality
			;;
		refit-faillock)
			refit_put /usr/share/pam-configs/refit-faillock 0644 root:root "$REFIT_PAM_FAILLOCK" &&
				refit_put /usr/share/pam-configs/refit-faillock-notify 0644 root:root "$REFIT_PAM_FAILLOCK_NOTIFY" || return 1
			set -- refit-faillock refit-faillock-notify
			;;
		refit-pwhistory)
			refit_put /usr/share/pam-configs/refit-pwhistory 0644 root:root "$REFIT_PAM_PWHISTORY" || return 1
			set -- refit-pwhistory
			;;
		esac
		DEBIAN_FRONTEND=noninteractive refit_run pam-auth-update --enable "$@" || return 1
		REFIT_DETAIL="pam-auth-update --enable $*"
		return 0
	fi
	[ -n "$2" ] || refit_detail "add $1 to /etc/pam.d/system-auth and password-auth (authselect profiles normally have it)" || return 1
	if ! refit_has authselect || ! authselect current >/dev/null 2>&1; then
		REFIT_DETAIL="PAM is not managed by authselect here: enable $2 in /etc/pam.d/system-auth and password-auth yourself"
		return 1
	fi
	refit_run authselect enable-feature "$2" || return 1
	REFIT_DETAIL="authselect enable-feature $2"
}

# refit_pam_nullok check|fix: pam_unix does not accept empty passwords.
refit_pam_nullok() {
	refit_bad=
	for refit_f in $(refit_pam_files auth) $(refit_pam_files password); do
		[ -f "$refit_f" ] || continue
		if grep -Eq '^[[:space:]]*[^#].*pam_unix\.so.*[[:space:]]nullok' "$refit_f"; then refit_bad="$refit_bad $refit_f"; fi
	done
	[ "$1" = fix ] || { [ -z "$refit_bad" ] || refit_detail "nullok in$refit_bad"; return; }
	if [ "$REFIT_FAMILY" = debian ]; then
		if [ -f /usr/share/pam-configs/unix ]; then
			refit_filter /usr/share/pam-configs/unix '/pam_unix\.so/ { gsub(/[ \t]nullok([ \t]|$)/, " ") } { print }' || return 1
			DEBIAN_FRONTEND=noninteractive refit_run pam-auth-update --package || return 1
		fi
	elif refit_has authselect && authselect current >/dev/null 2>&1; then
		refit_run authselect enable-feature without-nullok || return 1
	fi
	for refit_f in $(refit_pam_files auth) $(refit_pam_files password); do
		[ -f "$refit_f" ] || continue
		refit_filter "$refit_f" '/^[ \t]*[^#].*pam_unix\.so/ { gsub(/[ \t]nullok([ \t]|$)/, " ") } { print }' || return 1
	done
	REFIT_DETAIL="removed nullok from pam_unix"
}

# ---- audit ---------------------------------------------------------------------------------

# refit_audit_rules: the audit rules for this image (architectures, UID_MIN and the setuid and
# setgid programs it contains).
refit_audit_rules() {
	if [ -s "$REFIT_TMP/audit.generated" ]; then
		cat "$REFIT_TMP/audit.generated"
		return 0
	fi
	refit_min=$(refit_uid_min)
	refit_arches=b64
	refit_legacy=1
	case $(uname -m) in
	x86_64) refit_arches="b64 b32" ;;
	i?86) refit_arches=b32 ;;
	aarch64 | riscv64 | loongarch64) refit_legacy=0 ;;
	esac
	refit_u="-F auid>=$refit_min -F auid!=unset"
	{
		printf '%s\n' "## Managed by refit-harden (audit.rules): run refit-harden again to regenerate." \
			"-w /etc/sudoers -p wa -k scope" "-w /etc/sudoers.d/ -p wa -k scope" \
			"-w /var/log/sudo.log -p wa -k sudo_log_file" \
			"-w /etc/localtime -p wa -k time-change" \
			"-w /etc/issue -p wa -k system-locale" "-w /etc/issue.net -p wa -k system-locale" \
			"-w /etc/hosts -p wa -k system-locale" "-w /etc/hostname -p wa -k system-locale" \
			"-w /etc/networks -p wa -k system-locale"
		# /etc/network (ifupdown) is watched even where it does not exist yet: a watch may name a
		# path that does not exist, and a network configuration created there later is recorded.
		printf '%s\n' "-w /etc/network/ -p wa -k system-locale"
		for refit_d in /etc/netplan /etc/NetworkManager /etc/sysconfig/network-scripts /etc/systemd/network; do
			[ ! -d "$refit_d" ] || printf '%s\n' "-w $refit_d/ -p wa -k system-locale"
		done
		printf '%s\n' "-w /etc/group -p wa -k identity" "-w /etc/passwd -p wa -k identity" \
			"-w /etc/gshadow -p wa -k identity" "-w /etc/shadow -p wa -k identity" \
			"-w /etc/security/opasswd -p wa -k identity" "-w /etc/nsswitch.conf -p wa -k identity" \
			"-w /etc/pam.conf -p wa -k identity" "-w /etc/pam.d/ -p wa -k identity" \
			"-w /var/run/utmp -p wa -k session" "-w /var/log/wtmp -p wa -k session" "-w /var/log/btmp -p wa -k session" \
			"-w /var/log/lastlog -p wa -k logins" "-w /var/run/faillock -p wa -k logins"
		# written without the trailing slash (auditctl watches the directory either way), the form
		# SSG's audit_rules_mac_modification_* checks read
		for refit_d in /etc/apparmor /etc/apparmor.d /etc/selinux; do
			[ ! -d "$refit_d" ] || printf '%s\n' "-w $refit_d -p wa -k MAC-policy"
		done
		for refit_a in $refit_arches; do
			refit_time=adjtimex,settimeofday
			[ "$refit_a" != b32 ] || refit_time=adjtimex,settimeofday,stime
			if [ "$refit_legacy" = 1 ]; then
				refit_open=creat,open,openat,truncate,ftruncate refit_chmod=chmod,fchmod,fchmodat
				refit_chown=chown,fchown,lchown,fchownat refit_del=unlink,unlinkat,rename,renameat,rmdir
				refit_mod=init_module,finit_module,delete_module,create_module,query_module
			else
				refit_open=openat,truncate,ftruncate refit_chmod=fchmod,fchmodat
				refit_chown=fchown,fchownat refit_del=unlinkat,renameat
				refit_mod=init_module,finit_module,delete_module
			fi
			printf '%s\n' \
				"-a always,exit -F arch=$refit_a -S execve -C euid!=uid -F auid!=unset -k user_emulation" \
				"-a always,exit -F arch=$refit_a -S $refit_time -k time-change" \
				"-a always,exit -F arch=$refit_a -S clock_settime -F a0=0x0 -k time-change" \
				"-a always,exit -F arch=$refit_a -S sethostname,setdomainname -k system-locale" \
				"-a always,exit -F arch=$refit_a -S $refit_open -F exit=-EACCES $refit_u -k access" \
				"-a always,exit -F arch=$refit_a -S $refit_open -F exit=-EPERM $refit_u -k access" \
				"-a always,exit -F arch=$refit_a -S $refit_chmod $refit_u -k perm_mod" \
				"-a always,exit -F arch=$refit_a -S $refit_chown $refit_u -k perm_mod" \
				"-a always,exit -F arch=$refit_a -S setxattr,lsetxattr,fsetxattr,removexattr,lremovexattr,fremovexattr $refit_u -k perm_mod" \
				"-a always,exit -F arch=$refit_a -S mount,umount2 $refit_u -k mounts" \
				"-a always,exit -F arch=$refit_a -S $refit_del $refit_u -k delete" \
				"-a always,exit -F arch=$refit_a -S $refit_mod $refit_u -k kernel_modules"
		done
		# written whether or not the program is installed yet (the acl package is often missing): a
		# path rule watches its folder, so a chacl or setfacl installed later is recorded too
		for refit_p in /usr/bin/chcon /usr/bin/setfacl /usr/bin/chacl /usr/sbin/usermod; do
			printf '%s\n' "-a always,exit -F path=$refit_p -F perm=x $refit_u -k perm_chng"
		done
		for refit_p in /usr/bin/kmod /usr/sbin/insmod /usr/sbin/rmmod /usr/sbin/modprobe; do
			[ ! -x "$refit_p" ] || [ -L "$refit_p" ] || printf '%s\n' "-a always,exit -F path=$refit_p -F perm=x $refit_u -k kernel_modules"
		done
		for refit_p in /sbin/insmod /sbin/rmmod /sbin/modprobe; do
			[ ! -e "$refit_p" ] || printf '%s\n' "-w $refit_p -p x -k modules"
		done
		for refit_d in /usr /opt /etc /var /bin /sbin /lib /lib64; do
			[ -d "$refit_d" ] && [ ! -L "$refit_d" ] || continue
			find "$refit_d" -xdev -type f \( -perm -4000 -o -perm -2000 \) 2>/dev/null
		done | sort -u | while IFS= read -r refit_p; do
			printf '%s\n' "-a always,exit -F path=$refit_p -F perm=x $refit_u -k privileged"
		done
	} >"$REFIT_TMP/audit.generated"
	cat "$REFIT_TMP/audit.generated"
}

# ---- users ---------------------------------------------------------------------------------

# refit_in_group USER GROUP: USER is a member of GROUP (supplementary or primary).
refit_in_group() {
	awk -F: -v u="$1" -v g="$2" '$1 == g { n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == u) found = 1 } END { exit !found }' /etc/group && return 0
	refit_gid=$(awk -F: -v g="$2" '$1 == g { print $3 }' /etc/group)
	[ -n "$refit_gid" ] && [ "$(awk -F: -v u="$1" '$1 == u { print $4 }' /etc/passwd)" = "$refit_gid" ]
}

# refit_user_home USER: prints the home directory from /etc/passwd.
refit_user_home() {
	refit_h=$(awk -F: -v u="$1" '$1 == u { print $6 }' /etc/passwd)
	[ -n "$refit_h" ] && [ "$refit_h" != / ] || return 1
	printf '%s' "$refit_h"
}

# The rules of user blocks and remove_users. Each setting is a pair: NAME_is ARGS... checks it
# (0 = in effect, 1 = needs a change, with REFIT_DETAIL saying why), NAME_set ARGS... makes it so.

# refit_group_is GROUP / refit_group_set GROUP: the group exists (groupadd).
refit_group_is() {
	refit_group_exists "$1" || refit_detail "group $1 does not exist"
}
refit_group_set() {
	refit_run groupadd "$1" && REFIT_DETAIL="created group $1"
}

# refit_user_absent_is USER / refit_user_absent_set USER: no such account, and no refit sudo
# drop-in for it (userdel -r: home directory and mail spool go too).
refit_user_absent_is() {
	if refit_user_exists "$1"; then refit_detail "user $1 exists"; return 1; fi
	[ ! -e "/etc/sudoers.d/90-refit-user-$1" ] || refit_detail "a refit sudo drop-in for $1 remains"
}
refit_user_absent_set() {
	if refit_user_exists "$1" && ! refit_run userdel -r "$1" && refit_user_exists "$1"; then return 1; fi
	rm -f "/etc/sudoers.d/90-refit-user-$1"
	REFIT_DETAIL="deleted user $1"
}

# refit_user_shell USER: prints the login shell from /etc/passwd.
refit_user_shell() {
	awk -F: -v u="$1" '$1 == u { print $7 }' /etc/passwd
}

# refit_user_account_is USER SHELL [GROUP...] / refit_user_account_set USER SHELL [GROUP...]: the
# account exists (useradd -m), with SHELL as its login shell (an empty SHELL keeps an existing
# account's, and gives a new one /bin/bash, or /bin/sh without bash) and in every GROUP (other
# memberships stay).
refit_user_account_is() {
	refit_uname=$1 refit_ushell=$2
	shift 2
	refit_user_exists "$refit_uname" || refit_detail "user $refit_uname does not exist" || return 1
	if [ -n "$refit_ushell" ]; then
		[ "$(refit_user_shell "$refit_uname")" = "$refit_ushell" ] || refit_detail "the shell of $refit_uname is not $refit_ushell" || return 1
	fi
	for refit_ugroup in "$@"; do
		refit_in_group "$refit_uname" "$refit_ugroup" || refit_detail "$refit_uname is not in group $refit_ugroup" || return 1
	done
	return 0
}
refit_user_account_set() {
	refit_uname=$1 refit_ushell=$2
	shift 2
	if ! refit_user_exists "$refit_uname"; then
		refit_shell=$refit_ushell
		[ -n "$refit_shell" ] || refit_shell=/bin/bash
		[ -x "$refit_shell" ] || refit_shell=/bin/sh
		refit_ugroups=
		for refit_ugroup in "$@"; do refit_ugroups=${refit_ugroups:+$refit_ugroups,}$refit_ugroup; done
		set -- -m -s "$refit_shell"
		[ -z "$refit_ugroups" ] || set -- "$@" -G "$refit_ugroups"
		refit_run useradd "$@" "$refit_uname" || return 1
		REFIT_DETAIL="created user $refit_uname"
		return 0
	fi
	refit_details=
	if [ -n "$refit_ushell" ] && [ "$(refit_user_shell "$refit_uname")" != "$refit_ushell" ]; then
		refit_run usermod -s "$refit_ushell" "$refit_uname" || return 1
		refit_details="shell $refit_ushell"
	fi
	for refit_ugroup in "$@"; do
		if ! refit_in_group "$refit_uname" "$refit_ugroup"; then
			refit_run usermod -a -G "$refit_ugroup" "$refit_uname" || return 1
			refit_details="$refit_details +$refit_ugroup"
		fi
	done
	REFIT_DETAIL="updated $refit_uname:$refit_details"
}

# refit_user_home_of USER: sets refit_home to the home directory /etc/passwd names for USER;
# without one, REFIT_DETAIL says so and it returns 1.
refit_user_home_of() {
	refit_home=$(refit_user_home "$1") || refit_detail "user $1 has no home directory in /etc/passwd"
}

# refit_user_home_is USER MODE / refit_user_home_set USER MODE: the home directory /etc/passwd
# names exists, with MODE, owned by USER and USER's group.
refit_user_home_is() {
	refit_user_home_of "$1" || return 1
	[ -d "$refit_home" ] || refit_detail "$refit_home is missing" || return 1
	refit_st=$(stat -c '%a %U:%G' "$refit_home")
	[ "$refit_st" = "${2#0} $1:$(id -gn "$1")" ] || refit_detail "$refit_home is $refit_st"
}
refit_user_home_set() {
	refit_user_home_of "$1" || return 1
	[ -d "$refit_home" ] || mkdir -p "$refit_home" || return 1
	chown "$1":"$(id -gn "$1")" "$refit_home" && chmod "$2" "$refit_home" || return 1
	REFIT_DETAIL="$refit_home: $2"
}

# refit_user_keys USER KEY...: sets refit_keys to the authorized_keys refit writes for USER.
refit_user_keys() {
	refit_keys="# Managed by refit-harden: ssh_authorized_keys of user $1.$REFIT_NL"
	shift
	for refit_key in "$@"; do refit_keys=$refit_keys$refit_key$REFIT_NL; done
}

# refit_user_keys_is USER KEY... / refit_user_keys_set USER KEY...: ~/.ssh (0700) and
# ~/.ssh/authorized_keys (0600, exactly the KEYs), both owned by USER; symlinks there are refused.
refit_user_keys_is() {
	refit_user_home_of "$1" || return 1
	refit_grp=$(id -gn "$1") || return 1
	[ -d "$refit_home/.ssh" ] && [ ! -L "$refit_home/.ssh" ] || refit_detail "$refit_home/.ssh is missing" || return 1
	[ "$(stat -c '%a %U:%G' "$refit_home/.ssh")" = "700 $1:$refit_grp" ] || refit_detail "$refit_home/.ssh is not 0700 $1" || return 1
	refit_user_keys "$@"
	refit_file_is "$refit_home/.ssh/authorized_keys" 0600 "$1:$refit_grp" "$refit_keys"
}
refit_user_keys_set() {
	refit_user_home_of "$1" || return 1
	refit_grp=$(id -gn "$1") || return 1
	if [ -L "$refit_home/.ssh" ] || [ -L "$refit_home/.ssh/authorized_keys" ]; then
		REFIT_DETAIL="$refit_home/.ssh or its authorized_keys is a symlink: not following it"
		return 1
	fi
	[ -d "$refit_home/.ssh" ] || mkdir "$refit_home/.ssh" || return 1
	chown "$1":"$refit_grp" "$refit_home/.ssh" && chmod 0700 "$refit_home/.ssh" || return 1
	refit_user_keys "$@"
	refit_put "$refit_home/.ssh/authorized_keys" 0600 "$1:$refit_grp" "$refit_keys"
}

# refit_user_sudo USER password|nopasswd: sets refit_sudo_file and refit_sudo_content to the
# drop-in granting USER every command.
refit_user_sudo() {
	refit_sudo_file=/etc/sudoers.d/90-refit-user-$1
	if [ "$2" = nopasswd ]; then refit_spec="$1 ALL=(ALL:ALL) NOPASSWD: ALL"; else refit_spec="$1 ALL=(ALL:ALL) ALL"; fi
	refit_sudo_content="# Managed by refit-harden: sudo = \"$2\" for user $1.$REFIT_NL$refit_spec$REFIT_NL"
}

# refit_user_sudo_is USER none|password|nopasswd / refit_user_sudo_set USER ...: with none, no
# /etc/sudoers.d/90-refit-user-USER; otherwise that drop-in (0440) grants USER every command,
# with or without a password, and visudo -c accepts it (sudo is installed first when missing).
refit_user_sudo_is() {
	if [ "$2" = none ]; then
		[ ! -e "/etc/sudoers.d/90-refit-user-$1" ] || refit_detail "/etc/sudoers.d/90-refit-user-$1 exists"
		return
	fi
	refit_user_sudo "$1" "$2"
	refit_file_is "$refit_sudo_file" 0440 root:root "$refit_sudo_content"
}
refit_user_sudo_set() {
	if [ "$2" = none ]; then
		rm -f "/etc/sudoers.d/90-refit-user-$1" && REFIT_DETAIL="removed /etc/sudoers.d/90-refit-user-$1"
		return
	fi
	if ! refit_has visudo; then refit_pkg_install sudo || return 1; fi
	refit_user_sudo "$1" "$2"
	refit_sudoers_put "$refit_sudo_file" "$refit_sudo_content"
}

# refit_user_locked_is USER / refit_user_locked_set USER: the password is locked (usermod -L: "!"
# before the hash in /etc/shadow), so that only key-based logins work.
refit_user_locked_is() {
	refit_pw=$(awk -F: -v u="$1" '$1 == u { print substr($2, 1, 1); found = 1 } END { if (!found) print "?" }' /etc/shadow)
	case $refit_pw in '!' | '*') return 0 ;; '?') refit_detail "$1 is not in /etc/shadow"; return 1 ;; esac
	refit_detail "the password of $1 is not locked"
}
refit_user_locked_set() {
	refit_run usermod -L "$1" && REFIT_DETAIL="locked the password of $1"
}

# ---- network -------------------------------------------------------------------------------

# refit_image_file FILE: sets REFIT_IMG to the image's own FILE. Offline, a builder may have put
# a host file in its place for the build (refit-chroot's copy_files puts the host's /etc/resolv.conf
# there so that the chroot resolves names) after moving the image's own aside to
# FILE$REFIT_SAVED_SUFFIX (internal/imageroot.Replace); that one comes back when the build ends, so
# it is the file to check and change, and the build keeps its working copy.
refit_image_file() {
	REFIT_IMG=$1
	[ "$REFIT_LIVE" = 0 ] || return 0
	if [ -e "$1$REFIT_SAVED_SUFFIX" ] || [ -L "$1$REFIT_SAVED_SUFFIX" ]; then REFIT_IMG=$1$REFIT_SAVED_SUFFIX; fi
	return 0
}

# refit_dns check|fix "SERVERS" "SEARCH": resolvers and search domains, where the image takes them.
refit_dns() {
	refit_servers=$2 refit_search=$3 refit_bad= refit_done=
	refit_resolved=0
	refit_image_file /etc/resolv.conf
	refit_rc_file=$REFIT_IMG
	case $(readlink "$refit_rc_file" 2>/dev/null) in *systemd/resolve/*) refit_resolved=1 ;; esac
	if refit_unit_exists systemd-resolved.service && refit_unit_enabled systemd-resolved.service; then refit_resolved=1; fi
	if [ "$refit_resolved" = 1 ]; then
		refit_c="# Managed by refit-harden (network.dns)$REFIT_NL[Resolve]$REFIT_NL"
		[ -z "$refit_servers" ] || refit_c="${refit_c}DNS=$refit_servers$REFIT_NL"
		[ -z "$refit_search" ] || refit_c="${refit_c}Domains=$refit_search$REFIT_NL"
		refit_dns_file /etc/systemd/resolved.conf.d/refit-dns.conf "$refit_c" "$1" || return 1
	fi
	if [ -n "$refit_servers" ] && refit_unit_exists NetworkManager.service && refit_unit_enabled NetworkManager.service; then
		refit_c="# Managed by refit-harden (network.dns)$REFIT_NL[global-dns]$REFIT_NL"
		[ -z "$refit_search" ] || refit_c="${refit_c}searches=$(printf '%s' "$refit_search" | tr ' ' ',')$REFIT_NL"
		refit_c="$refit_c$REFIT_NL[global-dns-domain-*]${REFIT_NL}servers=$(printf '%s' "$refit_servers" | tr ' ' ',')$REFIT_NL"
		refit_dns_file /etc/NetworkManager/conf.d/refit-dns.conf "$refit_c" "$1" || return 1
		refit_resolved=1
	fi
	if [ "$refit_resolved" = 0 ]; then
		if [ -L "$refit_rc_file" ]; then
			REFIT_DETAIL="/etc/resolv.conf is a symlink to $(readlink "$refit_rc_file"), which neither systemd-resolved nor NetworkManager manages here: not replacing it"
			[ "$1" = fix ] && return 1
			return 3
		fi
		refit_c="# Managed by refit-harden (network.dns)$REFIT_NL"
		for refit_s in $refit_servers; do refit_c="${refit_c}nameserver $refit_s$REFIT_NL"; done
		[ -z "$refit_search" ] || refit_c="${refit_c}search $refit_search$REFIT_NL"
		if [ -z "$refit_servers" ] && [ -f "$refit_rc_file" ]; then
			refit_c="$refit_c$(grep -E '^[[:space:]]*nameserver[[:space:]]' "$refit_rc_file")$REFIT_NL"
		fi
		refit_n=/etc/resolv.conf
		[ "$refit_rc_file" = /etc/resolv.conf ] || refit_n="/etc/resolv.conf (the image's own, set aside while the build uses the host's)"
		refit_dns_file "$refit_rc_file" "$refit_c" "$1" "$refit_n" || return 1
		if [ -f /etc/dhcp/dhclient.conf ]; then
			refit_want=
			[ -z "$refit_servers" ] || refit_want="supersede domain-name-servers $(printf '%s' "$refit_servers" | sed 's/ /, /g'); # refit-harden"
			if [ -n "$refit_search" ]; then
				refit_want="$refit_want${refit_want:+$REFIT_NL}supersede domain-search \"$(printf '%s' "$refit_search" | sed 's/ /", "/g')\"; # refit-harden"
			fi
			if [ "$(grep '# refit-harden$' /etc/dhcp/dhclient.conf)" != "$refit_want" ]; then
				refit_bad="$refit_bad /etc/dhcp/dhclient.conf"
				if [ "$1" = fix ]; then
					refit_filter /etc/dhcp/dhclient.conf '!/# refit-harden$/ { print } END { if (want != "") print want }' -v want="$refit_want" || return 1
					refit_done="$refit_done /etc/dhcp/dhclient.conf"
				fi
			fi
		fi
	fi
	if [ "$1" = fix ]; then
		REFIT_NETWORK_DIRTY=1
		REFIT_DETAIL="wrote$refit_done"
		return 0
	fi
	[ -z "$refit_bad" ] || refit_detail "not set in$refit_bad"
}

# refit_dns_file FILE CONTENT check|fix [NAME]: notes in refit_bad / refit_done (as NAME).
refit_dns_file() {
	refit_file_is "$1" 0644 root:root "$2" && return 0
	refit_bad="$refit_bad ${4:-$1}"
	[ "$3" = fix ] || return 0
	refit_put "$1" 0644 root:root "$2" || return 1
	refit_done="$refit_done ${4:-$1}"
}

# refit_ntp check|fix "SERVERS": chrony's or systemd-timesyncd's servers.
refit_ntp() {
	refit_conf=
	for refit_f in /etc/chrony/chrony.conf /etc/chrony.conf; do
		[ -f "$refit_f" ] && { refit_has chronyd || [ -x /usr/sbin/chronyd ]; } && refit_conf=$refit_f && break
	done
	refit_tsd=
	for refit_f in /lib/systemd/systemd-timesyncd /usr/lib/systemd/systemd-timesyncd; do
		[ ! -x "$refit_f" ] || refit_tsd=$refit_f
	done
	if [ -z "$refit_conf" ] && [ -z "$refit_tsd" ]; then
		[ "$1" = fix ] || refit_detail "neither chrony nor systemd-timesyncd is installed" || return 1
		if [ "$REFIT_RPM" = 1 ]; then refit_pkg_install chrony || return 1; else refit_pkg_install systemd-timesyncd || return 1; fi
		refit_ntp fix "$2"
		return
	fi
	refit_want=
	for refit_s in $2; do refit_want="${refit_want}server $refit_s iburst$REFIT_NL"; done
	if [ -n "$refit_conf" ]; then
		refit_cur=$(awk '$1 == "server" || $1 == "pool" || $1 == "peer" { print }' "$refit_conf")
		[ "$refit_cur$REFIT_NL" != "$refit_want" ] || return 0
		[ "$1" = fix ] || refit_detail "$refit_conf does not list exactly the configured servers" || return 1
		refit_filter "$refit_conf" '
			$1 == "server" || $1 == "pool" || $1 == "peer" { print "# " $0 "  # replaced by refit-harden"; next }
			{ print }
			END { printf "%s", want }' -v want="$refit_want" || return 1
		REFIT_NETWORK_DIRTY=1
		REFIT_DETAIL="servers in $refit_conf: $2"
		return 0
	fi
	refit_c="# Managed by refit-harden (network.ntp)$REFIT_NL[Time]${REFIT_NL}NTP=$2$REFIT_NL"
	refit_file_is /etc/systemd/timesyncd.conf.d/refit-ntp.conf 0644 root:root "$refit_c" && return 0
	[ "$1" = fix ] || refit_detail "NTP=$2 is not set for systemd-timesyncd" || return 1
	refit_put /etc/systemd/timesyncd.conf.d/refit-ntp.conf 0644 root:root "$refit_c" || return 1
	REFIT_NETWORK_DIRTY=1
}

# refit_sshd_reload: a running sshd picks up its configuration.
refit_sshd_reload() {
	if systemctl is-active --quiet ssh.socket 2>/dev/null; then
		refit_run systemctl daemon-reload && refit_run systemctl restart ssh.socket || return 1
		REFIT_DETAIL="restarted ssh.socket"
		return 0
	fi
	for refit_u in ssh.service sshd.service; do
		if systemctl is-active --quiet "$refit_u" 2>/dev/null; then
			refit_run systemctl reload "$refit_u" || return 1
			REFIT_DETAIL="reloaded $refit_u"
			return 0
		fi
	done
	REFIT_DETAIL="sshd is not running"
	return 0
}

# ---- firewall ------------------------------------------------------------------------------
# Configured by refit_config: REFIT_FW_WANT (auto, nftables, firewalld, ufw), REFIT_FW_INBOUND,
# REFIT_FW_FORWARD, REFIT_FW_TCP, REFIT_FW_UDP, REFIT_FW_SOURCES, REFIT_FW_SSH, REFIT_NFT_TABLE.

# refit_fw_detect: sets REFIT_FW, the backend this system uses.
refit_fw_detect() {
	[ -z "$REFIT_FW" ] || return 0
	REFIT_FW=$REFIT_FW_WANT
	[ "$REFIT_FW" = auto ] || return 0
	if refit_has firewall-offline-cmd && refit_unit_enabled firewalld.service; then
		REFIT_FW=firewalld
	elif refit_has ufw && grep -Eqi '^[[:space:]]*ENABLED[[:space:]]*=[[:space:]]*"?yes' /etc/ufw/ufw.conf 2>/dev/null; then
		REFIT_FW=ufw
	else
		REFIT_FW=nftables
	fi
}

refit_fw_package() {
	refit_fw_detect
	case $REFIT_FW in
	firewalld) refit_c=firewall-offline-cmd refit_p=firewalld ;;
	ufw) refit_c=ufw refit_p=ufw ;;
	*) refit_c=nft refit_p=nftables ;;
	esac
	if refit_has "$refit_c"; then
		REFIT_DETAIL="backend $REFIT_FW"
		return 0
	fi
	[ "$1" = fix ] || refit_detail "$refit_p is not installed (backend $REFIT_FW)" || return 1
	refit_pkg_install "$refit_p" || return 1
	REFIT_DETAIL="installed $refit_p (backend $REFIT_FW)"
}

refit_fw_rules() {
	refit_fw_detect
	case $REFIT_FW in
	firewalld) refit_firewalld_rules "$1" ;;
	ufw) refit_ufw_rules "$1" ;;
	*) refit_nft_rules "$1" ;;
	esac
}

REFIT_NFT_HEADER='#!/usr/sbin/nft -f
# Managed by refit-harden (firewall.rules): change the firewall block and run refit-harden again.
'

# refit_nft_rules check|fix
refit_nft_rules() {
	if [ "$REFIT_FAMILY" = debian ]; then
		refit_main=/etc/nftables.conf refit_file=/etc/nftables.conf refit_mode=0755
		refit_content="${REFIT_NFT_HEADER}flush ruleset$REFIT_NL$REFIT_NL$REFIT_NFT_TABLE"
	else
		refit_main=/etc/sysconfig/nftables.conf refit_file=/etc/nftables/refit-filter.nft refit_mode=0600
		refit_content="${REFIT_NFT_HEADER}table inet filter${REFIT_NL}delete table inet filter$REFIT_NL$REFIT_NFT_TABLE"
	fi
	refit_inc="include \"$refit_file\""
	if [ "$1" = check ]; then
		refit_file_is "$refit_file" "$refit_mode" root:root "$refit_content" || return 1
		[ "$refit_main" = "$refit_file" ] || refit_line_has "$refit_main" "$refit_inc" || refit_detail "$refit_main does not include $refit_file"
		return
	fi
	refit_note= refit_hostcheck=
	printf '%s' "$refit_content" >"$REFIT_TMP/nft"
	if ! nft -c -f "$REFIT_TMP/nft" >"$REFIT_TMP/nft.out" 2>&1; then
		if grep -qi 'operation not permitted' "$REFIT_TMP/nft.out"; then
			refit_note=" (not validated: nft -c needs CAP_NET_ADMIN here)"
		elif [ "$REFIT_LIVE" != 1 ] && grep -qi 'netlink socket: protocol not supported' "$REFIT_TMP/nft.out"; then
			# The image's nft runs under qemu-user (a foreign architecture), which cannot open
			# netfilter's netlink socket: the build host's nft checks the written file instead
			# (REFIT-NFT-HOSTCHECK; hardening.CheckRulesetsOnHost).
			refit_note=" (the image's nft -c cannot reach nf_tables: $(tail -n 1 "$REFIT_TMP/nft.out"))"
			refit_hostcheck=1
		else
			REFIT_DETAIL="nft -c rejects the ruleset: $(tail -n 5 "$REFIT_TMP/nft.out")"
			return 1
		fi
	fi
	refit_put "$refit_file" "$refit_mode" root:root "$refit_content" || return 1
	if [ "$refit_main" != "$refit_file" ]; then refit_line_add "$refit_main" "$refit_inc" || return 1; fi
	REFIT_FIREWALL_DIRTY=1
	REFIT_DETAIL="wrote $refit_file$refit_note"
	[ -z "$refit_hostcheck" ] || printf 'REFIT-NFT-HOSTCHECK\t%s\n' "$refit_file"
}

# refit_words_eq "A" "B": the same words, in any order.
refit_words_eq() {
	[ "$(printf '%s\n' $1 | sort -u | tr '\n' ' ')" = "$(printf '%s\n' $2 | sort -u | tr '\n' ' ')" ]
}

# refit_firewalld_rules check|fix: the default zone's target, services and ports, and the trusted
# zone's sources.
refit_firewalld_rules() {
	refit_fwc=firewall-offline-cmd
	if [ "$REFIT_LIVE" = 1 ] && systemctl is-active --quiet firewalld.service 2>/dev/null; then refit_fwc="firewall-cmd --permanent"; fi
	refit_zone=$($refit_fwc --get-default-zone 2>/dev/null) || refit_detail "cannot read firewalld's default zone" || return 3
	refit_target=DROP
	[ "$REFIT_FW_INBOUND" != reject ] || refit_target=%%REJECT%%
	refit_svc=dhcpv6-client refit_ports=
	if [ "$REFIT_FW_SSH" = 22 ]; then refit_svc="$refit_svc ssh"; elif [ -n "$REFIT_FW_SSH" ]; then refit_ports="$REFIT_FW_SSH/tcp"; fi
	for refit_p in $REFIT_FW_TCP; do [ "$refit_p" = 22 ] && [ "$REFIT_FW_SSH" = 22 ] || refit_ports="$refit_ports $refit_p/tcp"; done
	for refit_p in $REFIT_FW_UDP; do refit_ports="$refit_ports $refit_p/udp"; done
	refit_cur_t=$($refit_fwc --zone="$refit_zone" --get-target 2>/dev/null)
	refit_cur_s=$($refit_fwc --zone="$refit_zone" --list-services 2>/dev/null)
	refit_cur_p=$($refit_fwc --zone="$refit_zone" --list-ports 2>/dev/null)
	refit_cur_src=$($refit_fwc --zone=trusted --list-sources 2>/dev/null)
	if [ "$1" = check ]; then
		[ "$refit_cur_t" = "$refit_target" ] || refit_detail "zone $refit_zone has target $refit_cur_t, want $refit_target" || return 1
		refit_words_eq "$refit_cur_s" "$refit_svc" || refit_detail "zone $refit_zone has services '$refit_cur_s', want '$refit_svc'" || return 1
		refit_words_eq "$refit_cur_p" "$refit_ports" || refit_detail "zone $refit_zone has ports '$refit_cur_p', want '$refit_ports'" || return 1
		refit_words_eq "$refit_cur_src" "$REFIT_FW_SOURCES" || refit_detail "zone trusted has sources '$refit_cur_src', want '$REFIT_FW_SOURCES'" || return 1
		return 0
	fi
	refit_run $refit_fwc --zone="$refit_zone" --set-target="$refit_target" || return 1
	for refit_x in $refit_cur_s; do
		case " $refit_svc " in *" $refit_x "*) ;; *) refit_run $refit_fwc --zone="$refit_zone" --remove-service="$refit_x" || return 1 ;; esac
	done
	for refit_x in $refit_svc; do
		case " $refit_cur_s " in *" $refit_x "*) ;; *) refit_run $refit_fwc --zone="$refit_zone" --add-service="$refit_x" || return 1 ;; esac
	done
	for refit_x in $refit_cur_p; do
		case " $refit_ports " in *" $refit_x "*) ;; *) refit_run $refit_fwc --zone="$refit_zone" --remove-port="$refit_x" || return 1 ;; esac
	done
	for refit_x in $refit_ports; do
		case " $refit_cur_p " in *" $refit_x "*) ;; *) refit_run $refit_fwc --zone="$refit_zone" --add-port="$refit_x" || return 1 ;; esac
	done
	for refit_x in $refit_cur_src; do
		case " $REFIT_FW_SOURCES " in *" $refit_x "*) ;; *) refit_run $refit_fwc --zone=trusted --remove-source="$refit_x" || return 1 ;; esac
	done
	for refit_x in $REFIT_FW_SOURCES; do
		case " $refit_cur_src " in *" $refit_x "*) ;; *) refit_run $refit_fwc --zone=trusted --add-source="$refit_x" || return 1 ;; esac
	done
	REFIT_FIREWALL_DIRTY=1
	REFIT_DETAIL="zone $refit_zone: target $refit_target, services $refit_svc, ports${refit_ports:- none}"
}

# refit_ufw_rules check|fix: default policies in /etc/default/ufw and "ufw allow" rules. Offline,
# ufw is marked disabled while its CLI runs so that it cannot touch the build host's firewall.
refit_ufw_rules() {
	refit_in=DROP
	[ "$REFIT_FW_INBOUND" != reject ] || refit_in=REJECT
	refit_fwd=DROP
	[ "$REFIT_FW_FORWARD" != accept ] || refit_fwd=ACCEPT
	refit_want=
	for refit_p in $REFIT_FW_TCP; do refit_want="${refit_want}ufw allow $refit_p/tcp$REFIT_NL"; done
	for refit_p in $REFIT_FW_UDP; do refit_want="${refit_want}ufw allow $refit_p/udp$REFIT_NL"; done
	for refit_s in $REFIT_FW_SOURCES; do refit_want="${refit_want}ufw allow from $refit_s$REFIT_NL"; done
	ufw show added 2>/dev/null >"$REFIT_TMP/ufw.added"
	refit_missing=$(printf '%s' "$refit_want" | grep -vxF -f "$REFIT_TMP/ufw.added")
	if [ "$1" = check ]; then
		refit_kv_is /etc/default/ufw DEFAULT_INPUT_POLICY "\"$refit_in\"" eq0 || return 1
		refit_kv_is /etc/default/ufw DEFAULT_FORWARD_POLICY "\"$refit_fwd\"" eq0 || return 1
		[ -z "$refit_missing" ] || refit_detail "ufw lacks: $refit_missing"
		return
	fi
	refit_kv_set /etc/default/ufw DEFAULT_INPUT_POLICY "\"$refit_in\"" eq0 &&
		refit_kv_set /etc/default/ufw DEFAULT_FORWARD_POLICY "\"$refit_fwd\"" eq0 || return 1
	refit_enabled=$(refit_kv_get /etc/ufw/ufw.conf ENABLED eq0)
	[ "$REFIT_LIVE" = 1 ] || refit_kv_set /etc/ufw/ufw.conf ENABLED no eq0 || return 1
	refit_rc=0
	printf '%s\n' "$refit_missing" | while IFS= read -r refit_r; do
		[ -n "$refit_r" ] || continue
		# shellcheck disable=SC2086
		refit_run $refit_r || exit 1
	done || refit_rc=1
	if [ "$REFIT_LIVE" != 1 ] && [ -n "$refit_enabled" ]; then refit_kv_set /etc/ufw/ufw.conf ENABLED "$refit_enabled" eq0 || return 1; fi
	[ "$refit_rc" = 0 ] || refit_detail "ufw could not add a rule" || return 1
	REFIT_FIREWALL_DIRTY=1
	REFIT_DETAIL="default incoming $refit_in; allowed: $(printf '%s' "$refit_want" | sed 's/^ufw allow //' | tr '\n' ' ')"
}

# refit_fw_service check|fix: the backend starts at boot.
refit_fw_service() {
	refit_fw_detect
	case $REFIT_FW in
	firewalld) refit_u=firewalld.service ;;
	ufw) refit_u=ufw.service ;;
	*) refit_u=nftables.service ;;
	esac
	if [ "$1" = check ]; then
		refit_unit_enabled "$refit_u" || refit_detail "$refit_u is not enabled" || return 1
		[ "$REFIT_FW" != ufw ] || refit_kv_is /etc/ufw/ufw.conf ENABLED yes eq0
		return
	fi
	refit_unit_enable "$refit_u" || return 1
	if [ "$REFIT_FW" = ufw ]; then refit_kv_set /etc/ufw/ufw.conf ENABLED yes eq0 || return 1; fi
	REFIT_FIREWALL_DIRTY=1
	REFIT_DETAIL="enabled $refit_u"
}

# refit_fw_live: loads the firewall configuration on a running system.
refit_fw_live() {
	refit_fw_detect
	case $REFIT_FW in
	firewalld)
		if systemctl is-active --quiet firewalld.service 2>/dev/null; then
			refit_run firewall-cmd --reload || return 1
			REFIT_DETAIL="firewall-cmd --reload"
		else
			refit_run systemctl start firewalld.service || return 1
			REFIT_DETAIL="started firewalld"
		fi
		;;
	ufw)
		refit_run ufw --force enable || return 1
		REFIT_DETAIL="ufw enabled and reloaded"
		;;
	*)
		printf '%s' "table inet filter${REFIT_NL}delete table inet filter$REFIT_NL$REFIT_NFT_TABLE" >"$REFIT_TMP/nft.live"
		refit_run nft -f "$REFIT_TMP/nft.live" || return 1
		REFIT_DETAIL="loaded table inet filter"
		;;
	esac
}

# ---- boot loader password -----------------------------------------------------------------

REFIT_GRUB_D=/etc/grub.d/01_refit_password

# REFIT_AWK_GRUB_CFG: reads a grub.cfg that grub-mkconfig wrote; -v sec=FILE names the lines of
# 01_refit_password's section. Without fix, it prints what is missing (no-10_linux, section,
# restricted) and exits 1 when something is. With -v fix=1 it prints the file with that section in
# place (replaced, or inserted where grub-mkconfig puts it: after 00_header's) and every menuentry
# of the 10_linux section --unrestricted, as 10_linux writes them once its CLASS line has it.
REFIT_AWK_GRUB_CFG='
function section(   j) { print B; for (j = 1; j <= n; j++) print want[j]; print E }
BEGIN {
	B = "### BEGIN /etc/grub.d/01_refit_password ###"
	E = "### END /etc/grub.d/01_refit_password ###"
	while ((getline l < sec) > 0) want[++n] = l
	close(sec)
}
{ L[NR] = $0 }
$0 == B && !b { b = NR }
$0 == E && b && !e { e = NR }
$0 == "### END /etc/grub.d/00_header ###" && !h { h = NR }
$0 == "### BEGIN /etc/grub.d/10_linux ###" { lin = 1; seen = 1 }
$0 == "### END /etc/grub.d/10_linux ###" { lin = 0 }
lin && /^[ \t]*menuentry[ \t]/ && !/[ \t]--unrestricted([ \t]|$)/ {
	restricted = 1
	t = $0
	i = index(t, " $menuentry_id_option")
	if (i) t = substr(t, 1, i) "--unrestricted" substr(t, i)
	else sub(/[ \t]*[{][ \t]*$/, " --unrestricted {", t)
	L[NR] = t
}
END {
	same = b && e && e - b - 1 == n
	for (j = 1; same && j <= n; j++) if (L[b + j] != want[j]) same = 0
	if (!fix) {
		if (!seen) print "no-10_linux"
		if (!same) print "section"
		if (restricted) print "restricted"
		exit !(seen && same && !restricted)
	}
	if (!(b && e) && !h) { section(); print "" }
	for (j = 1; j <= NR; j++) {
		if (b && e && j == b) { section(); j = e; continue }
		print L[j]
		if (!(b && e) && j == h) { print ""; section() }
	}
}'

# refit_grub_password [fix]: the GRUB superuser and password hash of the bootloader block
# (REFIT_GRUB_USER, REFIT_GRUB_HASH; REFIT_GRUB_LINES and REFIT_GRUB_SCRIPT are the grub.cfg lines
# and the /etc/grub.d script that prints them) are in effect at the next boot and after later
# update-grub runs, with the normal boot entries still starting without the password. Debian and
# Ubuntu: the script, --unrestricted on 10_linux's CLASS line, and the same lines edited into
# grub.cfg directly (update-grub in a chroot would write the build host's devices). RPM systems:
# GRUB2_PASSWORD in /boot/grub2/user.cfg, which their 01_users section reads (grub2-setpassword's
# way). Neither the hash nor the lines ever go into REFIT_DETAIL.
refit_grub_password() {
	[ -n "$REFIT_GRUB_HASH" ] || refit_na "no GRUB password configured (bootloader block)" || return 2
	if [ "$REFIT_RPM" = 1 ]; then
		refit_gcfg=/boot/grub2/grub.cfg
		[ -f "$refit_gcfg" ] || [ -d /etc/grub.d ] || refit_na "no GRUB 2 in this image (no $refit_gcfg, no /etc/grub.d)" || return 2
		[ "$REFIT_GRUB_USER" = root ] || refit_detail "GRUB on $REFIT_OS_ID names its superuser root (its 01_users section reads GRUB2_PASSWORD from user.cfg, as grub2-setpassword writes it): set bootloader.superuser to root for this image" || return 1
		if [ -f "$refit_gcfg" ] && ! grep -q 'user\.cfg' "$refit_gcfg"; then
			refit_detail "$refit_gcfg does not read user.cfg (it has no 01_users section): regenerate it with grub2-mkconfig -o $refit_gcfg on the running system"
			return 1
		fi
		if [ "${1:-}" = fix ]; then
			refit_put /boot/grub2/user.cfg 0600 root:root "GRUB2_PASSWORD=$REFIT_GRUB_HASH$REFIT_NL" || return 1
			REFIT_DETAIL="GRUB superuser root with a password: GRUB2_PASSWORD in /boot/grub2/user.cfg"
			return 0
		fi
		refit_file_is /boot/grub2/user.cfg 0600 root:root "GRUB2_PASSWORD=$REFIT_GRUB_HASH$REFIT_NL"
		return
	fi
	refit_gcfg=/boot/grub/grub.cfg
	[ -f "$refit_gcfg" ] || [ -d /etc/grub.d ] || refit_na "no GRUB in this image (no $refit_gcfg, no /etc/grub.d)" || return 2
	printf '%s' "$REFIT_GRUB_LINES" >"$REFIT_TMP/grub-password" || return 3
	refit_bad=
	if [ -f "$refit_gcfg" ]; then
		if ! refit_why=$(awk -v sec="$REFIT_TMP/grub-password" "$REFIT_AWK_GRUB_CFG" "$refit_gcfg"); then
			[ -n "$refit_why" ] || refit_detail "cannot read $refit_gcfg" || return 3
			case $refit_why in
			*no-10_linux*)
				refit_detail "$refit_gcfg has no 10_linux section (grub-mkconfig did not write it): which entries must keep booting without the password is unknown; regenerate it with update-grub on the running system"
				return 1
				;;
			esac
			refit_bad=" $refit_gcfg"
		fi
	fi
	if [ -d /etc/grub.d ]; then
		refit_file_is "$REFIT_GRUB_D" 0700 root:root "$REFIT_GRUB_SCRIPT" || refit_bad="$refit_bad $REFIT_GRUB_D"
		if [ -f /etc/grub.d/10_linux ] && ! grep -q '^CLASS=".*--unrestricted' /etc/grub.d/10_linux; then
			refit_bad="$refit_bad /etc/grub.d/10_linux"
		fi
	fi
	if [ "${1:-}" != fix ]; then
		[ -z "$refit_bad" ] || refit_detail "the GRUB password of superuser $REFIT_GRUB_USER is not set in:$refit_bad"
		return
	fi
	case "$refit_bad " in *" $REFIT_GRUB_D "*) refit_put "$REFIT_GRUB_D" 0700 root:root "$REFIT_GRUB_SCRIPT" || return 1 ;; esac
	case "$refit_bad " in
	*" /etc/grub.d/10_linux "*)
		refit_filter /etc/grub.d/10_linux '/^CLASS="/ && !done { if ($0 !~ /--unrestricted/) sub(/"[ \t]*$/, " --unrestricted\""); done = 1 } { print }' || return 1
		;;
	esac
	case "$refit_bad " in
	*" $refit_gcfg "*) refit_filter "$refit_gcfg" "$REFIT_AWK_GRUB_CFG" -v sec="$REFIT_TMP/grub-password" -v fix=1 || return 1 ;;
	esac
	REFIT_DETAIL="GRUB superuser $REFIT_GRUB_USER with a password, normal boot entries --unrestricted:$refit_bad"
	return 0
}

# ---- file integrity (AIDE) -----------------------------------------------------------------

# refit_aide_conf: AIDE's configuration file (Debian/Ubuntu: /etc/aide/aide.conf; RPM: /etc/aide.conf).
refit_aide_conf() {
	if [ "$REFIT_FAMILY" = debian ]; then printf '/etc/aide/aide.conf'; else printf '/etc/aide.conf'; fi
}

# refit_aide_db: AIDE's database, the one its checks read (Debian/Ubuntu: /var/lib/aide/aide.db;
# RPM: /var/lib/aide/aide.db.gz).
refit_aide_db() {
	if [ "$REFIT_FAMILY" = debian ]; then printf '/var/lib/aide/aide.db'; else printf '/var/lib/aide/aide.db.gz'; fi
}

# refit_aide_installed: AIDE and its configuration are installed (returns 2 with a reason otherwise).
refit_aide_installed() {
	[ -x /usr/bin/aide ] || [ -x /usr/sbin/aide ] || refit_na "AIDE is not installed" || return 2
	[ -f "$(refit_aide_conf)" ] || refit_na "AIDE's configuration $(refit_aide_conf) is missing (Debian: aide-common)" || return 2
}

# refit_aide_db_check: the database exists and was built after the last change of AIDE's
# configuration.
refit_aide_db_check() {
	refit_aide_installed || return 2
	refit_db=$(refit_aide_db)
	[ -s "$refit_db" ] || refit_detail "AIDE has no database ($refit_db)" || return 1
	refit_newer=$(find "$(refit_aide_conf)" /etc/aide/aide.conf.d /etc/aide/aide.settings.d -newer "$refit_db" 2>/dev/null | head -n 1)
	[ -z "$refit_newer" ] || refit_detail "$refit_newer changed after $refit_db was built" || return 1
	return 0
}

# refit_aide_db_build: builds the database from the image as it is now.
refit_aide_db_build() {
	if [ "$REFIT_FAMILY" = debian ]; then
		# aideinit runs AIDE as _aide: its database folder as aide-common's tmpfiles.d makes it at
		# boot (systemd-tmpfiles cannot run where /proc is not mounted)
		if refit_user_exists _aide && [ -d /var/lib/aide ]; then
			chown _aide:root /var/lib/aide && chmod 0700 /var/lib/aide || { REFIT_DETAIL="cannot give /var/lib/aide to _aide"; return 1; }
		fi
		refit_run aideinit --yes --force || return 1
		# aideinit's logs take the rest of /var/log's modes (fs.perm.var-log)
		for refit_f in /var/log/aide/aideinit.log /var/log/aide/aideinit.errors; do
			[ ! -f "$refit_f" ] || chmod o-rwx,g-wx "$refit_f" || return 1
		done
	else
		refit_run aide --init && mv -f /var/lib/aide/aide.db.new.gz /var/lib/aide/aide.db.gz || return 1
	fi
	REFIT_DETAIL="built $(refit_aide_db) from the image"
}

# ---- login records -------------------------------------------------------------------------

REFIT_LOGIN_RECORDS='/var/log/wtmp /var/log/btmp /var/log/lastlog'
REFIT_LOGIN_TMPFILES=/etc/tmpfiles.d/00-refit-login-records.conf
REFIT_LOGIN_TMPFILES_CONF='# Managed by refit-harden (fs.perm.login-records): the login records are readable by root and
# the utmp group only. This file sorts before systemd'"'"'s var.conf, so its modes win at boot.
f /var/log/wtmp 0640 root utmp -
f /var/log/btmp 0640 root utmp -
f /var/log/lastlog 0640 root utmp -
'
# awk program: logrotate "create MODE ..." lines with group write or any permission for others
# become mode 0640 (with fix=1; without, the exit status says whether one is there)
REFIT_AWK_LOGROTATE_CREATE='
$1 == "create" && $2 ~ /^[0-7]+$/ {
	m = $2; g = substr(m, length(m) - 1, 1); o = substr(m, length(m), 1)
	if ((g != "0" && g != "4") || o != "0") { bad = 1; if (fix) sub(/create[ \t]+[0-7]+/, "create 0640") }
}
fix { print }
END { if (!fix) exit bad }'

# refit_login_records [fix]: wtmp, btmp and lastlog at most 0640 now, at boot (tmpfiles.d) and
# after logrotate creates them anew.
refit_login_records() {
	refit_bad=
	for refit_f in $REFIT_LOGIN_RECORDS /var/log/wtmp.1 /var/log/btmp.1; do
		refit_mode_at_most "$refit_f" 0640 root && continue
		if [ "${1:-}" = fix ]; then refit_mode_fix "$refit_f" 0640 root || return 1; fi
		refit_bad="$refit_bad $refit_f"
	done
	if [ -d /usr/lib/tmpfiles.d ] || [ -d /lib/tmpfiles.d ]; then
		if ! refit_file_is "$REFIT_LOGIN_TMPFILES" 0644 root:root "$REFIT_LOGIN_TMPFILES_CONF"; then
			if [ "${1:-}" = fix ]; then refit_put "$REFIT_LOGIN_TMPFILES" 0644 root:root "$REFIT_LOGIN_TMPFILES_CONF" || return 1; fi
			refit_bad="$refit_bad $REFIT_LOGIN_TMPFILES"
		fi
	fi
	for refit_f in /etc/logrotate.d/wtmp /etc/logrotate.d/btmp; do
		[ -f "$refit_f" ] || continue
		awk "$REFIT_AWK_LOGROTATE_CREATE" "$refit_f" && continue
		if [ "${1:-}" = fix ]; then refit_filter "$refit_f" "$REFIT_AWK_LOGROTATE_CREATE" -v fix=1 || return 1; fi
		refit_bad="$refit_bad $refit_f"
	done
	refit_scan_result "${1:-}" "mode 0640 on" "readable by others or writable by the group:"
}

# ---- pam_unix hashing cost -----------------------------------------------------------------

# awk program: on the pam_unix lines of the Password sections of a pam-auth-update profile (or of
# the password lines of a PAM file, with file=1), rounds= is the cost the hashing method takes
# (yescrypt: 11; sha512, sha256: 65536); without fix=1 the exit status says whether a line lacks it.
REFIT_AWK_PAM_ROUNDS='
/^[A-Za-z-]+:/ { section = $1 }
{
	line = $0
	if ((file ? line ~ /^[ \t]*password[ \t]/ : section ~ /^Password/) && line ~ /pam_unix\.so/ && line !~ /^[ \t]*#/) {
		want = ""
		if (line ~ /[ \t]yescrypt([ \t]|$)/) want = 11
		else if (line ~ /[ \t](sha512|sha256)([ \t]|$)/) want = 65536
		if (want != "" && line !~ ("[ \t]rounds=" want "([ \t]|$)")) {
			bad = 1
			gsub(/[ \t]rounds=[^ \t]*/, "", line)
			line = line " rounds=" want
		}
	}
	if (fix) print line
}
END { if (!fix) exit bad }'

# refit_pam_rounds check|fix: pam_unix hashes new passwords with the hashing method's high cost.
refit_pam_rounds() {
	refit_f=/etc/pam.d/common-password
	[ -f "$refit_f" ] || refit_na "$refit_f is missing" || return 2
	grep -Eq '^[[:space:]]*password[[:space:]].*pam_unix\.so.*[[:space:]](yescrypt|sha512|sha256)([[:space:]]|$)' "$refit_f" ||
		refit_na "pam_unix in $refit_f names no yescrypt or SHA-crypt method" || return 2
	if [ "$1" != fix ]; then
		awk -v file=1 "$REFIT_AWK_PAM_ROUNDS" "$refit_f" || refit_detail "pam_unix in $refit_f has no rounds= for its hashing method"
		return
	fi
	if [ -f /usr/share/pam-configs/unix ]; then
		refit_filter /usr/share/pam-configs/unix "$REFIT_AWK_PAM_ROUNDS" -v fix=1 || return 1
		DEBIAN_FRONTEND=noninteractive refit_run pam-auth-update --package || return 1
	fi
	refit_filter "$refit_f" "$REFIT_AWK_PAM_ROUNDS" -v fix=1 -v file=1 || return 1
	REFIT_DETAIL="pam_unix hashes with $(grep -Eo 'rounds=[0-9]+' "$refit_f" | head -n 1)"
}

# ---- remote logging (systemd-journal-upload) -----------------------------------------------

REFIT_UPLOAD_DROPIN=/etc/systemd/journal-upload.conf.d/zz-refit-remote-logging.conf

# awk program: the [Upload] keys of systemd-journal-upload's configuration files that set URL or a
# TLS file to another value than refit's (url, key, cert, trust); with fix=1 it prints the file
# with those lines commented out, else it prints "FILE:KEY" for each.
REFIT_AWK_UPLOAD='
BEGIN { want["URL"] = url; want["ServerKeyFile"] = key; want["ServerCertificateFile"] = cert; want["TrustedCertificateFile"] = trust }
FNR == 1 { section = "" }
{
	t = $0; sub(/^[ \t]+/, "", t)
	if (t ~ /^\[/) { section = t; sub(/[ \t]+$/, "", section) }
	else if (section == "[Upload]" && t !~ /^[#;]/ && t ~ /=/) {
		k = t; sub(/[ \t]*=.*$/, "", k); v = t; sub(/^[^=]*=[ \t]*/, "", v); sub(/[ \t]+$/, "", v)
		if ((k in want) && v != want[k]) {
			if (!fix) { print FILENAME ":" k; next }
			print "# " $0 "  # replaced by refit-harden (logging.journal-upload)"; next
		}
	}
	if (fix) print
}'

# refit_upload_others: journal-upload.conf and its other drop-ins in /etc.
refit_upload_others() {
	for refit_f in /etc/systemd/journal-upload.conf /etc/systemd/journal-upload.conf.d/*.conf; do
		[ -f "$refit_f" ] && [ "$refit_f" != "$REFIT_UPLOAD_DROPIN" ] && printf '%s\n' "$refit_f"
	done
	return 0
}

# refit_journal_upload check|fix CONTENT URL KEY CERT TRUST: systemd-journal-remote is installed,
# refit's drop-in holds CONTENT, no other file in /etc gives the keys other values, and
# systemd-journal-upload.service starts at boot.
refit_journal_upload() {
	refit_u=systemd-journal-upload.service refit_inst=
	if ! refit_pkg_installed systemd-journal-remote; then
		[ "$1" = fix ] || refit_detail "systemd-journal-remote is not installed" || return 1
		refit_pkg_install systemd-journal-remote || return 1
		refit_inst="installed systemd-journal-remote, "
	fi
	refit_unit_exists "$refit_u" || refit_detail "systemd-journal-remote is installed but $refit_u is missing" || return 1
	refit_conflicts=
	for refit_f in $(refit_upload_others); do
		refit_c=$(awk -v url="$3" -v key="$4" -v cert="$5" -v trust="$6" "$REFIT_AWK_UPLOAD" "$refit_f") || return 3
		[ -n "$refit_c" ] || continue
		if [ "$1" = fix ]; then
			refit_filter "$refit_f" "$REFIT_AWK_UPLOAD" -v url="$3" -v key="$4" -v cert="$5" -v trust="$6" -v fix=1 || return 1
		fi
		refit_conflicts="$refit_conflicts $(printf '%s' "$refit_c" | tr '\n' ' ')"
	done
	# the package also brings the receiver (systemd-journal-remote, port 19532): a client does not
	# run it (CIS Debian 12 6.1.2.1.4), unless the image enables it, being a log server itself
	refit_receiver=
	if [ "$(systemctl is-enabled systemd-journal-remote.socket 2>/dev/null)" != enabled ]; then
		for refit_r in systemd-journal-remote.socket systemd-journal-remote.service; do
			refit_unit_masked "$refit_r" || refit_receiver="$refit_receiver $refit_r"
		done
	fi
	if [ "$1" != fix ]; then
		refit_file_is "$REFIT_UPLOAD_DROPIN" 0644 root:root "$2" || return 1
		[ -z "$refit_conflicts" ] || refit_detail "other values of the upload settings:$refit_conflicts" || return 1
		refit_unit_enabled "$refit_u" || refit_detail "$refit_u is not enabled" || return 1
		[ -z "$refit_receiver" ] || refit_detail "the log receiver is not masked:$refit_receiver" || return 1
		return 0
	fi
	refit_put "$REFIT_UPLOAD_DROPIN" 0644 root:root "$2" || return 1
	refit_unit_enabled "$refit_u" || refit_unit_enable "$refit_u" || return 1
	for refit_r in $refit_receiver; do
		refit_unit_mask "$refit_r" || return 1
	done
	REFIT_UPLOAD_DIRTY=1
	REFIT_DETAIL="${refit_inst}wrote $REFIT_UPLOAD_DROPIN (URL=$3), enabled $refit_u"
	[ -z "$refit_receiver" ] || REFIT_DETAIL="$REFIT_DETAIL, masked$refit_receiver"
	[ -z "$refit_conflicts" ] || REFIT_DETAIL="$REFIT_DETAIL; commented out:$refit_conflicts"
	return 0
}

# ---- root's mail alias ---------------------------------------------------------------------

# awk program: the root: lines of /etc/aliases (any case, quoted or not) with their continuation
# lines; with fix=1 it prints the file with one "want" line in place of the first and without the
# others (or with want appended), else its exit status says whether want is the only one.
REFIT_AWK_ROOT_ALIAS='
{
	if (cont && $0 ~ /^[ \t]/ && $0 !~ /^[ \t]*$/) { bad = 1; next }
	cont = 0
	l = tolower($0)
	if (l ~ /^("root"|root)[ \t]*:/) {
		n++; cont = 1
		if ($0 != want) bad = 1
		if (fix && !done) { print want; done = 1 }
		next
	}
	if (fix) print
}
END {
	if (fix && !done) print want
	if (!fix) exit !(n == 1 && !bad)
}'

# refit_alias_db_stale: the mail system keeps an alias database older than /etc/aliases.
refit_alias_db_stale() {
	refit_has newaliases || return 1
	for refit_db in /etc/aliases.db /etc/aliases.lmdb /etc/aliases.cdb; do
		[ -f "$refit_db" ] && [ -n "$(find /etc/aliases -newer "$refit_db" 2>/dev/null)" ] && return 0
	done
	return 1
}

# refit_root_alias check|fix ALIAS: "root: ALIAS" is the only root line of /etc/aliases, and the
# alias database (where there is one) follows.
refit_root_alias() {
	refit_want="root: $2"
	if [ "$1" != fix ]; then
		[ -f /etc/aliases ] || refit_detail "/etc/aliases is missing" || return 1
		awk -v want="$refit_want" "$REFIT_AWK_ROOT_ALIAS" /etc/aliases || refit_detail "/etc/aliases lacks \"$refit_want\" as its only root line" || return 1
		! refit_alias_db_stale || refit_detail "the alias database is older than /etc/aliases (newaliases)" || return 1
		return 0
	fi
	if [ -f /etc/aliases ]; then
		refit_filter /etc/aliases "$REFIT_AWK_ROOT_ALIAS" -v want="$refit_want" -v fix=1 || return 1
	else
		refit_put /etc/aliases 0644 root:root "$refit_want$REFIT_NL" || return 1
	fi
	REFIT_DETAIL="\"$refit_want\" in /etc/aliases"
	if refit_has newaliases; then
		refit_run newaliases || return 1
		REFIT_DETAIL="$REFIT_DETAIL; ran newaliases"
	fi
	return 0
}
