#!/bin/bash
# Builds the rpmmd test repository from fixture.spec with rpmbuild, indexes it
# with createrepo_c and adds updateinfo.xml and modules.yaml with modifyrepo_c.
#
#   gen.sh            regenerate the committed fixtures: testdata/repo/repodata
#                     and testdata/updateinfo.xml (the .rpm files are dropped)
#   gen.sh OUTDIR     build the whole repository, .rpm files included, into
#                     OUTDIR/repo (the oracle tests do this in a temp dir)
#
# Needs rpm (rpmbuild), createrepo_c. Deterministic: SOURCE_DATE_EPOCH and
# --revision pin every timestamp.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE}
KEEP_RPMS=${1:+yes}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export SOURCE_DATE_EPOCH=1704067200 # 2024-01-01T00:00:00Z
export HOME=$WORK                   # keep the user's ~/.rpmmacros out of it

R=$OUT/repo
rm -rf "$R"
mkdir -p "$R/Packages"

build() { # build --define "pkgname x" ...
	rpmbuild --quiet \
		--define "_topdir $WORK/rpmbuild" \
		--define "_buildhost rpmmd-fixtures.example.invalid" \
		--define "use_source_date_epoch_as_buildtime 1" \
		--define "clamp_mtime_to_source_date_epoch 1" \
		"$@" -bb "$HERE/fixture.spec" >/dev/null
	find "$WORK/rpmbuild/RPMS" -name '*.rpm' -exec mv {} "$R/Packages/" \;
}

# An arch-specific library with a %pre scriptlet (Requires(pre): /bin/sh),
# a file under /etc (listed in primary) and one under /usr/lib64 (not).
build --define "pkgname rmd-lib" --define "ver 1.1" --define "rel 1" \
	--define "provs librmd.so.1()(64bit)" --define "prescript 1" \
	--define "paths /etc/rmd-lib.conf /usr/lib64/librmd.so.1"
# Epoch 2, a versioned provide with epoch, two obsoletes.
build --define "pkgname rmd-data" --define "epochval 2" --define "ver 1.0" --define "rel 3" --define "noarch 1" \
	--define "provs rmd-data-compat = 2:1.0-3" --define "obs rmd-data-old < 2.0, rmd-olddata < 1.0"
# Install-only, like a kernel.
build --define "pkgname rmd-kernel" --define "ver 6.1.0" --define "rel 3.el9" --define "noarch 1" \
	--define "provs installonlypkg(kernel)" --define "paths /boot/vmlinuz-rmd-6.1.0"
# Tilde version, versioned and rich requires, a conflict, a weak dependency,
# an explicit Epoch: 0 and a binary (listed in primary).
build --define "pkgname rmd-tool" --define "epochval 0" --define "ver 3.1~rc1" --define "rel 1" --define "noarch 1" \
	--define "reqs rmd-lib >= 1.1, (rmd-data or rmd-olddata), rmd-kernel" \
	--define "confs rmd-legacy <= 1.0" --define "recs rmd-extras" \
	--define "paths /usr/bin/rmd-tool"
# Caret version (a snapshot after 2.0).
build --define "pkgname rmd-snap" --define "ver 2.0^git20240101.abc" --define "rel 1" --define "noarch 1" \
	--define "reqs rmd-tool = 0:3.1~rc1-1" --define "paths /usr/sbin/rmd-snapd"
# Two module artifacts (see modules.yaml).
build --define "pkgname nodejs" --define "epochval 1" --define "ver 18.19.0" --define "rel 1.module+el9.3.0+100+aaaa0018" \
	--define "provs nodejs(engine) = 18.19.0"
build --define "pkgname nodejs" --define "epochval 1" --define "ver 20.11.0" --define "rel 1.module+el9.3.0+200+bbbb0020" \
	--define "provs nodejs(engine) = 20.11.0"

