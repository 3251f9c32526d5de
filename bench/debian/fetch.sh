#!/usr/bin/env bash
# Debian trixie's own python3.13 (3.13.5, built by Debian with PGO and LTO)
# and the pure-Python libraries of the real-code workloads, for `make bench`:
# the second native baseline, what users actually run.
#
# Pinned .debs (version and sha256) are fetched with apt-get download through
# a private apt directory (the machine's sources are never changed; the
# mirror is the one it already uses) and unpacked into OUT_DIR:
#   root/  the interpreter, its standard library and the shared libraries it
#          and its extension modules need (trixie's libc6 included)
#   site/  networkx, sympy, mpmath, jinja2, markupsafe, attrs, pyparsing
#          (/usr/lib/python3/dist-packages): the guest mounts it as a
#          runtime.Package, the native side puts it on sys.path
#   argv   how to start the interpreter, one argument a line: the binary
#          itself when the host's glibc is at least trixie's, else trixie's
#          dynamic loader with --library-path and the binary (sys.executable
#          is then the binary, which a subprocess cannot start: the bench
#          starts none)
# Usage: fetch.sh DOWNLOADS_DIR OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../wasm/python.wasm.build/lib.sh"
die() { printf 'bench/debian/fetch.sh: %s\n' "$*" >&2; exit 1; }
DL=$1 OUT=$2
# Debian moves these; 'apt-cache policy PKG' against trixie (the private
# lists in DL/apt-bench) shows what it serves now.
GLIBC=2.41
RUNTIME="python3.13-minimal_3.13.5-2+deb13u5_amd64.deb:c1fda9e7b1bf15b2fa75a238d8a8710e142fe14c722fc650c5fc614f078c9073
libpython3.13-minimal_3.13.5-2+deb13u5_amd64.deb:a4aa6a9a8c77f87bfe545e1d14ec42c001d189ace90e3aa75deec882b39dee49
libpython3.13-stdlib_3.13.5-2+deb13u5_amd64.deb:db161322a3481d2c0c3b9a3b9a03c3ab0e2b1718f54b88755fb4a3f939165b84
libc6_2.41-12+deb13u5_amd64.deb:b59b0625cd1a791375d40dab23a4d5d3d0641e3d0a773501becdc3725b7f99cf
zlib1g_1%3a1.3.dfsg+really1.3.1-1+deb13u1_amd64.deb:8c27c342230503b73dfde629642c3b352e87b554e06d60cf58772f236a305ceb
libexpat1_2.9.0-1~deb13u1_amd64.deb:feff874772cae904ae4d24e917b35664952bec4b4ae9100a4edda5a7fa746832
libffi8_3.4.8-2_amd64.deb:0ebdc340de33333639c3c63874cd4b15ac2e83dfa1ef3053b7eefaf4919f4f68
libbz2-1.0_1.0.8-6_amd64.deb:cba4cda04244b5e481bb15524bc3c983a7d1b6f330013b9b381706a2fcb65310
liblzma5_5.8.1-1+deb13u2_amd64.deb:b38acab30f295bf1066a6632e31cbd0a1980f2924b38040cda131d5dea5384ec
libsqlite3-0_3.46.1-7+deb13u2_amd64.deb:0a459adaffd901109f7811ab65f58e7a957b4907d05539cf3d1184efdcde0468
libuuid1_2.41.5-0+deb13u1_amd64.deb:c1bf4c4c3ff48c57fabf93307dfb56996b60cfa33927afc4158b5db36fb2721e
libssl3t64_3.5.9-1~deb13u1_amd64.deb:ffefb9af363e0e4592251b2533eb06453c8e470f7772e40263c4b2129251a6d5"
LIBS="python3-networkx_3.2.1-5_all.deb:161b9076a60132799b5a0555ace555681c6c4891c8c7b9eb6ec4b17b99e8eae8
python3-sympy_1.13.3-5_all.deb:62fef103cd6b536e1c49808f0a6ac2aeb2c951e355cec3d461425ae1551d5f8b
python3-mpmath_1.3.0-1_all.deb:36596f8992df86d1acada0b5d3e64307449ca13326090fb8d6423e8f8d6d9e60
python3-jinja2_3.1.6-1_all.deb:3271804134e18dbc8dbd146f58399817789373e86a58be44d10ce159cf8c4600
python3-markupsafe_2.1.5-1+b3_amd64.deb:f82dbd759e6b9c111dc764b3ce7744633d0c97948aaa77294984b80e9db44a24
python3-attr_25.3.0-1_all.deb:72cee7fff9e57e8410956e3071ffe910d9de14ddedf14d598a616319428b369c
python3-pyparsing_3.1.2-1_all.deb:f784864f3835bc7e62391350418f28958cc004f1d46690a5c03300ec0a9bcc54"
ALL="$RUNTIME
$LIBS"
stamp=$(echo "$ALL" | sha256sum | cut -c1-16)
[ -f "$OUT/.$stamp" ] && exit 0
missing=0
while IFS=: read -r f sum; do check_sha "$DL/$f" "$sum" || missing=1; done <<<"$ALL"
if [ $missing = 1 ]; then
  apt_private "$DL/apt-bench"
  # apt-get download names a package by name=version; the file name has
  # the epoch as %3a and no epoch in the version part after it.
  pkgs=$(echo "$ALL" | awk -F: '{split($1, a, "_"); v = a[2]; gsub("%3a", ":", v); print a[1] "=" v}')
  ( cd "$DL" && apt-get -qq "${APT_OPTS[@]}" download $pkgs >/dev/null 2>&1 || true )
