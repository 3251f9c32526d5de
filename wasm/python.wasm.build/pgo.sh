#!/usr/bin/env bash
# Makes pgo/python.profdata, the profile stage 1 compiles CPython with
# (-fprofile-use). A stage 1 instrumented with -fprofile-generate runs
# CPython's own PGO training task, `python -m test --pgo` (what
# `./configure --enable-optimizations` trains on), as a WASI command under
# wazero, and llvm-profdata merges the counts.
#
# The profile is an input of the recipe, committed and hashed like a patch:
# `make python-wasm` never trains, so a cold build stays one stage 1. Run
# `make pgo-profile` after changing CPython's source, its patches or its
# compile flags, then rebuild and commit the profile with the new interpreter.
# Training runs tests whose timings vary, so the profile is not reproducible
# to the byte; the build from a given profile is.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/pins.sh"
. "$here/lib.sh"
CACHE=${SNAKEPIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/snakepit-wasm}
DL=$CACHE/downloads
work=$CACHE/python-wasm/pgo
for t in clang-$LLVM_VERSION llvm-ar-$LLVM_VERSION llvm-profdata-$LLVM_VERSION go; do
  command -v "$t" >/dev/null || die "$t is missing: run 'make deps'"
done
rm -rf "$work" && mkdir -p "$work/rt" "$work/train/tmp" "$DL"

# The pinned inputs first: the runtime is compiled against stage 1's
# wasi-libc, before stage 1 (which fetches them too) has run.
progress "fetching inputs"
fetch_inputs "$DL"
progress "compiler-rt's profile runtime for wasm32-wasi (LLVM $LLVM_VERSION source)"
if ! check_sha "$DL/$LLVM_ORIG" "$LLVM_ORIG_SHA256"; then
  apt_private "$DL/apt"
  ( cd "$DL" && apt-get -qq "${APT_OPTS[@]}" source --download-only "$LLVM_SRCPKG/$LLVM_SUITE" >/dev/null 2>&1 || true )
  check_sha "$DL/$LLVM_ORIG" "$LLVM_ORIG_SHA256" || die "$LLVM_ORIG: missing or not the pinned sha256"
fi
top=${LLVM_ORIG%.orig.tar.xz}
tar -xJf "$DL/$LLVM_ORIG" -C "$work" "$top/compiler-rt/lib/profile" "$top/compiler-rt/include/profile"
prof=$work/$top/compiler-rt/lib/profile
# The whole runtime but its file writer, which wants mmap, flock and getpid:
# profile-writer.c writes the raw profile at exit instead. LLVM 19's
# PlatformOther.c, the registration-based platform that WASI falls back to,
# names bitmap bounds it never declares (fixed in LLVM 20); MC/DC bitmaps are
# not used here, so they are null.
wcc=(clang-$LLVM_VERSION --target=wasm32-wasi "--sysroot=$work/sysroot/usr" -O2 -I"$prof/../../include" -I"$prof"
  -DCOMPILER_RT_HAS_ATOMICS=1 '-DBitmapFirst=((char *)0)' '-DBitmapLast=((char *)0)')
dpkg-deb -x "$DL/$WASI_LIBC_DEB" "$work/sysroot"
for f in InstrProfiling InstrProfilingBuffer InstrProfilingInternal InstrProfilingMerge InstrProfilingNameVar \
  InstrProfilingPlatformOther InstrProfilingValue InstrProfilingVersionVar InstrProfilingWriter; do
  "${wcc[@]}" -c "$prof/$f.c" -o "$work/rt/$f.o"
done
"${wcc[@]}" -c "$here/pgo/profile-writer.c" -o "$work/rt/profile-writer.o"
llvm-ar-$LLVM_VERSION rcs "$work/rt/libprofile.a" "$work/rt"/*.o

progress "stage 1 instrumented (-fprofile-generate)"
PGO_GENERATE=$work/rt/libprofile.a "$here/stage1.sh" "$work/stage" "$DL"

progress "training: python -m test --pgo under wazero"
# Failures of single tests do not matter (WASI lacks subprocesses, sockets);
# the counts of what ran do. test_fstring is left out: it does not finish
# under wazero (it times out in the stdlib table too).
tests=$("$work/stage/native/bin/python3.13" -I -c 'import sys; sys.path[:0] = [sys.argv[1]]
from test.libregrtest.pgo import PGO_TESTS
print(" ".join(t for t in PGO_TESTS if t != "test_fstring"))' "$work/stage/testlib")
# shellcheck disable=SC2086 # one word a test
( cd "$root" && go run ./wasm/python.wasm.build/pgo/train -wasm "$work/stage/wasm-build/python.wasm" -cache "$work/wazero" \
    -mount "$work/stage/stdlib:/usr/lib:ro" -mount "$work/stage/testlib:/testlib:ro" -mount "$work/train/tmp:/tmp" \
    -env PYTHONPATH=/testlib -env PYTHONHASHSEED=0 -env HOME=/tmp -env TMPDIR=/tmp \
    -env LLVM_PROFILE_FILE=/tmp/python.profraw \
    -- -m test --pgo --tempdir=/tmp/regrtest $tests ) >"$work/train/log" 2>&1 || true
tail -8 "$work/train/log"
[ -s "$work/train/tmp/python.profraw" ] || die "training wrote no profile (see $work/train/log)"
llvm-profdata-$LLVM_VERSION merge -o "$here/pgo/python.profdata" "$work/train/tmp/python.profraw"
progress "wrote $here/pgo/python.profdata ($(stat -c %s "$here/pgo/python.profdata") bytes): rebuild with 'make python-wasm'"
