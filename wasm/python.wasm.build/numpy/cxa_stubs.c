/* numpy is compiled without C++ exception handling (wazero v1.12 runs
 * only the exnref form, clang 19 emits only the legacy one), yet
 * pocketfft's header throws, and Debian's wasm32 libc++abi has neither
 * function. A C++ throw then traps: the host sees a failed call, the
 * instance is replaced, and no exception can unwind through numpy's
 * state half-updated. */
#include <stdlib.h>

void *__cxa_allocate_exception(unsigned long size) { (void)size; abort(); }
void __cxa_throw(void *obj, void *type, void (*dtor)(void *)) { (void)obj; (void)type; (void)dtor; abort(); }
