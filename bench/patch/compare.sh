#!/usr/bin/env bash
# The refit-patch benchmark of issue 5: bring the same Debian 12 image up to date three ways,
# from one local signed APT mirror served on this host, check that all three end with the
# same installed versions, and print the times and ratios.
#
#   (a) refit-patch: offline, the image's own dpkg in a chroot (go run ./bench/patch patch)
#   (b) virt-customize --network --update (libguestfs appliance, qemu TCG)
#   (c) boot the image (qemu TCG), wait for SSH, apt-get update && apt-get -y upgrade, power off
#
# The workload is refit-patch's default, "apt upgrade": apt-get upgrade --with-new-pkgs
# --no-install-recommends, so a kernel update (a new linux-image ABI package) is included;
# (b) and (c) get the same through APT::Get::Upgrade-Allow-New. The .debs and mkinitramfs's
# work tree go to tmpfs mounts in (b) and (c) (the image has about 720 MiB free; refit-patch
# keeps them outside the image too). At the end it prints the three output images' sizes,
# (b)'s also after virt-sparsify, as users run it.
#
#   sudo bench/patch/compare.sh          (README.md next to this file says how to read it)
#
# ARCH=arm64 (bench/arm64/run.sh) runs it on the arm64 UEFI image instead: (a) runs the image's
# own arm64 dpkg and scripts under qemu-user (binfmt_misc), (c) boots qemu-system-aarch64 -M virt
# with AAVMF; (b) is left out (the libguestfs appliance runs the host's architecture).
#
# Needs root, Go, qemu-img, qemu-system-x86_64, libguestfs-tools (virt-customize), apt-utils
# (apt-ftparchive), gpg, openssh-client, dpkg-query, and this machine's Debian apt sources
# for the -updates and -security suites (read from /etc/apt, never written here). The image
# is internal/fixture's DebianImage (built once, about 4 minutes, then cached).
# Everything it starts (HTTP server, qemu, gpg-agent) and its work directory are removed on
# exit, Ctrl-C included; REFIT_BENCH_LOGS=DIR keeps the logs, plans and version lists there.
set -euo pipefail

die() { echo "compare.sh: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "needs root (loop devices, mounts, chroot): run it with sudo"
arch=${ARCH:-$(dpkg --print-architecture)}
case $arch in
amd64)
	qemu=(qemu-system-x86_64 -accel tcg)
	contenders="refit virt vm"
	;;
arm64)
	qemu=(qemu-system-aarch64 -M virt -cpu max -accel tcg
		-drive if=pflash,format=raw,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd)
	contenders="refit vm"
	[[ -r /usr/share/AAVMF/AAVMF_VARS.fd ]] || die "needs /usr/share/AAVMF (apt-get install qemu-efi-aarch64)"
	;;
*) die "ARCH=$arch: no boot set-up for that architecture (amd64 or arm64)" ;;
esac
tools="go qemu-img ${qemu[0]} apt-get apt-ftparchive gpg gpgv gpgconf ssh ssh-keygen dpkg-query awk"
[[ $contenders != *virt* ]] || tools="$tools virt-customize virt-sparsify"
for tool in $tools; do
	command -v "$tool" >/dev/null || die "needs $tool on PATH (apt-get install golang qemu-utils qemu-system-x86 qemu-system-arm libguestfs-tools apt-utils gpg openssh-client)"
done
cd "$(dirname "$0")/../.."

