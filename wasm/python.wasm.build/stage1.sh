#!/usr/bin/env bash
# Stage 1 of the python.wasm build: fetch and verify the inputs, make a private
# wasi sysroot, cross-build zlib/bzip2/xz/SQLite, unpack tzdata, build the native "build python"
# and the WASI build of CPython (static libraries of LLVM bitcode, and the stdlib).
# Usage: stage1.sh STAGE_DIR DOWNLOAD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pins.sh"
. "$here/lib.sh"
STAGE=$1
DL=$2
JOBS=${JOBS:-$(nproc)}
mkdir -p "$STAGE" "$DL"
# Reproducible to the byte: a fixed time, a fixed hash seed for the .pyc
# compiler (set constants are ordered by hash), and no build path in the
# output (-ffile-prefix-map below, the sysconfig rewrite at the end).
export SOURCE_DATE_EPOCH PYTHONHASHSEED=0 LC_ALL=C TZ=UTC

progress "fetching inputs"
fetch_inputs "$DL"

progress "wasi sysroot (trixie wasi-libc $WASI_LIBC_VERSION, private)"
rm -rf "$STAGE/sysroot" && mkdir -p "$STAGE/sysroot"
dpkg-deb -x "$DL/$WASI_LIBC_DEB" "$STAGE/sysroot"
SYSROOT=$STAGE/sysroot/usr
WCC="clang-$LLVM_VERSION --target=wasm32-wasi --sysroot=$SYSROOT -ffile-prefix-map=$STAGE=/build"
export AR=llvm-ar-$LLVM_VERSION RANLIB=llvm-ranlib-$LLVM_VERSION
DEPS=$STAGE/deps
rm -rf "$DEPS" "$STAGE/work" && mkdir -p "$DEPS/include" "$DEPS/lib" "$STAGE/work"
W=$STAGE/work

progress "CPython $PY_VERSION source with Debian's security and bug-fix patches"
SRC=$STAGE/src
rm -rf "$SRC" && mkdir -p "$SRC"
tar -xf "$DL/$PY_ORIG" -C "$SRC" --strip-components=1
mkdir -p "$W/debian" && tar -xf "$DL/$PY_DEBIAN" -C "$W/debian"
n=0
while read -r p; do
  [[ $p =~ $PY_DEBIAN_PATCHES ]] || continue
  patch -s -p1 -d "$SRC" <"$W/debian/debian/patches/$p" || die "Debian patch $p does not apply"
  n=$((n+1))
done <"$W/debian/debian/patches/series"
echo "  applied $n Debian patches"
# Our own: preemption points for the host (see the patch's comment).
for p in "$here"/patches/*.patch; do
  patch -s -p1 -d "$SRC" <"$p" || die "$(basename "$p") does not apply"
done

progress "native build python (also the benchmark's native baseline)"
NATIVE=$STAGE/native
rm -rf "$W/native" && mkdir -p "$W/native"
# In the background: the cross-built libraries below need no Python.
( cd "$W/native" && "$SRC/configure" -q --prefix="$NATIVE" --without-ensurepip >"$W/native.log" 2>&1 \
  && make -s -j"$JOBS" >>"$W/native.log" 2>&1 && make -s install >>"$W/native.log" 2>&1 ) &
native_pid=$!
trap 'kill "$native_pid" 2>/dev/null || true' EXIT
BUILD_PY=$NATIVE/bin/python3.13

progress "zlib for wasm32-wasi"
tar -xf "$DL/$ZLIB_ORIG" -C "$W"
( cd "$W"/zlib-*/ && for f in adler32 crc32 deflate infback inffast inflate inftrees trees zutil compress uncompr gzclose gzlib gzread gzwrite; do
    $WCC -O2 -DHAVE_UNISTD_H -DHAVE_STDARG_H -c $f.c -o $f.o; done
  $AR rcs "$DEPS/lib/libz.a" *.o && cp zlib.h zconf.h "$DEPS/include/" )

progress "bzip2 for wasm32-wasi"
tar -xf "$DL/$BZIP2_ORIG" -C "$W"
( cd "$W"/bzip2-*/ && for f in blocksort huffman crctable randtable compress decompress bzlib; do
    $WCC -O2 -D_FILE_OFFSET_BITS=64 -c $f.c -o $f.o; done
  $AR rcs "$DEPS/lib/libbz2.a" *.o && cp bzlib.h "$DEPS/include/" )

