/* text_input.h: documents from the inputs nmoe-tok reads.
 *
 * What a path holds is decided by its name:
 *   *.tar *.tar.gz *.tgz *.tar.zst *.tar.zstd *.tzst *.tar.xz *.tar.bz2 *.zip
 *                    an archive (libarchive): each regular member is one document,
 *                    or, when the member's name ends in .jsonl, one per JSON line
 *   *.gz *.zst *.zstd *.xz *.bz2
 *                    a compressed file (libarchive's raw format), then as below
 *   *.jsonl          one document per line: the string under `field` of the
 *                    line's JSON object (blank lines are skipped)
 *   anything else    the whole file is one document, byte for byte
 *   "-"              standard input, read as plain text (or JSONL with force_jsonl)
 *
 * A JSON line that does not parse, is not an object, or has no string under the
 * field stops the run with "file:line: reason" ("archive:member:line: reason" in an
 * archive), or with skip_bad is counted and skipped. A damaged archive or member is
 * always fatal and names the member. */
#ifndef NMOE_TEXT_INPUT_H
#define NMOE_TEXT_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A document's bytes. */
typedef struct {
    const uint8_t *text;
    size_t len;
} TextSpan;

typedef struct {
    const char *field;  /* JSONL field holding the text [default "text"] */
    bool force_jsonl;   /* read inputs not named *.jsonl (and stdin) as JSONL too */
    bool skip_bad;      /* count and skip bad JSON lines instead of stopping */
} TextInputOptions;

typedef struct TextInput TextInput;
/* Opens the path (dies naming it on failure). */
TextInput *text_input_open(const char *path, const TextInputOptions *opt);
/* The next document: returns 1 and its bytes (valid until the next call), or 0 at
 * the end. Dies with "where: reason" on bad input (see above). */
int text_input_next(TextInput *in, const uint8_t **text, size_t *len);
/* JSON lines skipped so far under skip_bad. */
uint64_t text_input_skipped(const TextInput *in);
/* Hand the buffer of the document text_input_next just returned to the caller
 * (free() it); the reader starts a new one. Saves a copy of a large document. */
uint8_t *text_input_take_doc(TextInput *in);
void text_input_close(TextInput *in);

/* Batches of documents from a list of inputs, read ahead on a thread of its own
 * (text_input_batch.c) so reading and decompressing overlap the caller's work on
 * the previous batch. A batch holds about batch_bytes of text (at most 65536
 * documents); a document of 1 MiB or more comes as a batch of its own. Documents
 * keep their order. */
typedef struct TextBatches TextBatches;
TextBatches *text_batches_open(char *const *paths, int n_paths, const TextInputOptions *opt, size_t batch_bytes);
/* The next batch: 1 and its documents (valid until the next call), or 0 at the end. */
int text_batches_next(TextBatches *b, const TextSpan **docs, size_t *n);
/* Totals, final once text_batches_next returned 0. */
uint64_t text_batches_docs(const TextBatches *b);
uint64_t text_batches_skipped(const TextBatches *b);
void text_batches_close(TextBatches *b);

/* The JSON-line parser (text_input_json.c), exposed for tests and fuzzing. Parses
 * one JSON value (RFC 8259, nesting up to 512 deep) spanning the whole line (white
 * space around it allowed) and, when it is an object with a string under `field`,
 * writes the string's exact UTF-8 bytes (escapes decoded, \u0000 kept) to *out
 * (realloc'd, *cap its size) and returns its length. Returns -1 with a reason in err
 * ("column N: ..." or "no string field \"text\"") otherwise. Lone surrogate escapes
 * are an error. */
long jsonl_extract(const char *line, size_t n, const char *field, char **out, size_t *cap, char *err, size_t errlen);

#endif
