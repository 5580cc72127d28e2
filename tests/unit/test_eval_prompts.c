/* test_eval_prompts.c: prompts equal, character for character, what nanochat's
 * core_eval.py templates render for small hand-made task files (the expected strings are
 * written out by hand from those templates); few-shot sampling is deterministic, never
 * picks the item itself, and is uniform. */
#include "check.h"
#include "eval/eval_prompts.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <unistd.h>

#define DATA "tests/data/eval/"

static EvalTaskData load(const char *file, EvalTaskType type)
{
    EvalTaskData t;
    char err[512];
    if (!eval_tasks_load(file, type, &t, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    return t;
}

static EvalPrompts build(const EvalTaskData *t, size_t item, int shots, const char *delim, uint64_t seed)
{
    EvalPrompts p;
    char err[512] = "";
    EvalPromptSpec spec = { shots, delim, seed };
    bool ok = eval_prompts_build(t, item, &spec, &p, err, sizeof err);
    CHECK(ok);
    if (!ok) { fprintf(stderr, "%s\n", err); exit(1); }
    return p;
}

static void test_multiple_choice(void)
{
    EvalTaskData t = load(DATA "mc_pair.jsonl", EVAL_MULTIPLE_CHOICE);
    /* 1-shot from a 2-line file: item 0's example can only be item 1 (gold 1). */
    EvalPrompts p = build(&t, 0, 1, NULL, 1234);
    CHECK_EQ_INT(p.n_fewshot, 1);
    CHECK_EQ_INT(p.fewshot[0], 1);
    CHECK_EQ_INT(p.n_pairs, 2);
    CHECK_EQ_INT(p.gold, 1);
    CHECK_STR(p.pairs[0].context,
              "The girl found a bug in her cereal, therefore she lost her appetite.\n\n"
              "The man turned on the faucet, therefore ");
    CHECK_STR(p.pairs[0].continuation, "the toilet filled with water.");
    CHECK_STR(p.pairs[1].context, p.pairs[0].context);
    CHECK_STR(p.pairs[1].continuation, "water flowed from the spout.");
    eval_prompts_free(&p);

    /* 0-shot with the "\nAnswer: " delimiter (ARC, PIQA, BoolQ). */
    p = build(&t, 1, 0, "\nAnswer: ", 1234);
    CHECK_EQ_INT(p.n_fewshot, 0);
    CHECK_STR(p.pairs[0].context, "The girl found a bug in her cereal, therefore\nAnswer: ");
    CHECK_STR(p.pairs[0].continuation, "she poured milk in the bowl.");
    CHECK_STR(p.pairs[1].continuation, "she lost her appetite.");
    eval_prompts_free(&p);
    eval_tasks_free(&t);

    /* 3-shot from a 4-line file: the examples are the three other items in sampled order,
     * each rendered as query + delim + gold choice + blank line. */
    t = load(DATA "mc.jsonl", EVAL_MULTIPLE_CHOICE);
    const char *shot[4] = {
        "Question: What color is a clear daytime sky? blue\n\n",
        "Question: How many legs does a cat have? four\n\n",
        "Question: What is frozen water called? ice\n\n",
        "Question: Which animal barks? dog\n\n",
    };
    for (size_t item = 0; item < 4; item++) {
        p = build(&t, item, 3, " ", 7);
        char want[1024] = "";
        bool seen[4] = { false };
        for (size_t i = 0; i < 3; i++) {
            CHECK(p.fewshot[i] != item && p.fewshot[i] < 4 && !seen[p.fewshot[i]]);
            seen[p.fewshot[i] < 4 ? p.fewshot[i] : 0] = true;
            strcat(want, shot[p.fewshot[i] < 4 ? p.fewshot[i] : 0]);
        }
        const char *queries[4] = { "Question: What color is a clear daytime sky? ",
                                   "Question: How many legs does a cat have? ",
                                   "Question: What is frozen water called? ",
                                   "Question: Which animal barks? " };
        strcat(want, queries[item]);
        for (size_t c = 0; c < p.n_pairs; c++) CHECK_STR(p.pairs[c].context, want);
        CHECK_STR(p.pairs[2].continuation, t.items[item].options[2]);
        eval_prompts_free(&p);
    }
    /* Too few examples for the shots asked. */
    EvalPromptSpec spec = { 4, " ", 1 };
    char err[512] = "";
    CHECK(!eval_prompts_build(&t, 0, &spec, &p, err, sizeof err));
    CHECK(strstr(err, "4 examples are too few for 4-shot prompts (need at least 5)") != NULL);
    eval_tasks_free(&t);
}

static void test_schema(void)
{
    EvalTaskData t = load(DATA "schema_pair.jsonl", EVAL_SCHEMA);
    EvalPrompts p = build(&t, 1, 1, " ", 1234);
    CHECK_EQ_INT(p.fewshot[0], 0);
    CHECK_EQ_INT(p.gold, 0);
    CHECK_STR(p.pairs[0].context,
              "The trophy did not fit in the suitcase because the trophy was too big.\n\n"
              "Sarah was a better surgeon than Maria so Sarah ");
    CHECK_STR(p.pairs[1].context,
              "The trophy did not fit in the suitcase because the trophy was too big.\n\n"
              "Sarah was a better surgeon than Maria so Maria ");
    CHECK_STR(p.pairs[0].continuation, "always got the harder cases.");
    CHECK_STR(p.pairs[1].continuation, "always got the harder cases.");
    eval_prompts_free(&p);
    p = build(&t, 0, 0, " ", 1234);
    CHECK_STR(p.pairs[1].context, "The trophy did not fit in the suitcase because the suitcase ");
    CHECK_STR(p.pairs[1].continuation, "was too big.");
    eval_prompts_free(&p);
    eval_tasks_free(&t);
}

static void test_language_modeling(void)
{
    EvalTaskData t = load(DATA "lm.jsonl", EVAL_LANGUAGE_MODELING);
    /* Context trimmed ("  \n" goes), then the prompt without the continuation is stripped,
     * so the delimiter's space moves to the continuation. */
    EvalPrompts p = build(&t, 0, 0, " ", 1234);
    CHECK_EQ_INT(p.n_pairs, 1);
    CHECK_EQ_INT(p.gold, -1);
    CHECK_STR(p.pairs[0].context, "The capital of France is");
    CHECK_STR(p.pairs[0].continuation, " Paris");
    eval_prompts_free(&p);
    /* Unicode spaces (U+3000, U+00A0) are trimmed too; the continuation's own leading
     * space is kept, so the full prompt has two spaces, as in CORE. */
    p = build(&t, 1, 0, " ", 1234);
    CHECK_STR(p.pairs[0].context, "2 + 2 =");
    CHECK_STR(p.pairs[0].continuation, "  4");
    eval_prompts_free(&p);
    /* Jeopardy's delimiter: "Answer:" ends the context, " " starts the continuation. */
    p = build(&t, 2, 0, "\nAnswer: ", 1234);
    CHECK_STR(p.pairs[0].context, "Water boils at\nAnswer:");
    CHECK_STR(p.pairs[0].continuation, " 100 degrees");
    eval_prompts_free(&p);
    /* 2-shot: the examples' contexts are trimmed, their continuations kept verbatim. */
    p = build(&t, 0, 2, " ", 99);
    const char *shot1 = "2 + 2 =  4\n\n", *shot2 = "Water boils at 100 degrees\n\n";
    char want[512];
    snprintf(want, sizeof want, "%s%sThe capital of France is", p.fewshot[0] == 1 ? shot1 : shot2,
             p.fewshot[0] == 1 ? shot2 : shot1);
    CHECK((p.fewshot[0] == 1 && p.fewshot[1] == 2) || (p.fewshot[0] == 2 && p.fewshot[1] == 1));
    CHECK_STR(p.pairs[0].context, want);
    CHECK_STR(p.pairs[0].continuation, " Paris");
    eval_prompts_free(&p);
    /* A delimiter that is all whitespace ("\n") moves to the continuation whole. */
    p = build(&t, 2, 1, "\n", 5);
    CHECK_STR(p.pairs[0].continuation, "\n100 degrees");
    eval_prompts_free(&p);
    eval_tasks_free(&t);
}

static void test_fewshot_sampling(void)
{
    size_t a[10], b[10];
    /* Deterministic; a different seed or item gives a different draw. */
    eval_fewshot_sample(1234, 5, 20321, 10, a);
    eval_fewshot_sample(1234, 5, 20321, 10, b);
    CHECK(memcmp(a, b, sizeof a) == 0);
    eval_fewshot_sample(1235, 5, 20321, 10, b);
    CHECK(memcmp(a, b, sizeof a) != 0);
    eval_fewshot_sample(1234, 6, 20321, 10, b);
    CHECK(memcmp(a, b, sizeof a) != 0);
    for (size_t i = 0; i < 10; i++) {
        CHECK(a[i] != 5 && a[i] < 20321);
        for (size_t j = 0; j < i; j++) CHECK(a[i] != a[j]);
    }
    /* k = n - 1: every other item exactly once, for every item position. */
    for (size_t n = 2; n <= 9; n++)
        for (size_t item = 0; item < n; item++) {
            size_t out[8];
            bool seen[9] = { false };
            eval_fewshot_sample(42 + n, item, n, n - 1, out);
            for (size_t i = 0; i < n - 1; i++) {
                CHECK(out[i] < n && out[i] != item && !seen[out[i]]);
                if (out[i] < n) seen[out[i]] = true;
            }
        }
    /* Uniform over candidates and positions: n = 11, item 3, k = 3, 30000 seeds. Each of
     * the 10 candidates should fill each position 3000 times (sd ~ 52); allow 5 sd. */
    enum { TRIALS = 30000 };
    int counts[3][11] = { { 0 } };
    for (uint64_t s = 0; s < TRIALS; s++) {
        size_t out[3];
        eval_fewshot_sample(s, 3, 11, 3, out);
        for (int p = 0; p < 3; p++) counts[p][out[p]]++;
    }
    for (int p = 0; p < 3; p++) {
        CHECK_EQ_INT(counts[p][3], 0);
        for (int c = 0; c < 11; c++)
            if (c != 3) CHECK(counts[p][c] > 3000 - 260 && counts[p][c] < 3000 + 260);
    }
    /* Subset order: a seeded permutation. */
    size_t o1[50], o2[50];
    eval_subset_order(1337, 50, o1);
    eval_subset_order(1337, 50, o2);
    CHECK(memcmp(o1, o2, sizeof o1) == 0);
    bool seen[50] = { false };
    size_t fixed = 0;
    for (size_t i = 0; i < 50; i++) {
        CHECK(o1[i] < 50 && !seen[o1[i]]);
        if (o1[i] < 50) seen[o1[i]] = true;
        fixed += o1[i] == i;
    }
    CHECK(fixed < 10); /* not the identity */
}

/* The two draws of a --limit subset and its few-shot examples (eval_subset_*). */
static void test_subset_draws(void)
{
    /* philox: the first N of eval_subset_order, sorted; few-shot over the whole file. */
    EvalSubset s;
    size_t order[50];
    eval_subset_order(77, 50, order);
    eval_subset_make(EVAL_DRAW_PHILOX, 77, 50, 5, &s);
    CHECK_EQ_INT(s.n, 5);
    CHECK_EQ_INT(eval_subset_fewshot_pool(&s), 50);
    for (size_t j = 0; j < 5; j++) {
        bool in_first = false;
        for (size_t i = 0; i < 5; i++) in_first = in_first || order[i] == s.items[j];
        CHECK(in_first);
        if (j) CHECK(s.items[j - 1] < s.items[j]);
        size_t a[4], b[4];
        eval_subset_fewshot(&s, j, 4, a);
        eval_fewshot_sample(77, s.items[j], 50, 4, b);
        CHECK(memcmp(a, b, sizeof a) == 0);
    }
    eval_subset_free(&s);

    /* python, 10 items, limit 4: random.Random(1337).shuffle(list(range(10)))[:4] is
     * [0, 3, 7, 2]; position idx samples 2 of the other 3 with random.Random(1234 + idx):
     *   0 -> [7, 3], 3 -> [2, 7], 7 -> [2, 3], 2 -> [0, 3]   (python3, random 3.11) */
    eval_subset_make(EVAL_DRAW_PYTHON, 1234, 10, 4, &s);
    CHECK_EQ_INT(s.n, 4);
    CHECK_EQ_INT(eval_subset_fewshot_pool(&s), 4);
    const size_t items[4] = { 0, 2, 3, 7 }, pos[4] = { 0, 3, 1, 2 };
    const size_t shots[4][2] = { { 7, 3 }, { 0, 3 }, { 2, 7 }, { 2, 3 } };
    for (size_t j = 0; j < 4; j++) {
        CHECK_EQ_INT(s.items[j], items[j]);
        CHECK_EQ_INT(s.pool_pos[j], pos[j]);
        size_t got[2];
        eval_subset_fewshot(&s, j, 2, got);
        CHECK_EQ_INT(got[0], shots[j][0]);
        CHECK_EQ_INT(got[1], shots[j][1]);
    }
    eval_subset_free(&s);
    /* no limit: every item, in file order */
    eval_subset_make(EVAL_DRAW_PYTHON, 1234, 10, 0, &s);
    CHECK_EQ_INT(s.n, 10);
    for (size_t j = 0; j < 10; j++) CHECK_EQ_INT(s.items[j], j);
    eval_subset_free(&s);

    EvalDraw d;
    CHECK(eval_draw_parse("python", &d) && d == EVAL_DRAW_PYTHON);
    CHECK(eval_draw_parse("philox", &d) && d == EVAL_DRAW_PHILOX);
    CHECK(!eval_draw_parse("Python", &d) && !eval_draw_parse("", &d));
    CHECK_STR(eval_draw_name(EVAL_DRAW_PYTHON), "python");
}

static void test_prompt_line(void)
{
    EvalTaskData t = load(DATA "mc_pair.jsonl", EVAL_MULTIPLE_CHOICE);
    EvalPrompts p = build(&t, 0, 1, " ", 1234);
    FILE *fp = tmpfile();
    CHECK(fp != NULL);
    eval_write_prompts_line(fp, "tmp", "copa", 0, t.items[0].line, &p);
    rewind(fp);
    char line[4096];
    CHECK(fgets(line, sizeof line, fp) != NULL);
    fclose(fp);
    cJSON *j = cJSON_Parse(line);
    CHECK(j != NULL);
    if (j) {
        CHECK_STR(cJSON_GetObjectItem(j, "kind")->valuestring, "prompt");
        CHECK_STR(cJSON_GetObjectItem(j, "task")->valuestring, "copa");
        CHECK_EQ_INT(cJSON_GetObjectItem(j, "line")->valuedouble, 1);
        CHECK_EQ_INT(cJSON_GetObjectItem(j, "gold")->valuedouble, 1);
        CHECK_EQ_INT(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "fewshot"), 0)->valuedouble, 1);
        CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "context"), 1)->valuestring, p.pairs[1].context);
        CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "continuation"), 1)->valuestring,
                  "water flowed from the spout.");
        cJSON_Delete(j);
    }
    eval_prompts_free(&p);
    eval_tasks_free(&t);
}

int main(void)
{
    if (chdir(getenv("NMOE_TOP") ? getenv("NMOE_TOP") : ".") != 0) return 1;
    test_multiple_choice();
    test_schema();
    test_language_modeling();
    test_fewshot_sampling();
    test_subset_draws();
    test_prompt_line();
    return check_report("test_eval_prompts");
}
