#!/usr/bin/env bash
# Builds the pinned tools refit's tests and docs need, once, into a cache outside
# the clone (REFIT_CACHE, default ~/.cache/packer-plugin-refit), and links them
# into .tools/bin of this checkout.
#
#   packer      built from the Packer module source (PACKER_VERSION)
#
# packer-sdc and staticcheck are Go tool dependencies (go.mod "tool" lines) and
# run through "go tool"; nothing else is downloaded here.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKER_VERSION=${PACKER_VERSION:-v1.16.0}
CACHE=${REFIT_CACHE:-$HOME/.cache/packer-plugin-refit}
mkdir -p "$CACHE/bin" .tools/bin

packer_bin=$CACHE/bin/packer-$PACKER_VERSION
if [[ ! -x $packer_bin ]]; then
  echo "==> building Packer $PACKER_VERSION from its module source (once; a few minutes)"
  dir=$(GOFLAGS=-mod=mod go mod download -json "github.com/hashicorp/packer@$PACKER_VERSION" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n $dir ]] || { echo "tools.sh: could not download github.com/hashicorp/packer@$PACKER_VERSION" >&2; exit 1; }
  src=$(mktemp -d)
  trap 'chmod -R u+w "$src"; rm -rf "$src"' EXIT
  cp -r "$dir/." "$src/"
  chmod -R u+w "$src"
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$packer_bin.tmp" .)
  mv "$packer_bin.tmp" "$packer_bin"
fi
ln -sf "$packer_bin" .tools/bin/packer
.tools/bin/packer version
