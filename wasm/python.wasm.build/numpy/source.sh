#!/usr/bin/env bash
# Prints the path of numpy's pinned source in DOWNLOADS_DIR, Debian's orig
# tarball or the one source-from-git.sh makes, each checked against its
# sha256 in pins.sh, as compile.sh takes them; exits 1 when neither is
# there (the variant is then not built, and `make check-embedded` skips
# its comparison).
# Usage: source.sh DOWNLOADS_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pins.sh"
. "$here/../lib.sh"
dl=$1
if check_sha "$dl/$NUMPY_ORIG" "$NUMPY_ORIG_SHA256"; then echo "$dl/$NUMPY_ORIG"
elif check_sha "$dl/$NUMPY_GIT_TARBALL" "$NUMPY_GIT_TARBALL_SHA256"; then echo "$dl/$NUMPY_GIT_TARBALL"
else exit 1; fi
