#!/usr/bin/env bash
# Regenerates every generated file: *.hcl2spec.go, docs-partials/, .web-docs/.
# packer-sdc struct-markdown loops forever unless a parent folder is named
# packer-plugin-*, so it runs through a symlink with that name, under timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/.tools/bin:$PATH
command -v packer-sdc >/dev/null || go build -o .tools/bin/packer-sdc github.com/hashicorp/packer-plugin-sdk/cmd/packer-sdc
link=$(mktemp -d)
trap 'rm -rf "$link"' EXIT
ln -s "$PWD" "$link/packer-plugin-refit"
(cd "$link/packer-plugin-refit" && timeout 600 go generate ./...)
rm -rf .docs
timeout 120 packer-sdc renderdocs -src docs -partials docs-partials/ -dst .docs/
./scripts/webdocs.sh .docs .web-docs
rm -rf .docs
gofmt -w $(git ls-files -co --exclude-standard '*.hcl2spec.go')
