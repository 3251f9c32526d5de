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
#   numpy-site/  trixie's python3-numpy (2.2.4, what `apt install
#          python3-numpy` gives: reference BLAS and LAPACK, whose libraries
#          go into root/), the numpy kernels' second baseline; native only
#   argv   how to start the interpreter, one argument a line: trixie's
#          dynamic loader with --library-path and the binary, so that it runs
#          with trixie's libraries (numpy's BLAS among them) whatever the
#          host's glibc (sys.executable is then the binary, which a
#          subprocess cannot start: the bench starts none)
# Usage: fetch.sh DOWNLOADS_DIR OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../wasm/python.wasm.build/lib.sh"
die() { printf 'bench/debian/fetch.sh: %s\n' "$*" >&2; exit 1; }
DL=$1 OUT=$2
# Debian moves these; 'apt-cache policy PKG' against trixie (the private
# lists in DL/apt-bench) shows what it serves now.
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
libssl3t64_3.5.9-1~deb13u1_amd64.deb:ffefb9af363e0e4592251b2533eb06453c8e470f7772e40263c4b2129251a6d5
libblas3_3.12.1-6_amd64.deb:4af245ecafc30bfa1de9d20af02fec96654ead2f06b1dac40cb03fc9eb0bfbe6
liblapack3_3.12.1-6_amd64.deb:abfc59c8410beee738617bb6daf86b295e45ec0bd08cc0e97bfecc3cfa40fe75
libgfortran5_14.2.0-19_amd64.deb:11b62b53f4704de557e44b510e18a1a2106bcd9a3fc31a475a45952a9aa3dbb2
libgcc-s1_14.2.0-19_amd64.deb:3c71917b490d1a17aed43196a2787a256ecf060526cdb20216a74bedc061b150
libquadmath0_14.2.0-19_amd64.deb:f5b51cf0ece3ec3bb7494d0cdbff3ce715ae00cfb2b6ed787f7db91319d64a7b
libstdc++6_14.2.0-19_amd64.deb:ab1fa05837aa7a92aae748fd07a18a35f7d18bb4a71c4724fe2bbf0e32089de0"
NUMPY="python3-numpy_1%3a2.2.4+ds-1_amd64.deb:eacb51b412e4621e4b6d631a479f6f0589522416e494d8da0e680f1863b5cb44"
LIBS="python3-networkx_3.2.1-5_all.deb:161b9076a60132799b5a0555ace555681c6c4891c8c7b9eb6ec4b17b99e8eae8
python3-sympy_1.13.3-5_all.deb:62fef103cd6b536e1c49808f0a6ac2aeb2c951e355cec3d461425ae1551d5f8b
python3-mpmath_1.3.0-1_all.deb:36596f8992df86d1acada0b5d3e64307449ca13326090fb8d6423e8f8d6d9e60
python3-jinja2_3.1.6-1_all.deb:3271804134e18dbc8dbd146f58399817789373e86a58be44d10ce159cf8c4600
python3-markupsafe_2.1.5-1+b3_amd64.deb:f82dbd759e6b9c111dc764b3ce7744633d0c97948aaa77294984b80e9db44a24
python3-attr_25.3.0-1_all.deb:72cee7fff9e57e8410956e3071ffe910d9de14ddedf14d598a616319428b369c
python3-pyparsing_3.1.2-1_all.deb:f784864f3835bc7e62391350418f28958cc004f1d46690a5c03300ec0a9bcc54"
ALL="$RUNTIME
$LIBS
$NUMPY"
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
rm -rf "$OUT" "$OUT.tmp" && mkdir -p "$OUT.tmp/root" "$OUT.tmp/libs" "$OUT.tmp/numpy"
while IFS=: read -r f sum; do
  check_sha "$DL/$f" "$sum" || die "$f missing or its sha256 differs from bench/debian/fetch.sh (Debian moved it: update the pin)"
done <<<"$ALL"
while IFS=: read -r f _; do dpkg-deb -x "$DL/$f" "$OUT.tmp/root"; done <<<"$RUNTIME"
while IFS=: read -r f _; do dpkg-deb -x "$DL/$f" "$OUT.tmp/libs"; done <<<"$LIBS"
mv "$OUT.tmp/libs/usr/lib/python3/dist-packages" "$OUT.tmp/site"
while IFS=: read -r f _; do dpkg-deb -x "$DL/$f" "$OUT.tmp/numpy"; done <<<"$NUMPY"
mv "$OUT.tmp/numpy/usr/lib/python3/dist-packages" "$OUT.tmp/numpy-site"
rm -rf "$OUT.tmp/numpy"
# libblas.so.3 and liblapack.so.3 are alternatives that dpkg's postinst
# links; a plain install links the reference ones, as here.
ln -s blas/libblas.so.3 "$OUT.tmp/root/usr/lib/x86_64-linux-gnu/libblas.so.3"
ln -s lapack/liblapack.so.3 "$OUT.tmp/root/usr/lib/x86_64-linux-gnu/liblapack.so.3"
# markupsafe's C speedups cannot load in the guest; without them both sides
# run the same pure-Python fallback.
rm -f "$OUT.tmp/site/markupsafe/"_speedups*.so
rm -rf "$OUT.tmp/libs"
root=$OUT/root
py=$root/usr/bin/python3.13
printf '%s\n' "$root/usr/lib64/ld-linux-x86-64.so.2" --library-path "$root/usr/lib/x86_64-linux-gnu" "$py" >"$OUT.tmp/argv"
mv "$OUT.tmp" "$OUT"
mapfile -t argv <"$OUT/argv"
"${argv[@]}" -I -S -c 'import sys; sys.path.insert(0, sys.argv[1]); import networkx, sympy, mpmath, jinja2, attrs, pyparsing' "$OUT/site" ||
  die "Debian's python3.13 in $OUT does not run (argv: ${argv[*]})"
"${argv[@]}" -I -S -c 'import sys; sys.path.insert(0, sys.argv[1]); import numpy; numpy.linalg.solve(numpy.eye(3), numpy.ones(3))' "$OUT/numpy-site" ||
  die "Debian's numpy in $OUT/numpy-site does not run (argv: ${argv[*]})"
# Compiled once, here: both sides (the same CPython 3.13, one magic number)
# then import from these .pyc files, as an installed package would.
"${argv[@]}" -I -S -m compileall -q "$OUT/site" >/dev/null || die "compileall of $OUT/site failed"
touch "$OUT/.$stamp"
echo "bench: Debian's python3.13 in $OUT, run as: ${argv[*]}"
