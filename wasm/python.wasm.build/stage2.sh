#!/usr/bin/env bash
# Stage 2 of the python.wasm build: link the reactor from stage 1's static
# libraries and the guest's C shim (internal/abi/guest/snakepit.c; its Python half is
# not in the binary: the host hands it to sp_init), strip it, lay out the outputs
# and write the MANIFEST.
# Usage: stage2.sh STAGE_DIR OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/pins.sh"
. "$here/lib.sh"
STAGE=$1
OUT=$2
SYSROOT=$STAGE/sysroot/usr
SRC=$STAGE/src
WB=$STAGE/wasm-build
DEPS=$STAGE/deps
# The wasm stack: CPython's own C recursion limit for WASI keeps well inside it
# (runtime tests prove a clean RecursionError); smaller means fewer pages.
# ThinLTO's inlining made frames larger: at 2 MiB, recursion through C
# overflowed the stack (a trap) before the limit was reached. PGO made them
# larger again, and the limit came down instead (patches/c-recursion-limit):
# a 12 MiB stack only moved the overflow into wazero's own stack.
STACK=${PYTHON_WASM_STACK:-4194304}

rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp/test" "$OUT.tmp/profile"
WCC="clang-$LLVM_VERSION --target=wasm32-wasi --sysroot=$SYSROOT -ffile-prefix-map=$STAGE=/build -ffile-prefix-map=$root=/src -ffile-prefix-map=$OUT.tmp=/out"
# The shipped interpreter's table of built-in modules leaves out CPython's
# test modules, so the linker does not pull them from libpython.
grep -vE '(_test[a-z_]*|xxsubtype|_xxtestfuzz)' "$WB/Modules/config.c" >"$OUT.tmp/config.c"
$WCC -O2 -I"$SRC/Include" -I"$WB" -I"$DEPS/include" -c "$root/internal/abi/guest/snakepit.c" -o "$OUT.tmp/snakepit.o"
$WCC -O2 -I"$SRC/Include" -I"$WB" -c "$OUT.tmp/config.c" -o "$OUT.tmp/config.o"
# link OUTPUT STRIP [OBJECT...]: the reactor from the guest shim and stage 1's
# libraries; objects given first take precedence over the archives'. No -O
# here: given one, clang runs whatever wasm-opt (binaryen) is on PATH over
# the output, which would make it depend on the machine. (wasm-opt -O2/-O3
# made python.wasm 13% smaller, 1% gzipped, and no faster: RATIONALE.md.)
link() {
  local out=$1 strip=$2; shift 2
  $WCC -mexec-model=reactor "$OUT.tmp/snakepit.o" "$@" \
    "$WB/libpython3.13.a" "$WB/Modules/_decimal/libmpdec/libmpdec.a" \
    "$WB/Modules/_hacl/libHacl_Hash_SHA2.a" "$WB/Modules/expat/libexpat.a" \
    "$DEPS/lib/libz.a" "$DEPS/lib/libbz2.a" "$DEPS/lib/liblzma.a" "$DEPS/lib/libsqlite3.a" \
    -ldl -lwasi-emulated-signal -lwasi-emulated-getpid -lwasi-emulated-process-clocks -lm \
    -Wl,-z,stack-size=$STACK -Wl,--stack-first -Wl,$strip \
    -o "$out"
}
progress "linking the reactor with the guest shim"
link "$OUT.tmp/python.wasm" --strip-all "$OUT.tmp/config.o"
# The test variant, for CPython's test suite only (never embedded): with
# _testcapi, _testinternalcapi, _testlimitedcapi and the others.
link "$OUT.tmp/test/python.wasm" --strip-all
ln -s ../lib "$OUT.tmp/test/lib"
# The shipped interpreter with its function names, for `make profile`.
link "$OUT.tmp/profile/python.wasm" --strip-debug "$OUT.tmp/config.o"
ln -s ../lib "$OUT.tmp/profile/lib"
rm "$OUT.tmp/config.c" "$OUT.tmp/config.o" "$OUT.tmp/snakepit.o"

progress "laying out stdlib, test library and native python"
mkdir -p "$OUT.tmp/lib"
cp -a "$STAGE/stdlib/python3.13" "$OUT.tmp/lib/"
cp -a "$STAGE/testlib" "$OUT.tmp/testlib"
cp -a "$STAGE/tzdata" "$OUT.tmp/zoneinfo"
ln -s ../zoneinfo "$OUT.tmp/test/zoneinfo"
ln -s ../zoneinfo "$OUT.tmp/profile/zoneinfo"
ln -s "$STAGE/native" "$OUT.tmp/native"
# The rewriter's test modules link against stage 1's zlib and wasi-libc.
ln -s "$STAGE" "$OUT.tmp/stage"

progress "packing the interpreter for embedding (embed/)"
mkdir -p "$OUT.tmp/embed"
gzip -9 -n -c "$OUT.tmp/python.wasm" >"$OUT.tmp/embed/python.wasm.gz"
"$STAGE/native/bin/python3.13" -I -S "$here/embed.py" "$OUT.tmp/lib/python3.13" "$OUT.tmp/embed/stdlib.zip"
"$STAGE/native/bin/python3.13" -I -S "$here/embed.py" "$OUT.tmp/zoneinfo" "$OUT.tmp/embed/zoneinfo.zip"
{
  echo "cpython $PY_VERSION"
  echo "abi $(sed -n 's/^#define SP_ABI_VERSION \([0-9]*\)$/\1/p' "$root/internal/abi/guest/snakepit.c")"
  ( cd "$OUT.tmp" && sha256sum python.wasm && cd embed && sha256sum python.wasm.gz stdlib.zip zoneinfo.zip )
} >"$OUT.tmp/embed/MANIFEST"

{
  echo "python.wasm build"
  echo "cpython $PY_VERSION (debian $PY_DEBIAN_VERSION), wasi-libc $WASI_LIBC_VERSION, clang $LLVM_VERSION ($(clang-$LLVM_VERSION --version | head -1))"
  echo "abi version $(sed -n 's/^#define SP_ABI_VERSION \([0-9]*\)$/\1/p' "$root/internal/abi/guest/snakepit.c")"
  echo "stack $STACK"
  echo
  echo "inputs (sha256)"
  echo "$PY_ORIG_SHA256  $PY_ORIG"
  echo "$PY_DEBIAN_SHA256  $PY_DEBIAN"
  echo "$WASI_LIBC_SHA256  $WASI_LIBC_DEB"
  echo "$ZLIB_ORIG_SHA256  $ZLIB_ORIG"
  echo "$BZIP2_ORIG_SHA256  $BZIP2_ORIG"
  echo "$XZ_ORIG_SHA256  $XZ_ORIG"
  echo "$SQLITE_ORIG_SHA256  $SQLITE_ORIG"
  echo "$TZDATA_SHA256  $TZDATA_DEB"
  ( cd "$root" && sha256sum internal/abi/guest/snakepit.c wasm/python.wasm.build/*.sh wasm/python.wasm.build/*.py wasm/python.wasm.build/patches/*.patch )
  echo
  echo "outputs (sha256)"
  ( cd "$OUT.tmp" && sha256sum python.wasm test/python.wasm && echo "$(find lib -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)  lib/ (sha256 of the sorted per-file sha256 list)" )
  echo
  echo "sizes"
  ( cd "$OUT.tmp" && du -sh --apparent-size python.wasm test/python.wasm lib/python3.13 zoneinfo )
} >"$OUT.tmp/MANIFEST"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
progress "python.wasm ready: $OUT"
