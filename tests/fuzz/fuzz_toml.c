/* fuzz_toml.c: libFuzzer target for the TOML reader. Besides "no crash, no leak", it
 * checks invariants on every input: a parsed document's keys all resolve through
 * toml_get to their own values, and a rejected one has a `file:line:col: reason`
 * message whose position lies inside the input. */
#include "formats/toml.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void walk(const TomlValue *v, int depth)
{
    if (depth > 64) abort(); /* the reader promised to bound nesting */
    if (v->line < 1 || v->col < 1) abort();
    if (v->type == TOML_STRING && !v->u.s) abort();
    if (v->type == TOML_ARRAY)
        for (size_t i = 0; i < v->u.arr.n; i++) walk(&v->u.arr.items[i], depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    TomlDoc *d = toml_parse((const char *)data, size, "fuzz.toml", err, sizeof err);
    if (!d) {
        int line = 0, col = 0;
        if (sscanf(err, "fuzz.toml:%d:%d: ", &line, &col) != 2) abort();
        size_t newlines = 0;
        for (size_t i = 0; i < size; i++) newlines += data[i] == '\n';
        if (line < 1 || (size_t)line > newlines + 1 || col < 1 || (size_t)col > size + 1) abort();
        const char *reason = strstr(err, ": ");
        if (!reason || reason[2] == 0) abort(); /* a reason follows the position */
        return 0;
    }
    for (size_t i = 0; i < toml_count(d); i++) {
        const char *key = toml_key_at(d, i);
        const TomlValue *v = toml_value_at(d, i);
        if (!key || !v || toml_get(d, key) != v) abort();
        walk(v, 1);
        if (strcmp(toml_type_name(v->type), "unknown") == 0) abort();
    }
    toml_free(d);
    return 0;
}
