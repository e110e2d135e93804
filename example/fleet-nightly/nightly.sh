#!/bin/sh
# Nightly fleet rebuild: build "plan", then "rebuild" once per image refit-fleet lists in
# `outdated`, and nothing when every image is up to date. Arguments are passed to packer
# (for example -var images_dir=/srv/images).
set -eu
dir=$(dirname "$0")
plan=${PLAN_FILE:-nightly-plan.txt}
packer build -only 'plan.file.plan' -var "plan_file=$plan" "$@" "$dir/nightly.pkr.hcl"
if [ ! -s "$plan" ]; then
	echo "nightly: every image is up to date; nothing to build"
	exit 0
fi
echo "nightly: $(wc -l < "$plan") image(s) to rebuild: $(tr '\n' ' ' < "$plan")"
while IFS= read -r image; do
	packer build -only 'rebuild.refit-chroot.image' -var "plan_file=$plan" -var "image=$image" "$@" "$dir/nightly.pkr.hcl"
done < "$plan"
