/* tensor_file.h: the nmoe tensor file (nmoe-checkpoint(5), "TENSOR FILES"): named fp32
 * tensors behind a JSON header. Checkpoints keep the weights (model.bin) and the AdamW
 * moments (optimizer.bin) in it; model.bin alone is also the weight export that the
 * PyTorch oracle loads.
 *
 *   offset 0   magic "NMOETNSR" (8 bytes)
 *          8   u32 version = 1              (little-endian, as everything here)
 *         12   u32 reserved = 0
 *         16   u64 header_bytes             the JSON header's length, padding included
 *         24   JSON header, padded with spaces so that the data starts at a multiple of 64
 *   24 + header_bytes   data: the tensors, float32 little-endian, row-major, back to back
 *
 * Header: {"format":"nmoe-tensors","version":1,"kind":"weights","dtype":"float32",
 *          "data_bytes":N,"data_xxh3":"<16 hex>","meta":{...},
 *          "tensors":[{"name":"tok_embeddings.weight","shape":[50257,128],"offset":0},...]}
 * offsets are bytes from the start of the data. A reader checks the magic, version,
 * header, that the file is exactly 24 + header_bytes + data_bytes long, the XXH3-64 of
 * the data, and that every tensor lies inside the data; any failure is `path: reason`. */
#ifndef NMOE_TENSOR_FILE_H
#define NMOE_TENSOR_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TENSOR_FILE_MAGIC "NMOETNSR"
enum { TENSOR_FILE_VERSION = 1, TENSOR_FILE_ALIGN = 64 };

typedef struct {
    const char *name;
    const float *data;
    int rows, cols; /* cols == 0: a vector of `rows` */
} TensorOut;

/* Written atomically (atomic_file.h). meta_json: a JSON object (or NULL). Returns the
 * data checksum (XXH3-64). */
uint64_t tensor_file_write(const char *path, const char *kind, const char *meta_json,
                           const TensorOut *tensors, int n);

typedef struct TensorFile TensorFile;

/* Reads and checks the whole file; dies with `path: reason`. */
TensorFile *tensor_file_open(const char *path);
void tensor_file_close(TensorFile *f);
const char *tensor_file_kind(const TensorFile *f);
uint64_t tensor_file_checksum(const TensorFile *f);
/* The "meta" object as JSON text (malloc'ed), "{}" when absent. */
char *tensor_file_meta_json(const TensorFile *f);
int tensor_file_count(const TensorFile *f);
const char *tensor_file_name(const TensorFile *f, int i);
/* Copy tensor `name` into out; dies unless it exists with exactly this shape. */
void tensor_file_read(const TensorFile *f, const char *name, int rows, int cols, float *out);

#endif
