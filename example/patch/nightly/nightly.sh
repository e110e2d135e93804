#!/bin/sh
# Nightly re-patch: build "patch" only when refit-repodiff finds updates (count > 0).
# Arguments are passed to packer (for example -var golden_image=...).
set -eu
dir=$(dirname "$0")
count_file=${COUNT_FILE:-nightly-count.txt}
packer build -only 'check.file.check' -var "count_file=$count_file" "$@" "$dir/nightly.pkr.hcl"
count=$(cat "$count_file")
if [ "$count" -gt 0 ]; then
	echo "nightly: $count update(s): rebuilding and patching"
	packer build -only 'patch.refit-chroot.golden' -var "count_file=$count_file" "$@" "$dir/nightly.pkr.hcl"
else
	echo "nightly: the golden image is up to date; nothing to build"
fi
