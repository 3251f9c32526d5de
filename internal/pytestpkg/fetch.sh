#!/bin/bash
# Fetches Debian bookworm's pytest and the packages it imports, pinned by
# version and sha256, and unpacks their dist-packages into
# $CACHE/pytest/dist-packages, which the tests of this package mount as a
# user package. Run by `make pytest-pkg` (a prerequisite of `make test`).
set -euo pipefail
CACHE=${SNAKEPIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/snakepit-wasm}
OUT=$CACHE/pytest
PINS=(
  "python3-pytest 7.2.1-2 bc5df67eb9ea18beddd95eaaa1ffc7bfffc1716d3071e6f405bd22f6a0411416"
  "python3-pluggy 1.0.0+repack-1 7bda88243752fef7fd14f256ae91bf39bdcda68f83dc726db1d6d9b8b3957899"
  "python3-iniconfig 1.1.1-2 c9226a32a78fa93f9e993a4ed77fcb3ceb23c21b9d75d7ea4dc77cb016ed0d83"
  "python3-packaging 23.0-1 04adb9e09aa8ed5bd8e31d31143fb265c43dcbec70da19f21e37cbe44b0c32cf"
  "python3-attr 22.2.0-1 6a12ea96a8a909445a982975279f96d7b9a1ff96c912efff39abc8d92372694a"
)
stamp=$(printf '%s\n' "${PINS[@]}" | sha256sum | cut -c1-16)
[ -f "$OUT/dist-packages/.stamp-$stamp" ] && exit 0
mkdir -p "$OUT/debs"
cd "$OUT/debs"
for pin in "${PINS[@]}"; do
  read -r name version sum <<<"$pin"
  deb=$(ls "${name}_${version/:/%3a}_"*.deb 2>/dev/null | head -1 || true)
  if [ -z "$deb" ] || ! echo "$sum  $deb" | sha256sum -c --quiet 2>/dev/null; then
    rm -f "${name}_"*.deb
    apt-get download -q "$name=$version" 2>/dev/null || {
      echo "fetching $name=$version failed: run 'apt-get update' (as root) on a Debian bookworm machine;" \
        "if Debian has moved the package to a new revision, update the pin in $0" >&2
      exit 1
    }
    deb=$(ls "${name}_${version/:/%3a}_"*.deb | head -1)
  fi
  echo "$sum  $deb" | sha256sum -c --quiet || { echo "$deb: sha256 differs from the pin in $0" >&2; exit 1; }
done
rm -rf "$OUT/root.tmp" "$OUT/dist-packages"
for pin in "${PINS[@]}"; do
  read -r name version _ <<<"$pin"
  dpkg-deb -x "${name}_${version/:/%3a}_"*.deb "$OUT/root.tmp"
done
mv "$OUT/root.tmp/usr/lib/python3/dist-packages" "$OUT/dist-packages"
rm -rf "$OUT/root.tmp"
touch "$OUT/dist-packages/.stamp-$stamp"
echo "pytest unpacked in $OUT/dist-packages"
