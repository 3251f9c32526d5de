# Inputs of the pandas stage, each pinned by sha256 (kept out of ../pins.sh
# and ../numpy/pins.sh: a pandas pin must rebuild neither CPython nor numpy).
PANDAS_VERSION=2.2.3
# Debian trixie's source package (2.2.3+dfsg-9): its orig tarball is
# pandas' release with three files removed (doc/source/user_guide/cookbook.rst,
# .gitignore, .gitattributes); it holds the C sources (pandas/_libs/src,
# pandas/_libs/include) that the binary .deb lacks. The mirror serves it;
# the .dsc answers 404. Debian's patches are not applied (they touch tests,
# docs and the version lookup; the build writes _version_meson.py itself).
PANDAS_DEBIAN_VERSION=2.2.3+dfsg-9
PANDAS_ORIG=pandas_2.2.3+dfsg.orig.tar.xz
PANDAS_ORIG_SHA256=3aea680c0953fb61ad11d5fb75023b84ff3c0f8bb7faa03a2bf538635a1dcbbe
# The commit of pandas' tag v2.2.3, what pandas.__git_version__ reports
# (the tarball has no git metadata and the build has no versioneer).
PANDAS_GIT_COMMIT=0691c5cf90477d3503834d983f69350f250a6ff7

# pandas' run-time dependencies, pure Python, trixie's binary packages
# unpacked into the variant's site-packages (tzdata is optional: pandas
# reads the system's zoneinfo, which the guest has).
PANDAS_DEPS="python3-dateutil_2.9.0-4_all.deb:c86f3b7e878e8035b0850cd4e0d0ee014a4b5ee4a8fb7386d8998e100452d06c
python3-pytz_2025.2-3_all.deb:a5aa854697849a1e59737373795114587e2325f1d3f9c9a87092254ca88e58fd
python3-six_1.17.0-1_all.deb:cd1caa92b2860d1de83311cb77f9fab1ee66034ef997cc436d41a1707458666d"

# Native pandas for the benchmark's baseline: what trixie's users run
# (python3-pandas and python3-pandas-lib, built for CPython 3.13 on x86-64),
# run by stage 1's native python3.13 with trixie's python3-numpy.
PANDAS_NATIVE_DEBS="python3-pandas_2.2.3+dfsg-9_all.deb:43823cf00e5baa18355c37d993c818c9a6280a716ae4e5108a608143fb00552c
python3-pandas-lib_2.2.3+dfsg-9_amd64.deb:d67fb9ae1409e9073a52519027075c55a7e34bc24f5781aaad44de3c00c79217"
