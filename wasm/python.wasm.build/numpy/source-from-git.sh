#!/usr/bin/env bash
# Packs numpy's source at the pinned tag, with the submodules the build
# needs, from local git clones, into OUT_DIR/$NUMPY_GIT_TARBALL: for
# machines whose Debian mirror does not serve numpy's source package.
# Usage: source-from-git.sh GIT_ROOT OUT_DIR
# GIT_ROOT holds one clone per repository as OWNER+NAME/repo (numpy+numpy,
# numpy+meson, google+highway, mreineck+pocketfft, python+pythoncapi-compat,
# intel+x86-simd-sort),
# or as OWNER/NAME.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pins.sh"
. "$here/../pins.sh"
root=$1 out=$2
gitdir() { local r=$1; for d in "$root/${r/\//+}/repo" "$root/$r"; do [ -d "$d" ] && { echo "$d"; return; }; done
  echo "no clone of $r under $root" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
src=$tmp/numpy-$NUMPY_VERSION
mkdir -p "$src"
git -C "$(gitdir numpy/numpy)" archive "$NUMPY_GIT_COMMIT" | tar -x -C "$src"
while IFS=: read -r path repo commit; do
  mkdir -p "$src/$path"
  git -C "$(gitdir "$repo")" archive "$commit" | tar -x -C "$src/$path"
done <<<"$NUMPY_SUBMODULES"
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner -C "$tmp" -cf - "numpy-$NUMPY_VERSION" \
  | xz -T1 -6 >"$out/$NUMPY_GIT_TARBALL"
sha256sum "$out/$NUMPY_GIT_TARBALL"
