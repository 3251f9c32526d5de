// Driver for zlib.wasm: real zlib 1.3.1 and wasi-libc (dlmalloc, memcpy)
// compiled by clang 19, so the tests run a large body of ordinary compiler
// output. zlib.wasm is checked in because building it needs the zlib sources
// and the wasi-libc sysroot (Debian package wasi-libc), which the tests do not.
// Regenerate with, from an unpacked zlib-1.3.1 and wasi-libc sysroot $S/usr:
//   clang-19 --target=wasm32-wasi -O2 -nostdlib -isystem $S/usr/include/wasm32-wasi \
//     -Izlib-1.3.1 -mexec-model=reactor \
//     zlib-1.3.1/{adler32,compress,crc32,deflate,inflate,inffast,inftrees,trees,uncompr,zutil}.c \
//     zlib.c $S/usr/lib/wasm32-wasi/crt1-reactor.o -L$S/usr/lib/wasm32-wasi -lc \
//     -Wl,--strip-debug -o zlib.wasm

#include <stdlib.h>
#include "zlib.h"

__attribute__((import_module("snakepit"), import_name("yield"))) void snakepit_yield(void);
__attribute__((export_name("poke"))) void poke(void) { snakepit_yield(); }

static unsigned char src[1 << 16], packed[1 << 17], back[1 << 16];

// roundtrip compresses n bytes of repetitive pseudo-random text at the given
// level and inflates them again; it returns the compressed size, or -1 if the
// data did not survive.
__attribute__((export_name("roundtrip"))) long roundtrip(int n, int level) {
	if (n > (int)sizeof src)
		n = sizeof src;
	unsigned x = 12345;
	for (int i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		src[i] = "snakepit wasm loop budget "[(x >> 16) % 26];
	}
	uLongf plen = sizeof packed, blen = sizeof back;
	if (compress2(packed, &plen, src, n, level) != Z_OK)
		return -1;
	if (uncompress(back, &blen, packed, plen) != Z_OK || blen != (uLongf)n)
		return -1;
	for (int i = 0; i < n; i++)
		if (back[i] != src[i])
			return -1;
	return (long)plen;
}

__attribute__((export_name("checksum"))) unsigned long checksum(int n) {
	return crc32(adler32(0, src, n), src, n);
}
