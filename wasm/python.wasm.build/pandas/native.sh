#!/usr/bin/env bash
# The benchmark's native pandas: Debian trixie's python3-pandas and
# python3-pandas-lib (what `apt install python3-pandas` gives, built for
# CPython 3.13 on x86-64) with pandas' pure-Python dependencies, unpacked
# into OUT_DIR (a dist-packages tree), for trixie's python3.13 and
# python3-numpy that `make bench-debian` unpacks.
# Usage: native.sh DOWNLOADS_DIR OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pins.sh"
. "$here/../lib.sh"
DL=$1 OUT=$2
debs="$PANDAS_NATIVE_DEBS
$PANDAS_DEPS"
missing=0
while IFS=: read -r f sum; do check_sha "$DL/$f" "$sum" || missing=1; done <<<"$debs"
if [ $missing = 1 ]; then
  apt_private "$DL/apt-pandas"
  ( cd "$DL" && apt-get -qq "${APT_OPTS[@]}" download $(echo "$debs" | awk -F: '{split($1, a, "_"); print a[1] "=" a[2]}') >/dev/null 2>&1 || true )
fi
rm -rf "$OUT" "$OUT.tmp" && mkdir -p "$OUT.tmp"
while IFS=: read -r f sum; do
  check_sha "$DL/$f" "$sum" || die "$f missing or its sha256 differs from pandas/pins.sh"
  dpkg-deb -x "$DL/$f" "$OUT.tmp"
done <<<"$debs"
mv "$OUT.tmp/usr/lib/python3/dist-packages" "$OUT" && rm -rf "$OUT.tmp"
