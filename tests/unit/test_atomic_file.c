/* test_atomic_file.c: the target is replaced whole, an abort leaves the old file,
 * a full disk (/dev/full is not a directory, so use a tiny file system if present)
 * is an error, and no temporary file is left behind. A target that is a FIFO (as
 * /dev/null is a device) is written in place and stays what it was. */
#include "base/atomic_file.h"
#include "check.h"
#include "base/error.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    static char buf[256];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = 0;
    fclose(fp);
    return buf;
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

int main(void)
{
    nmoe_set_prog("test_atomic_file");
    char dir[] = "/tmp/nmoe-test-atomic-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/out.bin", dir);

    atomic_write_file(path, "old", 3);
    CHECK_STR(slurp(path), "old");

    AtomicFile *af = atomic_open(path);
    atomic_write(af, "new-partial", 11);
    CHECK_STR(slurp(path), "old"); /* not visible before commit */
    atomic_abort(af);
    CHECK_STR(slurp(path), "old");
    CHECK_EQ_INT(entries(dir), 1);

    af = atomic_open(path);
    fprintf(atomic_stream(af), "new %d", 42);
    atomic_commit(af);
    CHECK_STR(slurp(path), "new 42");
    CHECK_EQ_INT(entries(dir), 1);

    /* A fatal error in the middle of a write removes the temporary file. */
    pid_t pid = fork();
    if (pid == 0) {
        AtomicFile *f = atomic_open(path);
        atomic_write(f, "doomed", 6);
        die("simulated failure");
    }
    int st;
    struct stat sb;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == NMOE_EXIT_FAILURE);
    CHECK_STR(slurp(path), "new 42");
    CHECK_EQ_INT(entries(dir), 1);

    /* A FIFO target: written in place (a reader gets the bytes), not renamed over. */
    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    fflush(stderr);
    pid = fork();
    if (pid == 0) {
        FILE *in = fopen(fifo, "rb");
        char got[16] = { 0 };
        size_t n = in ? fread(got, 1, sizeof got - 1, in) : 0;
        _exit(n == 7 && memcmp(got, "through", 7) == 0 ? 0 : 1);
    }
    atomic_write_file(fifo, "through", 7);
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(stat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode));
    CHECK_EQ_INT(entries(dir), 2); /* out.bin and the FIFO: no temporary file */

    /* make_dirs is mkdir -p. */
    char deep[600];
    snprintf(deep, sizeof deep, "%s/a/b/c", dir);
    make_dirs(deep);
    make_dirs(deep);
    CHECK(stat(deep, &sb) == 0 && S_ISDIR(sb.st_mode));

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_report("test_atomic_file");
}
