/* path.c: see path.h. */
#include "base/path.h"
#include "base/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *path_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    if (slash == path) return xstrdup("/");
    size_t n = (size_t)(slash - path);
    char *d = xmalloc(n + 1);
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

char *path_join(const char *dir, const char *name)
{
    size_t nd = strlen(dir), nn = strlen(name);
    while (nd > 1 && dir[nd - 1] == '/') nd--;
    char *p = xmalloc(nd + nn + 2);
    memcpy(p, dir, nd);
    size_t k = nd;
    if (!(nd == 1 && dir[0] == '/')) p[k++] = '/';
    memcpy(p + k, name, nn + 1);
    return p;
}

char *path_resolve(const char *dir, const char *name)
{
    if (name[0] == '/' || strcmp(dir, ".") == 0) return xstrdup(name);
    return path_join(dir, name);
}

bool is_directory(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *file_slurp(const char *path, size_t limit, size_t *len, char *why, size_t why_len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        int e = errno;
        errbuf_fail(why, why_len, "%s", strerror(e));
        errno = e;
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (limit && cap > limit) {
                errbuf_fail(why, why_len, "larger than %zu bytes", limit);
                free(buf);
                fclose(fp);
                errno = EFBIG;
                return NULL;
            }
            buf = xrealloc(buf, cap *= 2);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0) break;
    }
    if (ferror(fp)) {
        int e = errno;
        errbuf_fail(why, why_len, "read failed: %s", strerror(e));
        free(buf);
        fclose(fp);
        errno = e;
        return NULL;
    }
    fclose(fp);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}
