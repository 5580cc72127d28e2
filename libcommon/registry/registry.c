/* registry.c: see registry.h. */
#include "registry/registry.h"
#include "base/clock.h"
#include "base/error.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct Registry {
    sqlite3 *db;
    char *path;
};

/* The schema of version 1 (nmoe-registry(5) documents every column). */
static const char schema_v1[] =
    "CREATE TABLE runs ("
    " id TEXT PRIMARY KEY,"
    " parent TEXT,"
    " fingerprint TEXT NOT NULL,"
    " config TEXT NOT NULL,"
    " git_rev TEXT NOT NULL,"
    " version TEXT NOT NULL,"
    " host TEXT NOT NULL,"
    " pid INTEGER NOT NULL,"
    " backend TEXT NOT NULL,"
    " out_dir TEXT NOT NULL,"
    " metrics TEXT,"
    " start_time TEXT NOT NULL,"
    " segment_start_time TEXT NOT NULL,"
    " end_time TEXT,"
    " segments INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'target_reached', 'diverged',"
    " 'collapsed', 'failed', 'interrupted')),"
    " exit_status INTEGER,"
    " reason TEXT,"
    " steps INTEGER NOT NULL,"
    " tokens INTEGER NOT NULL,"
    " train_loss REAL,"
    " val_loss REAL,"
    " wall_s REAL NOT NULL DEFAULT 0,"
    " checkpoint TEXT);"
    "CREATE INDEX runs_fingerprint ON runs (fingerprint);"
    "INSERT INTO schema_version (version) VALUES (1);";

static bool fail_db(const Registry *g, char *err, size_t cap, const char *what)
{
    const char *msg = sqlite3_errmsg(g->db);
    int sys = sqlite3_system_errno(g->db);
    if (sys && (sqlite3_errcode(g->db) == SQLITE_CANTOPEN || sqlite3_errcode(g->db) == SQLITE_IOERR))
        return errbuf_fail(err, cap, "%s: run registry: %s: %s (%s)", g->path, what, msg, strerror(sys));
    return errbuf_fail(err, cap, "%s: run registry: %s: %s", g->path, what, msg);
}

static bool exec(Registry *g, const char *sql, const char *what, char *err, size_t cap)
{
    if (sqlite3_exec(g->db, sql, NULL, NULL, NULL) == SQLITE_OK) return true;
    return fail_db(g, err, cap, what);
}

/* Runs fn inside BEGIN IMMEDIATE ... COMMIT: the write lock is taken at BEGIN, where
 * the busy timeout waits for it, rather than at the first write, where SQLite may
 * give up at once to avoid a deadlock. */
typedef bool (*TxnFn)(Registry *g, const void *arg, char *err, size_t cap);
static bool in_transaction(Registry *g, TxnFn fn, const void *arg, char *err, size_t cap)
{
    if (!exec(g, "BEGIN IMMEDIATE", "cannot take the write lock", err, cap)) return false;
    if (!fn(g, arg, err, cap)) {
        sqlite3_exec(g->db, "ROLLBACK", NULL, NULL, NULL);
        return false;
    }
    if (exec(g, "COMMIT", "cannot commit", err, cap)) return true;
    sqlite3_exec(g->db, "ROLLBACK", NULL, NULL, NULL);
    return false;
}

static bool create_or_check_schema(Registry *g, const void *arg, char *err, size_t cap)
{
    (void)arg;
    if (!exec(g, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", "cannot create the schema", err,
              cap))
        return false;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(g->db, "SELECT max(version), count(*) FROM schema_version", -1, &st, NULL) != SQLITE_OK)
        return fail_db(g, err, cap, "cannot read schema_version");
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return fail_db(g, err, cap, "cannot read schema_version");
    }
    const bool empty = sqlite3_column_int64(st, 1) == 0;
    const int64_t version = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (empty) return exec(g, schema_v1, "cannot create the schema", err, cap);
    if (version > REGISTRY_SCHEMA_VERSION)
        return errbuf_fail(err, cap, "%s: run registry: schema version %lld, newer than this build's %d (use a newer nmoe)",
                           g->path, (long long)version, REGISTRY_SCHEMA_VERSION);
    if (version < 1) return errbuf_fail(err, cap, "%s: run registry: bad schema version %lld", g->path, (long long)version);
    /* Version 1 is the only one so far: nothing to migrate. */
    return true;
}

