#!/usr/bin/env bash
# Fetches pandas' pinned inputs into DOWNLOADS_DIR when one is missing
# (Debian trixie's orig tarball, the pure-Python run-time dependencies and
# trixie's Cython, through a private apt directory as ../lib.sh's
# fetch_inputs does), checks each against its sha256 in pins.sh and prints
# the path of pandas' source; exits 1 when one cannot be had (the variant
# is then not built).
# Usage: source.sh DOWNLOADS_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../numpy/pins.sh"
. "$here/pins.sh"
. "$here/../lib.sh"
dl=$1
mkdir -p "$dl"
all="$PANDAS_ORIG:$PANDAS_ORIG_SHA256
$CYTHON_DEB:$CYTHON_SHA256
$PANDAS_DEPS"
missing=0
while IFS=: read -r f sum; do check_sha "$dl/$f" "$sum" || missing=1; done <<<"$all"
if [ $missing = 1 ]; then
  # Its own apt state directory: a build fetching numpy's inputs at the
  # same time holds the lock of $dl/apt.
  apt_private "$dl/apt-pandas" >&2
  ( cd "$dl"
    # The .dsc answers 404 here; the orig tarball still arrives.
    apt-get -qq "${APT_OPTS[@]}" source --download-only "pandas=$PANDAS_DEBIAN_VERSION" >/dev/null 2>&1 || true
    pkgs=$( (echo "$CYTHON_DEB"; echo "$PANDAS_DEPS") | awk -F: '{split($1, a, "_"); v = a[2]; gsub("%3a", ":", v); print a[1] "=" v}')
    apt-get -qq "${APT_OPTS[@]}" download $pkgs >/dev/null 2>&1 || true )
fi
missing=0
while IFS=: read -r f sum; do
  if ! check_sha "$dl/$f" "$sum"; then
    echo "pandas: $f missing or its sha256 differs from pandas/pins.sh (pinned $sum); 'apt-cache policy' or 'apt-cache showsrc pandas' against trixie (lists in $dl/apt-pandas) shows what Debian serves now" >&2
    missing=1
  fi
done <<<"$all"
[ $missing = 0 ] || exit 1
echo "$dl/$PANDAS_ORIG"
