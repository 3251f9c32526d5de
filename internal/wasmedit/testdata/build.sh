#!/usr/bin/env bash
# Builds the rewriter's test modules from their sources, next to them (git
# ignores the .wasm files): the .wat files with wabt's wat2wasm, cloops.c with
# clang, and zlib.wasm from zlib.c with the zlib and wasi-libc of python.wasm's
# stage-1 build. `make test` runs it; a module newer than its sources is kept.
# Usage: build.sh PYTHON_WASM_DIR (the build's output, with its stage link)
set -euo pipefail
cd "$(dirname "$0")"
stage=$1/stage
stale() { local out=$1; shift; for src; do [ "$out" -nt "$src" ] || return 0; done; return 1; }

for f in *.wat; do
  if stale "${f%.wat}.wasm" "$f" build.sh; then wat2wasm "$f" -o "${f%.wat}.wasm"; fi
done
if stale cloops.wasm cloops.c build.sh; then
  clang-19 --target=wasm32 -nostdlib -O2 -msimd128 -mbulk-memory -mnontrapping-fptoint -msign-ext \
    -mreference-types -mmultivalue -Wl,--no-entry -Wl,--export-all cloops.c -o cloops.wasm
fi
if stale zlib.wasm zlib.c build.sh "$stage/deps/lib/libz.a"; then
  clang-19 --target=wasm32-wasi --sysroot="$stage/sysroot/usr" -O2 -mexec-model=reactor \
    -I"$stage/deps/include" zlib.c "$stage/deps/lib/libz.a" -Wl,--strip-debug -o zlib.wasm
fi
