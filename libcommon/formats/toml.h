/* toml.h: a reader for the TOML subset nmoe configs use: [tables] and [a.b] headers,
 * dotted and bare/quoted keys, basic and literal strings (with escapes), integers
 * (with underscores, +/-; 0x/0o/0b), floats (incl. exponent, inf, nan), booleans,
 * and arrays of these (nested arrays allowed), comments. Not supported (rejected with
 * a clear error): inline tables, arrays of tables, multi-line strings, dates.
 *
 * The document is flattened: every leaf value is reached by its full dotted key
 * ("model.dim"), in file order. Errors are `file:line:col: reason`.
 *
 * Because keys are flattened to dotted paths, a quoted key may not be empty or contain
 * '.' or control characters, and strings may not contain NUL (\u0000); columns count
 * characters (code points). Duplicate keys and redefined tables are errors that name the
 * line of the first definition. */
#ifndef NMOE_TOML_H
#define NMOE_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { TOML_STRING, TOML_INT, TOML_FLOAT, TOML_BOOL, TOML_ARRAY } TomlType;

typedef struct TomlValue {
    TomlType type;
    int line, col;                 /* where the value starts, 1-based */
    union {
        char *s;                   /* TOML_STRING, NUL-terminated (may hold no NUL) */
        int64_t i;                 /* TOML_INT */
        double f;                  /* TOML_FLOAT */
        bool b;                    /* TOML_BOOL */
        struct { struct TomlValue *items; size_t n; } arr; /* TOML_ARRAY */
    } u;
} TomlValue;

typedef struct TomlDoc TomlDoc;

/* Parse text (need not be NUL-terminated). NULL on error, with the message in err. */
TomlDoc *toml_parse(const char *text, size_t len, const char *filename, char *err, size_t err_cap);
/* Read and parse a file; NULL with `path: reason` or `path:line:col: reason`. */
TomlDoc *toml_parse_file(const char *path, char *err, size_t err_cap);
void toml_free(TomlDoc *doc);

size_t toml_count(const TomlDoc *doc);            /* number of leaf keys */
const char *toml_key_at(const TomlDoc *doc, size_t i);
const TomlValue *toml_value_at(const TomlDoc *doc, size_t i);
const TomlValue *toml_get(const TomlDoc *doc, const char *dotted_key); /* NULL if absent */
const char *toml_filename(const TomlDoc *doc);
const char *toml_type_name(TomlType t);            /* "string", "integer", ... */

#endif
