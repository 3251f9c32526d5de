#!/usr/bin/env bash
# The numpy stage, part 2: python.wasm with numpy's modules built in,
# linked as stage2.sh links the shipped one (same guest shim, flags and
# libraries) plus libnumpy.a, libc++, wasi-libc's long double printf (numpy
# formats long doubles) and a table of built-in modules that adds numpy's
# under their dotted names; then the outputs and MANIFEST.
# Usage: link.sh STAGE_DIR NUMPY_STAGE_DIR OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
. "$here/../pins.sh"
. "$here/pins.sh"
. "$here/../lib.sh"
STAGE=$1 NS=$2 OUT=$3
SYSROOT=$STAGE/sysroot/usr
SRC=$STAGE/src
WB=$STAGE/wasm-build
DEPS=$STAGE/deps
STACK=${PYTHON_WASM_STACK:-4194304} # as stage2.sh
T=$OUT.tmp
rm -rf "$T" && mkdir -p "$T/embed" "$T/work"
WCC="clang-$LLVM_VERSION --target=wasm32-wasi --sysroot=$SYSROOT -ffile-prefix-map=$STAGE=/build -ffile-prefix-map=$root=/src -ffile-prefix-map=$T=/out"

# stage2.sh's table of built-in modules (test modules left out), numpy's added.
{ grep -vE '(_test[a-z_]*|xxsubtype|_xxtestfuzz)' "$WB/Modules/config.c" | sed '/\/\* Sentinel \*\//,$d'
  while read -r name fn; do echo "    {\"$name\", $fn},"; done <"$NS/modules.txt"
  printf '    /* Sentinel */\n    {0, 0}\n};\n'
} >"$T/work/config.c"
{ echo '#include "Python.h"'; while read -r name fn; do echo "extern PyObject *$fn(void);"; done <"$NS/modules.txt"; } >"$T/work/decl.h"
$WCC -O2 -I"$SRC/Include" -I"$WB" -include "$T/work/decl.h" -c "$T/work/config.c" -o "$T/work/config.o"
$WCC -O2 -I"$SRC/Include" -I"$WB" -I"$DEPS/include" -c "$root/internal/abi/guest/snakepit.c" -o "$T/work/snakepit.o"
$WCC -O2 -c "$here/cxa_stubs.c" -o "$T/work/cxa_stubs.o"
progress "numpy: linking python.wasm with numpy built in"
$WCC -mexec-model=reactor "$T/work/snakepit.o" "$T/work/config.o" "$T/work/cxa_stubs.o" "$NS/lib/libnumpy.a" \
  "$WB/libpython3.13.a" "$WB/Modules/_decimal/libmpdec/libmpdec.a" \
  "$WB/Modules/_hacl/libHacl_Hash_SHA2.a" "$WB/Modules/expat/libexpat.a" \
  "$DEPS/lib/libz.a" "$DEPS/lib/libbz2.a" "$DEPS/lib/liblzma.a" "$DEPS/lib/libsqlite3.a" \
  "$NS/lib/libc++.a" "$NS/lib/libc++abi.a" \
  -lc-printscan-long-double -ldl -lwasi-emulated-signal -lwasi-emulated-getpid -lwasi-emulated-process-clocks -lm \
  -Wl,-z,stack-size=$STACK -Wl,--stack-first -Wl,--strip-all \
  -o "$T/python.wasm"
rm -rf "$T/work"

progress "numpy: laying out the variant (lib, site-packages, numpy-tests, embed/)"
mkdir -p "$T/lib" && cp -a "$STAGE/stdlib/python3.13" "$T/lib/"
cp -a "$STAGE/tzdata" "$T/zoneinfo"
cp -a "$NS/site-packages" "$T/site-packages"
cp -a "$NS/numpy-tests" "$T/numpy-tests"
# The native numpy of the same source, for the benchmark (native.sh).
if [ -d "$NS/native-site" ]; then ln -s "$NS/native-site" "$T/native-site"; fi
gzip -9 -n -c "$T/python.wasm" >"$T/embed/python.wasm.gz"
"$STAGE/native/bin/python3.13" -I -S "$here/../embed.py" "$T/site-packages" "$T/embed/site-packages.zip"
# The variant runs with the default interpreter's stdlib.zip (package
# wasm/embedded): MANIFEST records the sha256 of the one this stage 1
# makes (stage2.sh's, byte for byte), which wasm/numpy's tests compare.
"$STAGE/native/bin/python3.13" -I -S "$here/../embed.py" "$T/lib/python3.13" "$T/stdlib.zip"
{
  echo "cpython $PY_VERSION"
  echo "variant numpy"
  echo "numpy $NUMPY_VERSION"
  echo "abi $(sed -n 's/^#define SP_ABI_VERSION \([0-9]*\)$/\1/p' "$root/internal/abi/guest/snakepit.c")"
  echo "stdlib $(sha256sum "$T/stdlib.zip" | cut -d' ' -f1)"
  ( cd "$T" && sha256sum python.wasm && cd embed && sha256sum python.wasm.gz site-packages.zip )
} >"$T/embed/MANIFEST"
rm "$T/stdlib.zip"
{
  echo "python.wasm build, numpy variant"
  echo "cpython $PY_VERSION (debian $PY_DEBIAN_VERSION), numpy $NUMPY_VERSION, clang $LLVM_VERSION"
  echo "built-in numpy modules: $(cut -d' ' -f1 "$NS/modules.txt" | tr '\n' ' ')"
  echo
  cat "$NS/INPUTS"
  echo
  echo "outputs (sha256)"
  ( cd "$T" && sha256sum python.wasm embed/* )
  echo
  echo "sizes"
  ( cd "$T" && du -sh --apparent-size python.wasm embed/python.wasm.gz embed/site-packages.zip site-packages numpy-tests )
} >"$T/MANIFEST"
rm -rf "$OUT" && mv "$T" "$OUT"
progress "numpy variant ready: $OUT"
