#!/usr/bin/env bash
# The pandas stage, part 1: pandas' Cython, C and C++ sources compiled for
# wasm32-wasi against stage 1's CPython and numpy's headers for wasm32,
# archived as libpandas.a, and pandas' Python files (with its pure-Python
# dependencies) as a .pyc tree.
# Usage: compile.sh STAGE_DIR PANDAS_STAGE_DIR DOWNLOADS_DIR
# STAGE_DIR (stage 1's output) is only read. SNAKEPIT_JOBS caps ninja's
# parallel jobs (default: the number of CPUs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../pins.sh"
. "$here/../numpy/pins.sh"
. "$here/pins.sh"
. "$here/../lib.sh"
STAGE=$1 PS=$2 DL=$3
# The build runs in a fixed directory, one at a time per machine: Cython
# writes each .pyx file's absolute path into the objects (traceback file
# names) and pandas' Python files record the compiler's arguments, so a
# work directory under the cache would put the cache's location (a
# user's home) into python.wasm and site-packages.zip.
W=/tmp/snakepit-wasm-pandas
exec 5>"$W.lock"
flock 5
PY=$STAGE/native/bin/python3.13
JOBS=${SNAKEPIT_JOBS:-$(nproc)}
rm -rf "$PS" "$W" && mkdir -p "$PS" "$W" "$DL"
step() { progress "pandas: $* ($(( $(date +%s) - t_step ))s since the last step)"; t_step=$(date +%s); }
t_step=$(date +%s)

# Inputs: pandas' (source.sh fetches them), numpy's source for its headers
# (exit status 3, as numpy's: the variant is skipped, nothing fails).
src_tar=$("$here/source.sh" "$DL") || { echo "pandas' inputs are missing (above)" >&2; exit 3; }
np_tar=$("$here/../numpy/source.sh" "$DL") || { echo "numpy's source is missing (see numpy/source.sh)" >&2; exit 3; }
for pair in "$LIBCXX_DEB:$LIBCXX_SHA256" "$LIBCXXABI_DEB:$LIBCXXABI_SHA256"; do
  check_sha "$DL/${pair%%:*}" "${pair#*:}" \
    || ( cd "$DL" && apt-get -qq download "libc++-19-dev-wasm32=$LIBCXX_VERSION" "libc++abi-19-dev-wasm32=$LIBCXX_VERSION" >/dev/null 2>&1 ) || true
  check_sha "$DL/${pair%%:*}" "${pair#*:}" || die "${pair%%:*} missing or its sha256 differs from numpy/pins.sh"
done

tar -xf "$src_tar" -C "$W"
SRC=$W/pandas-$PANDAS_VERSION
# WASI has neither ctypes nor mmap: pandas imports them late or not at all.
patch -s -d "$SRC" -p1 <"$here/wasi.patch"
tar -xf "$np_tar" -C "$W"
NPSRC=$(echo "$W"/numpy-*)
patch -s -d "$NPSRC" -p1 <"$here/../numpy/npy_cpu-wasm.patch"
dpkg-deb -x "$DL/$CYTHON_DEB" "$W/cython"
cp -a "$STAGE/sysroot" "$W/sysroot"
dpkg-deb -x "$DL/$LIBCXX_DEB" "$W/sysroot"
dpkg-deb -x "$DL/$LIBCXXABI_DEB" "$W/sysroot"
step "inputs unpacked"

# As numpy/compile.sh: the native python3.13 reading the WASI build's
# sysconfig runs meson and the generators; Cython is trixie's. npstub/ is
# what `import numpy` gives them: numpy's headers for wasm32 (below) and
# its Cython declarations, no compiled code.
mkdir -p "$W/bin" "$W/pyconf" "$W/include/python3.13" "$W/npstub/numpy"
cp -a "$STAGE/src/Include/." "$W/include/python3.13/"
cp "$STAGE/wasm-build/pyconfig.h" "$W/include/python3.13/"
sed "s|'INCLUDEPY': '[^']*'|'INCLUDEPY': '$W/include/python3.13'|" \
  "$STAGE/wasm-build/build/lib.wasi-wasm32-3.13/_sysconfigdata__wasi_wasm32-wasi.py" >"$W/pyconf/_sysconfigdata__wasi_wasm32-wasi.py"
