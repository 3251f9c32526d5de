#!/usr/bin/env bash
# Packs numpy's source at the pinned commit, with the submodules the build
# needs at theirs, from local git repositories, into OUT_DIR/$NUMPY_GIT_TARBALL
# (created if need be), and checks it against NUMPY_GIT_TARBALL_SHA256: for
# machines whose Debian mirror does not serve numpy's source package.
# Usage: source-from-git.sh GIT_ROOT OUT_DIR
# GIT_ROOT holds one repository per GitHub repository (numpy/numpy,
# numpy/meson, google/highway, mreineck/pocketfft, python/pythoncapi-compat,
# intel/x86-simd-sort), plain clones or bare ones, found as the first of
# OWNER+NAME/repo (a snapshot as the agents' `fetch` leaves it),
# OWNER+NAME[.git] and OWNER/NAME[.git]. Only `git archive` of a commit is
# used: a clone that has the commit will do, whatever its branch.
# The tarball is the same bytes wherever GNU tar and xz 5 make it (the
# names are sorted, owners and times fixed; the submodules' commits, not
# their checkouts, are what is packed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pins.sh"
. "$here/../pins.sh"
[ $# = 2 ] || { echo "usage: $0 GIT_ROOT OUT_DIR" >&2; exit 2; }
root=$1 out=$2
gitdir() {
  local r=$1 d
  for d in "$root/${r/\//+}/repo" "$root/${r/\//+}" "$root/${r/\//+}.git" "$root/$r" "$root/$r.git"; do
    if [ -d "$d" ] && git -C "$d" rev-parse --git-dir >/dev/null 2>&1; then echo "$d"; return; fi
  done
  echo "no git repository of $r under $root (as ${r/\//+}/repo, ${r/\//+}, $r or with .git)" >&2
  return 1
}
archive() { # repo commit dir
  local g
  g=$(gitdir "$1")
  git -C "$g" cat-file -e "$2^{commit}" 2>/dev/null \
    || { echo "$g lacks commit $2 of $1: fetch it (git -C $g fetch origin $2) or use a newer snapshot" >&2; return 1; }
  mkdir -p "$3"
  git -C "$g" archive "$2" | tar -x -C "$3"
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
src=$tmp/numpy-$NUMPY_VERSION
archive numpy/numpy "$NUMPY_GIT_COMMIT" "$src"
while IFS=: read -r path repo commit; do
  archive "$repo" "$commit" "$src/$path"
done <<<"$NUMPY_SUBMODULES"
mkdir -p "$out"
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner -C "$tmp" -cf - "numpy-$NUMPY_VERSION" \
  | xz -T1 -6 >"$out/$NUMPY_GIT_TARBALL.tmp"
mv "$out/$NUMPY_GIT_TARBALL.tmp" "$out/$NUMPY_GIT_TARBALL"
got=$(sha256sum "$out/$NUMPY_GIT_TARBALL" | cut -d' ' -f1)
if [ "$got" != "$NUMPY_GIT_TARBALL_SHA256" ]; then
  echo "$out/$NUMPY_GIT_TARBALL: sha256 $got, numpy/pins.sh pins $NUMPY_GIT_TARBALL_SHA256 ($(tar --version | head -1), $(xz --version | head -1))" >&2
  exit 1
fi
echo "$got  $out/$NUMPY_GIT_TARBALL (matches NUMPY_GIT_TARBALL_SHA256)"
