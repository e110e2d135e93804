#!/bin/bash
# Builds the refit RPM lab into OUT (which must not exist yet) from the files beside this script:
#   rpms/<dest>/*.rpm        every package of packages.txt (reproducible: SOURCE_DATE_EPOCH, fixed buildhost)
#   repos/{base,updates,pinned}/   createrepo_c repositories (gz+sqlite, xz and gz metadata); updates also has
#                            updateinfo.xml (from updateinfo.xml.in), modules.yaml and a signed repomd.xml
#   root/                    an image root: rpmdb (sqlite) at var/lib/rpm holding rpms/installed, and rootskel/
#   keys/RPM-GPG-KEY-refit-test(.secret)   the throwaway key that signed repos/updates/repodata/repomd.xml
#   rpms/variants/signed/    demo-lib 1.1-1 with an RPM header signature by that key
#   home/.rpmmacros          %_dbpath /var/lib/rpm (Debian's rpm keeps its db in ~/.rpmdb otherwise)
# Usage: build.sh OUT    (needs rpmbuild, rpm, createrepo_c, modifyrepo_c, gpg, rpmsign, gcc; JOBS=4 rpmbuilds at once)
set -euo pipefail
SRC=$(cd "$(dirname "$0")" && pwd)
EPOCH=1704067200                        # 2024-01-01T00:00:00Z
export SOURCE_DATE_EPOCH=$EPOCH LC_ALL=C TZ=UTC

