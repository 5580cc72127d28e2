/* test_eval_tasks.c: task files load into the right fields (plain and zstd), and every
 * kind of malformed line is refused with `file:line: reason`. */
#include "check.h"
#include "eval/eval_tasks.h"

#include <stdlib.h>
#include <unistd.h>

#define DATA "tests/data/eval/"

/* Load must fail, and the message must contain `want`. */
static void expect_error(const char *file, EvalTaskType type, const char *want)
{
    EvalTaskData t;
    char err[1024] = "";
    bool ok = eval_tasks_load(file, type, &t, err, sizeof err);
    CHECK(!ok);
    CHECK(t.n_items == 0 && t.items == NULL);
    if (!strstr(err, want)) {
        check_failures++;
        fprintf(stderr, "%s: message '%s' lacks '%s'\n", file, err, want);
    }
    check_count++;
}

/* Write bytes to a temporary file named with `suffix`; returns the path (static). */
static const char *temp_file(const void *data, size_t n, const char *suffix)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/nmoe-test-eval-XXXXXX%s", suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    CHECK(fd >= 0);
    CHECK(write(fd, data, n) == (ssize_t)n);
    close(fd);
    return path;
}

static void test_good_files(void)
{
    EvalTaskData t;
    char err[1024];
    CHECK(eval_tasks_load(DATA "mc.jsonl", EVAL_MULTIPLE_CHOICE, &t, err, sizeof err));
    CHECK_EQ_INT(t.n_items, 4);
    CHECK_EQ_INT(t.type, EVAL_MULTIPLE_CHOICE);
    CHECK_STR(t.items[0].query, "Question: What color is a clear daytime sky?");
    CHECK_EQ_INT(t.items[0].n_options, 3);
    CHECK_STR(t.items[0].options[2], "red");
    CHECK_EQ_INT(t.items[1].gold, 1);
    CHECK_STR(t.items[2].query, "Question: What is frozen water called?"); /* key order free */
    CHECK_EQ_INT(t.items[3].line, 4);
    eval_tasks_free(&t);

    /* The same file through zstd gives the same items. */
    EvalTaskData z;
    CHECK(eval_tasks_load(DATA "mc.jsonl.zst", EVAL_MULTIPLE_CHOICE, &z, err, sizeof err));
    CHECK_EQ_INT(z.n_items, 4);
    if (z.n_items == 4) CHECK_STR(z.items[3].options[1], "dog");
    eval_tasks_free(&z);

    CHECK(eval_tasks_load(DATA "schema_pair.jsonl", EVAL_SCHEMA, &t, err, sizeof err));
    CHECK_EQ_INT(t.n_items, 2);
    CHECK_STR(t.items[1].continuation, "always got the harder cases.");
    CHECK_STR(t.items[0].options[1], "The trophy did not fit in the suitcase because the suitcase");
    CHECK(t.items[0].query == NULL);
    eval_tasks_free(&t);

    CHECK(eval_tasks_load(DATA "lm.jsonl", EVAL_LANGUAGE_MODELING, &t, err, sizeof err));
    CHECK_EQ_INT(t.n_items, 3);
    CHECK_STR(t.items[0].context, "The capital of France is  \n");
    CHECK_STR(t.items[1].context, "\xe3\x80\x80 2 + 2 =\xc2\xa0"); /* \u3000 and \u00a0 decoded */
    CHECK_STR(t.items[1].category, "math");
    CHECK(t.items[0].category == NULL);
    CHECK_EQ_INT(t.items[2].gold, -1);
    eval_tasks_free(&t);

    /* A last line without its newline is still a line. */
    const char *no_nl = "{\"context\": \"a\", \"continuation\": \"b\"}\n{\"context\": \"c\", \"continuation\": \"d\"}";
    const char *p = temp_file(no_nl, strlen(no_nl), ".jsonl");
    CHECK(eval_tasks_load(p, EVAL_LANGUAGE_MODELING, &t, err, sizeof err));
    CHECK_EQ_INT(t.n_items, 2);
    eval_tasks_free(&t);
    unlink(p);
}

