/* atomic_file.c: see atomic_file.h. */
#include "base/atomic_file.h"
#include "base/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct AtomicFile {
    char *iobuf;     /* stdio buffer: glibc's own is 4 KiB when setvbuf gets NULL */
    char *final_path;
    char *temp_path;
    FILE *fp;
    int slot;
    bool direct;     /* the target is a device or FIFO: written in place, see atomic_open */
};

/* Temp paths still open, so the fatal path and signal handler can unlink them.
 * Fixed-size and preallocated: the signal handler may only call unlink(). */
#define MAX_OPEN_TEMPS 64
static char open_temps[MAX_OPEN_TEMPS][PATH_MAX];
static volatile sig_atomic_t temp_used[MAX_OPEN_TEMPS];

static void remove_open_temps(void)
{
    for (int i = 0; i < MAX_OPEN_TEMPS; i++)
        if (temp_used[i]) {
            unlink(open_temps[i]);
            temp_used[i] = 0;
        }
}

static void on_signal(int sig)
{
    for (int i = 0; i < MAX_OPEN_TEMPS; i++)
        if (temp_used[i]) unlink(open_temps[i]);
    signal(sig, SIG_DFL);
    _exit(NMOE_EXIT_INTERRUPTED);
}

void atomic_install_signal_cleanup(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* Large writes go out in 1 MiB system calls, not 4 KiB ones. */
#define ATOMIC_IO_BUFFER ((size_t)1 << 20)

AtomicFile *atomic_open(const char *final_path)
{
    nmoe_on_fatal(remove_open_temps);
    AtomicFile *af = xcalloc(1, sizeof *af);
    af->final_path = xstrdup(final_path);
    /* A target that exists and is not a regular file (/dev/null, a FIFO, a
     * terminal) has no old contents to keep and must not be renamed over: that
     * would replace the device with a plain file. It is written in place. */
    struct stat st;
    if (stat(final_path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        af->direct = true;
        af->slot = -1;
        af->temp_path = xstrdup(final_path);
        af->fp = fopen(final_path, "wb");
        if (!af->fp) die("%s: %s", final_path, strerror(errno));
        af->iobuf = xmalloc(ATOMIC_IO_BUFFER);
        setvbuf(af->fp, af->iobuf, _IOFBF, ATOMIC_IO_BUFFER);
        return af;
    }
    size_t n = strlen(final_path) + 16;
    af->temp_path = xmalloc(n);
    snprintf(af->temp_path, n, "%s.tmp.XXXXXX", final_path);
    if (strlen(af->temp_path) >= PATH_MAX) die("%s: path too long", final_path);
    af->slot = -1;
    for (int i = 0; i < MAX_OPEN_TEMPS; i++)
        if (!temp_used[i]) { af->slot = i; break; }
    if (af->slot < 0) die("%s: too many files open for atomic writing", final_path);
    /* Create and register the temporary file with SIGINT/SIGTERM held, so that a
     * signal arriving between the two cannot leave a temporary file the handler does
     * not know of (tests/cli/shard_interrupt.sh met that window). */
    sigset_t hold, old;
    sigemptyset(&hold);
    sigaddset(&hold, SIGINT);
    sigaddset(&hold, SIGTERM);
    sigprocmask(SIG_BLOCK, &hold, &old);
    int fd = mkstemp(af->temp_path);
    int saved = errno;
    if (fd >= 0) {
        strcpy(open_temps[af->slot], af->temp_path);
        temp_used[af->slot] = 1;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (fd < 0) die("%s: cannot create temporary file: %s", final_path, strerror(saved));
    fchmod(fd, 0644);
    af->fp = fdopen(fd, "wb");
    if (!af->fp) die("%s: %s", af->temp_path, strerror(errno));
    af->iobuf = xmalloc(ATOMIC_IO_BUFFER);
    setvbuf(af->fp, af->iobuf, _IOFBF, ATOMIC_IO_BUFFER);
    return af;
}

void atomic_write(AtomicFile *af, const void *data, size_t n)
{
    if (n && fwrite(data, 1, n, af->fp) != n)
        die("%s: write failed: %s", af->final_path, strerror(errno));
}

FILE *atomic_stream(AtomicFile *af) { return af->fp; }
const char *atomic_temp_path(const AtomicFile *af) { return af->temp_path; }
const char *atomic_final_path(const AtomicFile *af) { return af->final_path; }

static void release(AtomicFile *af)
{
    if (af->slot >= 0) temp_used[af->slot] = 0;
    free(af->final_path);
    free(af->temp_path);
    free(af->iobuf); /* after fclose: stdio writes into it until then */
    free(af);
}

void atomic_commit(AtomicFile *af)
{
    if (fflush(af->fp) != 0 || ferror(af->fp))
        die("%s: write failed: %s", af->final_path, strerror(errno));
    if (af->direct) {
        if (fclose(af->fp) != 0) die("%s: close failed: %s", af->final_path, strerror(errno));
        af->fp = NULL;
        release(af);
        return;
    }
    if (fsync(fileno(af->fp)) != 0)
        die("%s: fsync failed: %s", af->final_path, strerror(errno));
    if (fclose(af->fp) != 0)
        die("%s: close failed: %s", af->final_path, strerror(errno));
    af->fp = NULL;
    if (rename(af->temp_path, af->final_path) != 0)
        die("%s: rename from %s failed: %s", af->final_path, af->temp_path, strerror(errno));
    if (af->slot >= 0) temp_used[af->slot] = 0;
    fsync_parent_dir(af->final_path);
    release(af);
}

void atomic_abort(AtomicFile *af)
{
    if (af->fp) fclose(af->fp);
    if (!af->direct) unlink(af->temp_path);
    release(af);
}

void atomic_write_file(const char *path, const void *data, size_t n)
{
    AtomicFile *af = atomic_open(path);
    atomic_write(af, data, n);
    atomic_commit(af);
}

void fsync_parent_dir(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == path) strcpy(dir, "/");
    else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir) die("%s: path too long", path);
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) die("%s: cannot open directory: %s", dir, strerror(errno));
    /* Some file systems (e.g. tmpfs variants) refuse fsync on directories; EINVAL is harmless. */
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        die("%s: fsync of directory failed: %s", dir, strerror(errno));
    close(fd);
}

void make_dirs(const char *path)
{
    char buf[PATH_MAX];
    if (strlen(path) >= sizeof buf) die("%s: path too long", path);
    strcpy(buf, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) die("%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) die("%s: cannot create directory: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) die("%s: not a directory", buf);
}
