#!/usr/bin/env bash
# The pandas stage, part 2: python.wasm with numpy's and pandas' modules
# built in. The link is numpy/link.sh's, run on a stage directory that
# holds both (one archive with numpy's and pandas' objects, both module
# tables, both site-packages), so that the two variants link the same way;
# then the outputs name the variant pandas, and pandas' tests go beside
# numpy's.
# Usage: link.sh STAGE_DIR NUMPY_STAGE_DIR PANDAS_STAGE_DIR OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../pins.sh"
. "$here/../numpy/pins.sh"
. "$here/pins.sh"
. "$here/../lib.sh"
STAGE=$1 NS=$2 PS=$3 OUT=$4
C=$OUT.both
rm -rf "$C" && mkdir -p "$C/lib" "$C/site-packages"
# pandas' objects, each copy of khash's traced_* functions renamed
# (dedup.py), after numpy's in one archive.
mkdir -p "$C/pandas-objs"
( cd "$C/pandas-objs" && llvm-ar-$LLVM_VERSION x "$PS/lib/libpandas.a" )
"$STAGE/native/bin/python3.13" -I "$here/dedup.py" "llvm-nm-$LLVM_VERSION" "$C/pandas-objs" >/dev/null
cp "$NS/lib/libnumpy.a" "$C/lib/libnumpy.a"
( cd "$C/pandas-objs" && llvm-ar-$LLVM_VERSION qcsD "$C/lib/libnumpy.a" $(ls | LC_ALL=C sort) )
cp "$NS/lib/libc++.a" "$NS/lib/libc++abi.a" "$C/lib/"
cat "$NS/modules.txt" "$PS/modules.txt" >"$C/modules.txt"
[ "$(cut -d' ' -f2 "$C/modules.txt" | sort | uniq -d)" = "" ] || die "numpy and pandas have modules that share a PyInit name"
cp -a "$NS/site-packages/." "$PS/site-packages/." "$C/site-packages/"
ln -s "$NS/numpy-tests" "$C/numpy-tests"
cat "$NS/INPUTS" "$PS/INPUTS" >"$C/INPUTS"
"$here/../numpy/link.sh" "$STAGE" "$C" "$OUT"
rm -rf "$C"
# numpy-tests/ is a link to numpy's stage: a copy, as the numpy variant has.
rm "$OUT/numpy-tests" && cp -a "$NS/numpy-tests" "$OUT/numpy-tests"
cp -a "$PS/pandas-tests" "$OUT/pandas-tests"
sed -i "s/^variant numpy\$/variant pandas/; /^numpy /a pandas $PANDAS_VERSION" "$OUT/embed/MANIFEST"
sed -i "1s/.*/python.wasm build, pandas variant (numpy and pandas)/; 2s/\$/, pandas $PANDAS_VERSION/;
  s/^built-in numpy modules:/built-in numpy and pandas modules:/" "$OUT/MANIFEST"
progress "pandas variant ready: $OUT"
