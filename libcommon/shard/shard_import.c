/* shard_import.c: llm.c .bin and .npy token files into a pack (see shard_import.h). */
#include "shard/shard_import.h"
#include "tok/bpe.h" /* IdVec */
#include "base/error.h"
#include "formats/tokstream.h" /* get_u32le */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>


/* The data must fill the file exactly: a short file is truncated, a long one is not
 * what its header says. */
static bool check_data_size(const TokenArray *a, uint64_t file_bytes, const char *name, char *err, size_t cap)
{
    uint64_t room = file_bytes - a->data_offset;
    if (a->n_tokens > room / a->item_bytes)
        return errbuf_fail_at(err, cap, name, "truncated: the header promises %llu tokens (%llu bytes), the file holds %llu",
                    (unsigned long long)a->n_tokens, (unsigned long long)(a->n_tokens * a->item_bytes),
                    (unsigned long long)room);
    if (a->n_tokens * a->item_bytes != room)
        return errbuf_fail_at(err, cap, name, "%llu bytes after the %llu tokens the header promises",
                    (unsigned long long)(room - a->n_tokens * a->item_bytes), (unsigned long long)a->n_tokens);
    return true;
}

bool llmc_parse_header(const unsigned char *b, size_t avail, uint64_t file_bytes, const char *name, TokenArray *a,
                       char *err, size_t cap)
{
    memset(a, 0, sizeof *a);
    if (avail > file_bytes) avail = (size_t)file_bytes;
    if (avail >= 4 && (int32_t)get_u32le(b) != LLMC_MAGIC)
        return errbuf_fail_at(err, cap, name, "bad magic %d (not an llm.c .bin token file, whose magic is %d)",
                    (int32_t)get_u32le(b), LLMC_MAGIC);
    if (avail < LLMC_HEADER_BYTES)
        return errbuf_fail_at(err, cap, name, "truncated: %llu bytes, shorter than the %d-byte llm.c header",
                    (unsigned long long)file_bytes, LLMC_HEADER_BYTES);
    int32_t version = (int32_t)get_u32le(b + 4), count = (int32_t)get_u32le(b + 8);
    if (version != LLMC_VERSION)
        return errbuf_fail_at(err, cap, name, "unsupported llm.c version %d (this build reads version %d, uint16 tokens)",
                    version, LLMC_VERSION);
    if (count < 0) return errbuf_fail_at(err, cap, name, "negative token count %d in the llm.c header", count);
    a->data_offset = LLMC_HEADER_BYTES;
    a->n_tokens = (uint64_t)count;
    a->item_bytes = 2;
    a->is_signed = false;
    strcpy(a->descr, "llmc");
    return check_data_size(a, file_bytes, name, err, cap);
}

/* .npy ---------------------------------------------------------------------- */

/* A cursor over the header's Python dict literal, e.g.
 *   {'descr': '<u2', 'fortran_order': False, 'shape': (1000,), }           */
typedef struct {
    const char *p, *end;
} Lex;

static void skip_space(Lex *x)
{
    while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r')) x->p++;
}

static bool eat(Lex *x, char c)
{
    skip_space(x);
    if (x->p < x->end && *x->p == c) { x->p++; return true; }
    return false;
}

/* A quoted string without escapes (NumPy never writes any in these keys/values). */
static bool lex_string(Lex *x, char *out, size_t cap)
{
    skip_space(x);
    if (x->p >= x->end || (*x->p != '\'' && *x->p != '"')) return false;
    char q = *x->p++;
    size_t n = 0;
    while (x->p < x->end && *x->p != q) {
        if (*x->p == '\\' || n + 1 >= cap) return false;
        out[n++] = *x->p++;
    }
    if (x->p >= x->end) return false;
    x->p++;
    out[n] = 0;
    return true;
}

static bool lex_word(Lex *x, const char *w)
{
    skip_space(x);
    size_t n = strlen(w);
    if ((size_t)(x->end - x->p) >= n && memcmp(x->p, w, n) == 0) { x->p += n; return true; }
    return false;
}

