/* test_eval_suite.c: the task config reader (defaults, path resolution, every error
 * naming file:line), and the shipped suite: pipelines/core.toml matches the CORE task
 * table and every task file it names loads, with the example counts of
 * data/eval/README.md, and yields prompts. */
#include "check.h"
#include "eval/eval_prompts.h"
#include "eval/eval_suite.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#define DATA "tests/data/eval/"

static void expect_error(const char *file, const char *want)
{
    EvalSuite s;
    char err[1024] = "";
    CHECK(!eval_suite_load(file, &s, err, sizeof err));
    CHECK(s.n_tasks == 0 && s.tasks == NULL);
    if (!strstr(err, want)) {
        check_failures++;
        fprintf(stderr, "%s: message '%s' lacks '%s'\n", file, err, want);
    }
    check_count++;
}

static void test_small_suite(void)
{
    EvalSuite s;
    char err[1024];
    CHECK(eval_suite_load(DATA "suite_good.toml", &s, err, sizeof err));
    CHECK_EQ_INT(s.n_tasks, 2);
    CHECK_EQ_INT(s.seed, 7);
    CHECK_STR(s.data_dir, "tests/data/eval"); /* default: the config's folder */
    const EvalTaskSpec *t = eval_suite_find(&s, "copa_mini");
    CHECK(t != NULL);
    if (t) {
        CHECK_STR(t->file, "tests/data/eval/mc_pair.jsonl");
        CHECK_EQ_INT(t->type, EVAL_MULTIPLE_CHOICE);
        CHECK_EQ_INT(t->num_fewshot, 1);
        CHECK_CLOSE(t->random_baseline, 50, 0, 0);
        CHECK_STR(t->delimiter, " "); /* llm-foundry's default */
    }
    t = eval_suite_find(&s, "lm-mini");
    CHECK(t != NULL && t == &s.tasks[1]); /* file order kept */
    if (t) {
        CHECK_STR(t->delimiter, "\nAnswer: ");
        CHECK_EQ_INT(t->type, EVAL_LANGUAGE_MODELING);
    }
    CHECK(eval_suite_find(&s, "nope") == NULL);
    FILE *fp = tmpfile();
    eval_suite_write_list(&s, fp);
    rewind(fp);
    char line[512];
    CHECK(fgets(line, sizeof line, fp) != NULL);
    CHECK_STR(line, "copa_mini\tmultiple_choice\t1\t50\ttests/data/eval/mc_pair.jsonl\n");
    CHECK(fgets(line, sizeof line, fp) != NULL);
    CHECK_STR(line, "lm-mini\tlanguage_modeling\t0\t0\ttests/data/eval/lm.jsonl\n");
    fclose(fp);
    eval_suite_free(&s);

    expect_error(DATA "suite_unknown_key.toml", DATA "suite_unknown_key.toml:6:18: unknown key \"task.a.has_categories\"");
    expect_error(DATA "suite_missing_key.toml", DATA "suite_missing_key.toml:2: task \"a\" has no \"num_fewshot\"");
    expect_error(DATA "suite_bad_type.toml",
                 DATA "suite_bad_type.toml:3:17: task.a.icl_task_type must be \"multiple_choice\", \"schema\" or \"language_modeling\"");
    expect_error(DATA "suite_bad_baseline.toml", DATA "suite_bad_baseline.toml:5:19: task.a.random_baseline must be a number of percent in [0, 100)");
    expect_error(DATA "suite_bad_fewshot.toml", DATA "suite_bad_fewshot.toml:4:15: task.a.num_fewshot must be a whole number in [0, 1000]");
    expect_error(DATA "suite_bad_label.toml", DATA "suite_bad_label.toml:2:8: task label \"a b\" must be letters, digits, '_' or '-'");
    expect_error(DATA "suite_no_tasks.toml", DATA "suite_no_tasks.toml: no [task.LABEL] tables");
    expect_error(DATA "suite_stray_key.toml", DATA "suite_stray_key.toml:1:8: unknown key \"seed\"");
    expect_error(DATA "no-such.toml", DATA "no-such.toml");
}

