/* out_dir.c: see out_dir.h. */
#include "train/out_dir.h"
#include "base/atomic_file.h"
#include "base/error.h"
#include "base/path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int out_dir_lock(const char *dir)
{
    make_dirs(dir);
    char *path = path_join(dir, ".lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) die("%s: cannot open the out_dir's lock: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) die("%s: cannot lock: %s", path, strerror(errno));
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        die("%s: in use by another run (nmoe-train pid %s holds %s); two runs must not share an out_dir", dir,
            pid[0] ? pid : "unknown", path);
    }
    /* Who holds it, for the message of the run that is refused. */
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        die("%s: cannot write the lock's pid: %s", path, strerror(errno));
    free(path);
    return fd;
}

/* "step-" and 8 or more digits: the names checkpoint_save gives. */
static bool is_step_name(const char *name)
{
    if (strncmp(name, "step-", 5) != 0) return false;
    size_t n = 0;
    for (const char *p = name + 5; *p; p++, n++)
        if (*p < '0' || *p > '9') return false;
    return n >= 8;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The step directories of dir, sorted (malloc'ed array of malloc'ed names). */
static char **step_dirs(const char *dir, int *count)
{
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return NULL;
        die("%s: %s", dir, strerror(errno));
    }
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_step_name(e->d_name)) continue;
        char *p = path_join(dir, e->d_name);
        bool isdir = is_directory(p);
        free(p);
        if (!isdir) continue;
        names = xrealloc(names, (size_t)(n + 1) * sizeof *names);
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(names, (size_t)n, sizeof *names, compare_names);
    *count = n;
    return names;
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

bool out_dir_describe_checkpoints(const char *dir, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    char *latest_path = path_join(dir, "latest");
    char why[256];
    char *latest = file_slurp(latest_path, 4096, NULL, why, sizeof why);
    if (!latest && errno != ENOENT) die("%s: %s", latest_path, why);
    if (latest) {
        latest[strcspn(latest, "\r\n")] = '\0';
        len += (size_t)snprintf(out + len, cap - len, "latest -> %s", latest);
        free(latest);
    }
    int n;
    char **names = step_dirs(dir, &n);
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i == 0 ? (len ? "; " : "") : " ", names[i]);
    free_names(names, n);
    free(latest_path);
    return len > 0;
}

/* A file that checkpoint_save writes into a step directory, or a temporary of one. */
static bool ours(const char *name)
{
    static const char *const files[] = { "model.bin", "optimizer.bin", "state.json" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        size_t n = strlen(files[i]);
        if (strcmp(name, files[i]) == 0) return true;
        if (strncmp(name, files[i], n) == 0 && strncmp(name + n, ".tmp.", 5) == 0) return true;
    }
    return false;
}

/* The first file in step directory `step` that checkpoint_save did not write, into
 * name (false when there is none). */
static bool find_foreign(const char *step, char *name, size_t cap)
{
    DIR *d = opendir(step);
    if (!d) die("%s: %s", step, strerror(errno));
    struct dirent *e;
    bool found = false;
    while (!found && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !ours(e->d_name)) {
            snprintf(name, cap, "%s", e->d_name);
            found = true;
        }
    closedir(d);
    return found;
}

/* Dies when step directory `step` holds a file that checkpoint_save did not write. */
static void require_only_ours(const char *step)
{
    char name[256];
    if (find_foreign(step, name, sizeof name))
        die("%s: holds %s, which nmoe-train did not write; not removing it (move it away, or remove "
            "the directory yourself)", step, name);
}

/* Removes every file of the step directory `step`, then the directory. */
static void remove_step_dir(const char *step)
{
    DIR *d = opendir(step);
    if (!d) die("%s: %s", step, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *f = path_join(step, e->d_name);
        if (unlink(f) != 0 && errno != ENOENT) die("%s: cannot remove: %s", f, strerror(errno));
        free(f);
    }
    closedir(d);
    if (rmdir(step) != 0) die("%s: cannot remove: %s", step, strerror(errno));
}

int out_dir_remove_checkpoints(const char *dir)
{
    int n;
    char **names = step_dirs(dir, &n);
    /* Every directory is checked before anything is removed: a refusal changes nothing. */
    for (int i = 0; i < n; i++) {
        char *step = path_join(dir, names[i]);
        require_only_ours(step);
        free(step);
    }
    char *latest = path_join(dir, "latest");
    if (unlink(latest) != 0 && errno != ENOENT) die("%s: cannot remove: %s", latest, strerror(errno));
    free(latest);
    for (int i = 0; i < n; i++) {
        char *step = path_join(dir, names[i]);
        remove_step_dir(step);
        free(step);
    }
    free_names(names, n);
    return n;
}

