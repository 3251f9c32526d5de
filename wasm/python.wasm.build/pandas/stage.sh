#!/usr/bin/env bash
# The pandas variant of python.wasm (numpy and pandas built in), cached
# like the numpy variant, after it: compile.sh (pandas' objects) by a hash
# of stage 1, numpy's pins and its own inputs; link.sh by that, the numpy
# stage's hash and the link's inputs. Needs the numpy stage's objects
# (BASE/numpy/stage/<hash>/.done): numpy/stage.sh makes them.
# Usage: stage.sh BASE STAGE_DIR DOWNLOADS_DIR H1
#   BASE is the build's python-wasm/ directory; the variant goes to
#   BASE/pandas/current -> out/<hash>. SNAKEPIT_PANDAS=0 skips it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
. "$here/../lib.sh"
base=$1 stage=$2 dl=$3 h1=$4
[ "${SNAKEPIT_PANDAS:-1}" != 0 ] || { progress "pandas variant skipped (SNAKEPIT_PANDAS=0)"; exit 0; }
nh=$here/../numpy
# numpy/stage.sh's hash of numpy's objects, computed as there.
hn=$( (echo "$h1"; cat "$nh/pins.sh" "$nh/compile.sh" "$nh/npy_cpu-wasm.patch") | sha256sum | cut -c1-16)
hp=$( (echo "$h1"; cat "$nh/pins.sh" "$nh/npy_cpu-wasm.patch" "$here/pins.sh" "$here/source.sh" "$here/compile.sh" "$here/wasi.patch") | sha256sum | cut -c1-16)
hl=$( (echo "$hn $hp"; cat "$here/link.sh" "$here/dedup.py" "$nh/link.sh" "$nh/cxa_stubs.c" "$here/../embed.py" "$root/internal/abi/guest/snakepit.c") | sha256sum | cut -c1-16)
ns=$base/numpy/stage/$hn
[ -f "$ns/.done" ] || { progress "pandas variant skipped: numpy's objects ($ns) are not built"; exit 0; }
pb=$base/pandas
ps=$pb/stage/$hp
out=$pb/out/$hl
mkdir -p "$pb"
exec 7>"$pb/.lock"
flock 7
if [ ! -f "$out/MANIFEST" ]; then
  if [ ! -f "$ps/.done" ]; then
    progress "pandas variant ($hp): compiling pandas for wasm32-wasi"
    rc=0; "$here/compile.sh" "$stage" "$ps" "$dl" || rc=$?
    if [ $rc = 3 ]; then progress "pandas variant skipped: an input is missing (above)"; exit 0; fi
    [ $rc = 0 ] || exit $rc
    touch "$ps/.done"
  fi
  "$here/link.sh" "$stage" "$ns" "$ps" "$out"
  # The benchmark's native pandas (Debian's), beside the variant.
  "$here/native.sh" "$dl" "$out/native-site"
fi
ln -sfn "out/$hl" "$pb/current"
find "$pb/out" -mindepth 1 -maxdepth 1 ! -name "$hl" -exec rm -rf {} +
find "$pb/stage" -mindepth 1 -maxdepth 1 ! -name "$hp" -exec rm -rf {} +
progress "pandas variant up to date ($out)"
