/* tensor_file.c: see tensor_file.h. */
#include "formats/tensor_file.h"
#include "base/atomic_file.h"
#include "base/error.h"
#include "base/hash.h"
#include "formats/ndjson.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "nmoe tensor files are little-endian; this host is not"
#endif

enum { PREFIX_BYTES = 24 };

uint64_t tensor_file_write(const char *path, const char *kind, const char *meta_json,
                           const TensorOut *tensors, int n)
{
    Hash64 *h = hash64_new(0);
    size_t data_bytes = 0;
    for (int i = 0; i < n; i++) {
        size_t bytes = (size_t)tensors[i].rows * (tensors[i].cols ? tensors[i].cols : 1) * sizeof(float);
        hash64_update(h, tensors[i].data, bytes);
        data_bytes += bytes;
    }
    uint64_t sum = hash64_digest(h);
    hash64_free(h);
    char hex[17];
    hash64_hex(sum, hex);

    NdLine l = { 0 };
    nd_begin(&l);
    nd_str(&l, "format", "nmoe-tensors");
    nd_int(&l, "version", TENSOR_FILE_VERSION);
    nd_str(&l, "kind", kind);
    nd_str(&l, "dtype", "float32");
    nd_int(&l, "data_bytes", (int64_t)data_bytes);
    nd_str(&l, "data_xxh3", hex);
    nd_raw(&l, "meta", meta_json ? meta_json : "{}");
    nd_arr_begin(&l, "tensors");
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        nd_obj_begin(&l, NULL);
        nd_str(&l, "name", tensors[i].name);
        nd_arr_begin(&l, "shape");
        nd_elem_int(&l, tensors[i].rows);
        if (tensors[i].cols) nd_elem_int(&l, tensors[i].cols);
        nd_arr_end(&l);
        nd_int(&l, "offset", (int64_t)offset);
        nd_obj_end(&l);
        offset += (size_t)tensors[i].rows * (tensors[i].cols ? tensors[i].cols : 1) * sizeof(float);
    }
    nd_arr_end(&l);
    nd_end(&l);
    size_t json_len = l.len - 1; /* without the newline */
    size_t header_bytes = json_len;
    while ((PREFIX_BYTES + header_bytes) % TENSOR_FILE_ALIGN) header_bytes++;

    unsigned char prefix[PREFIX_BYTES];
    memcpy(prefix, TENSOR_FILE_MAGIC, 8);
    uint32_t version = TENSOR_FILE_VERSION, reserved = 0;
    uint64_t hb = header_bytes;
    memcpy(prefix + 8, &version, 4);
    memcpy(prefix + 12, &reserved, 4);
    memcpy(prefix + 16, &hb, 8);

    AtomicFile *af = atomic_open(path);
    atomic_write(af, prefix, sizeof prefix);
    atomic_write(af, l.buf, json_len);
    for (size_t i = json_len; i < header_bytes; i++) atomic_write(af, " ", 1);
    for (int i = 0; i < n; i++)
        atomic_write(af, tensors[i].data, (size_t)tensors[i].rows * (tensors[i].cols ? tensors[i].cols : 1) * sizeof(float));
    atomic_commit(af);
    nd_free(&l);
    return sum;
}

typedef struct {
    char *name;
    int rows, cols;
    size_t offset, bytes;
} TensorEntry;

struct TensorFile {
    char *path;
    unsigned char *bytes; /* the whole file */
    size_t size;
    const unsigned char *data;
    size_t data_bytes;
    uint64_t checksum;
    char *kind;
    cJSON *header;
    TensorEntry *entries;
    int n;
};

static void bad(const TensorFile *f, const char *reason) NMOE_NORETURN;
static void bad(const TensorFile *f, const char *reason) { die("%s: %s", f->path, reason); }

