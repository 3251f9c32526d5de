#!/usr/bin/env bash
# Builds python.wasm, its stdlib and the native python of the same source,
# cached by a hash of the recipe and its inputs.
#
# Outputs: $SNAKEPIT_CACHE_DIR (default ${XDG_CACHE_HOME:-~/.cache}/snakepit-wasm)
#   python-wasm/current -> out/<hash>/{python.wasm,lib/python3.13,testlib,native,stage,MANIFEST}
# A second run with nothing changed only re-checks the hashes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
CACHE=${SNAKEPIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/snakepit-wasm}
base=$CACHE/python-wasm

for t in clang-19 wasm-ld-19 llvm-ar-19 llvm-ranlib-19 dpkg-deb apt-get patch make; do
  command -v "$t" >/dev/null || die "$t is missing: run 'make deps' (it installs the build's Debian packages)"
done
[ -f /usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a ] || die "libclang-rt-19-dev-wasm32 is missing: run 'make deps'"

h1=$(cat "$here/pins.sh" "$here/lib.sh" "$here/stage1.sh" "$here"/patches/*.patch "$here/pgo/python.profdata" | sha256sum | cut -c1-16)
h2=$( (echo "$h1"; cat "$here/stage2.sh" "$here/embed.py" "$root/internal/abi/guest/snakepit.c") | sha256sum | cut -c1-16)
stage=$base/stage/$h1
out=$base/out/$h2

if [ -f "$out/MANIFEST" ]; then
  ln -sfn "out/$h2" "$base/current"
  progress "python.wasm up to date ($out)"
  "$here/numpy/stage.sh" "$base" "$stage" "$CACHE/downloads" "$h1"
  "$here/pandas/stage.sh" "$base" "$stage" "$CACHE/downloads" "$h1"
  exit 0
fi
# One build at a time per cache directory.
mkdir -p "$base"
exec 9>"$base/.lock"
flock 9
if [ ! -f "$stage/.done" ]; then
  progress "stage 1 ($h1): building CPython from Debian's sources, about 12-15 minutes on 2 cores"
  rm -rf "$stage"
  "$here/stage1.sh" "$stage" "$CACHE/downloads"
  touch "$stage/.done"
fi
"$here/stage2.sh" "$stage" "$out"
ln -sfn "out/$h2" "$base/current"
# Old outputs of this cache are dead weight once a new one is current.
find "$base/out" -mindepth 1 -maxdepth 1 ! -name "$h2" -exec rm -rf {} +
find "$base/stage" -mindepth 1 -maxdepth 1 ! -name "$h1" -exec rm -rf {} +
"$here/numpy/stage.sh" "$base" "$stage" "$CACHE/downloads" "$h1"
# After numpy's: it links numpy's objects, and skips when they are not built.
"$here/pandas/stage.sh" "$base" "$stage" "$CACHE/downloads" "$h1"
progress "done"
cat "$out/MANIFEST" | tail -4
