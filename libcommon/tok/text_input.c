/* text_input.c: see text_input.h. */
#include "tok/text_input.h"
#include "base/error.h"

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { GZ_CHUNK = 1 << 16 };

typedef enum { SRC_PLAIN, SRC_COMPRESSED, SRC_ARCHIVE } SrcKind;

struct TextInput {
    TextInputOptions opt;
    char *path;
    SrcKind kind;
    FILE *fp;                 /* SRC_PLAIN */
    struct archive *ar;       /* SRC_COMPRESSED, SRC_ARCHIVE */
    gzFile gz;                /* a gzip name: zlib decompresses, libarchive reads the result */
    void *gz_buf;
    char *member;             /* current archive member name */
    bool in_member;           /* an archive member's JSONL lines are being read */
    bool done;
    bool jsonl;               /* the current stream is JSONL */
    /* Read buffer (lines) and the document handed out. */
    char *buf;
    size_t cap, start, end;
    bool eof;
    uint64_t line;
    char *doc;
    size_t doc_cap;
    size_t doc_map_len;       /* > 0: doc is a mapping of the whole file, not ours to reuse */
    uint64_t source_serial;   /* counts the streams begun (archive members) */
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool is_archive_name(const char *p)
{
    static const char *sfx[] = { ".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd", ".tzst", ".tar.xz", ".tar.bz2", ".zip" };
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++)
        if (ends_with(p, sfx[i])) return true;
    return false;
}

/* The name with a compression suffix taken off, or NULL when it has none. */
static const char *compression_suffix(const char *p)
{
    static const char *sfx[] = { ".gz", ".zst", ".zstd", ".xz", ".bz2" };
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++)
        if (ends_with(p, sfx[i])) return sfx[i];
    return NULL;
}

/* The filter a name promises (".gz", ".tar.zst", ...), or ARCHIVE_FILTER_NONE. A
 * file so named must hold that filter's data: libarchive would otherwise read a
 * damaged or uncompressed one as raw bytes and tokenize them as text. */
