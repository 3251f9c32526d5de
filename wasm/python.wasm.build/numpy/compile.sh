#!/usr/bin/env bash
# The numpy stage, part 1: numpy's C/C++ sources compiled for wasm32-wasi
# against stage 1's CPython (its headers and sysconfig, not the host's),
# archived as libnumpy.a, and numpy's Python files as a .pyc tree.
# Usage: compile.sh STAGE_DIR NUMPY_STAGE_DIR DOWNLOADS_DIR
# STAGE_DIR (stage 1's output) is only read.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../pins.sh"
. "$here/pins.sh"
. "$here/../lib.sh"
STAGE=$1 NS=$2 DL=$3
# The build runs in a fixed directory, one at a time per machine: Cython
# writes each .pyx file's absolute path into the objects (traceback file
# names) and numpy's Python files record the compiler's arguments, so a
# work directory under the cache would put the cache's location (a
# user's home) into python.wasm and site-packages.zip.
W=/tmp/snakepit-wasm-numpy
exec 5>"$W.lock"
flock 5
PY=$STAGE/native/bin/python3.13
rm -rf "$NS" "$W" && mkdir -p "$NS" "$W" "$DL"

# Inputs: Debian's orig tarball when the mirror serves it, otherwise the
# tarball source-from-git.sh makes from numpy's git (both pinned).
if ! check_sha "$DL/$NUMPY_ORIG" "$NUMPY_ORIG_SHA256" && ! check_sha "$DL/$NUMPY_GIT_TARBALL" "$NUMPY_GIT_TARBALL_SHA256" \
  || ! check_sha "$DL/$CYTHON_DEB" "$CYTHON_SHA256" || ! check_sha "$DL/$LIBCXX_DEB" "$LIBCXX_SHA256" \
  || ! check_sha "$DL/$LIBCXXABI_DEB" "$LIBCXXABI_SHA256"; then
  apt_private "$DL/apt"
  ( cd "$DL"
    apt-get -qq "${APT_OPTS[@]}" source --download-only "numpy=$NUMPY_DEBIAN_VERSION" >/dev/null 2>&1 || true
    apt-get -qq "${APT_OPTS[@]}" download "cython3=$CYTHON_VERSION" >/dev/null 2>&1 || true )
  # libc++ for wasm32 is bookworm's, the machine's own suite.
  ( cd "$DL" && apt-get -qq download "libc++-19-dev-wasm32=$LIBCXX_VERSION" "libc++abi-19-dev-wasm32=$LIBCXX_VERSION" >/dev/null 2>&1 || true )
fi
if check_sha "$DL/$NUMPY_ORIG" "$NUMPY_ORIG_SHA256"; then src_tar=$DL/$NUMPY_ORIG
elif check_sha "$DL/$NUMPY_GIT_TARBALL" "$NUMPY_GIT_TARBALL_SHA256"; then src_tar=$DL/$NUMPY_GIT_TARBALL
else
  # Exit status 3: stage.sh skips the variant instead of failing the build.
  echo "numpy's source is missing: the mirror did not serve $NUMPY_ORIG (sha256 $NUMPY_ORIG_SHA256); make $NUMPY_GIT_TARBALL (sha256 $NUMPY_GIT_TARBALL_SHA256) with wasm/python.wasm.build/numpy/source-from-git.sh from git clones into $DL" >&2
  exit 3
fi
for pair in "$CYTHON_DEB:$CYTHON_SHA256" "$LIBCXX_DEB:$LIBCXX_SHA256" "$LIBCXXABI_DEB:$LIBCXXABI_SHA256"; do
  check_sha "$DL/${pair%%:*}" "${pair#*:}" || die "${pair%%:*} missing or its sha256 differs from numpy/pins.sh"
done

progress "numpy $NUMPY_VERSION: unpacking $(basename "$src_tar"), Cython and libc++"
tar -xf "$src_tar" -C "$W"
SRC=$(echo "$W"/numpy-*)
patch -s -d "$SRC" -p1 <"$here/npy_cpu-wasm.patch"
dpkg-deb -x "$DL/$CYTHON_DEB" "$W/cython"
# Stage 1's sysroot with libc++ over it: stage 1 stays untouched.
cp -a "$STAGE/sysroot" "$W/sysroot"
dpkg-deb -x "$DL/$LIBCXX_DEB" "$W/sysroot"
dpkg-deb -x "$DL/$LIBCXXABI_DEB" "$W/sysroot"