CYPATH=$W/cython/usr/lib/python3/dist-packages
cat >"$W/bin/python-wasi" <<SH
#!/bin/sh
_PYTHON_SYSCONFIGDATA_NAME=_sysconfigdata__wasi_wasm32-wasi PYTHONPATH=$W/pyconf:$W/npstub:$CYPATH exec $PY "\$@"
SH
cat >"$W/bin/cython" <<SH
#!/bin/sh
PYTHONPATH=$W/npstub:$CYPATH exec $PY -m cython "\$@"
SH
chmod +x "$W/bin/python-wasi" "$W/bin/cython"
export PATH="$W/bin:$PATH"
FLAGS="'--target=wasm32-wasi', '--sysroot=$W/sysroot/usr', '-ffile-prefix-map=$W=/build'"
cat >"$W/cross.ini" <<INI
[binaries]
c = ['clang-$LLVM_VERSION', $FLAGS]
cpp = ['clang++-$LLVM_VERSION', $FLAGS]
ar = 'llvm-ar-$LLVM_VERSION'
strip = 'llvm-strip-$LLVM_VERSION'
python = '$W/bin/python-wasi'
cython = '$W/bin/cython'
[host_machine]
system = 'wasi'
cpu_family = 'wasm32'
cpu = 'wasm32'
endian = 'little'
[properties]
needs_exe_wrapper = true
skip_sanity_check = true
longdouble_format = 'IEEE_QUAD_LE'
INI

# numpy's headers for wasm32: its setup with numpy/compile.sh's options
# writes _numpyconfig.h (the sizes of wasm32's C types), two generators
# write the C API tables; numpy's stage keeps none of them.
( cd "$NPSRC" && "$PY" vendored-meson/meson/meson.py setup "$W/npbuild" --cross-file "$W/cross.ini" \
    --buildtype=release -Db_ndebug=if-release -Dallow-noblas=true -Ddisable-svml=true -Ddisable-highway=true \
    -Ddisable-threading=true -Dblas=none -Dlapack=none >"$W/np-setup.log" 2>&1 \
  && ninja -C "$W/npbuild" numpy/_core/__multiarray_api.h numpy/_core/__ufunc_api.h >>"$W/np-setup.log" 2>&1 ) \
  || { tail -40 "$W/np-setup.log"; die "pandas: numpy's headers for wasm32 failed ($W/np-setup.log)"; }
NPINC=$W/npstub/numpy/_core/include
mkdir -p "$NPINC"
cp -a "$NPSRC/numpy/_core/include/numpy" "$NPINC/"
cp "$W/npbuild/numpy/_core/_numpyconfig.h" "$W/npbuild/numpy/_core/__multiarray_api.h" "$W/npbuild/numpy/_core/__ufunc_api.h" "$NPINC/numpy/"
cp "$NPSRC/numpy/__init__.pxd" "$NPSRC/numpy/__init__.cython-30.pxd" "$W/npstub/numpy/"
printf 'def get_include():\n    return %s\n' "'$NPINC'" >"$W/npstub/numpy/__init__.py"
step "numpy's headers for wasm32"

# pandas' version file (meson.build takes it when present; without it,
# generate_version.py asks versioneer and git). generate_version.py
# imports versioneer before it looks: a stand-in that is never called.
printf '__version__="%s"\n__git_version__="%s"\n' "$PANDAS_VERSION" "$PANDAS_GIT_COMMIT" >"$SRC/_version_meson.py"
printf 'def get_version():\n    raise SystemExit("no versioneer: _version_meson.py gives the version")\n' >"$SRC/versioneer.py"
# The C++ module (window/aggregations, from Cython) is compiled with
# -fignore-exceptions: Cython's `except +` try/catch compiles, no landing
# pad is emitted (a throw is cxa_stubs.c's abort, as in numpy; wazero runs
# no legacy wasm exception handling).
( cd "$SRC" && "$PY" "$NPSRC/vendored-meson/meson/meson.py" setup "$W/build" --cross-file "$W/cross.ini" \
    --buildtype=release -Db_ndebug=if-release -Dcpp_args=-fignore-exceptions >"$W/setup.log" 2>&1 ) \
  || { tail -40 "$W/setup.log"; die "pandas: meson setup failed ($W/setup.log)"; }