static bool lex_uint(Lex *x, uint64_t *v)
{
    skip_space(x);
    if (x->p >= x->end || !isdigit((unsigned char)*x->p)) return false;
    uint64_t r = 0;
    while (x->p < x->end && isdigit((unsigned char)*x->p)) {
        unsigned d = (unsigned)(*x->p++ - '0');
        if (r > (UINT64_MAX - d) / 10) return false;
        r = r * 10 + d;
    }
    if (x->p < x->end && *x->p == 'L') x->p++; /* Python 2 longs, in files from old NumPy */
    *v = r;
    return true;
}

bool npy_parse_header(const unsigned char *b, size_t avail, uint64_t file_bytes, const char *name, TokenArray *a,
                      char *err, size_t cap)
{
    static const unsigned char magic[6] = { 0x93, 'N', 'U', 'M', 'P', 'Y' };
    memset(a, 0, sizeof *a);
    if (avail > file_bytes) avail = (size_t)file_bytes;
    if (avail > 0 && memcmp(b, magic, avail < 6 ? avail : 6) != 0)
        return errbuf_fail_at(err, cap, name, "bad magic (not a .npy file)");
    if (avail < 10)
        return errbuf_fail_at(err, cap, name, "truncated: %llu bytes, shorter than a .npy header", (unsigned long long)file_bytes);
    unsigned major = b[6], minor = b[7];
    size_t dict_at, dict_len;
    if (major == 1 && minor == 0) {
        dict_at = 10;
        dict_len = (size_t)b[8] | (size_t)b[9] << 8;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (avail < 12) return errbuf_fail_at(err, cap, name, "truncated .npy header");
        dict_at = 12;
        dict_len = get_u32le(b + 8);
    } else {
        return errbuf_fail_at(err, cap, name, "unsupported .npy version %u.%u (this build reads 1.0, 2.0 and 3.0)", major, minor);
    }
    if (dict_len > avail - dict_at)
        return errbuf_fail_at(err, cap, name, "truncated: the .npy header needs %zu bytes, the file has %llu",
                    dict_at + dict_len, (unsigned long long)file_bytes);
    Lex x = { (const char *)b + dict_at, (const char *)b + dict_at + dict_len };
    bool have_descr = false, have_order = false, have_shape = false, fortran = false;
    char descr[16] = "";
    uint64_t dims[8];
    int n_dims = 0;
    if (!eat(&x, '{')) return errbuf_fail_at(err, cap, name, ".npy header is not a Python dict");
    for (;;) {
        if (eat(&x, '}')) break;
        char key[32];
        if (!lex_string(&x, key, sizeof key) || !eat(&x, ':'))
            return errbuf_fail_at(err, cap, name, ".npy header: expected 'key': value at byte %zu",
                        dict_at + (size_t)(x.p - (const char *)b - dict_at));
        if (strcmp(key, "descr") == 0 && !have_descr) {
            if (!lex_string(&x, descr, sizeof descr))
                return errbuf_fail_at(err, cap, name, ".npy header: 'descr' is not a simple type string (structured arrays are not token arrays)");
            have_descr = true;
        } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
            if (lex_word(&x, "True")) fortran = true;
            else if (lex_word(&x, "False")) fortran = false;
            else return errbuf_fail_at(err, cap, name, ".npy header: 'fortran_order' is not True or False");
            have_order = true;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (!eat(&x, '(')) return errbuf_fail_at(err, cap, name, ".npy header: 'shape' is not a tuple");
            while (!eat(&x, ')')) {
                uint64_t d;
                if (n_dims == 8 || !lex_uint(&x, &d))
                    return errbuf_fail_at(err, cap, name, ".npy header: 'shape' is not a tuple of sizes");
                dims[n_dims++] = d;
                if (!eat(&x, ',')) {
                    if (!eat(&x, ')')) return errbuf_fail_at(err, cap, name, ".npy header: 'shape' is not a tuple of sizes");
                    break;
                }
            }
            have_shape = true;
        } else {
            return errbuf_fail_at(err, cap, name, ".npy header: unexpected or repeated key '%s'", key);
        }
        if (eat(&x, ',')) continue;
        if (eat(&x, '}')) break;
        return errbuf_fail_at(err, cap, name, ".npy header: expected ',' or '}'");
    }
    skip_space(&x);
    if (x.p != x.end) return errbuf_fail_at(err, cap, name, ".npy header: bytes after the dict");
    if (!have_descr || !have_order || !have_shape)
        return errbuf_fail_at(err, cap, name, ".npy header lacks '%s'", !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");

    static const struct { const char *descr; uint32_t bytes; bool is_signed; } types[] = {
        { "<u2", 2, false }, { "<i4", 4, true }, { "<u4", 4, false }, { "<i8", 8, true },
    };
    int t = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(descr, types[i].descr) == 0) t = i;
    if (t < 0) {
        if (descr[0] == '>')
            return errbuf_fail_at(err, cap, name, "big-endian array '%s' (token arrays must be little-endian)", descr);
        return errbuf_fail_at(err, cap, name, "array type '%s' is not a token type (need <u2, <i4, <u4 or <i8)", descr);
    }
    if (n_dims != 1)
        return errbuf_fail_at(err, cap, name, "array has %d dimensions; a token array has 1", n_dims);
    if (fortran) return errbuf_fail_at(err, cap, name, "array is in Fortran order; need C order");
    a->data_offset = dict_at + dict_len;
    a->n_tokens = dims[0];
    a->item_bytes = types[t].bytes;
    a->is_signed = types[t].is_signed;
    strcpy(a->descr, types[t].descr);
    return check_data_size(a, file_bytes, name, err, cap);
}

