#!/bin/bash
# Builds a handful of tiny RPMs and installs them into a fresh root filesystem whose rpmdb is
# sqlite (rpm's default here), at OUT/root/var/lib/rpm/rpmdb.sqlite. The tests run this into a
# temporary directory; nothing it makes is committed. Needs rpm and rpmbuild.
#   usage: mkrpmroot.sh OUT
# The packages cover what an inventory must get right: no epoch, explicit Epoch: 0, a non-zero
# epoch, ~ and ^ in versions, noarch and native arch, and two versions of an install-only
# (installonlypkg(kernel)) package installed side by side.
set -euo pipefail
OUT=${1:?usage: mkrpmroot.sh OUT}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export HOME=$OUT/home                  # Debian's rpm keeps its db under ~ unless told otherwise
export SOURCE_DATE_EPOCH=1704067200    # 2024-01-01T00:00:00Z: reproducible builds
mkdir -p "$HOME" "$OUT/rpms"
echo '%_dbpath /var/lib/rpm' > "$HOME/.rpmmacros"

cat > "$OUT/demo.spec" <<'SPEC'
%global debug_package %{nil}
Name:           %{pkgname}
%{?epochval:Epoch: %{epochval}}
Version:        %{ver}
Release:        %{rel}
Summary:        refit inventory test package %{pkgname}
License:        CC0
%{?noarch:BuildArch: noarch}
%{?installonly:Provides: installonlypkg(kernel)}
Provides:       %{pkgname}-capability = %{ver}

%description
Synthetic package for refit's installed-package tests.

%prep

%build

%install
mkdir -p %{buildroot}/usr/share/refit-test
echo "%{name} %{?epochval:%{epochval}:}%{version}-%{release}" > %{buildroot}/usr/share/refit-test/%{name}-%{version}-%{release}

%files
/usr/share/refit-test/%{name}-%{version}-%{release}
SPEC

build() { # build NAME VERSION RELEASE [--define ...]
  local name=$1 ver=$2 rel=$3; shift 3
  rpmbuild --quiet \
    --define "_topdir $OUT/rpmbuild" \
    --define "_buildhost refit.invalid" \
    --define "use_source_date_epoch_as_buildtime 1" \
    --define "clamp_mtime_to_source_date_epoch 1" \
    --define "_build_id_links none" \
    --define "pkgname $name" --define "ver $ver" --define "rel $rel" \
    "$@" -bb "$OUT/demo.spec"
  find "$OUT/rpmbuild/RPMS" -name '*.rpm' -exec mv {} "$OUT/rpms/" \;
}
build refit-plain   1.0      1
build refit-noarch  2.5      3.el9 --define "noarch 1"
build refit-epoch0  1.0      1     --define "epochval 0" --define "noarch 1"
build refit-epoch   3.0      1     --define "epochval 2" --define "noarch 1"
build refit-tilde   1.0~rc1  1     --define "noarch 1"
build refit-caret   1.0^git1 1     --define "noarch 1"
build refit-kernel  5.14.0   1     --define "installonly 1"
build refit-kernel  5.14.0   2     --define "installonly 1"

rm -rf "$OUT/root"
rpm --root "$OUT/root" --dbpath /var/lib/rpm --initdb
rpm --root "$OUT/root" --dbpath /var/lib/rpm -i --nodeps --noscripts --notriggers "$OUT"/rpms/*.rpm
