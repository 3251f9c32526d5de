#!/usr/bin/env bash
# The interpreter variants the module embeds (wasm/<name>/blob), for `make
# embedded` (copy) and `make check-embedded` (check): each variant whose
# inputs are in the download cache is copied from, or compared byte for
# byte with, what the recipe built; one without them is skipped, saying
# so. pandas is built from numpy's objects, so what skips numpy skips it
# too. SNAKEPIT_NUMPY=0 or SNAKEPIT_PANDAS=0 skips one.
# Usage: variants.sh copy|check CACHE_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mode=$1 cache=$2
skip=""
for v in numpy pandas; do
  blob=$root/wasm/$v/blob built=$cache/python-wasm/$v/current/embed
  off=SNAKEPIT_${v^^}
  if [ -z "$skip" ] && [ "${!off:-1}" = 0 ]; then skip="$off=0"; fi
  if [ -z "$skip" ] && ! "$here/$v/source.sh" "$cache/downloads" >/dev/null; then
    skip="$v's inputs are not in $cache/downloads (wasm/python.wasm.build/README.md says how to get them)"
  fi
  if [ -n "$skip" ]; then
    echo "$v variant: $( [ "$mode" = copy ] && echo "not copied, wasm/$v/blob left as it is" || echo "comparison SKIPPED"): $skip"
    continue
  fi
  for f in python.wasm.gz site-packages.zip MANIFEST; do
    if [ "$mode" = copy ]; then
      cp "$built/$f" "$blob/$f"
    elif ! cmp -s "$built/$f" "$blob/$f"; then
      echo "wasm/$v/blob/$f differs from what the recipe builds ($built/$f): run 'make embedded' and commit" >&2
      exit 1
    fi
  done
  if [ "$mode" = copy ]; then cat "$blob/MANIFEST"
  else echo "$v variant matches the recipe: $(grep ' python.wasm$' "$blob/MANIFEST")"; fi
done