static void test_shipped_suite(void)
{
    /* pipelines/core.toml against the CORE task table of ../shared/data/README.md. */
    static const struct {
        const char *label;
        EvalTaskType type;
        int shots;
        double baseline;
        const char *delim;
        size_t examples;
    } want[] = {
        { "hellaswag_zeroshot", EVAL_MULTIPLE_CHOICE, 0, 25, " ", 10042 },
        { "jeopardy", EVAL_LANGUAGE_MODELING, 10, 0, "\nAnswer: ", 2117 },
        { "bigbench_qa_wikidata", EVAL_LANGUAGE_MODELING, 10, 0, " ", 20321 },
        { "arc_easy", EVAL_MULTIPLE_CHOICE, 10, 25, "\nAnswer: ", 2376 },
        { "arc_challenge", EVAL_MULTIPLE_CHOICE, 10, 25, "\nAnswer: ", 1172 },
        { "copa", EVAL_MULTIPLE_CHOICE, 0, 50, " ", 100 },
        { "commonsense_qa", EVAL_MULTIPLE_CHOICE, 10, 20, " ", 1221 },
        { "piqa", EVAL_MULTIPLE_CHOICE, 10, 50, "\nAnswer: ", 1838 },
        { "openbook_qa", EVAL_MULTIPLE_CHOICE, 0, 25, " ", 500 },
        { "lambada_openai", EVAL_LANGUAGE_MODELING, 0, 0, " ", 5153 },
        { "hellaswag", EVAL_MULTIPLE_CHOICE, 10, 25, " ", 10042 },
        { "winograd", EVAL_SCHEMA, 0, 50, " ", 273 },
        { "winogrande", EVAL_SCHEMA, 0, 50, " ", 1267 },
        { "bigbench_dyck_languages", EVAL_LANGUAGE_MODELING, 10, 0, " ", 1000 },
        { "agi_eval_lsat_ar", EVAL_MULTIPLE_CHOICE, 3, 20, " ", 230 },
        { "bigbench_cs_algorithms", EVAL_LANGUAGE_MODELING, 10, 0, " ", 1320 },
        { "bigbench_operators", EVAL_LANGUAGE_MODELING, 10, 0, " ", 210 },
        { "bigbench_repeat_copy_logic", EVAL_LANGUAGE_MODELING, 10, 0, " ", 32 },
        { "boolq", EVAL_MULTIPLE_CHOICE, 10, 62, "\nAnswer: ", 3270 },
        { "bigbench_language_identification", EVAL_MULTIPLE_CHOICE, 10, 9.1, " ", 10000 },
    };
    size_t n_want = sizeof want / sizeof want[0];
    EvalSuite s;
    char err[1024];
    CHECK(eval_suite_load("pipelines/core.toml", &s, err, sizeof err));
    if (s.n_tasks == 0) { fprintf(stderr, "%s\n", err); return; }
    CHECK_EQ_INT(s.n_tasks, n_want);
    CHECK_EQ_INT(s.seed, 1234);
    CHECK_EQ_INT(s.draw, EVAL_DRAW_PHILOX);
    for (size_t i = 0; i < n_want && i < s.n_tasks; i++) {
        const EvalTaskSpec *t = &s.tasks[i];
        CHECK_STR(t->label, want[i].label);
        CHECK_EQ_INT(t->type, want[i].type);
        CHECK_EQ_INT(t->num_fewshot, want[i].shots);
        CHECK(t->random_baseline == want[i].baseline);
        CHECK_STR(t->delimiter, want[i].delim);
        EvalTaskData d;
        bool ok = eval_tasks_load(t->file, t->type, &d, err, sizeof err);
        CHECK(ok);
        if (!ok) { fprintf(stderr, "%s\n", err); continue; }
        CHECK_EQ_INT(d.n_items, want[i].examples);
        /* prompts for the first and last item */
        EvalPromptSpec spec = { t->num_fewshot, t->delimiter, s.seed };
        size_t items[2] = { 0, d.n_items - 1 };
        for (int k = 0; k < 2; k++) {
            EvalPrompts p;
            CHECK(eval_prompts_build(&d, items[k], &spec, &p, err, sizeof err));
            CHECK_EQ_INT(p.n_fewshot, (size_t)t->num_fewshot);
            CHECK(p.n_pairs >= 1);
            for (size_t c = 0; c < p.n_pairs; c++)
                CHECK(strlen(p.pairs[c].context) > 0 && strlen(p.pairs[c].continuation) > 0);
            eval_prompts_free(&p);
        }
        eval_tasks_free(&d);
    }
    eval_suite_free(&s);
}

int main(void)
{
    if (chdir(getenv("NMOE_TOP") ? getenv("NMOE_TOP") : ".") != 0) return 1;
    test_small_suite();
    test_shipped_suite();
    return check_report("test_eval_suite");
}