/* Import ---------------------------------------------------------------------- */

static int64_t load_item(const unsigned char *p, const TokenArray *a)
{
    switch (a->item_bytes) {
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4:
        if (a->is_signed) { int32_t v; memcpy(&v, p, 4); return v; }
        else { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { int64_t v; memcpy(&v, p, 8); return v; }
    }
}

void import_files(ImportFormat fmt, char *const *files, int n_files, int64_t eot, uint32_t vocab_size, Pack *pack)
{
    IdVec doc = { 0 };
    bool doc_open = false; /* a document is being gathered (it may be empty only at the start) */
    for (int f = 0; f < n_files; f++) {
        const char *path = files[f];
        int fd = open(path, O_RDONLY);
        if (fd < 0) die("%s: %s", path, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) != 0) die("%s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode)) die("%s: not a regular file", path);
        size_t len = (size_t)st.st_size;
        const unsigned char *map = NULL;
        if (len > 0) {
            void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
            if (p == MAP_FAILED) die("%s: mmap failed: %s", path, strerror(errno));
            map = p;
            madvise(p, len, MADV_SEQUENTIAL);
        }
        close(fd);
        TokenArray a;
        char err[1024];
        static const unsigned char none[1] = { 0 };
        bool ok = fmt == IMPORT_LLMC ? llmc_parse_header(map ? map : none, len, len, path, &a, err, sizeof err)
                                     : npy_parse_header(map ? map : none, len, len, path, &a, err, sizeof err);
        if (!ok) die("%s", err);
        const unsigned char *data = map + a.data_offset;
        for (uint64_t i = 0; i < a.n_tokens; i++) {
            int64_t v = load_item(data + i * a.item_bytes, &a);
            if (v < 0) die("%s: element %llu: negative token id %lld", path, (unsigned long long)i, (long long)v);
            if (v >= (int64_t)vocab_size)
                die("%s: element %llu: token id %lld is beyond the vocabulary size %u (see --vocab-size)", path,
                    (unsigned long long)i, (long long)v, vocab_size);
            if (v == eot && doc_open && doc.n > 0) {
                pack_doc(pack, doc.v, doc.n);
                doc.n = 0;
            }
            idvec_push(&doc, (uint32_t)v);
            doc_open = true;
        }
        if (eot == IMPORT_NO_EOT) {
            pack_doc(pack, doc.v, doc.n);
            doc.n = 0;
            doc_open = false;
        }
        info(NMOE_VERBOSE, "%s: %llu tokens (%s)\n", path, (unsigned long long)a.n_tokens, a.descr);
        if (map) munmap((void *)map, len);
    }
    if (doc_open && doc.n > 0) pack_doc(pack, doc.v, doc.n);
    idvec_free(&doc);
}