touch -d @$SOURCE_DATE_EPOCH "$R"/Packages/*.rpm # <time file=...> is the file's mtime
createrepo_c --quiet --revision $SOURCE_DATE_EPOCH --set-timestamp-to-revision \
	--general-compress-type=gz --checksum sha256 --database --zck "$R"

sha() { sha256sum "$R/Packages/$1" | cut -d' ' -f1; }
arch=$(rpm --eval '%{_arch}')
UPDATEINFO=$OUT/updateinfo.xml
cat >"$UPDATEINFO" <<XEOF
<?xml version="1.0" encoding="UTF-8"?>
<updates>
  <update from="secalert@example.invalid" status="final" type="security" version="3">
    <id>RMD-2024:0101</id>
    <title>Important: rmd-lib security update</title>
    <issued date="2024-01-02 00:00:00"/>
    <updated date="2024-01-09 12:30:00"/>
    <rights>Copyright 2024 Example</rights>
    <release>Example Linux 9</release>
    <severity>Important</severity>
    <summary>rmd-lib fixes two flaws.</summary>
    <description>Fixes CVE-2099-1002 &amp; CVE-2099-1001; see also CVE-2099-9999 (mentioned only here).</description>
    <solution>dnf upgrade rmd-lib</solution>
    <references>
      <reference href="https://bugzilla.example.invalid/2001" id="2001" type="bugzilla" title="CVE-2099-9998 rmd-lib: heap overflow"/>
      <reference href="https://cve.example.invalid/CVE-2099-1002" id="CVE-2099-1002" type="cve" title="CVE-2099-1002"/>
      <reference href="https://cve.example.invalid/CVE-2099-1001" id="CVE-2099-1001" type="cve" title="CVE-2099-1001"/>
      <reference href="https://cve.example.invalid/CVE-2099-1002" id="CVE-2099-1002" type="cve" title="CVE-2099-1002 (listed twice)"/>
      <reference href="https://errata.example.invalid/RMD-2024:0101" id="RMD-2024:0101" type="self" title="RMD-2024:0101"/>
    </references>
    <pkglist>
      <collection short="example-9">
        <name>Example Linux 9</name>
        <package name="rmd-lib" version="1.1" release="1" epoch="0" arch="$arch" src="rmd-lib-1.1-1.src.rpm">
          <filename>rmd-lib-1.1-1.$arch.rpm</filename>
          <sum type="sha256">$(sha rmd-lib-1.1-1.$arch.rpm)</sum>
        </package>
      </collection>
    </pkglist>
  </update>
  <update from="secalert@example.invalid" status="final" type="security" version="1">
    <id>RMD-2024:0102</id>
    <title>Moderate: rmd-kernel security update</title>
    <issued date="1704412800"/>
    <updated date="1704412800"/>
    <severity>Moderate</severity>
    <summary>Kernel fix; reboot needed.</summary>
    <description>Fixes CVE-2099-1003.</description>
    <references>
      <reference href="https://cve.example.invalid/CVE-2099-1003" id="CVE-2099-1003" type="cve" title="CVE-2099-1003"/>
    </references>
    <pkglist>
      <collection short="example-9">
        <name>Example Linux 9</name>
        <package name="rmd-kernel" version="6.1.0" release="3.el9" arch="noarch" src="rmd-kernel-6.1.0-3.el9.src.rpm">
          <filename>rmd-kernel-6.1.0-3.el9.noarch.rpm</filename>
          <sum type="sha256">$(sha rmd-kernel-6.1.0-3.el9.noarch.rpm)</sum>
          <reboot_suggested>True</reboot_suggested>
        </package>
      </collection>
    </pkglist>
  </update>
  <update from="bugs@example.invalid" status="final" type="bugfix" version="1">
    <id>RMD-2024:0103</id>
    <title>rmd-data and rmd-tool bug fix update</title>
    <issued date="2024-01-03 00:00:00"/>
    <summary>Two packages, one advisory, no severity.</summary>
    <references/>
    <pkglist>
      <collection short="example-9">
        <name>Example Linux 9</name>
        <package name="rmd-data" version="1.0" release="3" epoch="2" arch="noarch" src="rmd-data-1.0-3.src.rpm">
          <filename>rmd-data-1.0-3.noarch.rpm</filename>
          <sum type="sha256">$(sha rmd-data-1.0-3.noarch.rpm)</sum>
        </package>
        <package name="rmd-tool" version="3.1~rc1" release="1" epoch="0" arch="noarch" src="rmd-tool-3.1~rc1-1.src.rpm">
          <filename>rmd-tool-3.1~rc1-1.noarch.rpm</filename>
          <sum type="sha256">$(sha rmd-tool-3.1~rc1-1.noarch.rpm)</sum>
          <restart_suggested>True</restart_suggested>
        </package>
      </collection>
    </pkglist>
  </update>
  <update from="eng@example.invalid" status="final" type="enhancement" version="1">
    <id>RMD-2024:0104</id>
    <title>nodejs:20 enhancement update</title>
    <issued date="2024-01-04 00:00:00"/>
    <updated date="2024-01-04 00:00:00"/>
    <severity>None</severity>
    <summary>Modular update.</summary>
    <pkglist>
      <collection short="example-9-nodejs-20">
        <name>Example Linux 9 nodejs 20</name>
        <module name="nodejs" stream="20" version="9030020240104000000" context="rhel9" arch="$arch"/>
        <package name="nodejs" version="20.11.0" release="1.module+el9.3.0+200+bbbb0020" epoch="1" arch="$arch" src="nodejs-20.11.0-1.module+el9.3.0+200+bbbb0020.src.rpm">
          <filename>nodejs-20.11.0-1.module+el9.3.0+200+bbbb0020.$arch.rpm</filename>
          <sum type="sha256">$(sha nodejs-20.11.0-1.module+el9.3.0+200+bbbb0020.$arch.rpm)</sum>
        </package>
      </collection>
    </pkglist>
  </update>
  <update from="eng@example.invalid" status="final" type="newpackage" version="1">
    <id>RMD-2024:0105</id>
    <title>New package: rmd-snap</title>
    <issued date="2024-01-05 00:00:00"/>
    <reboot_suggested>true</reboot_suggested>
    <pkglist>
      <collection short="example-9">
        <package name="rmd-snap" version="2.0^git20240101.abc" release="1" epoch="0" arch="noarch">
          <filename>rmd-snap-2.0^git20240101.abc-1.noarch.rpm</filename>
        </package>
      </collection>
    </pkglist>
  </update>
</updates>
XEOF
cp "$HERE/modules.yaml" "$WORK/modules.yaml"
touch -d @$SOURCE_DATE_EPOCH "$UPDATEINFO" "$WORK/modules.yaml"
modifyrepo_c --mdtype=updateinfo --compress-type=xz "$UPDATEINFO" "$R/repodata"
modifyrepo_c --mdtype=modules --compress-type=bz2 "$WORK/modules.yaml" "$R/repodata"
# modifyrepo_c stamps <timestamp> with the current time: pin it.
sed -i -E "s|<timestamp>[0-9]+</timestamp>|<timestamp>$SOURCE_DATE_EPOCH</timestamp>|" "$R/repodata/repomd.xml"

if [ -z "$KEEP_RPMS" ]; then
	rm -rf "$R/Packages"
fi
find "$R" -type f | sort
