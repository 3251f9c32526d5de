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
# Compiled with -O2, linked without: given -O at link time, clang runs any
# wasm-opt on PATH over the output (make deps installs binaryen), and the
# tests expect the modules as clang wrote them.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if stale cloops.wasm cloops.c build.sh; then
  clang-19 --target=wasm32 -nostdlib -O2 -msimd128 -mbulk-memory -mnontrapping-fptoint -msign-ext \
    -mreference-types -mmultivalue -c cloops.c -o "$tmp/cloops.o"
  clang-19 --target=wasm32 -nostdlib -Wl,--no-entry -Wl,--export-all "$tmp/cloops.o" -o cloops.wasm
fi
if stale zlib.wasm zlib.c build.sh "$stage/deps/lib/libz.a"; then
  clang-19 --target=wasm32-wasi --sysroot="$stage/sysroot/usr" -O2 -I"$stage/deps/include" -c zlib.c -o "$tmp/zlib.o"
  clang-19 --target=wasm32-wasi --sysroot="$stage/sysroot/usr" -mexec-model=reactor \
    "$tmp/zlib.o" "$stage/deps/lib/libz.a" -Wl,--strip-debug -o zlib.wasm
fi
