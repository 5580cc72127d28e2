/* test_eval_summary.c: eval lines round-trip through writer and reader; the summary
 * computes CORE as the mean centered score, writes core.ndjson and the table, ignores
 * other kinds, and refuses duplicate tasks, mixed checkpoints and inconsistent numbers
 * with file:line. */
#include "check.h"
#include "eval/eval_summary.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

static char *temp_path(void)
{
    static int n;
    char *p = malloc(64);
    snprintf(p, 64, "/tmp/nmoe-test-evalsum-%d-%d.ndjson", (int)getpid(), n++);
    return p;
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    CHECK(fp != NULL);
    fputs(text, fp);
    fclose(fp);
}

static void write_result(FILE *fp, const char *label, EvalTaskType type, int shots, double baseline,
                         uint64_t examples, uint64_t correct, const char *run, int64_t step)
{
    EvalTaskSpec spec = { .label = (char *)label, .file = "data/eval/x.jsonl", .type = type,
                          .num_fewshot = shots, .random_baseline = baseline, .delimiter = " " };
    EvalTally t = { .examples = examples, .correct = correct, .truncated = 2, .overlong = 1 };
    EvalTaskResult r = { 0 };
    eval_result_from_tally(&r, &spec, 1234, &t);
    r.run = strdup(run);
    r.step = step;
    r.seq_len = 256;
    r.ckpt = strdup("run/ckpt");
    r.elapsed_s = 1.5;
    eval_write_task_line(fp, "tmp", &r);
    eval_result_free(&r);
}

static void expect_error(const char *text, const char *want)
{
    char *p = temp_path();
    write_text(p, text);
    EvalSummary s = { 0 };
    char err[1024] = "", full[1200];
    CHECK(!eval_summary_read(&s, p, err, sizeof err));
    snprintf(full, sizeof full, "%s:%s", p, want);
    if (!strstr(err, full)) {
        check_failures++;
        fprintf(stderr, "message '%s' lacks '%s'\n", err, full);
    }
    check_count++;
    eval_summary_free(&s);
    unlink(p);
    free(p);
}

