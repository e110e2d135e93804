#!/bin/sh
# Regenerates the public keys the validation tests use (the private halves are thrown away).
# Usage: ./gen.sh   (needs ssh-keygen from openssh-client)
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ssh-keygen -q -t ed25519 -N '' -C 'deploy@example.com' -f "$tmp/ed25519"
ssh-keygen -q -t rsa -b 3072 -N '' -C 'rsa key' -f "$tmp/rsa"
ssh-keygen -q -t ecdsa -b 256 -N '' -C '' -f "$tmp/ecdsa"
cp "$tmp/ed25519.pub" ed25519.pub
cp "$tmp/rsa.pub" rsa.pub
cp "$tmp/ecdsa.pub" ecdsa.pub
# the ed25519 key with authorized_keys options in front
printf 'from="10.0.0.0/8",no-agent-forwarding %s\n' "$(cat ed25519.pub)" >options.pub
