#!/bin/sh
# Regenerates the small compressed fixtures in this directory with the real
# compressors. Run from anywhere: sh internal/decompress/testdata/gen.sh
set -eu
cd "$(dirname "$0")"
printf '<?xml version="1.0" encoding="UTF-8"?>\n<metadata packages="0"/>\n' > sample.xml
gzip  -9 -n -c sample.xml > sample.xml.gz
xz    -6    -c sample.xml > sample.xml.xz
zstd  -19 -q -c sample.xml > sample.xml.zst
bzip2 -9    -c sample.xml > sample.xml.bz2
ls -l sample.xml*