B=$W/build
step "meson setup (numpy's bundled meson)"

# The tempita .pxi files, Cython's C and C++ (the slow part), and the
# objects. Objects only: no shared module is linked.
( cd "$B" && ninja -t targets all | sed -n 's/^\(.*\.\(o\|py\)\): .*/\1/p' | LC_ALL=C sort >"$W/targets.txt" )
( cd "$B" && ninja -j"$JOBS" $(cat "$W/targets.txt") >"$W/compile.log" 2>&1 ) || { grep -A20 FAILED "$W/compile.log" | head -60; die "pandas: compile failed ($W/compile.log)"; }
step "Cython and the compiler, $(grep -c . "$W/targets.txt") targets"

# pandas' own C files (its vendored copy of numpy's datetime code shares
# names with numpy's, which are global in a static link) are recompiled
# with the global symbols they define renamed pandas_<name>. Left as they
# are: the C files that use pandas_datetime's or pandas_parser's capsule
# (objToJSON.c: the capsule's struct fields have the functions' names,
# which its macros reach), and every name one of those or a Cython module
# calls by name (tslibs/parsing's xstrtod, ujson's functions); the other
# calls go through the capsules. A name of both kinds that numpy or
# CPython also defines would fail the link, loudly.
"$PY" -c '
import json, os, sys
csrc, callers = [], []
for c in json.load(open(sys.argv[1])):
    o = c["output"]
    if not o.endswith(".o"):
        continue
    src = os.path.normpath(os.path.join(c["directory"], c["file"]))
    own = "/pandas/_libs/src/" in src
    if own:
        text = open(src, encoding="utf-8").read()
        own = not ("pd_datetime.h" in text or "pd_parser.h" in text) or "_IMPL" in text
    (csrc if own else callers).append(o)
open(sys.argv[2], "w").write("\n".join(sorted(csrc)) + "\n")
open(sys.argv[3], "w").write("\n".join(sorted(callers)) + "\n")
' "$B/compile_commands.json" "$W/csrc.txt" "$W/callers.txt"
( cd "$B" && llvm-nm-$LLVM_VERSION --undefined-only $(cat "$W/callers.txt") ) | awk 'NF == 2 {print $2}' | LC_ALL=C sort -u >"$W/called.txt"
( cd "$B" && llvm-nm-$LLVM_VERSION --defined-only --extern-only $(cat "$W/csrc.txt") ) | awk 'NF == 3 {print $3}' \
  | grep -v '^PyInit_' | LC_ALL=C sort -u | LC_ALL=C comm -23 - "$W/called.txt" >"$W/renamed.txt"
sed 's/.*/#define & pandas_&/' "$W/renamed.txt" >"$W/rename.h"
"$PY" -c '
import json, shlex, subprocess, sys
objs = set(open(sys.argv[2]).read().split())
for c in json.load(open(sys.argv[1])):
    if c["output"] in objs:
        argv = shlex.split(c["command"])
        argv[1:1] = ["-include", sys.argv[3]]
        subprocess.run(argv, cwd=c["directory"], check=True)
' "$B/compile_commands.json" "$W/csrc.txt" "$W/rename.h" >>"$W/compile.log" 2>&1 \
  || { tail -20 "$W/compile.log"; die "pandas: recompiling its C files with rename.h failed"; }
step "pandas' C files recompiled, $(wc -l <"$W/renamed.txt") global symbols renamed"

# One archive. pandas' tokenizer.c is compiled into four modules and io.c
# into two, with the same flags: each source is kept once.
mkdir -p "$PS/lib" "$W/objs"
"$PY" -c '
import json, os, sys
seen = set()
for c in sorted(json.load(open(sys.argv[1])), key=lambda c: c["output"]):
    src = os.path.normpath(os.path.join(c["directory"], c["file"]))
    if c["output"].endswith(".o") and src not in seen:
        seen.add(src)
        print(c["output"])