if [ "${1:-}" = --one ]; then  # build.sh --one OUT N DESTS SPEC TARGET [DEFINE...]: one line of packages.txt
  OUT=$2 n=$3 dests=$4 spec=$5 target=$6; shift 6
  top=$OUT/rpmbuild/$n
  args=()
  for d in "$@"; do args+=(--define "${d%%=*} ${d#*=}"); done
  [ "$target" = - ] || args+=(--target "$target")
  rpmbuild --quiet \
    --define "_topdir $top" \
    --define "_buildhost rpmlab.example.invalid" \
    --define "use_source_date_epoch_as_buildtime 1" \
    --define "clamp_mtime_to_source_date_epoch 1" \
    --define "_build_id_links none" \
    --define "_smp_build_nthreads 1" \
    "${args[@]}" -bb "$SRC/specs/$spec" >/dev/null ||
    { echo "build.sh: rpmbuild $spec $* failed" >&2; exit 1; }
  rpm=$(find "$top/RPMS" -name '*.rpm')
  [ "$(echo "$rpm" | wc -l)" = 1 ] || { echo "build.sh: $spec $* made not exactly one rpm: $rpm" >&2; exit 1; }
  first=
  for dest in ${dests//,/ }; do
    mkdir -p "$OUT/rpms/$dest"
    if [ -z "$first" ]; then mv "$rpm" "$OUT/rpms/$dest/"; first=$OUT/rpms/$dest/$(basename "$rpm")
    else ln "$first" "$OUT/rpms/$dest/"; fi
  done
  rm -rf "$top"
  exit 0
fi

OUT=${1:?usage: build.sh OUT}
[ ! -e "$OUT" ] || { echo "build.sh: $OUT exists; give a new directory" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export HOME=$OUT/home
mkdir -p "$HOME"
echo '%_dbpath /var/lib/rpm' > "$HOME/.rpmmacros"
# A short GnuPG home: gpg-agent puts its socket there unless /run/user/<uid> exists (a login session
# makes it, a fresh CI machine has none), and a socket path has at most 108 bytes; $OUT can be longer.
export GNUPGHOME=
TOP=$OUT/rpmbuild
cleanup() {
  # gpg starts an agent for the key; stop it (and any other GnuPG daemon) so nothing outlives the build
  if [ -n "$GNUPGHOME" ]; then gpgconf --homedir "$GNUPGHOME" --kill all 2>/dev/null || true; rm -rf "$GNUPGHOME"; fi
  rm -rf "$TOP"
}
trap cleanup EXIT
GNUPGHOME=$(mktemp -d /tmp/refit-gpg.XXXXXX)

echo "==> packages"
# One rpmbuild per line of packages.txt, JOBS at a time (each in its own _topdir): build.sh --one runs a line.
# Each rpmbuild packages with a single thread: its OpenMP threads spin and crawl on a busy machine.
grep -v -e '^#' -e '^[[:space:]]*$' "$SRC/packages.txt" | nl -ba -w1 |
  xargs -L1 -P "${JOBS:-4}" "$SRC/build.sh" --one "$OUT" ||
  { echo "build.sh: building the packages failed" >&2; exit 1; }
(cd "$OUT/rpms" && find . -name '*.rpm' | sort)

echo "==> signing key"
gpg --batch --quiet --no-tty --passphrase "" --quick-gen-key 'refit test repository <rpmlab@example.invalid>' ed25519 sign never
mkdir -p "$OUT/keys"
gpg --batch --armor --export > "$OUT/keys/RPM-GPG-KEY-refit-test"
gpg --batch --armor --export-secret-keys > "$OUT/keys/RPM-GPG-KEY-refit-test.secret"
keyid=$(gpg --batch --with-colons --list-keys | awk -F: '$1=="pub"{print $5; exit}')
mkdir -p "$OUT/rpms/variants/signed"
cp "$OUT"/rpms/updates/demo-lib-1.1-1.x86_64.rpm "$OUT/rpms/variants/signed/"
rpmsign --addsign --define "_gpg_name $keyid" --define "_gpg_path $GNUPGHOME" --define "__gpg $(command -v gpg)" \
  "$OUT"/rpms/variants/signed/demo-lib-1.1-1.x86_64.rpm >/dev/null

echo "==> repositories"
pin_timestamps() { sed -i -E "s|<timestamp>[0-9]+</timestamp>|<timestamp>$EPOCH</timestamp>|" "$1/repodata/repomd.xml"; }
mkrepo() {  # mkrepo NAME COMPRESSION [createrepo_c options]
  local name=$1 comp=$2; shift 2
  local r=$OUT/repos/$name
  mkdir -p "$r/Packages"
  ln "$OUT"/rpms/"$name"/*.rpm "$r/Packages/"
  touch -d "@$EPOCH" "$r"/Packages/*.rpm    # <time file=...> in primary.xml is the file mtime
  createrepo_c --quiet --revision "$EPOCH" --set-timestamp-to-revision --checksum sha256 \
    --general-compress-type="$comp" "$@" "$r"
}
mkrepo base gz
mkrepo updates xz --no-database
mkrepo pinned gz --no-database
up=$OUT/repos/updates
work=$OUT/repos/.metadata
mkdir -p "$work"
sed_args=()
for f in "$up"/Packages/*.rpm; do
  sed_args+=(-e "s|@SUM:$(basename "$f")@|$(sha256sum "$f" | cut -d' ' -f1)|")
done
sed "${sed_args[@]}" "$SRC/updateinfo.xml.in" > "$work/updateinfo.xml"
if grep -q '@SUM:' "$work/updateinfo.xml"; then
  echo "build.sh: updateinfo.xml.in names a package file that is not in updates:" >&2
  grep -o '@SUM:[^@]*@' "$work/updateinfo.xml" >&2; exit 1
fi
cp "$SRC/modules.yaml" "$work/modules.yaml"
touch -d "@$EPOCH" "$work"/*
modifyrepo_c --mdtype=updateinfo --compress-type=xz "$work/updateinfo.xml" "$up/repodata" >/dev/null
modifyrepo_c --mdtype=modules --compress-type=xz "$work/modules.yaml" "$up/repodata" >/dev/null
rm -rf "$work"
for r in base updates pinned; do pin_timestamps "$OUT/repos/$r"; done
gpg --batch --yes --armor --detach-sign -o "$up/repodata/repomd.xml.asc" "$up/repodata/repomd.xml"
gpg --batch --verify "$up/repodata/repomd.xml.asc" "$up/repodata/repomd.xml" 2>/dev/null

echo "==> image root"
R=$OUT/root
mkdir -p "$R"
cp -a "$SRC/rootskel/." "$R/"
ln -s redhat-release "$R/etc/system-release"
rpm --root "$R" --dbpath /var/lib/rpm --initdb
# file owners such as demosvc do not exist in the root: rpm warns and uses root, which is fine here
rpm --root "$R" --dbpath /var/lib/rpm -i --nodeps --noscripts --notriggers "$OUT"/rpms/installed/*.rpm \
  > "$OUT/rpm-install.log" 2>&1 || { cat "$OUT/rpm-install.log" >&2; exit 1; }
rm "$OUT/rpm-install.log"
rpm --root "$R" --dbpath /var/lib/rpm -qa --qf '%{NEVRA}\n' | sort > "$OUT/installed.txt"
cat "$OUT/installed.txt"
echo "==> done: $OUT"
