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
 * A TextInput hands out JSON lines undecoded, with their line numbers; TextBatches
 * (below) decodes them with jsonl_extract_at. A JSON line that does not parse, is
 * not an object, or has no string under the field stops the run with "file:line:
 * reason" ("archive:member:line: reason" in an archive), or with skip_bad is counted
 * and skipped. A damaged archive or member is always fatal and names the member. */
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
 * the end; a JSON line comes undecoded, *json_line its line number (0 for a document
 * that is not a JSON line). Blank lines are skipped. Dies with "where: reason" on a
 * damaged archive or a read error. */
int text_input_next(TextInput *in, const uint8_t **text, size_t *len, uint64_t *json_line);
/* Where the last document came from, for messages: "path" or "path:member". */
void text_input_where(const TextInput *in, char *out, size_t n);
/* Changes whenever text_input_where would change (a new archive member). */
uint64_t text_input_source_serial(const TextInput *in);
/* Hand the buffer of the document text_input_next just returned to the caller; the
 * reader starts a new one. Saves a copy of a large document. A whole plain file of
 * MMAP_MIN_BYTES or more is not read at all but mapped (map_len > 0): no copy, the
 * kernel reads ahead, and threads that work on different parts of it fault their
 * pages in in parallel. text_doc_free releases either kind. */
#define MMAP_MIN_BYTES ((size_t)1 << 20)
typedef struct {
    uint8_t *p;
    size_t map_len;
} TextDocBuf;
TextDocBuf text_input_take_doc(TextInput *in);
void text_doc_free(TextDocBuf *b);
void text_input_close(TextInput *in);

/* Batches of documents from a list of inputs, read ahead on a thread of its own
 * (text_input_batch.c) so reading and decompressing overlap the caller's work. A
 * batch holds about batch_bytes of text (at most 65536 documents); a document of
 * 1 MiB or more comes as a batch of its own. Documents keep their order. The reader
 * fills up to n_slots batches ahead (at least 2). JSON lines are decoded by the
 * thread that first asks for a batch's documents, so several threads taking
 * batches decode in parallel; a bad line stops the run there ("file:line: reason")
 * or, under skip_bad, is dropped from its batch and counted. */
typedef struct TextBatches TextBatches;
TextBatches *text_batches_open(char *const *paths, int n_paths, const TextInputOptions *opt, size_t batch_bytes,
                               int n_slots);
/* One batch at a time: 1 and the next batch's documents (valid until the next
 * call), or 0 at the end. */
int text_batches_next(TextBatches *b, const TextSpan **docs, size_t *n);
/* Or several at once: text_batches_get takes the next batch (1 and its slot, 0 at
 * the end); text_batches_docs_of gives its documents (decoding them the first time,
 * on the calling thread); text_batches_put gives the slot back once its documents
 * are no longer needed, in any order. Do not mix with _next. */
int text_batches_get(TextBatches *b, int *slot);
void text_batches_docs_of(TextBatches *b, int slot, const TextSpan **docs, size_t *n);
void text_batches_put(TextBatches *b, int slot);
/* Totals, final once no batch is left. */
uint64_t text_batches_docs(const TextBatches *b);
uint64_t text_batches_skipped(const TextBatches *b);
/* Seconds the reader thread spent reading and parsing (not waiting for a free slot). */
double text_batches_busy(const TextBatches *b);
void text_batches_close(TextBatches *b);

/* The JSON-line parser (text_input_json.c), exposed for tests and fuzzing. Parses
 * one JSON value (RFC 8259, nesting up to 512 deep) spanning the whole line (white
 * space around it allowed) and, when it is an object with a string under `field`,
 * writes the string's exact UTF-8 bytes (escapes decoded, \u0000 kept) to *out
 * (realloc'd, *cap its size) and returns its length. Returns -1 with a reason in err
 * ("column N: ..." or "no string field \"text\"") otherwise. Lone surrogate escapes
 * are an error. */
long jsonl_extract(const char *line, size_t n, const char *field, char **out, size_t *cap, char *err, size_t errlen);
/* The same, writing the string at (*out)[at ..] and leaving (*out)[0 .. at) as it is. */
long jsonl_extract_at(const char *line, size_t n, const char *field, char **out, size_t *cap, size_t at, char *err,
                      size_t errlen);

#endif
