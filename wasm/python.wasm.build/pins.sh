# Inputs of the python.wasm build, each pinned by sha256.
# Debian's archive serves only the current revision of a source package. The
# upstream orig tarballs keep their bytes across Debian revisions; the Debian
# patch tarball and the wasi-libc .deb do not, so a moved revision is reported
# by build.sh with the line to update here.

PY_VERSION=3.13.5
PY_DEBIAN_VERSION=3.13.5-2+deb13u5
PY_ORIG=python3.13_3.13.5.orig.tar.xz
PY_ORIG_SHA256=93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640
PY_DEBIAN=python3.13_3.13.5-2+deb13u5.debian.tar.xz
PY_DEBIAN_SHA256=a51f456e654ce2c9b40cc1db8005e5041cdb0b2c3aa96ab0871c49fe95280366
# Debian patches applied, by pattern, in series order: security and bug fixes
# only; the layout patches (multiarch, deb-locations, ...) are not for WASI.
PY_DEBIAN_PATCHES='^(CVE-.*|ssl-.*|dict-.*|traverse-.*)$'

WASI_LIBC_VERSION=0.0~git20241209.574b88d-2
WASI_LIBC_DEB=wasi-libc_0.0~git20241209.574b88d-2_all.deb
WASI_LIBC_SHA256=b7716260051d289248b7667f81fa2792c125d888ff51da3fa09c6272cc0bd11d

ZLIB_ORIG=zlib_1.3.dfsg+really1.3.1.orig.tar.gz
ZLIB_SRCPKG=zlib
ZLIB_SUITE=trixie
ZLIB_ORIG_SHA256=60dd315c07f616887caa029408308a018ace66e3d142726a97db164b3b8f69fb
BZIP2_ORIG=bzip2_1.0.8.orig.tar.gz
BZIP2_SRCPKG=bzip2
BZIP2_SUITE=bookworm
BZIP2_ORIG_SHA256=ab5a03176ee106d3f0fa90e381da478ddae405918153cca248e682cd0c4a2269
XZ_ORIG=xz-utils_5.4.1.orig.tar.xz
XZ_SRCPKG=xz-utils
XZ_SUITE=bookworm
XZ_ORIG_SHA256=5d9827aa1875b21c288f78864bb26d2650b436ea8d2cad364e4921eb6266a5a5
# SQLite for the _sqlite3 module: the orig tarball is the full source tree; the
# build makes the amalgamation from it (tclsh) and compiles that for WASI.
SQLITE_ORIG=sqlite3_3.46.1.orig.tar.xz
SQLITE_SRCPKG=sqlite3
SQLITE_SUITE=trixie
SQLITE_ORIG_SHA256=d0cdd2ece271b29e7ce18095745d892517ee26d0f270065b3a25c2e9eb11639c
# The IANA time-zone database for zoneinfo, as Debian compiles it (binary
# TZif files): a revision-specific .deb like wasi-libc's, so a moved
# revision is reported with the line to update.
TZDATA_VERSION=2026f-0+deb13u1
TZDATA_DEB=tzdata_2026f-0+deb13u1_all.deb
TZDATA_SHA256=2c1c561091402883430d0d47c57a3c0aa00b44afc8a6239265065a87211a5c11

# Toolchain from the machine's own Debian (bookworm), installed by `make deps`.
LLVM_VERSION=19

# Reproducible builds: the fixed time every input's timestamp is taken to be
# (__DATE__/__TIME__ in Py_GetBuildInfo, .pyc invalidation: with it set,
# compileall writes checked-hash .pyc files instead of timestamped ones).
# 2025-06-11, CPython 3.13.5's release day.
SOURCE_DATE_EPOCH=1749600000

# Only for pgo.sh, which makes pgo/python.profdata (the profile-guided build's
# profile, committed): compiler-rt's profile runtime, from LLVM's source of
# the same version as the compiler.
LLVM_ORIG=llvm-toolchain-19_19.1.7.orig.tar.xz
LLVM_SRCPKG=llvm-toolchain-19
LLVM_SUITE=bookworm
LLVM_ORIG_SHA256=ae498f3bc58ae2d9f64ef5f0c035c4240152bf015a5b7738b15c22e93bdc97ce