' "$B/compile_commands.json" >"$W/objects.txt"
n=0
while read -r o; do n=$((n + 1)); ln "$B/$o" "$W/objs/$(printf %03d $n)-${o##*/}"; done <"$W/objects.txt"
( cd "$W/objs" && llvm-ar-$LLVM_VERSION rcsD "$PS/lib/libpandas.a" * )
# The built-in module table's entries: pandas' 44 extension modules.
( cd "$B" && ninja -t targets all | sed -n 's/^\(pandas\/.*\)\.cpython-[^ ]*\.so: .*/\1/p' | LC_ALL=C sort -u ) \
  | while read -r m; do echo "${m//\//.} PyInit_${m##*/}"; done >"$PS/modules.txt"
[ "$(cut -d' ' -f2 "$PS/modules.txt" | sort | uniq -d)" = "" ] || die "pandas: two modules share a PyInit name"
step "$(wc -l <"$W/objects.txt") objects archived, $(wc -l <"$PS/modules.txt") modules"

# pandas' Python files as meson installs them (stand-ins for the shared
# modules, deleted after; no --tags: its subpackages, install_subdir()'s,
# carry no tag), its tests apart (pandas-tests/, for the test
# runner only), and its pure-Python dependencies.
( cd "$B" && ninja -t targets all | sed -n 's/^\(.*\.so\): .*/\1/p' | xargs touch \
  && "$PY" "$NPSRC/vendored-meson/meson/meson.py" install --no-rebuild --destdir "$W/inst" \
    >"$W/install.log" 2>&1 ) || { tail -30 "$W/install.log"; die "pandas: installing its Python files failed"; }
site=$(dirname "$(find "$W/inst" -path '*/pandas/__init__.py' | head -1)")
mkdir -p "$PS/site-packages" "$PS/pandas-tests/pandas"
cp -a "$site" "$PS/site-packages/pandas"
find "$PS/site-packages" -name '*.so' -delete
mv "$PS/site-packages/pandas/tests" "$PS/pandas-tests/pandas/tests"
mv "$PS/site-packages/pandas/conftest.py" "$PS/pandas-tests/pandas/"
cp "$SRC/pyproject.toml" "$PS/pandas-tests/" # pytest's options for pandas (-c)
while IFS=: read -r f sum; do
  check_sha "$DL/$f" "$sum" || die "$f missing or its sha256 differs from pandas/pins.sh"
  dpkg-deb -x "$DL/$f" "$W/deps"
done <<<"$PANDAS_DEPS"
cp -a "$W/deps/usr/lib/python3/dist-packages/." "$PS/site-packages/"
find "$PS/site-packages" -name '*.egg-info' -prune -exec rm -rf {} +
find "$PS/site-packages" "$PS/pandas-tests" \( -name '*.pyi' -o -name '*.pxd' -o -name 'py.typed' \) -delete
# -f: meson install leaves timestamp .pyc files (its python.bytecompile),
# which compileall would keep; those of generated files (version.py,
# __config__.py) carried the build's time. Each is rewritten checked-hash.
SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH "$PY" -I -m compileall -f -q -j1 --invalidation-mode checked-hash \
  -s "$PS/site-packages" -p /usr/local/lib/python3.13/site-packages "$PS/site-packages" >/dev/null \
  || die "pandas: compiling its Python files failed"
{
  echo "inputs (sha256)"
  echo "$PANDAS_ORIG_SHA256  $PANDAS_ORIG"
  echo "$(sha256sum "$np_tar" | cut -d' ' -f1)  $(basename "$np_tar") (headers)"
  echo "$CYTHON_SHA256  $CYTHON_DEB"
  echo "$PANDAS_DEPS" | awk -F: '{print $2 "  " $1}'
} >"$PS/INPUTS"
rm -rf "$W"
step "Python files; pandas compiled: $PS"
