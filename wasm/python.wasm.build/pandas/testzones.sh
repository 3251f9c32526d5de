#!/usr/bin/env bash
# The time zones pandas' tests name: trixie's tzdata with tzdata-legacy
# (US/Pacific, US/Eastern, EST5EDT, CET, ... which trixie moved out of
# tzdata, and out of the guest's zoneinfo), unpacked with every link
# resolved into OUT_DIR, a tree that `make pandas-tests` mounts and points
# zoneinfo, pytz and dateutil at. For the tests only: the variant's own
# zoneinfo stays the default interpreter's.
# Usage: testzones.sh DOWNLOADS_DIR OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../pins.sh"
. "$here/../lib.sh"
DL=$1 OUT=$2
LEGACY_DEB=tzdata-legacy_2026f-0+deb13u1_all.deb
LEGACY_SHA256=92bb8f5ee8f87e6ee641ec3b24876d2d83b64dd1d7fe864b1cceac4cea7f1549
stamp=.$(echo "$TZDATA_SHA256 $LEGACY_SHA256" | sha256sum | cut -c1-16)
[ -f "$OUT/$stamp" ] && exit 0
if ! check_sha "$DL/$LEGACY_DEB" "$LEGACY_SHA256" || ! check_sha "$DL/$TZDATA_DEB" "$TZDATA_SHA256"; then
  apt_private "$DL/apt"
  v=${LEGACY_DEB#tzdata-legacy_}
  ( cd "$DL" && apt-get -qq "${APT_OPTS[@]}" download "tzdata=${v%_all.deb}" "tzdata-legacy=${v%_all.deb}" >/dev/null 2>&1 || true )
fi
for p in "$TZDATA_DEB:$TZDATA_SHA256" "$LEGACY_DEB:$LEGACY_SHA256"; do
  check_sha "$DL/${p%%:*}" "${p#*:}" || die "${p%%:*} missing or its sha256 differs from the pin (pandas/testzones.sh, ../pins.sh)"
done
rm -rf "$OUT" "$OUT.tmp" && mkdir -p "$OUT.tmp"
dpkg-deb -x "$DL/$TZDATA_DEB" "$OUT.tmp"
dpkg-deb -x "$DL/$LEGACY_DEB" "$OUT.tmp"
cp -rL "$OUT.tmp/usr/share/zoneinfo" "$OUT"
rm -rf "$OUT.tmp" && touch "$OUT/$stamp"
progress "pandas' test time zones (tzdata and tzdata-legacy) in $OUT"
