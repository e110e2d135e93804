#!/usr/bin/env bash
# The arm64 benchmark of issue 11: bring the Debian 12 arm64 UEFI test image (internal/fixture's
# DebianImageArch, built once under qemu-user and cached) up to date on this amd64 host two ways,
# from one local signed APT mirror, require the same installed versions, and print the ratio:
#
#   (a) refit-patch (the pipeline's patch stage): offline; only the image's own dpkg, apt and
#       maintainer scripts run under qemu-user (binfmt_misc); downloads, verification and
#       script analysis run natively
#   (c) boot the image under qemu-system-aarch64 -M virt -cpu max -accel tcg with AAVMF, wait
#       for SSH, apt-get update && apt-get -y upgrade, power off
#
# It is bench/patch/compare.sh with ARCH=arm64 (same mirror, same workload, same checks; the
# libguestfs contender is left out, its appliance runs the host's architecture).
#
#   sudo bench/arm64/run.sh
#
# Needs, besides what compare.sh names: qemu-user-static, binfmt-support (the handler is
# registered by the fixture code), qemu-system-arm and qemu-efi-aarch64.
set -euo pipefail
exec env ARCH=arm64 "$(dirname "$0")/../patch/compare.sh" "$@"
