#!/usr/bin/env bash
# pytest and hypothesis (numpy's test suite needs both) for the guest:
# trixie's pure-Python packages, pinned, unpacked into OUT_DIR (a tree to
# mount as a runtime.Package), for `make numpy-tests` only.
# Usage: testtools.sh DOWNLOADS_DIR OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
DL=$1 OUT=$2
DEBS="python3-pytest_8.3.5-2_all.deb:f933f7b38d1fd2c140684a44fecc7aa23cd6d08364604384c14c4cc21de8f8f9
python3-pluggy_1.5.0-1_all.deb:d762a370c7c54046d991b3caa9095facbee5c54792e306b5f9e32455326f82bc
python3-iniconfig_1.1.1-2_all.deb:c9226a32a78fa93f9e993a4ed77fcb3ceb23c21b9d75d7ea4dc77cb016ed0d83
python3-packaging_25.0-1_all.deb:d70c8469f6e9c6105e1ebcd3ebdc963f11dadbeddd89d2d1a2a3cb1c97d2ecbc
python3-hypothesis_6.130.5-2_all.deb:fc302cc434e7ea073641b5199cccd42301f98d40b2329a8febb56957c439f408
python3-attr_25.3.0-1_all.deb:72cee7fff9e57e8410956e3071ffe910d9de14ddedf14d598a616319428b369c
python3-sortedcontainers_2.4.0-2_all.deb:b00fd22e4fd50d8ba44442607fc3c737186082b16648d3995b2e4fca642f53e1
python3-dateutil_2.9.0-4_all.deb:c86f3b7e878e8035b0850cd4e0d0ee014a4b5ee4a8fb7386d8998e100452d06c
python3-six_1.17.0-1_all.deb:cd1caa92b2860d1de83311cb77f9fab1ee66034ef997cc436d41a1707458666d"
stamp=$(echo "$DEBS" | sha256sum | cut -c1-16)
[ -f "$OUT/.$stamp" ] && exit 0
missing=0
while IFS=: read -r f sum; do check_sha "$DL/$f" "$sum" || missing=1; done <<<"$DEBS"
if [ $missing = 1 ]; then
  apt_private "$DL/apt"
  ( cd "$DL" && apt-get -qq "${APT_OPTS[@]}" download $(echo "$DEBS" | sed 's/_.*//') >/dev/null 2>&1 || true )
fi
rm -rf "$OUT" && mkdir -p "$OUT.tmp"
while IFS=: read -r f sum; do
  check_sha "$DL/$f" "$sum" || die "$f missing or its sha256 differs from numpy/testtools.sh (Debian moved it: update the pin)"
  dpkg-deb -x "$DL/$f" "$OUT.tmp/deb"
done <<<"$DEBS"
mv "$OUT.tmp/deb/usr/lib/python3/dist-packages" "$OUT" && rm -rf "$OUT.tmp"
touch "$OUT/.$stamp"
progress "test tools (pytest, hypothesis) in $OUT"
