#!/usr/bin/env bash
# numpy from the same source for stage 1's native python3.13, the
# benchmark's baseline: installed into NUMPY_STAGE_DIR/native-site (put it
# on PYTHONPATH). No BLAS (numpy's own lapack_lite, as in the wasm build),
# x86-64's baseline SIMD (SSE-SSE3) but no runtime dispatch to AVX (its
# x86-simd-sort and SVML submodules are not in the source tarball), no
# Highway; the host's gcc, -O3.
# Usage: native.sh STAGE_DIR NUMPY_STAGE_DIR SOURCE_TARBALL CYTHON_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
STAGE=$1 NS=$2 src_tar=$3 cython=$4
W=$NS/native-work
PY=$STAGE/native/bin/python3.13
rm -rf "$W" "$NS/native-site" && mkdir -p "$W/bin"
tar -xf "$src_tar" -C "$W"
SRC=$(echo "$W"/numpy-*)
cat >"$W/bin/cython" <<SH
#!/bin/sh
PYTHONPATH=$cython exec $PY -m cython "\$@"
SH
chmod +x "$W/bin/cython"
export PATH="$W/bin:$PATH"
progress "numpy (native baseline): meson setup and build"
( cd "$SRC" && "$PY" vendored-meson/meson/meson.py setup "$W/build" --python.install-env=auto \
    --buildtype=release -Db_ndebug=if-release -Dallow-noblas=true -Dblas=none -Dlapack=none \
    -Dcpu-dispatch=none -Ddisable-svml=true -Ddisable-highway=true --prefix=/usr >"$W/setup.log" 2>&1 \
  && ninja -C "$W/build" -j"$(nproc)" >"$W/build.log" 2>&1 \
  && "$PY" vendored-meson/meson/meson.py install -C "$W/build" --destdir "$W/inst" --tags runtime,python-runtime >"$W/install.log" 2>&1 ) \
  || { tail -30 "$W/setup.log" "$W/build.log" 2>/dev/null; die "numpy (native): build failed ($W)"; }
# site-packages, the directory above numpy/ (not ".../numpy/..": rename(2)
# refuses a path that ends in "..", and mv with it).
init=$(find "$W/inst" -path '*/numpy/__init__.py' | head -1)
mv "$(dirname "$(dirname "$init")")" "$NS/native-site"
rm -rf "$W"
progress "numpy (native baseline): $NS/native-site"