TensorFile *tensor_file_open(const char *path)
{
    TensorFile *f = xcalloc(1, sizeof *f);
    f->path = xstrdup(path);
    FILE *fp = fopen(path, "rb");
    if (!fp) die("%s: %s", path, strerror(errno));
    if (fseek(fp, 0, SEEK_END) != 0) die("%s: cannot seek: %s", path, strerror(errno));
    long size = ftell(fp);
    if (size < 0) die("%s: cannot tell size: %s", path, strerror(errno));
    rewind(fp);
    f->size = (size_t)size;
    f->bytes = xmalloc(f->size ? f->size : 1);
    if (f->size && fread(f->bytes, 1, f->size, fp) != f->size) die("%s: read failed", path);
    fclose(fp);

    if (f->size < PREFIX_BYTES) bad(f, "truncated (shorter than the 24-byte prefix)");
    if (memcmp(f->bytes, TENSOR_FILE_MAGIC, 8) != 0) bad(f, "bad magic (not an nmoe tensor file)");
    uint32_t version;
    uint64_t header_bytes;
    memcpy(&version, f->bytes + 8, 4);
    memcpy(&header_bytes, f->bytes + 16, 8);
    if (version != TENSOR_FILE_VERSION) die("%s: unsupported version %u (this build reads %d)", path, version, TENSOR_FILE_VERSION);
    if (header_bytes > f->size - PREFIX_BYTES) bad(f, "truncated header");
    f->header = cJSON_ParseWithLength((const char *)f->bytes + PREFIX_BYTES, (size_t)header_bytes);
    if (!cJSON_IsObject(f->header)) bad(f, "header is not a JSON object");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(f->header, "format");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(f->header, "kind");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(f->header, "dtype");
    const cJSON *db = cJSON_GetObjectItemCaseSensitive(f->header, "data_bytes");
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(f->header, "data_xxh3");
    const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(f->header, "tensors");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "nmoe-tensors") != 0) bad(f, "header: format is not \"nmoe-tensors\"");
    if (!cJSON_IsString(kind)) bad(f, "header: no kind");
    if (!cJSON_IsString(dtype) || strcmp(dtype->valuestring, "float32") != 0) bad(f, "header: dtype is not float32");
    if (!cJSON_IsNumber(db) || db->valuedouble < 0) bad(f, "header: bad data_bytes");
    if (!cJSON_IsString(sum) || strlen(sum->valuestring) != 16) bad(f, "header: bad data_xxh3");
    if (!cJSON_IsArray(tensors)) bad(f, "header: no tensor list");
    f->kind = xstrdup(kind->valuestring);
    f->data_bytes = (size_t)db->valuedouble;
    size_t data_start = PREFIX_BYTES + (size_t)header_bytes;
    if (f->size != data_start + f->data_bytes)
        die("%s: %zu bytes, but the header says %zu (truncated or padded file)", path, f->size, data_start + f->data_bytes);
    f->data = f->bytes + data_start;
    f->checksum = hash64(f->data, f->data_bytes, 0);
    char hex[17];
    hash64_hex(f->checksum, hex);
    if (strcmp(hex, sum->valuestring) != 0) die("%s: data checksum %s does not match the header's %s (corrupt file)", path, hex, sum->valuestring);

    f->n = cJSON_GetArraySize(tensors);
    f->entries = xcalloc((size_t)(f->n ? f->n : 1), sizeof *f->entries);
    int i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tensors) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(t, "offset");
        if (!cJSON_IsString(name) || !cJSON_IsArray(shape) || !cJSON_IsNumber(off)) bad(f, "header: malformed tensor entry");
        int dims = cJSON_GetArraySize(shape);
        if (dims < 1 || dims > 2) die("%s: tensor %s: %d dimensions (1 or 2 supported)", path, name->valuestring, dims);
        const cJSON *d0 = cJSON_GetArrayItem(shape, 0), *d1 = dims == 2 ? cJSON_GetArrayItem(shape, 1) : NULL;
        if (!cJSON_IsNumber(d0) || d0->valuedouble < 1 || d0->valuedouble > 1e9 || (d1 && (!cJSON_IsNumber(d1) || d1->valuedouble < 1 || d1->valuedouble > 1e9)))
            die("%s: tensor %s: bad shape", path, name->valuestring);
        TensorEntry *e = &f->entries[i++];
        e->name = xstrdup(name->valuestring);
        e->rows = (int)d0->valuedouble;
        e->cols = d1 ? (int)d1->valuedouble : 0;
        e->bytes = (size_t)e->rows * (e->cols ? e->cols : 1) * sizeof(float);
        if (off->valuedouble < 0 || off->valuedouble > (double)f->data_bytes) die("%s: tensor %s: offset outside the data", path, e->name);
        e->offset = (size_t)off->valuedouble;
        if (e->offset % sizeof(float) || e->bytes > f->data_bytes - e->offset)
            die("%s: tensor %s: extends past the data", path, e->name);
    }
    return f;
}

void tensor_file_close(TensorFile *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++) free(f->entries[i].name);
    free(f->entries);
    cJSON_Delete(f->header);
    free(f->kind);
    free(f->bytes);
    free(f->path);
    free(f);
}

const char *tensor_file_kind(const TensorFile *f) { return f->kind; }
uint64_t tensor_file_checksum(const TensorFile *f) { return f->checksum; }
int tensor_file_count(const TensorFile *f) { return f->n; }
const char *tensor_file_name(const TensorFile *f, int i) { return i >= 0 && i < f->n ? f->entries[i].name : NULL; }

char *tensor_file_meta_json(const TensorFile *f)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(f->header, "meta");
    if (!meta) return xstrdup("{}");
    char *s = cJSON_PrintUnformatted(meta);
    if (!s) die("%s: cannot print the meta object", f->path);
    char *copy = xstrdup(s);
    cJSON_free(s);
    return copy;
}

void tensor_file_read(const TensorFile *f, const char *name, int rows, int cols, float *out)
{
    for (int i = 0; i < f->n; i++) {
        const TensorEntry *e = &f->entries[i];
        if (strcmp(e->name, name) != 0) continue;
        if (e->rows != rows || e->cols != cols)
            die("%s: tensor %s has shape [%d%s%.0d], expected [%d%s%.0d]", f->path, name, e->rows, e->cols ? ", " : "",
                e->cols, rows, cols ? ", " : "", cols);
        memcpy(out, f->data + e->offset, e->bytes);
        return;
    }
    die("%s: no tensor %s", f->path, name);
}
