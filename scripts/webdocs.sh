#!/usr/bin/env bash
# Turns rendered docs (.docs/, from packer-sdc renderdocs) into the .web-docs/ layout the
# Packer integrations portal reads: README.md, metadata.hcl and one README.md per component.
set -euo pipefail
src=${1:?rendered docs folder} dst=${2:?output folder}
rm -rf "$dst"; mkdir -p "$dst/components"
strip_front_matter() { awk 'NR==1 && /^---$/ {fm=1; next} fm && /^---$/ {fm=0; next} !fm' "$1"; }
strip_front_matter "$src/README.md" > "$dst/README.md"
{
  echo '# For full specification of attributes and blocks see the Packer integrations portal docs.'
  echo 'integration {'
  echo '  name = "refit"'
  echo '  description = "Customize, harden and patch qcow2/raw VM images offline."'
  echo '  identifier = "packer/refit-images/refit"'
  echo '  flags = []'
  echo '  docs {'
  echo '    process_docs = true'
  echo '    readme_location = "./README.md"'
  echo '    external_url = "https://github.com/refit-images/packer-plugin-refit"'
  echo '  }'
  echo '  license {'
  echo '    type = "MPL-2.0"'
  echo '    url = "https://github.com/refit-images/packer-plugin-refit/blob/main/LICENSE"'
  echo '  }'
  for kind in builders provisioners post-processors datasources; do
    [[ -d $src/$kind ]] || continue
    case $kind in
      builders) type=builder ;; provisioners) type=provisioner ;;
      post-processors) type=post-processor ;; datasources) type=data-source ;;
    esac
    for f in "$src/$kind"/*.mdx; do
      name=$(basename "$f" .mdx)
      mkdir -p "$dst/components/$type/$name"
      strip_front_matter "$f" > "$dst/components/$type/$name/README.md"
      title=$(sed -n 's/^nav_title: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$f" | head -1)
      echo "  component {"
      echo "    type = \"$type\""
      echo "    name = \"${title:-$name}\""
      echo "    slug = \"$name\""
      echo "  }"
    done
  done
  echo '}'
} > "$dst/metadata.hcl"
