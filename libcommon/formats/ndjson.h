/* ndjson.h: the metric stream (nmoe-metrics(5)): one JSON object per line.
 *
 * Writer: build one object with nd_begin ... nd_end; nd_end writes the whole line
 * with a single fwrite and flushes, so a reader following the file never sees half
 * an object from us. Strings are escaped per RFC 8259 (control characters as \u00XX,
 * invalid UTF-8 bytes replaced by U+FFFD). Non-finite numbers, which JSON cannot
 * spell, are written as the strings "NaN", "Infinity" and "-Infinity".
 *
 * Reader: lines parsed by cJSON; a bad line is reported with file and line number. */
#ifndef NMOE_NDJSON_H
#define NMOE_NDJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char *buf;
    size_t len, cap;
    int depth;
    bool need_comma[16];
} NdLine;

void nd_begin(NdLine *l);             /* starts "{"; reuses l->buf if already allocated */
/* nd_begin, then the preamble every metric-stream line starts with (nmoe-metrics(5)):
 * "kind", "run" (NULL: "") and "step". */
void nd_begin_metric(NdLine *l, const char *kind, const char *run, int64_t step);
void nd_str(NdLine *l, const char *key, const char *value);
void nd_int(NdLine *l, const char *key, int64_t value);
void nd_f64(NdLine *l, const char *key, double value); /* %.17g: exact round trip */
void nd_f32(NdLine *l, const char *key, float value);  /* %.9g: exact for float */
void nd_bool(NdLine *l, const char *key, bool value);
void nd_null(NdLine *l, const char *key);
void nd_raw(NdLine *l, const char *key, const char *json); /* json must be valid */
void nd_obj_begin(NdLine *l, const char *key); /* key NULL inside an array */
void nd_obj_end(NdLine *l);
void nd_arr_begin(NdLine *l, const char *key);
void nd_arr_end(NdLine *l);
/* Array elements (inside nd_arr_begin/end). */
void nd_elem_int(NdLine *l, int64_t value);
void nd_elem_f64(NdLine *l, double value);
void nd_elem_f32(NdLine *l, float value);
void nd_elem_str(NdLine *l, const char *value);
/* Close the object, append '\n'. Returns the line (valid until the next nd_begin). */
const char *nd_end(NdLine *l);
/* nd_end, then write and flush to fp; dies naming `what` on a write error. */
void nd_emit(NdLine *l, FILE *fp, const char *what);
void nd_free(NdLine *l);

/* Append s as a JSON string literal (with quotes) to l. */
void nd_append_escaped(NdLine *l, const char *s, size_t n);

/* Reader ------------------------------------------------------------------ */
struct cJSON;
typedef struct {
    FILE *fp;
    char *path;      /* for messages; "-" for stdin */
    char *line;
    size_t line_cap;
    long line_no;
    bool follow;     /* wait for more data at EOF instead of stopping */
    char *partial;   /* bytes of an unfinished last line kept while following */
    size_t partial_len;
} NdReader;

typedef enum { ND_OK, ND_EOF, ND_BAD } NdStatus;

/* path "-" or NULL reads stdin. Dies if the file cannot be opened. */
void nd_reader_open(NdReader *r, const char *path, bool follow);
/* Next object. ND_BAD: `*err` says why (with file:line), the line is skipped.
 * A final line without '\n' is ND_BAD ("truncated last line") unless following,
 * where it is held until the rest arrives. The caller frees *obj with cJSON_Delete. */
NdStatus nd_reader_next(NdReader *r, struct cJSON **obj, char *err, size_t err_cap);
void nd_reader_close(NdReader *r);

#endif
