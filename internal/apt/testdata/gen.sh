#!/bin/sh
# Regenerates testdata/aptrepo/: a complete tiny APT repository, usable as
#   deb [signed-by=<dir>/aptrepo/refit-archive-key.asc] file://<dir>/aptrepo demo main
#   deb [signed-by=<dir>/aptrepo/refit-archive-key.asc] file://<dir>/aptrepo demo-security main
#
# Suite "demo" (pool/main):
#   refit-demo   1.0-1      amd64  Depends: refit-data (>= 1.0); has a postinst
#   refit-epoch  1:2.0-1    amd64  epoch; Source: refit-tools (2.0-1)
#   refit-tilde  2.0~rc1-1  amd64  "~" sorts before the release
#   refit-data   1.0-1      all    Multi-Arch: foreign
# Suite "demo-security" (pool/updates/main, as Debian's security archive):
#   refit-demo   1.0-2      amd64
#   refit-tilde  2.0-1      amd64
#
# Each suite has dists/<suite>/{Release,InRelease,Release.gpg} (signed by a
# throwaway key whose public half is refit-archive-key.asc; the private half
# is discarded), main/binary-amd64/{Packages,Packages.gz,Packages.xz,Release}
# and Acquire-By-Hash copies under main/binary-amd64/by-hash/SHA256/.
#
# Needs dpkg-deb, dpkg-scanpackages (dpkg-dev), apt-ftparchive (apt-utils),
# gpg (gnupg), gzip and xz (xz-utils). Run: sh internal/apt/testdata/gen.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$here/aptrepo
work=$(mktemp -d /tmp/refit-aptrepo.XXXXXX)
# A short GnuPG home (gpg-agent's socket path has at most 108 bytes); every daemon stopped on exit.
GNUPGHOME=$work/gnupg
export GNUPGHOME
trap 'gpgconf --homedir "$GNUPGHOME" --kill all 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -m 700 "$GNUPGHOME"

# Fixed timestamps make the .debs and indexes reproducible (not the signatures).
SOURCE_DATE_EPOCH=1780000000
export SOURCE_DATE_EPOCH
date_rfc2822=$(LC_ALL=C date -u -d "@$SOURCE_DATE_EPOCH" '+%a, %d %b %Y %H:%M:%S UTC')

rm -rf "$repo"
mkdir -p "$repo"

# build_deb POOL NAME VERSION ARCH [EXTRA_CONTROL_LINES]
build_deb() {
	pool=$1 name=$2 version=$3 arch=$4 extra=${5:-}
	upstream=${version#*:}
	root=$work/build/$name-$upstream-$arch
	mkdir -p "$root/DEBIAN" "$root/usr/share/doc/$name"
	printf '%s %s\n' "$name" "$version" > "$root/usr/share/doc/$name/VERSION"
	{
		echo "Package: $name"
		echo "Version: $version"
		echo "Architecture: $arch"
		echo "Maintainer: Refit Test Suite <refit@example.invalid>"
		echo "Installed-Size: 1"
		echo "Section: misc"
		echo "Priority: optional"
		[ -n "$extra" ] && printf '%s\n' "$extra"
		echo "Description: refit test package $name"
		echo " A tiny package from refit's test repository, version $version."
		echo " ."
		echo " It installs only /usr/share/doc/$name/VERSION."
	} > "$root/DEBIAN/control"
	if [ "$name" = refit-demo ]; then
		printf '#!/bin/sh\nset -e\n# refit-demo has nothing to configure.\nexit 0\n' > "$root/DEBIAN/postinst"
		chmod 755 "$root/DEBIAN/postinst"
	fi
	find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	dir=$repo/$pool/main/r/$name
	mkdir -p "$dir"
	dpkg-deb --root-owner-group -Zxz --build "$root" "$dir/${name}_${upstream}_${arch}.deb" >/dev/null
}

build_deb pool refit-demo 1.0-1 amd64 "Depends: refit-data (>= 1.0)
Provides: refit-demo-api"
build_deb pool refit-epoch 1:2.0-1 amd64 "Source: refit-tools (2.0-1)"
build_deb pool refit-tilde 2.0~rc1-1 amd64
build_deb pool refit-data 1.0-1 all "Multi-Arch: foreign"
build_deb pool/updates refit-demo 1.0-2 amd64 "Depends: refit-data (>= 1.0)
Provides: refit-demo-api"
build_deb pool/updates refit-tilde 2.0-1 amd64

gpg --batch --quiet --passphrase '' --quick-gen-key 'Refit Test Archive Key <archive@refit.invalid>' ed25519 sign never
gpg --batch --armor --export 'archive@refit.invalid' > "$repo/refit-archive-key.asc"

# make_suite SUITE POOL_DIR LABEL: POOL_DIR holds exactly the suite's .debs
make_suite() {
	suite=$1 pool=$2 label=$3
	bin=$repo/dists/$suite/main/binary-amd64
	mkdir -p "$bin"
	(cd "$repo" && dpkg-scanpackages --arch amd64 "$pool" /dev/null 2>/dev/null) > "$bin/Packages"
	gzip -9nk "$bin/Packages"
	xz -9ek "$bin/Packages"
	printf 'Archive: %s\nOrigin: Refit\nLabel: %s\nComponent: main\nArchitecture: amd64\n' "$suite" "$label" > "$bin/Release"
	for f in Packages Packages.gz Packages.xz Release; do
		sum=$(sha256sum "$bin/$f" | cut -d' ' -f1)
		mkdir -p "$bin/by-hash/SHA256"
		cp "$bin/$f" "$bin/by-hash/SHA256/$sum"
	done
	find "$repo" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	apt-ftparchive \
		-o APT::FTPArchive::Release::Origin=Refit \
		-o "APT::FTPArchive::Release::Label=$label" \
		-o "APT::FTPArchive::Release::Suite=$suite" \
		-o "APT::FTPArchive::Release::Codename=$suite" \
		-o "APT::FTPArchive::Release::Date=$date_rfc2822" \
		-o APT::FTPArchive::Release::Architectures=amd64 \
		-o APT::FTPArchive::Release::Components=main \
		-o APT::FTPArchive::Release::Acquire-By-Hash=yes \
		-o "APT::FTPArchive::Release::Description=refit test repository ($suite)" \
		release "$repo/dists/$suite" > "$work/Release"
	mv "$work/Release" "$repo/dists/$suite/Release"
	gpg --batch --yes --local-user archive@refit.invalid --digest-algo SHA256 --clearsign \
		--output "$repo/dists/$suite/InRelease" "$repo/dists/$suite/Release"
	gpg --batch --yes --local-user archive@refit.invalid --digest-algo SHA256 --detach-sign --armor \
		--output "$repo/dists/$suite/Release.gpg" "$repo/dists/$suite/Release"
}

make_suite demo pool/main "Refit demo"
make_suite demo-security pool/updates/main "Refit demo security"