static void test_malformed(void)
{
    expect_error(DATA "bad_json.jsonl", EVAL_MULTIPLE_CHOICE, DATA "bad_json.jsonl:2: malformed JSON");
    expect_error(DATA "missing_field.jsonl", EVAL_MULTIPLE_CHOICE, DATA "missing_field.jsonl:3: missing field \"choices\"");
    expect_error(DATA "wrong_type.jsonl", EVAL_MULTIPLE_CHOICE, DATA "wrong_type.jsonl:1: field \"choices\" is not an array");
    expect_error(DATA "choice_type.jsonl", EVAL_MULTIPLE_CHOICE, DATA "choice_type.jsonl:1: \"choices\"[1] is not a string");
    expect_error(DATA "gold_range.jsonl", EVAL_MULTIPLE_CHOICE,
                 DATA "gold_range.jsonl:2: \"gold\" 4 is out of range (4 choices: 0..3)");
    expect_error(DATA "gold_negative.jsonl", EVAL_MULTIPLE_CHOICE, DATA "gold_negative.jsonl:1: \"gold\" -1 is out of range");
    expect_error(DATA "gold_fraction.jsonl", EVAL_MULTIPLE_CHOICE, DATA "gold_fraction.jsonl:1: \"gold\" 0.5 is not a whole number");
    expect_error(DATA "gold_string.jsonl", EVAL_MULTIPLE_CHOICE, DATA "gold_string.jsonl:1: field \"gold\" is not a number");
    expect_error(DATA "one_choice.jsonl", EVAL_MULTIPLE_CHOICE,
                 DATA "one_choice.jsonl:1: field \"choices\" has 1 entry (at least 2 are needed)");
    expect_error(DATA "query_type.jsonl", EVAL_MULTIPLE_CHOICE, DATA "query_type.jsonl:1: field \"query\" is not a string");
    expect_error(DATA "blank_line.jsonl", EVAL_MULTIPLE_CHOICE, DATA "blank_line.jsonl:2: blank line");
    expect_error(DATA "trailing.jsonl", EVAL_MULTIPLE_CHOICE, DATA "trailing.jsonl:1: malformed JSON (text after the object");
    expect_error(DATA "not_object.jsonl", EVAL_MULTIPLE_CHOICE, DATA "not_object.jsonl:1: not a JSON object");
    expect_error(DATA "nul_escape.jsonl", EVAL_MULTIPLE_CHOICE, DATA "nul_escape.jsonl:1: \\u0000 in a string is not supported");
    expect_error(DATA "lm_blank_context.jsonl", EVAL_LANGUAGE_MODELING, DATA "lm_blank_context.jsonl:2: field \"context\" is blank");
    expect_error(DATA "lm_empty_continuation.jsonl", EVAL_LANGUAGE_MODELING,
                 DATA "lm_empty_continuation.jsonl:1: field \"continuation\" is empty");
    expect_error(DATA "lm_category_type.jsonl", EVAL_LANGUAGE_MODELING,
                 DATA "lm_category_type.jsonl:1: field \"category\" is not a string");
    expect_error(DATA "schema_missing.jsonl", EVAL_SCHEMA, DATA "schema_missing.jsonl:1: missing field \"continuation\"");
    expect_error(DATA "empty.jsonl", EVAL_MULTIPLE_CHOICE, DATA "empty.jsonl: no examples");
    expect_error(DATA "truncated.jsonl.zst", EVAL_MULTIPLE_CHOICE, DATA "truncated.jsonl.zst: zstd: truncated");
    expect_error(DATA "notzstd.jsonl.zst", EVAL_MULTIPLE_CHOICE, DATA "notzstd.jsonl.zst: zstd: Unknown frame descriptor (not zstd data)");
    expect_error(DATA "no-such-file.jsonl", EVAL_MULTIPLE_CHOICE, DATA "no-such-file.jsonl: No such file");
    /* A file of the wrong type: an MC file read as language modelling. */
    expect_error(DATA "mc.jsonl", EVAL_LANGUAGE_MODELING,
                 DATA "mc.jsonl:1: the line is a multiple_choice item, but the task is read as language_modeling");
    expect_error(DATA "schema_pair.jsonl", EVAL_MULTIPLE_CHOICE,
                 DATA "schema_pair.jsonl:1: the line is a schema item, but the task is read as multiple_choice");

    /* Bytes a text editor would not make: invalid UTF-8, a raw NUL, a raw surrogate. */
    char msg[256];
    const char bad_utf8[] = "{\"context\": \"ok\", \"continuation\": \"x\"}\n{\"context\": \"a\xff\", \"continuation\": \"x\"}\n";
    const char *p = temp_file(bad_utf8, sizeof bad_utf8 - 1, ".jsonl");
    snprintf(msg, sizeof msg, "%s:2: invalid UTF-8 at column 15", p);
    expect_error(p, EVAL_LANGUAGE_MODELING, msg);
    unlink(p);
    const char nul[] = "{\"context\": \"a\", \"continuation\": \"x\"}\0\n";
    p = temp_file(nul, sizeof nul - 1, ".jsonl");
    snprintf(msg, sizeof msg, "%s:1: NUL byte in line", p);
    expect_error(p, EVAL_LANGUAGE_MODELING, msg);
    unlink(p);
    const char surrogate[] = "{\"context\": \"\xed\xa0\x80\", \"continuation\": \"x\"}\n";
    p = temp_file(surrogate, sizeof surrogate - 1, ".jsonl");
    snprintf(msg, sizeof msg, "%s:1: invalid UTF-8 at column 14", p);
    expect_error(p, EVAL_LANGUAGE_MODELING, msg);
    unlink(p);
    /* An escaped backslash before "u0000" is text, not a NUL escape. */
    const char not_nul[] = "{\"context\": \"a\\\\u0000\", \"continuation\": \"x\"}\n";
    p = temp_file(not_nul, sizeof not_nul - 1, ".jsonl");
    EvalTaskData t;
    char err[512];
    CHECK(eval_tasks_load(p, EVAL_LANGUAGE_MODELING, &t, err, sizeof err));
    if (t.n_items == 1) CHECK_STR(t.items[0].context, "a\\u0000");
    eval_tasks_free(&t);
    unlink(p);
}

