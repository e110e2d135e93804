# Sourced by the demo scripts: the checkout's pinned Packer and its isolated plugin folder
# (make dev installs the plugin there), from the checkout's top folder.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH=$PWD/.tools/bin:$PATH
export PACKER_PLUGIN_PATH=${PACKER_PLUGIN_PATH:-$PWD/.tools/plugins}
export PACKER_CONFIG_DIR=${PACKER_CONFIG_DIR:-$PWD/.tools/packer-config}
export CHECKPOINT_DISABLE=1