int main(void)
{
    char *a = temp_path(), *b = temp_path(), *out = temp_path();
    FILE *fp = fopen(a, "w");
    write_result(fp, "arc_easy", EVAL_MULTIPLE_CHOICE, 10, 25, 10, 7, "r1", 500);  /* acc .7, centered .6 */
    write_result(fp, "lambada_openai", EVAL_LANGUAGE_MODELING, 0, 0, 4, 1, "r1", 500); /* .25, .25 */
    fclose(fp);
    fp = fopen(b, "w");
    fputs("{\"kind\":\"meta\",\"run\":\"r1\",\"step\":0,\"program\":\"nmoe-train\"}\n", fp);
    fputs("{\"kind\":\"eval\",\"run\":\"r1\",\"step\":500,\"task\":\"bpb\",\"bpb\":1.1,\"loss\":3.2}\n", fp);
    write_result(fp, "winogrande", EVAL_SCHEMA, 0, 50, 8, 6, "r1", 500);             /* .75, .5 */
    fputs("{\"kind\":\"core\",\"run\":\"r1\",\"step\":500,\"core\":0.9}\n", fp);
    fclose(fp);

    EvalSummary s = { 0 };
    char err[1024] = "";
    CHECK(eval_summary_read(&s, a, err, sizeof err));
    CHECK(eval_summary_read(&s, b, err, sizeof err));
    CHECK_EQ_INT(s.n_tasks, 3);
    if (s.n_tasks == 3) {
        CHECK_STR(s.tasks[0].task, "arc_easy");
        CHECK_CLOSE(s.tasks[0].accuracy, 0.7, 1e-15, 0);
        CHECK_CLOSE(s.tasks[0].centered, 0.6, 1e-15, 0);
        CHECK_EQ_INT(s.tasks[0].examples, 10);
        CHECK_EQ_INT(s.tasks[0].truncated, 2);
        CHECK_EQ_INT(s.tasks[0].overlong, 1);
        CHECK_EQ_INT(s.tasks[0].seq_len, 256);
        CHECK_EQ_INT(s.tasks[1].type, EVAL_LANGUAGE_MODELING);
        CHECK_STR(s.tasks[2].run, "r1");
        CHECK_EQ_INT(s.tasks[2].step, 500);
        CHECK_STR(s.tasks[2].ckpt, "run/ckpt");
        char where[128];
        snprintf(where, sizeof where, "%s:3", b);
        CHECK_STR(s.tasks[2].source, where);
    }
    CHECK_CLOSE(eval_summary_core(&s), (0.6 + 0.25 + 0.5) / 3, 1e-15, 0);

    /* core.ndjson: the three eval lines, then the core line */
    fp = fopen(out, "w+");
    eval_summary_write_ndjson(&s, fp, out);
    rewind(fp);
    char line[4096];
    int n_eval = 0, n_core = 0;
    while (fgets(line, sizeof line, fp)) {
        cJSON *j = cJSON_Parse(line);
        CHECK(j != NULL);
        if (!j) continue;
        const char *kind = cJSON_GetObjectItem(j, "kind")->valuestring;
        if (strcmp(kind, "eval") == 0) {
            n_eval++;
            CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "time"), "elapsed_s") != NULL);
        } else if (strcmp(kind, "core") == 0) {
            n_core++;
            CHECK_CLOSE(cJSON_GetObjectItem(j, "core")->valuedouble, 0.45, 1e-15, 0);
            CHECK_EQ_INT(cJSON_GetObjectItem(j, "n_tasks")->valuedouble, 3);
            CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "tasks"), 2)->valuestring, "winogrande");
            CHECK_STR(cJSON_GetObjectItem(j, "run")->valuestring, "r1");
            CHECK_EQ_INT(cJSON_GetObjectItem(j, "step")->valuedouble, 500);
        }
        cJSON_Delete(j);
    }
    fclose(fp);
    CHECK_EQ_INT(n_eval, 3);
    CHECK_EQ_INT(n_core, 1);
    /* ... and it reads back to the same summary (its core line is ignored) */
    EvalSummary again = { 0 };
    CHECK(eval_summary_read(&again, out, err, sizeof err));
    CHECK_EQ_INT(again.n_tasks, 3);
    CHECK(eval_summary_core(&again) == eval_summary_core(&s));
    eval_summary_free(&again);

    /* the table */
    fp = tmpfile();
    eval_summary_write_table(&s, fp);
    rewind(fp);
    char table[8192] = "";
    size_t got = fread(table, 1, sizeof table - 1, fp);
    table[got] = 0;
    fclose(fp);
    CHECK(strstr(table, "arc_easy") && strstr(table, "0.7000") && strstr(table, "0.6000"));
    CHECK(strstr(table, "CORE (3 tasks)") != NULL);
    CHECK(strstr(table, "0.4500") != NULL);
    CHECK(strstr(table, "run r1, step 500") != NULL);
    CHECK(strstr(table, "note: 3 examples did not fit the context") != NULL);
    fprintf(stderr, "%s", table);

    /* the same task twice */
    EvalSummary dup = { 0 };
    CHECK(eval_summary_read(&dup, a, err, sizeof err));
    CHECK(!eval_summary_read(&dup, a, err, sizeof err));
    char want[512];
    snprintf(want, sizeof want, "%s:1: task \"arc_easy\" again (first at %s:1)", a, a);
    CHECK_STR(err, want);
    eval_summary_free(&dup);
    eval_summary_free(&s);

    /* a checkpoint mix-up: another step */
    char *c = temp_path();
    fp = fopen(c, "w");
    write_result(fp, "copa", EVAL_MULTIPLE_CHOICE, 0, 50, 100, 60, "r1", 600);
    fclose(fp);
    EvalSummary mix = { 0 };
    CHECK(eval_summary_read(&mix, a, err, sizeof err));
    CHECK(!eval_summary_read(&mix, c, err, sizeof err));
    CHECK(strstr(err, "task \"copa\" is from run \"r1\" step 600, but") != NULL);
    eval_summary_free(&mix);

    /* a draw mix-up: the same run and step, one task drawn as the Python reference */
    char draws[1024];
    snprintf(draws, sizeof draws, "%s\"examples\":4,\"correct\":3,\"accuracy\":0.75,\"centered\":0.5}\n"
             "%s\"examples\":4,\"correct\":3,\"accuracy\":0.75,\"centered\":0.5,\"draw\":\"python\"}\n",
             "{\"kind\":\"eval\",\"run\":\"r\",\"step\":1,\"task\":\"t\",\"type\":\"schema\",\"num_fewshot\":0,\"random_baseline\":50,",
             "{\"kind\":\"eval\",\"run\":\"r\",\"step\":1,\"task\":\"u\",\"type\":\"schema\",\"num_fewshot\":0,\"random_baseline\":50,");
    expect_error(draws, "2: task \"u\" was drawn with python, but ");

    /* malformed eval lines */
    const char *ok_head = "{\"kind\":\"eval\",\"run\":\"r\",\"step\":1,\"task\":\"t\",\"type\":\"schema\",\"num_fewshot\":0,"
                          "\"random_baseline\":50,";
    char text[1024];
    snprintf(text, sizeof text, "%s\"examples\":4,\"correct\":3,\"accuracy\":0.75,\"centered\":0.4}\n", ok_head);
    expect_error(text, "1: \"centered\" 0.40000000000000002 is not (accuracy - b)/(1 - b) = 0.5");
    snprintf(text, sizeof text, "%s\"examples\":4,\"correct\":3,\"accuracy\":0.7,\"centered\":0.5}\n", ok_head);
    expect_error(text, "1: \"accuracy\" 0.69999999999999996 is not correct/examples = 0.75");
    snprintf(text, sizeof text, "%s\"examples\":4,\"correct\":5,\"accuracy\":1.25,\"centered\":1.5}\n", ok_head);
    expect_error(text, "1: \"correct\" 5 is more than \"examples\" 4");
    snprintf(text, sizeof text, "\n%s\"examples\":4,\"accuracy\":0.75,\"centered\":0.5}\n", ok_head);
    expect_error(text, "2: eval line has no \"correct\"");
    snprintf(text, sizeof text, "%s\"examples\":0,\"correct\":0,\"accuracy\":0,\"centered\":0}\n", ok_head);
    expect_error(text, "1: \"examples\" is not a whole number >= 1");
    snprintf(text, sizeof text, "%s\"examples\":4,\"correct\":3,\"accuracy\":\"NaN\",\"centered\":0.5}\n", ok_head);
    expect_error(text, "1: \"accuracy\" is not a finite number");
    expect_error("{\"kind\":\"eval\",\"run\":\"r\",\"step\":1,\"task\":\"t\",\"type\":\"mc\"}\n",
                 "1: \"type\" \"mc\" is not a task type");
    expect_error("{\"kind\":\"meta\"}\n{\"kind\":\"eval\",\n", "2: not valid JSON");

    unlink(a); unlink(b); unlink(c); unlink(out);
    free(a); free(b); free(c); free(out);
    return check_report("test_eval_summary");
}
