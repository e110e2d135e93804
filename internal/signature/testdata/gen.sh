#!/bin/sh
# Regenerates the fixtures in this directory with a throwaway GnuPG key:
#   key.asc           armored public key of "Refit Fixture Key <fixture@refit.invalid>"
#   Release           a small APT Release file (the signed text)
#   InRelease         Release clearsigned with key.asc's key
#   Release.gpg       binary detached signature of Release
#   Release.asc       armored detached signature of Release
# Needs gpg (package gnupg). Run from anywhere: sh internal/signature/testdata/gen.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
# A short GnuPG home (gpg-agent's socket path has at most 108 bytes); every daemon stopped on exit.
GNUPGHOME=$(mktemp -d /tmp/refit-gpg.XXXXXX)
export GNUPGHOME
trap 'gpgconf --homedir "$GNUPGHOME" --kill all 2>/dev/null || true; rm -rf "$GNUPGHOME"' EXIT
uid='Refit Fixture Key <fixture@refit.invalid>'
gpg --batch --quiet --passphrase '' --quick-gen-key "$uid" ed25519 sign never
cat > "$here/Release" <<'RELEASE'
Origin: Refit
Label: Refit fixture
Suite: demo
Codename: demo
Date: Sun, 22 Nov 2026 00:00:00 UTC
Architectures: amd64
Components: main
Description: fixture for package signature
SHA256:
 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 main/binary-amd64/Packages
RELEASE
cd "$here"
gpg --batch --yes --armor --export "$uid" > key.asc
gpg --batch --yes --local-user "$uid" --digest-algo SHA256 --clearsign --output InRelease Release
gpg --batch --yes --local-user "$uid" --digest-algo SHA256 --detach-sign --output Release.gpg Release
gpg --batch --yes --local-user "$uid" --digest-algo SHA256 --detach-sign --armor --output Release.asc Release