progress "xz (liblzma) for wasm32-wasi"
tar -xf "$DL/$XZ_ORIG" -C "$W"
( cd "$W"/xz-*/
  # Single-threaded liblzma still blocks signals with sigprocmask, which WASI lacks.
  sed -i '0,/^#if !(defined(_WIN32) && !defined(__CYGWIN__))$/s//#if !(defined(_WIN32) \&\& !defined(__CYGWIN__)) \&\& !defined(__wasi__)/' src/common/mythread.h
  grep -q '!defined(__wasi__)' src/common/mythread.h || die "xz: the mythread.h patch did not apply"
  CC="$WCC" CFLAGS=-O2 ./configure -q --host=wasm32-wasi --prefix="$DEPS" --enable-static --disable-shared \
    --disable-threads --disable-xz --disable-xzdec --disable-lzmadec --disable-lzmainfo --disable-lzma-links \
    --disable-scripts --disable-doc --disable-nls >/dev/null
  make -s -j"$JOBS" -C src/liblzma >/dev/null && make -s -C src/liblzma install >/dev/null )

progress "SQLite for wasm32-wasi"
tar -xf "$DL/$SQLITE_ORIG" -C "$W"
# The amalgamation is generated on the build machine (native cc and tclsh),
# then compiled for WASI. One connection per single-threaded interpreter, on
# files no other process shares: no threads, no system locks (unix-none by
# default; the guest's C shim makes the unix VFS, with its in-process lock
# table, the default at start), no mmap and so no WAL, no extension loading;
# temporary tables in memory unless a pragma asks for files; full-text
# search (FTS4, FTS5) and R*Tree.
( cd "$W"/sqlite3-*/ && ./configure -q >"$W/sqlite-configure.log" 2>&1 && make -s sqlite3.c >"$W/sqlite.log" 2>&1 \
  && $WCC -O2 -DSQLITE_WASI -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_WAL \
    -DSQLITE_MAX_MMAP_SIZE=0 -DSQLITE_DEFAULT_UNIX_VFS='"unix-none"' -DSQLITE_TEMP_STORE=2 \
    -DSQLITE_ENABLE_MATH_FUNCTIONS -DSQLITE_ENABLE_FTS4 -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_RTREE \
    -c sqlite3.c -o sqlite3.o \
  && $AR rcs "$DEPS/lib/libsqlite3.a" sqlite3.o && cp sqlite3.h "$DEPS/include/" ) \
  || { tail -20 "$W/sqlite-configure.log" "$W/sqlite.log"; die "sqlite build failed"; }

progress "time zones (Debian's tzdata $TZDATA_VERSION)"
rm -rf "$STAGE/tzdata" && mkdir -p "$W/tzdata" "$STAGE/tzdata"
dpkg-deb -x "$DL/$TZDATA_DEB" "$W/tzdata"
# Links become copies (the guest's file systems have none); localtime points
# out of the tree and posix/, right/ are legacy duplicates.
( cd "$W/tzdata/usr/share/zoneinfo" && tar -ch --exclude=./localtime --exclude=./posix --exclude=./right . ) | tar -x -C "$STAGE/tzdata"
[ -f "$STAGE/tzdata/Europe/Paris" ] || die "tzdata: Europe/Paris is missing"

wait "$native_pid" || { tail -30 "$W/native.log"; die "native build failed"; }
trap - EXIT
progress "native python built"

progress "CPython for wasm32-wasi (pymalloc on)"
WB=$STAGE/wasm-build
rm -rf "$WB" && mkdir -p "$WB"
# configure by a relative path: the source directory's path is compiled into
# python.wasm (getpath's VPATH), and an absolute one differs with where the
# build runs.
# No clock_nanosleep: CPython's time.sleep would use it with TIMER_ABSTIME,
# which WASI hosts (wazero among them) refuse with ENOTSUP; nanosleep is a
# relative sleep that they serve.
# Link-time optimisation (--with-lto=thin): libpython's archives hold LLVM
# bitcode, which wasm-ld optimises across files when stage 2 links the
# reactor: 3-4% faster on the CPU suite (RATIONALE.md, the lever table).
# configure wants llvm-ar by its full path for it.
# Profile-guided (pgo.sh, RATIONALE.md): CPython's own code is compiled with
# the profile committed beside this script, or instrumented to count one when
# pgo.sh sets PGO_GENERATE to the profile runtime it built. Functions the
# training never ran are compiled as before, without a warning each. The
# profile is read from the stage directory: the flags end up in sysconfig,
# where the stage's path is rewritten below and the checkout's would not be.
if [ -n "${PGO_GENERATE:-}" ]; then
  PGO_CFLAGS=-fprofile-generate PGO_LDFLAGS=$PGO_GENERATE