fi
rm -rf "$OUT" "$OUT.tmp" && mkdir -p "$OUT.tmp/root" "$OUT.tmp/libs"
while IFS=: read -r f sum; do
  check_sha "$DL/$f" "$sum" || die "$f missing or its sha256 differs from bench/debian/fetch.sh (Debian moved it: update the pin)"
done <<<"$ALL"
while IFS=: read -r f _; do dpkg-deb -x "$DL/$f" "$OUT.tmp/root"; done <<<"$RUNTIME"
while IFS=: read -r f _; do dpkg-deb -x "$DL/$f" "$OUT.tmp/libs"; done <<<"$LIBS"
mv "$OUT.tmp/libs/usr/lib/python3/dist-packages" "$OUT.tmp/site"
# markupsafe's C speedups cannot load in the guest; without them both sides
# run the same pure-Python fallback.
rm -f "$OUT.tmp/site/markupsafe/"_speedups*.so
rm -rf "$OUT.tmp/libs"
root=$OUT/root
py=$root/usr/bin/python3.13
host=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}' || true)
if [ -n "$host" ] && [ "$(printf '%s\n%s\n' "$GLIBC" "$host" | sort -V | head -1)" = "$GLIBC" ]; then
  printf '%s\n' "$py" >"$OUT.tmp/argv"
else
  printf '%s\n' "$root/usr/lib64/ld-linux-x86-64.so.2" --library-path "$root/usr/lib/x86_64-linux-gnu" "$py" >"$OUT.tmp/argv"
fi
mv "$OUT.tmp" "$OUT"
mapfile -t argv <"$OUT/argv"
"${argv[@]}" -I -S -c 'import sys; sys.path.insert(0, sys.argv[1]); import networkx, sympy, mpmath, jinja2, attrs, pyparsing' "$OUT/site" ||
  die "Debian's python3.13 in $OUT does not run (argv: ${argv[*]})"
# Compiled once, here: both sides (the same CPython 3.13, one magic number)
# then import from these .pyc files, as an installed package would.
"${argv[@]}" -I -S -m compileall -q "$OUT/site" >/dev/null || die "compileall of $OUT/site failed"
touch "$OUT/.$stamp"
echo "bench: Debian's python3.13 in $OUT, run as: ${argv[*]}"
