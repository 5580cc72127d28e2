/* tokenizer_batch.h: a batch of documents cut into work items that are encoded in
 * parallel and joined exactly (tokenizer_batch.c); the engine of `nmoe-tok encode`
 * (tokenizer_pipeline.c). The result is the same as tok_encode on each document,
 * whatever the number of threads and whichever thread encodes which item.
 *
 *   tok_batch_plan     one thread: documents -> segments -> parts -> chunks
 *   tok_batch_encode   any threads, each chunk exactly once
 *   tok_batch_join     one thread, once every chunk is encoded: where the parts of
 *                      each long segment meet, and each document's ids as runs
 *   tok_batch_doc      a document's ids, as runs in order
 *
 * A document's text between special tokens (a segment) longer than a few hundred KiB
 * is cut into parts; small segments are one part each; consecutive parts are grouped
 * into chunks of at least CHUNK_BYTES so that handing out work costs little. The
 * documents' text must stay valid until tok_batch_join returns; the runs point into
 * the batch and stay valid until the next tok_batch_plan. A TokBatch keeps its memory
 * from one plan to the next, so a long run does not keep faulting in fresh pages. */
#ifndef NMOE_TOKENIZER_BATCH_H
#define NMOE_TOKENIZER_BATCH_H

#include "tok/tokenizer.h"
#include "formats/tokstream.h" /* IdRun */

typedef struct TokBatch TokBatch;
TokBatch *tok_batch_new(void);
void tok_batch_free(TokBatch *b);

/* Returns the number of chunks (0 when the documents hold no text). append_id, when
 * not negative, is added after each document (--eot). */
size_t tok_batch_plan(TokBatch *b, const Tokenizer *t, const TextSpan *docs, size_t n_docs, bool allow_special,
                      int64_t append_id);
void tok_batch_encode(TokBatch *b, const Tokenizer *t, TokEncoder *e, size_t chunk);
void tok_batch_join(TokBatch *b, const Tokenizer *t, TokEncoder *e);

size_t tok_batch_docs(const TokBatch *b);
/* Document d's runs; returns its number of ids. */
size_t tok_batch_doc(const TokBatch *b, size_t d, const IdRun **runs, size_t *n_runs);

#endif
