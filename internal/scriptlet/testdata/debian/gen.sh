#!/bin/sh
# Copies real maintainer scripts of Debian 12 (bookworm) packages from dpkg's database into this
# directory, as fixtures of TestDebianFixtures. Needs the packages installed:
#   apt-get install apt systemd libc6 libc-bin man-db hicolor-icon-theme python3-six dbus ssl-cert tzdata debian-archive-keyring libpam0g libpam-modules udev ucf bash
#   libpam-runtime ca-certificates
# and downloads (apt-get download, dpkg-deb -e) those of the packages in the DOWNLOAD list below,
# which a build host does not have installed.
# Run from anywhere: sh internal/scriptlet/testdata/debian/gen.sh
# then review and refresh the goldens: go test ./internal/scriptlet -run TestDebianFixtures -update
set -eu
cd "$(dirname "$0")"
info=/var/lib/dpkg/info
# fixture name = source in $info (multi-arch packages drop the ":arch" suffix, which Go module
# paths do not allow)
while read -r name src; do
	cp "$info/$src" "$name"
	chmod 0644 "$name"
done <<'LIST'
apt.postinst apt.postinst
apt.prerm apt.prerm
systemd.postinst systemd.postinst
libc6.postinst libc6:amd64.postinst
libc6.preinst libc6:amd64.preinst
libc-bin.postinst libc-bin.postinst
man-db.postinst man-db.postinst
hicolor-icon-theme.postinst hicolor-icon-theme.postinst
python3-six.prerm python3-six.prerm
dbus.postinst dbus.postinst
ssl-cert.postinst ssl-cert.postinst
tzdata.config tzdata.config
debian-archive-keyring.postinst debian-archive-keyring.postinst
libpam0g.postinst libpam0g:amd64.postinst
libpam-modules.preinst libpam-modules:amd64.preinst
udev.prerm udev.prerm
udev.postinst udev.postinst
ucf.postinst ucf.postinst
bash.postinst bash.postinst
libpam-runtime.postinst libpam-runtime.postinst
ca-certificates.postinst ca-certificates.postinst
LIST
dpkg-query -W -f '${Package} ${Version}\n' apt systemd libc6 libc-bin man-db hicolor-icon-theme \
	python3-six dbus ssl-cert tzdata debian-archive-keyring libpam0g libpam-modules udev ucf bash \
	libpam-runtime ca-certificates > VERSIONS
# Scripts of packages that are not installed here: fixture name, package, script.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
while read -r name pkg script; do
	(cd "$tmp" && apt-get download "$pkg" >/dev/null)
	dpkg-deb -e "$tmp/${pkg}"_*.deb "$tmp/$pkg"
	cp "$tmp/$pkg/$script" "$name"
	chmod 0644 "$name"
	dpkg-deb -f "$tmp/${pkg}"_*.deb Package Version | paste -sd' ' | sed 's/^Package: //; s/ Version://' >> VERSIONS
done <<'DOWNLOAD'
unattended-upgrades.postinst unattended-upgrades postinst
grub-efi-amd64.postinst grub-efi-amd64 postinst
shim-signed.postinst shim-signed postinst
DOWNLOAD