work=$(mktemp -d "${TMPDIR:-/var/tmp}/refit-bench-patch.XXXXXX")
serve_pid=
qemu_pid=
gnupg=
cleanup() {
	set +e
	if [[ -n ${REFIT_BENCH_LOGS:-} ]] && mkdir -p "$REFIT_BENCH_LOGS"; then
		cp "$work"/*.log "$work"/*.versions "$work"/*.txt "$work"/*.out "$REFIT_BENCH_LOGS"/ 2>/dev/null
	fi
	if [[ -n $qemu_pid ]]; then kill "$qemu_pid" 2>/dev/null; wait "$qemu_pid" 2>/dev/null; fi
	if [[ -n $serve_pid ]]; then kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null; fi
	if [[ -n $gnupg ]]; then gpgconf --homedir "$gnupg" --kill all 2>/dev/null; rm -rf "$gnupg"; fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "compare.sh: interrupted; cleaning up" >&2; exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# fail_with_log LOG MESSAGE: the message, then the end of the log, then exit.
fail_with_log() {
	echo "compare.sh: $2 (last lines of $(basename "$1")):" >&2
	tail -n 40 "$1" >&2
	exit 1
}
# fetched: how many .deb files the mirror served since line $1 of its request log.
fetched() { tail -n +"$(($1 + 1))" "$work/http.log" | awk '$1 == "GET" && $2 ~ /\.deb$/ && $3 == 200' | wc -l; }
requests() { wc -l <"$work/http.log"; }

suite=refit-bench
echo "== machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (shared: other jobs change the figures)"

echo "== set-up (not timed)"
go build -o "$work/bench" ./bench/patch
fixture=$("$work/bench" image -arch "$arch")
# One uncompressed qcow2 is the starting point of all three (the cached fixture is compressed).
qemu-img convert -O qcow2 "$fixture" "$work/base.qcow2"
mkdir -p "$work/apt"/{conf.d,sources.list.d,preferences.d,state/lists/partial,cache,archives/partial,log} "$work/mirror/pool"
"$work/bench" versions -dpkg-status "$work/apt/status" "$work/base.qcow2" >"$work/base.versions"
echo "   image: $fixture ($(wc -l <"$work/base.versions") packages)"

# The mirror holds exactly what apt-get upgrade needs for this image: this host's apt, isolated
# from the host's configuration and state by APT_CONFIG, computes the upgrade of the image's
# dpkg status against this machine's -updates and -security suites and downloads it.
"$work/bench" update-sources >"$work/apt/sources.list"
touch "$work/apt/apt.conf.main"
cat >"$work/apt/apt.conf" <<EOF
Dir::Etc::Parts "$work/apt/conf.d";
Dir::Etc::Main "$work/apt/apt.conf.main";
Dir::Etc::SourceList "$work/apt/sources.list";
Dir::Etc::SourceParts "$work/apt/sources.list.d";
Dir::Etc::Preferences "$work/apt/preferences";
Dir::Etc::PreferencesParts "$work/apt/preferences.d";
Dir::State "$work/apt/state";
Dir::State::status "$work/apt/status";
Dir::Cache "$work/apt/cache";
Dir::Cache::archives "$work/apt/archives/";
Dir::Log "$work/apt/log";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::Retries "3";
Acquire::Check-Valid-Until "false";
EOF
host_apt() { APT_CONFIG="$work/apt/apt.conf" apt-get -q "$@"; }
host_apt update >"$work/mirror-apt.log" 2>&1 || fail_with_log "$work/mirror-apt.log" "apt-get update against this machine's -updates/-security sources failed"
host_apt -s upgrade --with-new-pkgs --no-install-recommends >"$work/upgrade-plan.txt" 2>&1 || fail_with_log "$work/upgrade-plan.txt" "apt-get -s upgrade on the image's package set failed"
planned=$(grep -c '^Inst ' "$work/upgrade-plan.txt" || true)
[[ $planned -gt 0 ]] || die "apt-get upgrade has nothing to do for this image: no ratio can be measured"
host_apt -y -d upgrade --with-new-pkgs --no-install-recommends >>"$work/mirror-apt.log" 2>&1 || fail_with_log "$work/mirror-apt.log" "downloading the upgrade failed"
mv "$work/apt/archives/"*.deb "$work/mirror/pool/"
kept=$(awk '/kept back:/ { on = 1; next } on && /^  / { sub(/^ +/, ""); printf " %s", $0; next } { on = 0 }' "$work/upgrade-plan.txt")
echo "   upgrade: $planned packages, $(du -sh "$work/mirror/pool" | cut -f1) of .debs${kept:+; kept back by apt-get upgrade (not in the mirror):$kept}"

# Publish them as a signed repository: suite $suite, component main, a throw-away ed25519 key.
dists=$work/mirror/dists/$suite
mkdir -p "$dists/main/binary-$arch"
(cd "$work/mirror" && apt-ftparchive packages pool) >"$dists/main/binary-$arch/Packages"
gzip -9nk "$dists/main/binary-$arch/Packages"
apt-ftparchive -o APT::FTPArchive::Release::Origin=$suite -o APT::FTPArchive::Release::Label=$suite \
	-o APT::FTPArchive::Release::Suite=$suite -o APT::FTPArchive::Release::Codename=$suite \
	-o APT::FTPArchive::Release::Architectures="$arch" -o APT::FTPArchive::Release::Components=main \
	release "$dists" >"$work/Release"
mv "$work/Release" "$dists/Release"
# A short GnuPG home whatever TMPDIR is: gpg-agent's socket path has at most 108 bytes.
gnupg=$(mktemp -d /tmp/refit-gpg.XXXXXX)
export GNUPGHOME=$gnupg
gpg_q() { gpg --batch --quiet --yes --pinentry-mode loopback --passphrase '' "$@"; }
gpg_q --quick-gen-key "refit-patch benchmark mirror (throw-away key)" ed25519 sign 1d 2>/dev/null
gpg_q --export >"$work/mirror-key.gpg"
gpg_q --clearsign -o "$dists/InRelease" "$dists/Release"
gpg_q --detach-sign -o "$dists/Release.gpg" "$dists/Release"
gpgv --quiet --keyring "$work/mirror-key.gpg" "$dists/InRelease" 2>/dev/null || die "the mirror's InRelease does not verify with its own key"

"$work/bench" serve -dir "$work/mirror" -port-file "$work/port" -log "$work/http.log" &
serve_pid=$!
for _ in $(seq 1 100); do [[ -s $work/port ]] && break; sleep 0.1; done
[[ -s $work/port ]] || die "the mirror's HTTP server did not start"
port=$(cat "$work/port")
touch "$work/http.log"
echo "   mirror: http://127.0.0.1:$port (10.0.2.2:$port from a qemu guest, 169.254.2.2:$port from the libguestfs appliance)"
# The line a guest's apt uses; the key is installed at the same path in (b) and (c).
guest_line() { echo "deb [signed-by=/etc/apt/keyrings/$suite.gpg] http://$1:$port $suite main"; }
remove_other_sources='rm -f /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources'
# apt-get upgrade as refit-patch's default (apt upgrade): new packages an upgrade needs (the
# kernel's ABI package), no recommends. Written before and removed after the upgrade in (b), (c).
upgrade_conf=/etc/apt/apt.conf.d/99refit-bench
upgrade_conf_text='APT::Get::Upgrade-Allow-New "true"; APT::Install-Recommends "false";'
# The .debs and mkinitramfs's work tree (TMPDIR defaults to /var/tmp) on tmpfs: the image's
# 720 MiB free do not hold them beside a new kernel.
tmpfs_mounts='mount -t tmpfs -o size=1200M tmpfs /var/cache/apt/archives && mkdir -p /var/cache/apt/archives/partial && mount -t tmpfs -o size=1200M tmpfs /var/tmp'

echo "== (a) refit-patch: offline, the image's own dpkg in a chroot"
mark=$(requests)
start=$(now)
"$work/bench" patch -image "$work/base.qcow2" -output "$work/refit.qcow2" -repo "http://127.0.0.1:$port" \
	-suite "$suite" -gpg-key "$work/mirror-key.gpg" >"$work/refit.out" 2>"$work/refit.log" ||
	fail_with_log "$work/refit.log" "refit-patch failed"
t_refit=$(since "$start")
debs_refit=$(fetched "$mark")
echo "   $t_refit s: $(sed 's/^refit-patch: [0-9.]* s; //' "$work/refit.out")"

t_virt= debs_virt=
if [[ $contenders == *virt* ]]; then
echo "== (b) virt-customize --network --update (libguestfs appliance, TCG, 2 vCPUs like (c))"
cp --sparse=always "$work/base.qcow2" "$work/virt.qcow2"
mark=$(requests)
start=$(now)
LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg \
	virt-customize --format qcow2 -a "$work/virt.qcow2" --smp 2 --memsize 2048 --network \
	--run-command "$remove_other_sources" --run-command "$tmpfs_mounts" \
	--mkdir /etc/apt/keyrings --upload "$work/mirror-key.gpg:/etc/apt/keyrings/$suite.gpg" \
	--write "/etc/apt/sources.list:$(guest_line 169.254.2.2)" \
	--write "$upgrade_conf:$upgrade_conf_text" \
	--update --delete "$upgrade_conf" >"$work/virt.log" 2>&1 ||
	fail_with_log "$work/virt.log" "virt-customize failed (run again with LIBGUESTFS_DEBUG=1 LIBGUESTFS_TRACE=1 for the appliance's log)"
t_virt=$(since "$start")
debs_virt=$(fetched "$mark")
echo "   $t_virt s"
fi

echo "== (c) boot (qemu TCG, 2 vCPUs, 2 GiB), apt-get update && apt-get -y upgrade over SSH, power off"
ssh-keygen -q -t ed25519 -N '' -C refit-bench -f "$work/id_ed25519"
"$work/bench" authorize -key "$work/id_ed25519.pub" "$work/base.qcow2" "$work/vm.qcow2"
ssh_port=$("$work/bench" free-port)
vm_ssh() {
	ssh -i "$work/id_ed25519" -p "$ssh_port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o ConnectTimeout=10 -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR root@127.0.0.1 "$@"
}
mark=$(requests)
start=$(now)
[[ $arch == amd64 ]] || { cp /usr/share/AAVMF/AAVMF_VARS.fd "$work/efivars.fd"; qemu+=(-drive "if=pflash,format=raw,file=$work/efivars.fd"); }
"${qemu[@]}" -m 2048 -smp 2 -nographic -drive "file=$work/vm.qcow2,if=virtio,format=qcow2" \
	-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$ssh_port-:22" -device virtio-net-pci,netdev=n0 \
	-serial "file:$work/serial.log" -monitor none -display none >"$work/qemu.log" 2>&1 &
qemu_pid=$!
until vm_ssh true 2>/dev/null; do
	kill -0 "$qemu_pid" 2>/dev/null || fail_with_log "$work/serial.log" "qemu ended before SSH answered"
	[[ $(since "$start" | cut -d. -f1) -lt 1800 ]] || fail_with_log "$work/serial.log" "no SSH login within 30 minutes"
	sleep 1
done
t_boot=$(since "$start")
upgrade_start=$(now)
vm_ssh "set -e; mkdir -p /etc/apt/keyrings; cat >/etc/apt/keyrings/$suite.gpg; $remove_other_sources; $tmpfs_mounts
	echo '$(guest_line 10.0.2.2)' >/etc/apt/sources.list
	echo '$upgrade_conf_text' >$upgrade_conf
	export DEBIAN_FRONTEND=noninteractive
	apt-get -q update
	apt-get -q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade
	rm $upgrade_conf" \
	<"$work/mirror-key.gpg" >"$work/vm-apt.log" 2>&1 || fail_with_log "$work/vm-apt.log" "apt-get in the booted VM failed"
t_upgrade=$(since "$upgrade_start")
shutdown_start=$(now)
vm_ssh systemctl poweroff >/dev/null 2>&1 || true # the connection may drop before ssh returns
while kill -0 "$qemu_pid" 2>/dev/null; do
	[[ $(since "$shutdown_start" | cut -d. -f1) -lt 300 ]] || fail_with_log "$work/serial.log" "the VM did not power off within 5 minutes"
	sleep 0.2
done
wait "$qemu_pid" || fail_with_log "$work/qemu.log" "qemu failed"
qemu_pid=
t_vm=$(since "$start")
t_shutdown=$(since "$shutdown_start")
debs_vm=$(fetched "$mark")
echo "   $t_vm s (boot to SSH $t_boot s, apt-get $t_upgrade s, power-off $t_shutdown s)"

echo "== correctness: the installed versions of the three results (dpkg-query on each image)"
for c in $contenders; do "$work/bench" versions "$work/$c.qcow2" >"$work/$c.versions"; done
changed=$(diff "$work/base.versions" "$work/refit.versions" | grep -c '^>' || true)
same=yes
for c in ${contenders#refit }; do
	if ! cmp -s "$work/refit.versions" "$work/$c.versions"; then
		same=no
		echo "   refit-patch and $c differ (name:arch version dpkg-status):"
		diff -u --label refit-patch --label "$c" "$work/refit.versions" "$work/$c.versions" | sed 's/^/   /' || true
	fi
done
not_installed=$(for c in $contenders; do awk '$3 != "ii"' "$work/$c.versions"; done | sort -u)
[[ -z $not_installed ]] || { same=no; echo "   packages not fully installed (dpkg status other than ii):"; echo "$not_installed" | sed 's/^/   /'; }
[[ $same == yes ]] || die "the results differ: no ratios (they would compare different work)"
[[ $changed -gt 0 ]] || die "no package changed in any result: no ratios (nothing was upgraded)"
echo "   identical: $(wc -l <"$work/refit.versions") packages each, $changed of them upgraded ($planned planned)"

echo "== result (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }'; }
printf '   %-52s %9s %6s %14s\n' contender seconds .debs "vs refit-patch"
printf '   %-52s %9s %6s %14s\n' "(a) refit-patch" "$t_refit" "$debs_refit" "1.0x"
[[ -z $t_virt ]] || printf '   %-52s %9s %6s %14s\n' "(b) virt-customize --network --update" "$t_virt" "$debs_virt" "$(ratio "$t_virt" "$t_refit")"
printf '   %-52s %9s %6s %14s\n' "(c) boot + apt-get update/upgrade + power-off" "$t_vm" "$debs_vm" "$(ratio "$t_vm" "$t_refit")"
aim() { awk -v r="$(awk -v a="$1" -v b="$t_refit" 'BEGIN { print a / b }')" -v want="$2" 'BEGIN { print (r >= want ? "met" : "NOT met") }'; }
[[ -z $t_virt ]] || echo "   aims of issue 5: >= 5x vs virt-customize: $(aim "$t_virt" 5); >= 10x vs boot + apt-get: $(aim "$t_vm" 10)"

echo "== output images: bytes allocated on this host (du), virtual size (qemu-img info); not timed"
if [[ -n $t_virt ]]; then
sparsify_start=$(now)
LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg \
	virt-sparsify --format qcow2 --convert qcow2 "$work/virt.qcow2" "$work/virt-sparsified.qcow2" >"$work/sparsify.log" 2>&1 ||
	fail_with_log "$work/sparsify.log" "virt-sparsify failed"
t_sparsify=$(since "$sparsify_start")
fi
mib() { awk -v b="$1" 'BEGIN { printf "%.0f MiB", b / 1048576 }'; }
size_row() {
	local virtual
	virtual=$(qemu-img info --output=json "$2" | awk -F'[:,]' '/"virtual-size"/ { gsub(/ /, "", $2); print $2; exit }')
	printf '   %-52s %12s %12s\n' "$1" "$(mib "$(du -B1 "$2" | cut -f1)")" "$(mib "$virtual")"
}
printf '   %-52s %12s %12s\n' image "on disk" virtual
size_row "input (the same for all three)" "$work/base.qcow2"
size_row "(a) refit-patch" "$work/refit.qcow2"
if [[ -n $t_virt ]]; then
	size_row "(b) virt-customize --update" "$work/virt.qcow2"
	size_row "(b) then virt-sparsify ($t_sparsify s)" "$work/virt-sparsified.qcow2"
fi
size_row "(c) boot + apt-get upgrade" "$work/vm.qcow2"
