/* hash.c: thin wrapper over libxxhash so callers never include xxhash.h. */
#include "base/hash.h"
#include "base/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

uint64_t hash64(const void *data, size_t n, uint64_t seed)
{
    return XXH3_64bits_withSeed(data, n, seed);
}

struct Hash64 { XXH3_state_t *state; };

Hash64 *hash64_new(uint64_t seed)
{
    Hash64 *h = xmalloc(sizeof *h);
    h->state = XXH3_createState();
    if (!h->state || XXH3_64bits_reset_withSeed(h->state, seed) != XXH_OK)
        die("xxhash: cannot create hash state");
    return h;
}

void hash64_update(Hash64 *h, const void *data, size_t n)
{
    if (XXH3_64bits_update(h->state, data, n) != XXH_OK) die("xxhash: update failed");
}

uint64_t hash64_digest(const Hash64 *h) { return XXH3_64bits_digest(h->state); }

void hash64_free(Hash64 *h)
{
    if (!h) return;
    XXH3_freeState(h->state);
    free(h);
}

void hash64_hex(uint64_t h, char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}
