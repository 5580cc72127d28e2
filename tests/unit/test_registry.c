/* test_registry.c: the run registry (registry.h): the row a start inserts, what an end
 * records, a resumed run's second segment on the same row, NaN losses keeping the
 * row's, an end for a row that is not there, the exit-status mapping, and processes
 * that open one new file at the same moment (a parallel sweep's runs). (The CLI
 * tests cover nmoe-train's use, parallel writers and the errors that die.) */
#include "check.h"
#include "registry/registry.h"
#include "base/error.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* One text value of a query against the file (an independent connection). */
static const char *query(const char *path, const char *sql)
{
    static char out[1024];
    out[0] = '\0';
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return "(cannot open)";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, sizeof out, "%s", t ? (const char *)t : "NULL");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* PROCS processes released together by one pipe open the same new file, each OPENS
 * times, and add a row each time: every one must succeed (the switch to WAL mode and
 * the opening of a log that another's close is removing race there). Returns how many
 * children failed. */
enum { PROCS = 8, OPENS = 25 };
static int open_together(const char *path)
{
    int gate[2];
    if (pipe(gate) != 0) return PROCS;
    pid_t kids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            close(gate[1]);
            char c;
            if (read(gate[0], &c, 1) != 0) _exit(3); /* EOF: the gate opened */
            /* Each opens, writes and closes again and again: the last close of a WAL
             * file checkpoints and removes the log while others open it. */
            for (int k = 0; k < OPENS; k++) {
                char id[17];
                snprintf(id, sizeof id, "%016x", 0xa000 + i * OPENS + k);
                Registry *g = registry_open(path);
                RegistryStart s = { .id = id, .fingerprint = "fedcba9876543210", .config = "{}", .git_rev = "r",
                                    .version = "0", .host = "h", .backend = "cpu", .out_dir = "/x", .pid = 1 };
                registry_start(g, &s);
                registry_close(g);
            }
            _exit(0);
        }
    }
    close(gate[0]);
    close(gate[1]);
    int failed = 0;
    for (int i = 0; i < PROCS; i++) {
        int st = 0;
        if (kids[i] < 0 || waitpid(kids[i], &st, 0) != kids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) failed++;
    }
    return failed;
}

int main(void)
{
    char dir[] = "/tmp/nmoe-test-registry-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/runs.db", dir);

    Registry *g = registry_open(path);
    CHECK_STR(registry_path(g), path);
    RegistryStart s = {
        .id = "0123456789abcdef", .parent = NULL, .fingerprint = "fedcba9876543210", .config = "{\"dim\":32}",
        .git_rev = "abc123", .version = "0.1.0", .host = "here", .backend = "cpu", .out_dir = "/x/out",
        .metrics = NULL, .pid = 42, .steps = 0, .tokens = 0,
    };
    registry_start(g, &s);
    CHECK_STR(query(path, "select status || '|' || segments || '|' || steps || '|' || coalesce(end_time, 'NULL') from runs"),
              "running|1|0|NULL");
    CHECK_STR(query(path, "select json_extract(config, '$.dim') || '|' || (parent is null) || '|' || (metrics is null) from runs"),
              "32|1|1");
    RegistryEnd e = {
        .status = registry_status(NMOE_EXIT_INTERRUPTED, false), .exit_status = NMOE_EXIT_INTERRUPTED,
        .reason = "interrupted by SIGINT", .steps = 7, .tokens = 700, .train_loss = 2.5, .val_loss = 3.25,
        .wall_s = 1.5, .checkpoint = "/x/out/step-00000007",
    };
    char err[512];
    CHECK(registry_end(g, s.id, &e, err, sizeof err));
    CHECK_STR(query(path, "select status || '|' || exit_status || '|' || steps || '|' || tokens || '|' || train_loss || '|' || "
                          "val_loss || '|' || wall_s || '|' || checkpoint || '|' || (end_time >= start_time) from runs"),
              "interrupted|130|7|700|2.5|3.25|1.5|/x/out/step-00000007|1");
    registry_close(g);

    /* Reopened (the schema is there), resumed: the same row, a second segment; losses
     * not known this segment keep the row's, wall time adds up. */
    g = registry_open(path);
    s.steps = 7;
    s.tokens = 700;
    s.pid = 43;
    registry_start(g, &s);
    CHECK_STR(query(path, "select count(*) || '|' || status || '|' || segments || '|' || pid || '|' || (end_time is null) from runs"),
              "1|running|2|43|1");
    e = (RegistryEnd){ .status = registry_status(NMOE_EXIT_OK, false), .exit_status = 0, .reason = "finished", .steps = 7,
                       .tokens = 700, .train_loss = NAN, .val_loss = NAN, .wall_s = 0.5, .checkpoint = NULL };
    CHECK(registry_end(g, s.id, &e, err, sizeof err));
    CHECK_STR(query(path, "select status || '|' || train_loss || '|' || val_loss || '|' || wall_s || '|' || checkpoint from runs"),
              "completed|2.5|3.25|2.0|/x/out/step-00000007");
    CHECK_STR(query(path, "select group_concat(version) from schema_version"), "1");

    /* An end for a run that has no row is an error naming the file and the run. */
    CHECK(!registry_end(g, "ffffffffffffffff", &e, err, sizeof err));
    CHECK(strstr(err, path) != NULL && strstr(err, "no row for run ffffffffffffffff") != NULL);
    /* A status outside the CHECK constraint is refused by the database itself. */
    e.status = "bogus";
    CHECK(!registry_end(g, s.id, &e, err, sizeof err));
    CHECK(strstr(err, "CHECK constraint failed") != NULL);
    registry_close(g);

    CHECK_STR(registry_status(0, false), "completed");
    CHECK_STR(registry_status(0, true), "target_reached");
    CHECK_STR(registry_status(NMOE_EXIT_DIVERGED, false), "diverged");
    CHECK_STR(registry_status(NMOE_EXIT_COLLAPSED, false), "collapsed");
    CHECK_STR(registry_status(NMOE_EXIT_INTERRUPTED, false), "interrupted");
    CHECK_STR(registry_status(NMOE_EXIT_FAILURE, false), "failed");
    CHECK_STR(registry_status(NMOE_EXIT_USAGE, false), "failed");

    for (int round = 0; round < 4; round++) {
        char fresh[300];
        snprintf(fresh, sizeof fresh, "%s/together-%d.db", dir, round);
        CHECK_EQ_INT(open_together(fresh), 0);
        CHECK_EQ_INT(atoi(query(fresh, "select count(*) from runs")), PROCS * OPENS);
    }

    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return check_report("test_registry");
}
