#!/bin/sh
# Fetches Debian's pure-Python networkx, sympy and mpmath (bookworm, pinned
# by version and sha256) and unpacks their dist-packages into
# ${SNAKEPIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/snakepit-wasm}/debian-py/dist-packages,
# for the runtime's BenchmarkImportPackages. Needs apt-get and dpkg-deb.
set -eu
cache=${SNAKEPIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/snakepit-wasm}
dest=$cache/debian-py
pins="python3-networkx 2.8.8-1 69888603d1b54696f5c3d02d05527628d2d18661d845109a62fe24aff241aa7b
python3-sympy 1.11.1-1 b437232be31819aafd267ddf2132c16293ef75e02fd58b4ad31eee3ef1d5b49e
python3-mpmath 1.2.1-2 2c219b63cbab11b27208ef4141c116cbb022dc1236e84981fadb46042f3ce235"
mkdir -p "$dest/debs"
cd "$dest/debs"
echo "$pins" | while read -r pkg version sum; do
	deb=${pkg}_${version}_all.deb
	if [ ! -f "$deb" ]; then
		apt-get download "$pkg=$version" || {
			echo "fetch.sh: $pkg $version is not in the archive any more (Debian moved on): update the pin" >&2
			exit 1
		}
	fi
	echo "$sum  $deb" | sha256sum -c --quiet || { rm -f "$deb"; exit 1; }
done
rm -rf "$dest/root.tmp" && mkdir "$dest/root.tmp"
for deb in *.deb; do dpkg-deb -x "$deb" "$dest/root.tmp"; done
rm -rf "$dest/dist-packages"
mv "$dest/root.tmp/usr/lib/python3/dist-packages" "$dest/dist-packages"
rm -rf "$dest/root.tmp"
echo "$dest/dist-packages"
