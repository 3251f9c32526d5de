/* The instrumented interpreter's profile writer: compiler-rt 19's profile
 * runtime has no WASI port (InstrProfilingFile.c wants mmap, flock, getpid),
 * so this writes the raw profile, value profiles included, with its
 * platform-independent writer when the interpreter exits. */
#include <stdio.h>
#include <stdlib.h>
#include "InstrProfiling.h"
#include "InstrProfilingInternal.h"

int __llvm_profile_runtime; /* instrumented objects reference it to pull the runtime in */

static uint32_t write_file(ProfDataWriter *w, ProfDataIOVec *v, uint32_t n) {
  FILE *f = w->WriterCtx;
  for (uint32_t i = 0; i < n; i++) {
    size_t len = v[i].ElmSize * v[i].NumElm;
    if (v[i].Data) {
      if (fwrite(v[i].Data, 1, len, f) != len) return 1;
    } else if (v[i].UseZeroPadding) {
      for (size_t j = 0; j < len; j++)
        if (fputc(0, f) == EOF) return 1;
    } else if (fseek(f, (long)len, SEEK_CUR) != 0) {
      return 1;
    }
  }
  return 0;
}

static void dump(void) {
  const char *path = getenv("LLVM_PROFILE_FILE");
  FILE *f = fopen(path ? path : "default.profraw", "wb");
  if (!f) { perror("profile"); return; }
  ProfDataWriter w = {write_file, f};
  if (lprofWriteData(&w, lprofGetVPDataReader(), 0) != 0) fprintf(stderr, "profile: write failed\n");
  fclose(f);
}

__attribute__((constructor)) static void install(void) { atexit(dump); }