Registry *registry_open(const char *path)
{
    Registry *g = xcalloc(1, sizeof *g);
    g->path = xstrdup(path);
    char err[1024];
    int rc = sqlite3_open_v2(path, &g->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (!g->db) die("%s: run registry: cannot open: %s", path, sqlite3_errstr(rc));
        fail_db(g, err, sizeof err, "cannot open");
        die("%s", err);
    }
    sqlite3_extended_result_codes(g->db, 1);
    sqlite3_busy_timeout(g->db, REGISTRY_BUSY_MS);
    if (sqlite3_db_readonly(g->db, "main") == 1) die("%s: run registry: opened read-only (no write permission)", path);
    /* WAL: readers never block the writer, and a writer blocks others only for the
     * moment of its transaction. */
    sqlite3_stmt *st = NULL;
    /* Switching a new file to WAL needs an exclusive lock, and SQLite answers BUSY at
     * once, without the busy handler, when another process opening the same new file
     * holds a shared lock (the runs of a parallel sweep start together): retry for as
     * long as the busy timeout would have waited. */
    const double give_up = monotonic_s() + REGISTRY_BUSY_MS / 1000.0;
    for (;;) {
        if (sqlite3_prepare_v2(g->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK) {
            rc = sqlite3_step(st);
            if (rc == SQLITE_ROW) break;
            sqlite3_finalize(st);
            st = NULL;
        } else {
            rc = sqlite3_errcode(g->db);
        }
        if (((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) || monotonic_s() > give_up) {
            fail_db(g, err, sizeof err, "cannot set WAL mode");
            die("%s", err);
        }
        sqlite3_sleep(10);
    }
    char mode[16];
    snprintf(mode, sizeof mode, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (strcmp(mode, "wal") != 0)
        die("%s: run registry: the file system refuses WAL mode (journal mode stays %s), which parallel writers need", path,
            mode);
    if (!in_transaction(g, create_or_check_schema, NULL, err, sizeof err)) die("%s", err);
    return g;
}

const char *registry_path(const Registry *g) { return g->path; }

void registry_close(Registry *g)
{
    if (!g) return;
    sqlite3_close(g->db);
    free(g->path);
    free(g);
}

/* ---- rows -------------------------------------------------------------------------- */

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s && s[0]) sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, i);
}

static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isfinite(v)) sqlite3_bind_double(st, i, v);
    else sqlite3_bind_null(st, i);
}

static bool step_done(Registry *g, sqlite3_stmt *st, const char *what, char *err, size_t cap)
{
    int rc = sqlite3_step(st);
    bool ok = rc == SQLITE_DONE || fail_db(g, err, cap, what);
    sqlite3_finalize(st);
    return ok;
}

static bool write_start(Registry *g, const void *arg, char *err, size_t cap)
{
    const RegistryStart *s = arg;
    static const char sql[] =
        "INSERT INTO runs (id, parent, fingerprint, config, git_rev, version, host, pid, backend, out_dir, metrics,"
        " start_time, segment_start_time, segments, status, steps, tokens)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, datetime('now'), datetime('now'), 1, 'running', ?12, ?13)"
        " ON CONFLICT (id) DO UPDATE SET config = excluded.config, git_rev = excluded.git_rev,"
        " version = excluded.version, host = excluded.host, pid = excluded.pid, backend = excluded.backend,"
        " out_dir = excluded.out_dir, metrics = excluded.metrics, segment_start_time = excluded.segment_start_time,"
        " end_time = NULL, segments = segments + 1, status = 'running', exit_status = NULL, reason = NULL,"
        " steps = excluded.steps, tokens = excluded.tokens";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(g->db, sql, -1, &st, NULL) != SQLITE_OK) return fail_db(g, err, cap, "cannot record the run");
    bind_text(st, 1, s->id);
    bind_text(st, 2, s->parent);
    bind_text(st, 3, s->fingerprint);
    bind_text(st, 4, s->config);
    bind_text(st, 5, s->git_rev);
    bind_text(st, 6, s->version);
    bind_text(st, 7, s->host);
    sqlite3_bind_int64(st, 8, s->pid);
    bind_text(st, 9, s->backend);
    bind_text(st, 10, s->out_dir);
    bind_text(st, 11, s->metrics);
    sqlite3_bind_int64(st, 12, s->steps);
    sqlite3_bind_int64(st, 13, s->tokens);
    return step_done(g, st, "cannot record the run", err, cap);
}

