/* fuzz_config.c: arbitrary bytes as a config. The first byte picks the reader: the TOML
 * config reader (then, when the config passes its checks, the canonical JSON must read
 * back into an identical config: same JSON, same fingerprint), or the JSON reader of
 * checkpoints (config_from_json). Errors are fine; crashes, leaks and a round trip that
 * changes anything abort. */
#include "train/config.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    char err[2048];
    Config c;
    config_defaults(&c);
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    if (data[0] & 1) {
        char *json = malloc(n + 1);
        memcpy(json, text, n);
        json[n] = '\0';
        config_from_json(&c, json, "fuzz", err, sizeof err);
        free(json);
        return 0;
    }
    if (!config_load_text(&c, text, n, "fuzz.toml", err, sizeof err)) return 0;
    if (!config_check(&c, "fuzz.toml", err, sizeof err)) return 0;
    char *json = config_to_json(&c, false);
    Config back;
    config_defaults(&back);
    if (!config_from_json(&back, json, "roundtrip", err, sizeof err)) abort();
    char *json2 = config_to_json(&back, false);
    if (strcmp(json, json2) != 0 || config_fingerprint(&c) != config_fingerprint(&back)) abort();
    free(json);
    free(json2);
    return 0;
}
