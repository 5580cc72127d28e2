/* run_id.c: see run_id.h. */
#include "train/run_id.h"
#include "base/error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

void run_id_new(char out[17])
{
    uint64_t v = 0;
    ssize_t n;
    do n = getrandom(&v, sizeof v, 0);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof v) die("getrandom: cannot draw a run id: %s", n < 0 ? strerror(errno) : "short read");
    snprintf(out, 17, "%016" PRIx64, v);
}

bool run_id_valid(const char *s)
{
    return strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16;
}