# The Python meson introspects is the native python3.13 reading the WASI
# build's sysconfig, with INCLUDEPY pointing at the WASI headers (the host's
# pyconfig.h gives wrong sizes for wasm32).
mkdir -p "$W/bin" "$W/pyconf" "$W/include/python3.13"
cp -a "$STAGE/src/Include/." "$W/include/python3.13/"
cp "$STAGE/wasm-build/pyconfig.h" "$W/include/python3.13/"
sed "s|'INCLUDEPY': '[^']*'|'INCLUDEPY': '$W/include/python3.13'|" \
  "$STAGE/wasm-build/build/lib.wasi-wasm32-3.13/_sysconfigdata__wasi_wasm32-wasi.py" >"$W/pyconf/_sysconfigdata__wasi_wasm32-wasi.py"
cat >"$W/bin/python-wasi" <<SH
#!/bin/sh
_PYTHON_SYSCONFIGDATA_NAME=_sysconfigdata__wasi_wasm32-wasi PYTHONPATH=$W/pyconf exec $PY "\$@"
SH
cat >"$W/bin/cython" <<SH
#!/bin/sh
PYTHONPATH=$W/cython/usr/lib/python3/dist-packages exec $PY -m cython "\$@"
SH
chmod +x "$W/bin/python-wasi" "$W/bin/cython"
# meson records Cython by name: the build steps need it on PATH too.
export PATH="$W/bin:$PATH"

FLAGS="'--target=wasm32-wasi', '--sysroot=$W/sysroot/usr', '-ffile-prefix-map=$W=/build'"
cat >"$W/cross.ini" <<INI
[binaries]
c = ['clang-$LLVM_VERSION', $FLAGS]
cpp = ['clang++-$LLVM_VERSION', $FLAGS]
ar = 'llvm-ar-$LLVM_VERSION'
strip = 'llvm-strip-$LLVM_VERSION'
python = '$W/bin/python-wasi'
cython = '$W/bin/cython'
[host_machine]
system = 'wasi'
cpu_family = 'wasm32'
cpu = 'wasm32'
endian = 'little'
[properties]
needs_exe_wrapper = true
skip_sanity_check = true
longdouble_format = 'IEEE_QUAD_LE'
INI

# The benchmark's baseline, numpy from the same source for the native
# python3.13, builds meanwhile (native.sh).
"$here/native.sh" "$STAGE" "$NS" "$src_tar" "$W/cython/usr/lib/python3/dist-packages" >"$W/native.log" 2>&1 &
native_pid=$!

progress "numpy: meson setup (numpy's bundled meson)"
( cd "$SRC" && "$PY" vendored-meson/meson/meson.py setup "$W/build" --cross-file "$W/cross.ini" \
    --buildtype=release -Db_ndebug=if-release -Dallow-noblas=true -Ddisable-svml=true -Ddisable-highway=true \
    -Ddisable-threading=true -Dblas=none -Dlapack=none >"$W/setup.log" 2>&1 ) \
  || { tail -40 "$W/setup.log"; die "numpy: meson setup failed ($W/setup.log)"; }

# numpy's extension modules, linked in as built-in modules (dotted names).
# Left out: numpy._core._simd (a test aid for SIMD dispatch: wasm32 has
# none here).
MODULES="numpy._core._multiarray_umath numpy._core._multiarray_tests numpy._core._umath_tests
numpy._core._rational_tests numpy._core._struct_ufunc_tests numpy._core._operand_flag_tests
numpy.linalg.lapack_lite numpy.linalg._umath_linalg numpy.fft._pocketfft_umath
numpy.random._common numpy.random.bit_generator numpy.random._bounded_integers numpy.random._mt19937
numpy.random._philox numpy.random._pcg64 numpy.random._sfc64 numpy.random._generator numpy.random.mtrand"
progress "numpy: compiling (objects only: the modules are linked into python.wasm, not loaded)"
B=$W/build
# Objects and the generated Python files (version.py, ...), no shared modules.
objs=$(cd "$B" && ninja -t targets all | sed -n 's/^\(.*\.\(o\|a\|py\)\): .*/\1/p' | grep -v '_simd' || true)
( cd "$B" && ninja -j"$(nproc)" $objs >"$W/compile.log" 2>&1 ) || { grep -A20 FAILED "$W/compile.log" | head -60; die "numpy: compile failed ($W/compile.log)"; }