else
  cp "$here/pgo/python.profdata" "$STAGE/python.profdata"
  PGO_CFLAGS="-fprofile-use=$STAGE/python.profdata -Wno-profile-instr-unprofiled -Wno-profile-instr-out-of-date" PGO_LDFLAGS=
fi
( cd "$WB" && CONFIG_SITE="$SRC/Tools/wasm/config.site-wasm32-wasi" CC="$WCC" \
  CFLAGS_NODIST="$PGO_CFLAGS" LDFLAGS_NODIST="$PGO_LDFLAGS" \
  ac_cv_func_clock_nanosleep=no ac_cv_lib_rt_clock_nanosleep=no \
  AR="$AR" RANLIB="$RANLIB" LLVM_AR="$(command -v "$AR")" PKG_CONFIG=false \
  ZLIB_CFLAGS="-I$DEPS/include" ZLIB_LIBS="-L$DEPS/lib -lz" \
  BZIP2_CFLAGS="-I$DEPS/include" BZIP2_LIBS="-L$DEPS/lib -lbz2" \
  LIBLZMA_CFLAGS="-I$DEPS/include" LIBLZMA_LIBS="-L$DEPS/lib -llzma" \
  LIBSQLITE3_CFLAGS="-I$DEPS/include" LIBSQLITE3_LIBS="-L$DEPS/lib -lsqlite3" \
  ../src/configure -q --host=wasm32-wasip1 --build="$(../src/config.guess)" \
    --with-build-python="$BUILD_PY" --without-system-libmpdec --enable-test-modules \
    --with-pymalloc --with-lto=thin --without-ensurepip --prefix=/usr >"$W/wasm-configure.log" 2>&1 \
  && make -s -j"$JOBS" >"$W/wasm.log" 2>&1 ) || { tail -40 "$W/wasm-configure.log" "$W/wasm.log"; die "wasm build failed"; }
# CPython's test C modules (_testcapi, ...) are in libpython for the test
# variant only: stage 2 links the shipped python.wasm without them.
for m in _sqlite3 _testcapi _testinternalcapi _testlimitedcapi; do
  grep -q "PyInit_$m(void)" "$WB/Modules/config.c" || die "module $m was not built (see $W/wasm-configure.log)"
done

progress "stdlib (.pyc tree without test/, idlelib/, tkinter/, ensurepip/)"
# TEST_MODULES=no: the test package is taken from the source below, not
# compiled into the install.
rm -rf "$W/inst" && ( cd "$WB" && make -s install TEST_MODULES=no DESTDIR="$W/inst" >"$W/install.log" 2>&1 ) \
  || { tail -30 "$W/install.log"; die "stdlib install failed"; }
rm -rf "$STAGE/stdlib" && mkdir -p "$STAGE/stdlib"
cp -a "$W/inst/usr/lib/python3.13" "$STAGE/stdlib/"
( cd "$STAGE/stdlib/python3.13" && rm -rf test idlelib tkinter turtledemo ensurepip lib2to3 config-3.13-* site-packages \
  && find . -name '__pycache__' -type d -prune -exec sh -c 'for d; do find "$d" -name "*.opt-[12].pyc" -delete; done' sh {} + )
# sysconfig records the configure line and build directories: the guest must
# see no host path, and the build's output must not depend on where it ran.
for f in "$STAGE"/stdlib/python3.13/_sysconfigdata_*.py; do
  sed -i "s|$STAGE|/build|g" "$f"
  "$BUILD_PY" -I -c 'import os, py_compile, sys; py_compile.compile(sys.argv[1], dfile="/usr/lib/python3.13/" + os.path.basename(sys.argv[1]), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)' "$f"
done
if grep -rlF "$STAGE" "$STAGE/stdlib" | head -5 | grep .; then die "the stdlib above still names the build directory $STAGE"; fi
# CPython's own regression tests (json, re, math, struct, ...) run inside the sandbox from here.
# --disable-test-modules keeps test/ out of the install: take it from the source.
rm -rf "$STAGE/testlib" && mkdir -p "$STAGE/testlib" && cp -a "$SRC/Lib/test" "$STAGE/testlib/"
rm -rf "$W"
progress "stage 1 done"