static void test_strip(void)
{
    /* Python's str.strip(): ASCII and Unicode whitespace (U+3000, U+00A0, U+2028, U+0085,
     * U+001F) go; U+200B (zero-width space) is not whitespace to Python and stays. */
    struct { const char *in, *out; } cases[] = {
        { "  a b  ", "a b" },
        { "\xe3\x80\x80x\xc2\xa0", "x" },
        { "\xe2\x80\xa8\xc2\x85\x1fx y\t\n\v\f\r", "x y" },
        { "\xe2\x80\x8bx\xe2\x80\x8b", "\xe2\x80\x8bx\xe2\x80\x8b" },
        { " \t\n", "" },
        { "", "" },
        { "\xc3\xa9", "\xc3\xa9" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t b, e, n = strlen(cases[i].in);
        eval_text_strip(cases[i].in, n, &b, &e);
        char got[64];
        snprintf(got, sizeof got, "%.*s", (int)(e - b), cases[i].in + b);
        CHECK_STR(got, cases[i].out);
    }
    size_t bad;
    CHECK(eval_utf8_valid("a\xc3\xa9\xf0\x9f\x98\x80", 7, &bad));
    CHECK(!eval_utf8_valid("ab\xc0\xaf", 4, &bad)); /* overlong '/' */
    CHECK_EQ_INT(bad, 2);
    CHECK(!eval_utf8_valid("\xf4\x90\x80\x80", 4, &bad)); /* above U+10FFFF */
    CHECK(!eval_utf8_valid("\xe3\x80", 2, &bad));         /* cut short */
}

int main(void)
{
    if (chdir(getenv("NMOE_TOP") ? getenv("NMOE_TOP") : ".") != 0) return 1;
    test_good_files();
    test_malformed();
    test_strip();
    EvalTaskType ty;
    CHECK(eval_task_type_parse("schema", &ty) && ty == EVAL_SCHEMA);
    CHECK(!eval_task_type_parse("generation", &ty));
    CHECK_STR(eval_task_type_name(EVAL_LANGUAGE_MODELING), "language_modeling");
    return check_report("test_eval_tasks");
}