/* ---- retention (keep_checkpoints) --------------------------------------------------- */

#define REMOVING_SUFFIX ".removing"

static uint64_t step_number(const char *name) { return strtoull(name + 5, NULL, 10); }

/* Finishes removals a killed run left: step-NNNNNNNN.removing directories holding only
 * checkpoint files. */
static void finish_removals(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) die("%s: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name), sl = strlen(REMOVING_SUFFIX);
        if (len <= sl || strcmp(e->d_name + len - sl, REMOVING_SUFFIX) != 0) continue;
        char base[NAME_MAX + 1];
        snprintf(base, sizeof base, "%.*s", (int)(len - sl), e->d_name);
        if (!is_step_name(base)) continue;
        char *p = path_join(dir, e->d_name), foreign[256];
        if (is_directory(p) && !find_foreign(p, foreign, sizeof foreign)) remove_step_dir(p);
        free(p);
    }
    closedir(d);
}

static int compare_steps_desc(const void *a, const void *b)
{
    uint64_t x = step_number(*(char *const *)a), y = step_number(*(char *const *)b);
    return x < y ? 1 : x > y ? -1 : 0;
}

int out_dir_prune_checkpoints(const char *dir, int64_t keep, char *removed, size_t cap)
{
    if (cap) removed[0] = '\0';
    if (keep <= 0) return 0;
    finish_removals(dir);
    char *latest_path = path_join(dir, "latest");
    char why[256];
    char *latest = file_slurp(latest_path, 4096, NULL, why, sizeof why);
    if (!latest) {
        if (errno != ENOENT) die("%s: %s", latest_path, why);
        free(latest_path);
        return 0; /* nothing is complete yet */
    }
    free(latest_path);
    latest[strcspn(latest, "\r\n")] = '\0';
    if (!is_step_name(latest)) die("%s/latest: does not name a checkpoint directory", dir);
    const uint64_t latest_step = step_number(latest);

    int n, removed_n = 0;
    char **names = step_dirs(dir, &n);
    qsort(names, (size_t)n, sizeof *names, compare_steps_desc);
    size_t len = 0;
    int64_t kept = 0;
    for (int i = 0; i < n; i++) {
        /* Newer than latest, or no state.json: a write that did not finish (or is not
         * ours to judge); left alone. */
        char *step = path_join(dir, names[i]), *state = path_join(step, "state.json");
        const bool complete = step_number(names[i]) <= latest_step && is_regular_file(state);
        free(state);
        if (!complete) {
            free(step);
            continue;
        }
        /* latest is the newest complete one, so it is the first kept. */
        if (strcmp(names[i], latest) == 0 || kept < keep) {
            kept++;
            free(step);
            continue;
        }
        char foreign[256];
        if (find_foreign(step, foreign, sizeof foreign)) {
            warnx("%s: holds %s, which nmoe-train did not write; keep_checkpoints leaves it", step, foreign);
            free(step);
            continue;
        }
        /* Renamed first: a kill mid-removal leaves no half-removed checkpoint under a
         * checkpoint's name. */
        char *doomed = xmalloc(strlen(step) + sizeof REMOVING_SUFFIX);
        sprintf(doomed, "%s%s", step, REMOVING_SUFFIX);
        if (rename(step, doomed) != 0) die("%s: cannot rename to %s: %s", step, doomed, strerror(errno));
        fsync_parent_dir(step);
        remove_step_dir(doomed);
        fsync_parent_dir(step);
        if (len < cap) len += (size_t)snprintf(removed + len, cap - len, "%s%s", removed_n ? " " : "", names[i]);
        removed_n++;
        free(doomed);
        free(step);
    }
    free(latest);
    free_names(names, n);
    return removed_n;
}

bool out_dir_holds(const char *dir, const char *ckpt)
{
    char a[PATH_MAX], b[PATH_MAX];
    if (!realpath(dir, a)) return false;
    char *parent = path_join(ckpt, "..");
    bool same = realpath(parent, b) && strcmp(a, b) == 0;
    free(parent);
    return same;
}
