/* fuzz_tokstream.c: libFuzzer target for the token-stream reader (tokstream.h).
 *
 * The reader reports bad input through die(), the project's one fatal path, which
 * runs the registered cleanup hooks before exiting. Here the hook jumps back into the
 * target instead, so a rejected input ends the iteration and fuzzing goes on; what a
 * crash, an out-of-bounds read or a hang looks like is unchanged. The reader's own
 * memory is freed after the jump. tokr_open allocates its reader before checking the
 * header, so a header it rejects leaves that allocation unreachable: leak detection
 * is paused around tokr_open only (every allocation after it is still checked). */
#include "base/error.h"
#include "formats/tokstream.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__has_include)
#if __has_include(<sanitizer/lsan_interface.h>) && (defined(__SANITIZE_ADDRESS__) || defined(__clang__))
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif
#endif
#ifndef HAVE_LSAN
static void __lsan_disable(void) {}
static void __lsan_enable(void) {}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static jmp_buf on_die;
static void jump_back(void) { longjmp(on_die, 1); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet_once;
    if (!quiet_once) { nmoe_set_prog("fuzz_tokstream"); quiet_once = 1; }
    if (size == 0) return 0; /* fmemopen needs at least one byte */
    FILE *fp = fmemopen((void *)data, size, "rb");
    if (!fp) return 0;
    TokReader *volatile r = NULL;
    volatile int lsan_paused = 0;
    nmoe_on_fatal(jump_back); /* die() empties the hook list, so register every time */
    if (setjmp(on_die) == 0) {
        __lsan_disable();
        lsan_paused = 1;
        r = tokr_open(fp, "fuzz.tok");
        __lsan_enable();
        lsan_paused = 0;
        const uint32_t *ids;
        size_t n;
        uint64_t sum = 0;
        while (tokr_next(r, &ids, &n))
            for (size_t i = 0; i < n; i++) sum += ids[i];
        (void)sum;
    }
    if (lsan_paused) __lsan_enable();
    tokr_close(r);
    fclose(fp);
    return 0;
}
