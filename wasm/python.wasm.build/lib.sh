# Shared helpers of the python.wasm build scripts.
T0=${T0:-$(date +%s)}
export T0
progress() { printf '[python.wasm %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die() { printf 'python.wasm build: %s\n' "$*" >&2; exit 1; }

# A private apt: the machine's own configuration is never changed. The mirror
# is the one the machine already uses for Debian.
apt_private() {
  local d=$1 mirror
  mirror=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '$1=="deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || die "no Debian mirror found in /etc/apt sources"
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
  printf 'deb %s trixie main\ndeb-src %s trixie main\ndeb-src %s bookworm main\n' "$mirror" "$mirror" "$mirror" >"$d/sources.list"
  APT_OPTS=(-o "Dir::Etc::SourceList=$d/sources.list" -o Dir::Etc::SourceParts=- -o "Dir::State::Lists=$d/lists"
    -o "Dir::Cache=$d/cache" -o Dir::State::status=/dev/null -o APT::Sandbox::User=root -o APT::Architecture=amd64)
  apt-get -qq "${APT_OPTS[@]}" update || die "apt-get update of the private trixie/bookworm lists failed"
}

check_sha() { # file sha256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

fetch_inputs() {
  local dl=$1 missing=0
  check_sha "$dl/$PY_ORIG" "$PY_ORIG_SHA256" && check_sha "$dl/$PY_DEBIAN" "$PY_DEBIAN_SHA256" \
    && check_sha "$dl/$WASI_LIBC_DEB" "$WASI_LIBC_SHA256" && check_sha "$dl/$ZLIB_ORIG" "$ZLIB_ORIG_SHA256" \
    && check_sha "$dl/$BZIP2_ORIG" "$BZIP2_ORIG_SHA256" && check_sha "$dl/$XZ_ORIG" "$XZ_ORIG_SHA256" \
    && check_sha "$dl/$SQLITE_ORIG" "$SQLITE_ORIG_SHA256" && check_sha "$dl/$TZDATA_DEB" "$TZDATA_SHA256" && return 0
  apt_private "$dl/apt"
  ( cd "$dl"
    # The current revision is what Debian serves; a .dsc that 404s still leaves the orig tarball.
    apt-get -qq "${APT_OPTS[@]}" source --download-only python3.13/trixie >/dev/null 2>&1 || true
    for p in "$ZLIB_SRCPKG/$ZLIB_SUITE" "$BZIP2_SRCPKG/$BZIP2_SUITE" "$XZ_SRCPKG/$XZ_SUITE" "$SQLITE_SRCPKG/$SQLITE_SUITE"; do
      apt-get -qq "${APT_OPTS[@]}" source --download-only "$p" >/dev/null 2>&1 || true
    done
    apt-get -qq "${APT_OPTS[@]}" download "wasi-libc=$WASI_LIBC_VERSION" >/dev/null 2>&1 || true
    apt-get -qq "${APT_OPTS[@]}" download "tzdata=$TZDATA_VERSION" >/dev/null 2>&1 || true )
  for pair in "$PY_ORIG:$PY_ORIG_SHA256" "$ZLIB_ORIG:$ZLIB_ORIG_SHA256" "$BZIP2_ORIG:$BZIP2_ORIG_SHA256" "$XZ_ORIG:$XZ_ORIG_SHA256" "$SQLITE_ORIG:$SQLITE_ORIG_SHA256"; do
    f=${pair%%:*}
    if [ ! -f "$dl/$f" ]; then echo "missing input $f (apt-get source did not deliver it)" >&2; missing=1
    elif ! check_sha "$dl/$f" "${pair#*:}"; then echo "sha256 mismatch for $f: got $(sha256sum "$dl/$f" | cut -d' ' -f1), pinned ${pair#*:}" >&2; missing=1; fi
  done
  if ! check_sha "$dl/$PY_DEBIAN" "$PY_DEBIAN_SHA256"; then
    now=$(cd "$dl" && ls python3.13_*.debian.tar.xz 2>/dev/null | grep -v "^$PY_DEBIAN$" | head -1 || true)
    if [ -n "$now" ]; then
      echo "Debian moved python3.13 to a new revision: it serves $now, the recipe pins $PY_DEBIAN." >&2
      echo "Review its debian/patches, then set PY_DEBIAN_VERSION, PY_DEBIAN and PY_DEBIAN_SHA256 in wasm/python.wasm.build/pins.sh to:" >&2
      echo "  PY_DEBIAN=$now  PY_DEBIAN_SHA256=$(sha256sum "$dl/$now" | cut -d' ' -f1)" >&2
    else echo "sha256 mismatch or missing: $PY_DEBIAN" >&2; fi
    missing=1
  fi
  if ! check_sha "$dl/$WASI_LIBC_DEB" "$WASI_LIBC_SHA256"; then
    echo "wasi-libc $WASI_LIBC_VERSION missing or its sha256 differs; 'apt-cache policy wasi-libc' against trixie shows what Debian serves now: update WASI_LIBC_* in pins.sh" >&2
    missing=1
  fi
  if ! check_sha "$dl/$TZDATA_DEB" "$TZDATA_SHA256"; then
    echo "tzdata $TZDATA_VERSION missing or its sha256 differs; 'apt-cache policy tzdata' against trixie shows what Debian serves now: update TZDATA_* in pins.sh" >&2
    missing=1
  fi
  [ $missing = 0 ] || die "inputs do not match their pins (see above)"
}
