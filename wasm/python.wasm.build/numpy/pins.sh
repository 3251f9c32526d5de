# Inputs of the numpy stage, each pinned by sha256 (kept out of ../pins.sh,
# which stage 1's hash covers: a numpy pin must not rebuild CPython).
NUMPY_VERSION=2.2.4
# Debian trixie's source package (1:2.2.4+ds-1). Its orig tarball is taken
# when the mirror serves it.
NUMPY_DEBIAN_VERSION=1:2.2.4+ds-1
NUMPY_ORIG=numpy_2.2.4+ds.orig.tar.xz
NUMPY_ORIG_SHA256=ac467c20fa0cc89602c2ccffef0f6c63f25e54a4fc202e66a8eea75843dc0101
# The same release from numpy's git: tag v2.2.4 and the submodules the
# builds need (meson, Highway's headers, pocketfft, pythoncapi-compat, and
# x86-simd-sort, which the native baseline's meson setup requires on x86-64;
# not SVML, AVX-512 only), packed by source-from-git.sh into a tarball that
# is the same bytes on every machine with GNU tar.
NUMPY_GIT_TAG=v2.2.4
NUMPY_GIT_COMMIT=3b377854e8b1a55f15bda6f1166fe9954828231b
NUMPY_SUBMODULES="vendored-meson/meson:numpy/meson:0d93515fb826440d19707eee47fd92655fe2f166
numpy/_core/src/highway:google/highway:0b696633f9ad89497dd5532b55eaa01625ad71ca
numpy/fft/pocketfft:mreineck/pocketfft:33ae5dc94c9cdc7f1c78346504a85de87cadaa12
numpy/_core/src/common/pythoncapi-compat:python/pythoncapi-compat:0f1d42a10a3f594ad48894912396df31b2c2d55d
numpy/_core/src/npysort/x86-simd-sort:intel/x86-simd-sort:9a1b616d5cd4eaf49f7664fb86ccc1d18bad2b8d"
NUMPY_GIT_TARBALL=numpy-2.2.4+git.tar.xz
NUMPY_GIT_TARBALL_SHA256=7fb33d3a5c0e2cc910925ec102c17f7a45560f48046a274e6bec887271b92d3b

# Cython >= 3.0 (numpy 2.2 needs it; bookworm's is 0.29): trixie's binary
# package, run by stage 1's native python3.13 (its compiled modules are for
# CPython 3.13), unpacked into the stage's own directory.
CYTHON_DEB=cython3_3.0.11+dfsg-2+b1_amd64.deb
CYTHON_VERSION=3.0.11+dfsg-2+b1
CYTHON_SHA256=ca9e41c1f13b3d2b4693034b9ee7660762c78ebe6043f03eef9068cacbfe6c9c
# libc++ for wasm32-wasi (pocketfft and numpy's C++ sources), bookworm's,
# matching clang 19, unpacked over a copy of stage 1's sysroot.
LIBCXX_VERSION=1:19.1.7-3~deb12u1
LIBCXX_DEB=libc++-19-dev-wasm32_1%3a19.1.7-3~deb12u1_all.deb
LIBCXX_SHA256=e2c3a1ec97f42ff660688e7a435dab7cb785211d9e9559eef86192a218c24ce8
LIBCXXABI_DEB=libc++abi-19-dev-wasm32_1%3a19.1.7-3~deb12u1_all.deb
LIBCXXABI_SHA256=a0835ee4cf44d41ee988e77be30d023134160a80bdea02b03a6a384c3f048e4d