void registry_start(Registry *g, const RegistryStart *s)
{
    char err[1024];
    if (!in_transaction(g, write_start, s, err, sizeof err)) die("%s", err);
}

typedef struct {
    const char *id;
    const RegistryEnd *e;
} EndArgs;

static bool write_end(Registry *g, const void *arg, char *err, size_t cap)
{
    const EndArgs *a = arg;
    const RegistryEnd *e = a->e;
    static const char sql[] =
        "UPDATE runs SET status = ?1, exit_status = ?2, reason = ?3, end_time = datetime('now'), steps = ?4,"
        " tokens = ?5, train_loss = coalesce(?6, train_loss), val_loss = coalesce(?7, val_loss),"
        " wall_s = wall_s + ?8, checkpoint = coalesce(?9, checkpoint) WHERE id = ?10";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(g->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail_db(g, err, cap, "cannot record the end of the run");
    bind_text(st, 1, e->status);
    sqlite3_bind_int(st, 2, e->exit_status);
    bind_text(st, 3, e->reason);
    sqlite3_bind_int64(st, 4, e->steps);
    sqlite3_bind_int64(st, 5, e->tokens);
    bind_real(st, 6, e->train_loss);
    bind_real(st, 7, e->val_loss);
    sqlite3_bind_double(st, 8, isfinite(e->wall_s) ? e->wall_s : 0.0);
    bind_text(st, 9, e->checkpoint);
    bind_text(st, 10, a->id);
    if (!step_done(g, st, "cannot record the end of the run", err, cap)) return false;
    if (sqlite3_changes(g->db) != 1)
        return errbuf_fail(err, cap, "%s: run registry: no row for run %s (removed while it ran?)", g->path, a->id);
    return true;
}

bool registry_end(Registry *g, const char *id, const RegistryEnd *e, char *err, size_t cap)
{
    const EndArgs a = { id, e };
    return in_transaction(g, write_end, &a, err, cap);
}

const char *registry_status(int exit_status, bool target_reached)
{
    switch (exit_status) {
    case NMOE_EXIT_OK: return target_reached ? "target_reached" : "completed";
    case NMOE_EXIT_DIVERGED: return "diverged";
    case NMOE_EXIT_COLLAPSED: return "collapsed";
    case NMOE_EXIT_INTERRUPTED: return "interrupted";
    default: return "failed";
    }
}

/* ---- the fatal path ---------------------------------------------------------------- */

/* The run a fatal error must mark failed. Process-wide because error.h's hooks take no
 * argument; one trainer per process, armed for the run's life only. */
static struct {
    Registry *g;
    char id[17];
    const int64_t *steps, *tokens;
} armed;

static void mark_failed(void)
{
    if (!armed.g) return;
    Registry *g = armed.g;
    armed.g = NULL;
    const RegistryEnd e = {
        .status = "failed", .exit_status = NMOE_EXIT_FAILURE, .reason = "fatal error (see the run's standard error)",
        .steps = *armed.steps, .tokens = *armed.tokens, .train_loss = NAN, .val_loss = NAN, .wall_s = 0,
    };
    char err[1024];
    if (!registry_end(g, armed.id, &e, err, sizeof err)) fprintf(stderr, "%s: %s\n", nmoe_prog(), err);
}

void registry_fail_on_fatal(Registry *g, const char *id, const int64_t *steps, const int64_t *tokens)
{
    armed.g = g;
    snprintf(armed.id, sizeof armed.id, "%s", id);
    armed.steps = steps;
    armed.tokens = tokens;
    nmoe_on_fatal(mark_failed);
}

void registry_disarm(void) { armed.g = NULL; }