"$PY" "$here/legacy.py" "$B" "llvm-nm-$LLVM_VERSION" "$W/mtrand-rename.h" >>"$W/compile.log" 2>&1 \
  || { tail -20 "$W/compile.log"; die "numpy: recompiling mtrand's objects failed"; }

# One archive: the linker takes from it what the inittab's PyInit_*
# functions reach. lapack_lite's f2c sources are compiled into both linalg
# modules, a few common sources into _multiarray_umath and its test
# modules: the same source gives the same object name, kept once. mtrand's
# objects (legacy.py) are all kept.
mkdir -p "$NS/lib" "$W/objs"
( cd "$B" && find numpy -name '*.o' -path '*.p/*' ! -path '*_simd*' | LC_ALL=C sort \
    | awk -F/ '/\/mtrand\./ || !seen[$NF]++' >"$W/objects.txt" )
n=0
while read -r o; do n=$((n + 1)); ln "$B/$o" "$W/objs/$(printf %03d $n)-${o##*/}"; done <"$W/objects.txt"
( cd "$W/objs" && llvm-ar-$LLVM_VERSION rcsD "$NS/lib/libnumpy.a" * )
cp "$W/sysroot/usr/lib/llvm-$LLVM_VERSION/lib/wasm32-wasi/libc++.a" "$W/sysroot/usr/lib/llvm-$LLVM_VERSION/lib/wasm32-wasi/libc++abi.a" "$NS/lib/"
progress "numpy: $(wc -l <"$W/objects.txt") objects archived"
{
  echo "inputs (sha256)"
  echo "$(sha256sum "$src_tar" | cut -d' ' -f1)  $(basename "$src_tar")"
  echo "$CYTHON_SHA256  $CYTHON_DEB"
  echo "$LIBCXX_SHA256  $LIBCXX_DEB"
  echo "$LIBCXXABI_SHA256  $LIBCXXABI_DEB"
} >"$NS/INPUTS"

# The built-in module table's entries, for the link step.
for m in $MODULES; do echo "$m PyInit_${m##*.}"; done >"$NS/modules.txt"

# numpy's Python files as meson installs them; the tests (numpy/**/tests,
# taken from the source: meson would want their shared modules) in a tree
# of their own, for the test runner only.
# meson installs the shared modules with them: empty stand-ins, deleted after.
( cd "$B" && ninja -t targets all | sed -n 's/^\(.*\.so\): .*/\1/p' | xargs touch \
  && "$PY" "$SRC/vendored-meson/meson/meson.py" install --no-rebuild --destdir "$W/inst" \
    --tags python-runtime >"$W/install.log" 2>&1 ) || { tail -30 "$W/install.log"; die "numpy: installing its Python files failed"; }
site=$(dirname "$(find "$W/inst" -path '*/numpy/__init__.py' | head -1)")
mkdir -p "$NS/site-packages" "$NS/numpy-tests"
cp -a "$site" "$NS/site-packages/numpy"
find "$NS/site-packages" -name '*.so' -delete
( cd "$SRC" && find numpy -type d -name tests -prune | while read -r d; do
    rm -rf "$NS/site-packages/$d"; mkdir -p "$NS/numpy-tests/$(dirname "$d")" && cp -a "$d" "$NS/numpy-tests/$d"; done
  cp numpy/conftest.py "$NS/numpy-tests/numpy/" && cp pytest.ini "$NS/numpy-tests/" )
find "$NS/site-packages" "$NS/numpy-tests" \( -name '*.pyi' -o -name '*.pxd' -o -name 'py.typed' \) -delete
# -f: meson install leaves timestamp .pyc files (its python.bytecompile),
# which compileall would keep; those of generated files (version.py,
# __config__.py) carried the build's time. Each is rewritten checked-hash.
SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH "$PY" -I -m compileall -f -q -j1 --invalidation-mode checked-hash \
  -s "$NS/site-packages" -p /usr/local/lib/python3.13/site-packages "$NS/site-packages" >/dev/null \
  || die "numpy: compiling its Python files failed"
wait $native_pid || { tail -30 "$W/native.log"; die "numpy (native baseline) failed"; }
rm -rf "$W"
progress "numpy compiled: $NS"
