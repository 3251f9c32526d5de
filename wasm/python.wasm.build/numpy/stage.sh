#!/usr/bin/env bash
# The numpy variant of python.wasm, cached like stages 1 and 2: compile.sh
# (numpy's objects, about N minutes on 2 cores) by a hash of stage 1 and
# its own inputs, link.sh (seconds) by that and the guest shim.
# Usage: stage.sh BASE STAGE_DIR DOWNLOADS_DIR H1
#   BASE is the build's python-wasm/ directory; the variant goes to
#   BASE/numpy/current -> out/<hash>. SNAKEPIT_NUMPY=0 skips it.
# When numpy's source cannot be had (compile.sh exits 3), the variant is
# skipped with a notice: the default interpreter does not depend on it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
. "$here/../lib.sh"
base=$1 stage=$2 dl=$3 h1=$4
[ "${SNAKEPIT_NUMPY:-1}" != 0 ] || { progress "numpy variant skipped (SNAKEPIT_NUMPY=0)"; exit 0; }
hn=$( (echo "$h1"; cat "$here/pins.sh" "$here/compile.sh" "$here/npy_cpu-wasm.patch") | sha256sum | cut -c1-16)
hl=$( (echo "$hn"; cat "$here/link.sh" "$here/cxa_stubs.c" "$here/../embed.py" "$root/internal/abi/guest/snakepit.c") | sha256sum | cut -c1-16)
nb=$base/numpy
ns=$nb/stage/$hn
out=$nb/out/$hl
mkdir -p "$nb"
exec 8>"$nb/.lock"
flock 8
if [ ! -f "$out/MANIFEST" ]; then
  if [ ! -f "$ns/.done" ]; then
    progress "numpy variant ($hn): compiling numpy for wasm32-wasi"
    rc=0; "$here/compile.sh" "$stage" "$ns" "$dl" || rc=$?
    if [ $rc = 3 ]; then progress "numpy variant skipped: its source is missing (above)"; exit 0; fi
    [ $rc = 0 ] || exit $rc
    touch "$ns/.done"
  fi
  "$here/link.sh" "$stage" "$ns" "$out"
fi
ln -sfn "out/$hl" "$nb/current"
find "$nb/out" -mindepth 1 -maxdepth 1 ! -name "$hl" -exec rm -rf {} +
find "$nb/stage" -mindepth 1 -maxdepth 1 ! -name "$hn" -exec rm -rf {} +
progress "numpy variant up to date ($out)"
