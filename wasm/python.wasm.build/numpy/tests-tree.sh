#!/usr/bin/env bash
# numpy's own tests (numpy/**/tests, conftest.py, pytest.ini) from its
# pinned source, laid out as compile.sh lays them beside a local build:
# what `make numpy-tests` mounts next to the embedded variant, so that the
# suite runs the interpreter the module ships without building it.
# Usage: tests-tree.sh DOWNLOADS_DIR OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
DL=$1 OUT=$2
src=$("$here/source.sh" "$DL") || die "numpy's pinned source is not in $DL (wasm/python.wasm.build/README.md says how to get it; NUMPY_DOWNLOADS names another directory)"
stamp=.source-$(basename "$src")
[ -f "$OUT/$stamp" ] && exit 0
rm -rf "$OUT" "$OUT.tmp" && mkdir -p "$OUT.tmp" "$OUT"
tar -xf "$src" -C "$OUT.tmp"
top=$(cd "$OUT.tmp" && ls)
( cd "$OUT.tmp/$top" && find numpy -type d -name tests -prune | while read -r d; do
    mkdir -p "$OUT/$(dirname "$d")" && cp -a "$d" "$OUT/$d"; done
  cp numpy/conftest.py "$OUT/numpy/" && cp pytest.ini "$OUT/" )
find "$OUT" \( -name '*.pyi' -o -name '*.pxd' -o -name 'py.typed' \) -delete
rm -rf "$OUT.tmp" && touch "$OUT/$stamp"
progress "numpy's tests from $(basename "$src") in $OUT"