static int promised_filter(const char *p, const char **suffix)
{
    static const struct { const char *sfx; int code; } f[] = {
        { ".gz", ARCHIVE_FILTER_GZIP }, { ".tgz", ARCHIVE_FILTER_GZIP },
        { ".zst", ARCHIVE_FILTER_ZSTD }, { ".zstd", ARCHIVE_FILTER_ZSTD }, { ".tzst", ARCHIVE_FILTER_ZSTD },
        { ".xz", ARCHIVE_FILTER_XZ }, { ".bz2", ARCHIVE_FILTER_BZIP2 },
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (ends_with(p, f[i].sfx)) {
            *suffix = f[i].sfx;
            return f[i].code;
        }
    return ARCHIVE_FILTER_NONE;
}

static const char *filter_name(int code)
{
    return code == ARCHIVE_FILTER_GZIP ? "gzip" : code == ARCHIVE_FILTER_ZSTD ? "zstd" : code == ARCHIVE_FILTER_XZ ? "xz" : "bzip2";
}

/* Dies: `path` is named for `code` but does not start as its data. Names the bytes
 * found, since a damaged magic number looks different from plain text. */
static void refuse_unpromised(const char *path, const char *sfx, int code)
{
    unsigned char head[4] = { 0 };
    size_t got = 0;
    FILE *fp = fopen(path, "rb");
    if (fp) {
        got = fread(head, 1, sizeof head, fp);
        fclose(fp);
    }
    char hex[16] = "";
    size_t len = 0;
    for (size_t i = 0; i < got; i++) len += (size_t)snprintf(hex + len, sizeof hex - len, "%s%02x", i ? " " : "", head[i]);
    die("%s: named %s but does not start as %s data (first bytes: %s): damaged or not compressed; not read as text",
        path, sfx, filter_name(code), got ? hex : "none, the file is empty");
}

static bool has_filter(struct archive *ar, int code)
{
    for (int i = 0; i < archive_filter_count(ar); i++)
        if (archive_filter_code(ar, i) == code) return true;
    return false;
}

/* Before libarchive sees it: a file named for a filter starts with that filter's magic
 * number (zstd may start with a skippable frame, 0x184D2A50..5F little-endian). A
 * file that cannot be opened is left for the open to report. */
static void require_promised_magic(const char *path)
{
    const char *sfx = NULL;
    int want = promised_filter(path, &sfx);
    if (want == ARCHIVE_FILTER_NONE) return;
    FILE *fp = fopen(path, "rb");
    if (!fp) return;
    unsigned char m[6] = { 0 };
    size_t n = fread(m, 1, sizeof m, fp);
    fclose(fp);
    bool ok = false;
    switch (want) {
    case ARCHIVE_FILTER_GZIP: ok = n >= 2 && m[0] == 0x1f && m[1] == 0x8b; break;
    case ARCHIVE_FILTER_ZSTD:
        ok = n >= 4 && ((m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) ||
                        ((m[0] & 0xf0) == 0x50 && m[1] == 0x2a && m[2] == 0x4d && m[3] == 0x18));
        break;
    case ARCHIVE_FILTER_XZ: ok = n == 6 && memcmp(m, "\xfd" "7zXZ\0", 6) == 0; break;
    default: ok = n >= 3 && memcmp(m, "BZh", 3) == 0; break;
    }
    if (!ok) refuse_unpromised(path, sfx, want);
}

/* After the open: libarchive found the promised filter (a second guard, in case its
 * bidding and the magic check above ever disagree). */
static void require_promised_filter(TextInput *in)
{
    const char *sfx = NULL;
    int want = promised_filter(in->path, &sfx);
    if (want != ARCHIVE_FILTER_NONE && !has_filter(in->ar, want)) refuse_unpromised(in->path, sfx, want);
}

/* gzip through zlib, not libarchive's gzip filter: that one skips the trailer's CRC-32,
 * so a damaged deflate stream that still decodes would be tokenized as if good. zlib
 * checks every member's CRC-32 and length. libarchive then sees the decompressed bytes
 * (a .tar.gz's tar, or a .gz's raw stream). */
static la_ssize_t gz_read_cb(struct archive *a, void *ctx, const void **buf)
{
    TextInput *in = ctx;
    int got = gzread(in->gz, in->gz_buf, GZ_CHUNK);
    int zerr = Z_OK;
    const char *why = gzerror(in->gz, &zerr);
    if (got < 0 || (zerr != Z_OK && zerr != Z_STREAM_END)) {
        /* zlib's text starts with the path, which the message names already. */
        size_t n = strlen(in->path);
        if (strncmp(why, in->path, n) == 0 && strncmp(why + n, ": ", 2) == 0) why += n + 2;
        archive_set_error(a, EIO, "gzip: %s", zerr == Z_ERRNO ? strerror(errno) : why);
        return -1;
    }
    *buf = in->gz_buf;
    return got;
}

static void open_gzip(TextInput *in)
{
    in->gz = gzopen(in->path, "rb");
    if (!in->gz) die("%s: %s", in->path, errno ? strerror(errno) : "cannot open");
    in->gz_buf = xmalloc(GZ_CHUNK);
    /* Not gzdirect(): require_promised_magic has seen the gzip magic already. */
    if (archive_read_open(in->ar, in, NULL, gz_read_cb, NULL) != ARCHIVE_OK)
        die("%s: damaged data: %s", in->path, archive_error_string(in->ar) ? archive_error_string(in->ar) : "unreadable");
}

static bool name_is_jsonl(const char *p, size_t len)
{
    return len >= 6 && memcmp(p + len - 6, ".jsonl", 6) == 0;
}

/* Where we are, for messages: "path", "path:member". */
void text_input_where(const TextInput *in, char *out, size_t n)
{
    if (in->kind == SRC_ARCHIVE && in->member) snprintf(out, n, "%s:%s", in->path, in->member);
    else snprintf(out, n, "%s", in->path);
}

TextInput *text_input_open(const char *path, const TextInputOptions *opt)
{
    TextInput *in = xcalloc(1, sizeof *in);
    in->opt = *opt;
    in->path = xstrdup(path);
    bool is_stdin = strcmp(path, "-") == 0;
    if (!is_stdin && is_archive_name(path)) in->kind = SRC_ARCHIVE;
    else if (!is_stdin && compression_suffix(path)) in->kind = SRC_COMPRESSED;
    else in->kind = SRC_PLAIN;
    if (in->kind == SRC_PLAIN) {
        in->fp = is_stdin ? stdin : fopen(path, "rb");
        if (!in->fp) die("%s: %s", path, strerror(errno));
        in->jsonl = opt->force_jsonl || name_is_jsonl(path, strlen(path));
    } else {
        in->ar = archive_read_new();
        if (!in->ar) die("%s: out of memory opening archive reader", path);
        const char *sfx;
        require_promised_magic(path);
        bool gzip = promised_filter(path, &sfx) == ARCHIVE_FILTER_GZIP;
        if (!gzip) archive_read_support_filter_all(in->ar);
        if (in->kind == SRC_ARCHIVE) {
            archive_read_support_format_tar(in->ar);
            archive_read_support_format_gnutar(in->ar);
            archive_read_support_format_zip(in->ar);
        } else {
            archive_read_support_format_raw(in->ar);
            size_t base = strlen(path) - strlen(compression_suffix(path));
            in->jsonl = opt->force_jsonl || name_is_jsonl(path, base);
        }
        if (gzip) {
            open_gzip(in);
        } else {
            if (archive_read_open_filename(in->ar, path, 1 << 16) != ARCHIVE_OK) {
                /* The magic was checked: what fails here is damaged further in. */
                die("%s: %s%s", path, access(path, R_OK) == 0 ? "damaged data: " : "",
                    archive_error_string(in->ar) ? archive_error_string(in->ar) : "cannot open");
            }
            require_promised_filter(in);
        }
        if (in->kind == SRC_COMPRESSED) {
            struct archive_entry *e;
            int rc = archive_read_next_header(in->ar, &e);
            if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
                die("%s: not a readable compressed file: %s", path, archive_error_string(in->ar) ? archive_error_string(in->ar) : "unknown error");
        }
    }
    return in;
}

/* Read up to n bytes of the current stream; 0 at its end. */
static size_t src_read(TextInput *in, char *dst, size_t n)
{
    if (in->kind == SRC_PLAIN) {
        size_t got = fread(dst, 1, n, in->fp);
        if (got == 0 && ferror(in->fp)) die("%s: read failed: %s", in->path, strerror(errno));
        return got;
    }
    la_ssize_t got = archive_read_data(in->ar, dst, n);
    if (got < 0) {
        char w[4200];
        text_input_where(in, w, sizeof w);
        die("%s: damaged data: %s", w, archive_error_string(in->ar) ? archive_error_string(in->ar) : "read error");
    }
    return (size_t)got;
}

static void drop_doc(TextInput *in)
{
    TextDocBuf b = { (uint8_t *)in->doc, in->doc_map_len };
    text_doc_free(&b);
    in->doc = NULL;
    in->doc_cap = in->doc_map_len = 0;
}

/* The whole current stream as one document. */
static void read_whole(TextInput *in, size_t *len)
{
    size_t n = 0;
    /* When the size is known, one allocation instead of repeated doubling and
     * copying; a large plain file is mapped instead (see text_input_take_doc). */
    struct stat st;
    int64_t known = -1;
    if (in->kind == SRC_PLAIN && fstat(fileno(in->fp), &st) == 0 && S_ISREG(st.st_mode)) known = st.st_size;
    if (in->doc_map_len) drop_doc(in);
    if (known >= (int64_t)MMAP_MIN_BYTES && ftello(in->fp) == 0) {
        void *p = mmap(NULL, (size_t)known, PROT_READ, MAP_PRIVATE, fileno(in->fp), 0);
        if (p != MAP_FAILED) {
            /* A hint: read ahead now. (A file truncated while mapped would fault
             * on access; inputs are not expected to change under us.) */
            madvise(p, (size_t)known, MADV_WILLNEED);
            drop_doc(in);
            in->doc = p;
            in->doc_map_len = (size_t)known;
            *len = (size_t)known;
            return;
        }
    }
    if (known >= 0 && (size_t)known + 1 > in->doc_cap) {
        free(in->doc);
        in->doc_cap = (size_t)known + 1; /* +1: the read that sees the end */
        in->doc = xmalloc(in->doc_cap);
    }
    if (!in->doc_cap) { in->doc_cap = 1 << 16; in->doc = xmalloc(in->doc_cap); }
    for (;;) {
        if (n == in->doc_cap) in->doc = xrealloc(in->doc, in->doc_cap *= 2);
        size_t got = src_read(in, in->doc + n, in->doc_cap - n);
        if (got == 0) break;
        n += got;
    }
    *len = n;
}

/* The next line of the current stream (without its '\n'), or NULL at its end. */
static char *next_line(TextInput *in, size_t *len)
{
    for (;;) {
        char *nl = in->end > in->start ? memchr(in->buf + in->start, '\n', in->end - in->start) : NULL;
        if (nl || (in->eof && in->end > in->start)) {
            char *s = in->buf + in->start;
            size_t l = nl ? (size_t)(nl - s) : in->end - in->start;
            in->start += l + (nl ? 1 : 0);
            in->line++;
            *len = l;
            return s;
        }
        if (in->eof) return NULL;
        /* Keep the partial line, make room, read more. */
        if (in->start > 0) {
            memmove(in->buf, in->buf + in->start, in->end - in->start);
            in->end -= in->start;
            in->start = 0;
        }
        if (in->end == in->cap) {
            in->cap = in->cap ? 2 * in->cap : 1 << 20; /* large reads: few system calls */
            in->buf = xrealloc(in->buf, in->cap);
        }
        size_t got = src_read(in, in->buf + in->end, in->cap - in->end);
        if (got == 0) in->eof = true;
        in->end += got;
    }
}

static void reset_lines(TextInput *in)
{
    in->start = in->end = 0;
    in->eof = false;
    in->line = 0;
}

/* The next raw line of a JSONL stream that is not blank (without its '\n'), with
 * its line number; 0 at the stream's end. */
static int next_json_line(TextInput *in, const uint8_t **text, size_t *len, uint64_t *line)
{
    size_t l;
    char *s;
    while ((s = next_line(in, &l))) {
        size_t k = 0;
        while (k < l && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r')) k++;
        if (k == l) continue; /* blank line */
        *text = (const uint8_t *)s;
        *len = l;
        *line = in->line;
        return 1;
    }
    return 0;
}

int text_input_next(TextInput *in, const uint8_t **text, size_t *len, uint64_t *line)
{
    *line = 0;
    if (in->done) return 0;
    if (in->kind != SRC_ARCHIVE) {
        if (in->jsonl) {
            if (next_json_line(in, text, len, line)) return 1;
            in->done = true;
            return 0;
        }
        read_whole(in, len);
        *text = (const uint8_t *)in->doc;
        in->done = true;
        return 1;
    }
    for (;;) {
        if (in->in_member) {
            if (next_json_line(in, text, len, line)) return 1;
            in->in_member = false;
        }
        struct archive_entry *e;
        int rc = archive_read_next_header(in->ar, &e);
        if (rc == ARCHIVE_EOF) { in->done = true; return 0; }
        if (rc == ARCHIVE_WARN) warnx("%s: %s", in->path, archive_error_string(in->ar));
        else if (rc != ARCHIVE_OK) {
            if (in->member) die("%s: damaged archive after member '%s': %s", in->path, in->member, archive_error_string(in->ar));
            die("%s: damaged archive: %s", in->path, archive_error_string(in->ar) ? archive_error_string(in->ar) : "unreadable");
        }
        free(in->member);
        const char *name = archive_entry_pathname(e);
        in->member = xstrdup(name ? name : "?");
        in->source_serial++;
        if (archive_entry_filetype(e) != AE_IFREG) continue; /* folders, links, devices */
        if (in->opt.force_jsonl || name_is_jsonl(in->member, strlen(in->member))) {
            reset_lines(in);
            in->in_member = true;
            continue;
        }
        read_whole(in, len);
        *text = (const uint8_t *)in->doc;
        return 1;
    }
}

uint64_t text_input_source_serial(const TextInput *in) { return in->source_serial; }

TextDocBuf text_input_take_doc(TextInput *in)
{
    TextDocBuf b = { (uint8_t *)in->doc, in->doc_map_len };
    in->doc = NULL;
    in->doc_cap = in->doc_map_len = 0;
    return b;
}

void text_doc_free(TextDocBuf *b)
{
    if (b->map_len) munmap(b->p, b->map_len);
    else free(b->p);
    b->p = NULL;
    b->map_len = 0;
}

void text_input_close(TextInput *in)
{
    if (!in) return;
    if (in->fp && in->fp != stdin) fclose(in->fp);
    if (in->ar) archive_read_free(in->ar);
    if (in->gz) gzclose(in->gz);
    free(in->gz_buf);
    free(in->path);
    free(in->member);
    free(in->buf);
    drop_doc(in);
    free(in);
}
