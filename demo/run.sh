#!/usr/bin/env bash
# The demo: refit's main job. Builds (once, cached under REFIT_CACHE, default
# ~/.cache/packer-plugin-refit) a small bootable Debian 12 image from the bookworm suite alone,
# then runs Packer on example/pipeline — refit-chroot opens it offline, refit-harden hardens it,
# refit-patch patches it from bookworm-updates and bookworm-security — against the Debian mirror
# of this machine's apt configuration, and prints the rules applied, the packages updated,
# deferred or held back, the output image and its sha256, and each stage's time
# (demo/pipeline/main.go). Needs root (loop devices, mounts). Run it through `make demo` (it
# installs the tools and the plugin first). Output: demo/work/.
set -euo pipefail
source "$(dirname "$0")/env.sh"
if [[ $(id -u) != 0 ]]; then
  echo "demo: needs root: refit-chroot attaches disk images to loop devices and mounts them (run: sudo make demo)" >&2
  exit 1
fi
mkdir -p demo/work
go build -o demo/work/pipeline-demo ./demo/pipeline
exec demo/work/pipeline-demo
