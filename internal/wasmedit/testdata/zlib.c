// Driver for zlib.wasm: real zlib 1.3.1 and wasi-libc (dlmalloc, memcpy)
// compiled by clang 19, so the tests run a large body of ordinary compiler
// output. build.sh (run by `make test`) links it with the zlib and wasi-libc
// sysroot of python.wasm's stage-1 build.

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
