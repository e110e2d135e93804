#!/bin/bash
# compare.sh: refit-harden against dev-sec's hardening roles, judged by OpenSCAP (SCAP Security
# Guide, Debian 12: CIS L1/L2 server, ANSSI BP-028 intermediary/high, standard) and Lynis.
#
# It builds (once, cached) the judge's reference Debian 12 root, hardens copies of it offline in a
# chroot with refit-harden and, when the collection is available, with dev-sec's os_hardening +
# ssh_hardening through Ansible's chroot connection, scores every copy with the judge, and prints
# the figures side by side with the time each hardening took. Run as root from anywhere:
#
#   bench/harden/compare.sh                 # pristine, refit-harden, dev-sec (if available)
#   DEVSEC_COLLECTIONS=/path bench/harden/compare.sh
#
# Environment:
#   JUDGE_DIR           the judge (score.sh, README.md); default: ../shared/judge beside the checkout
#   DEVSEC_COLLECTIONS  holds ansible_collections/devsec/hardening (10.6.0); without it the dev-sec
#                       column shows the judge README's reference figures
#   CONFIG              refit-harden configuration (JSON hardening.Config); default: config.json here
#   REFIT_CACHE         cache folder (default ~/.cache/packer-plugin-refit)
#   KEEP=1              keep the hardened roots and the judge's output
# The apt mirror comes from this machine's apt configuration (testdata/mkroot.sh --sources).
set -euo pipefail
HERE=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
REPO=$(realpath "$HERE/../..")
JUDGE_DIR=$(realpath -m "${JUDGE_DIR:-$REPO/../shared/judge}")
CONFIG=${CONFIG:-$HERE/config.json}
CACHE=${REFIT_CACHE:-$HOME/.cache/packer-plugin-refit}/bench-harden
MKROOT=$REPO/internal/hardening/testdata/mkroot.sh
# The judge README's reference image: debootstrap variant plus these packages.
PACKAGES=openssh-server,systemd,systemd-sysv,systemd-timesyncd,sudo,nftables,iptables,python3,ca-certificates,apparmor,linux-image-amd64,grub-pc,initramfs-tools

[ "$(id -u)" = 0 ] || { echo "compare.sh: run as root (chroot, mmdebstrap, the judge)" >&2; exit 2; }
[ -x "$JUDGE_DIR/score.sh" ] || { echo "compare.sh: no judge at $JUDGE_DIR (set JUDGE_DIR)" >&2; exit 2; }
for tool in mmdebstrap go python3 chroot bc /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "compare.sh: $tool is missing" >&2; exit 2; }
done

mkdir -p "$CACHE"
key=$( { cat "$MKROOT"; echo "$PACKAGES"; "$MKROOT" --sources; } | sha256sum | cut -c1-16)
TARBALL=$CACHE/judge-root-$key.tar
if [ ! -s "$TARBALL" ]; then
    echo "== building the reference root (mmdebstrap, a few minutes; cached in $CACHE)"
    "$MKROOT" "$TARBALL.tmp" debootstrap "$PACKAGES" >"$CACHE/judge-root-$key.log" 2>&1 ||
        { tail -20 "$CACHE/judge-root-$key.log" >&2; exit 1; }
    mv "$TARBALL.tmp" "$TARBALL"
fi

WORK=$(mktemp -d -t refit-harden-bench.XXXXXX)
if [ "${KEEP:-}" != 1 ]; then trap 'rm -rf "$WORK"' EXIT; fi
echo "== work folder $WORK"

# extract NAME: a fresh copy of the reference root, with the device nodes sshd needs for Lynis
extract() {
    mkdir -p "$WORK/$1"
    tar -C "$WORK/$1" --numeric-owner --xattrs --acls -xpf "$TARBALL"
    mkdir -p "$WORK/$1/dev"
    cp -a /dev/null /dev/zero /dev/random /dev/urandom /dev/tty "$WORK/$1/dev/"
}

(cd "$REPO" && go run ./bench/harden/render -config "$CONFIG" -o "$WORK/refit-harden.sh")

declare -A TIME CPU
# timed NAME COMMAND...: wall-clock and CPU seconds (user + system, children included) of COMMAND
timed() {
    local name=$1; shift
    /usr/bin/time -f '%e %U %S' -o "$WORK/time-$name" "$@" || true
    read -r wall user sys < <(tail -n 1 "$WORK/time-$name")
    TIME[$name]=$wall
    CPU[$name]=$(echo "$user + $sys" | bc)
}
extract pristine

extract refit
cp "$WORK/refit-harden.sh" "$WORK/refit/tmp/refit-harden.sh"
echo "== refit-harden (offline, in a chroot)"
timed refit sh -c "chroot '$WORK/refit' /bin/sh /tmp/refit-harden.sh >'$WORK/refit-run1.out' 2>'$WORK/refit-run1.err'"
timed refit2 sh -c "chroot '$WORK/refit' /bin/sh /tmp/refit-harden.sh >'$WORK/refit-run2.out' 2>'$WORK/refit-run2.err'"
rm -f "$WORK/refit/tmp/refit-harden.sh"
echo "   first run:  $(tail -n 1 "$WORK/refit-run1.out" | tr '\t' ' ') in ${TIME[refit]} s (${CPU[refit]} s CPU)"
echo "   second run: $(tail -n 1 "$WORK/refit-run2.out" | tr '\t' ' ') in ${TIME[refit2]} s (${CPU[refit2]} s CPU)"
grep -P '^REFIT-RULE\t[^\t]+\tfailed' "$WORK/refit-run1.out" || true

DEVSEC=reference
if [ -n "${DEVSEC_COLLECTIONS:-}" ] && [ -f "$DEVSEC_COLLECTIONS/ansible_collections/devsec/hardening/galaxy.yml" ] &&
    command -v ansible-playbook >/dev/null; then
    DEVSEC=measured
    extract devsec
    echo "== dev-sec os_hardening + ssh_hardening (Ansible chroot connection)"
    timed devsec env DEVSEC_LOGDIR="$WORK" "$JUDGE_DIR/devsec/harden-devsec.sh" "$WORK/devsec" >"$WORK/devsec-run.out" 2>&1
    grep -q 'harden-devsec: rc=0' "$WORK/devsec-run.out" ||
        { tail -20 "$WORK/devsec-run.out"; echo "compare.sh: dev-sec's run failed" >&2; }
    grep -E '^harden-devsec:|ansible-playbook rc=' "$WORK/devsec-run.out" || true
fi

roots=(pristine refit)
[ "$DEVSEC" != measured ] || roots+=(devsec)
for r in "${roots[@]}"; do
    echo "== judging $r"
    "$JUDGE_DIR/score.sh" "$WORK/$r" "$WORK/score-$r" | tee "$WORK/score-$r.txt"
done

echo "== load average while hardening: $(cut -d' ' -f1-3 /proc/loadavg) (the timings are only comparable on an otherwise idle machine)"
python3 "$HERE/summarize.py" "$WORK" "$DEVSEC" "$JUDGE_DIR/README.md" "${TIME[refit]} ${CPU[refit]}" "${TIME[refit2]} ${CPU[refit2]}" "${TIME[devsec]:-} ${CPU[devsec]:-}"
