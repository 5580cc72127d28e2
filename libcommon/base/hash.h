/* hash.h: the project's one checksum, XXH3-64 from Debian's libxxhash.
 * Used for format checksums, config fingerprints and tokenizer identities. */
#ifndef NMOE_HASH_H
#define NMOE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t hash64(const void *data, size_t n, uint64_t seed);

/* Streaming form, for data that arrives in pieces (same result as hash64 on the whole). */
typedef struct Hash64 Hash64;
Hash64 *hash64_new(uint64_t seed);
void hash64_update(Hash64 *h, const void *data, size_t n);
uint64_t hash64_digest(const Hash64 *h);
void hash64_free(Hash64 *h);

/* 16 lowercase hex digits into out[17]. */
void hash64_hex(uint64_t h, char out[17]);

#endif
