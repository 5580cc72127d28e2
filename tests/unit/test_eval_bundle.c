/* test_eval_bundle.c: the CORE eval bundle readers (eval_bundle.h): the YAML subset of
 * core.yaml (both entry styles, quoting and escapes, flow lists, comments, skipped
 * top-level keys) and RFC 4180 CSV for the random baselines; everything outside the
 * subset is refused with `name:line: reason`. Loading a bundle from disk is tested by
 * tests/cli/eval_bundle.sh. */
#include "check.h"
#include "eval/eval_bundle.h"

#include <stdlib.h>

#define Y "core.yaml"
#define C "eval_meta_data.csv"

static bool parse_yaml(const char *text, EvalBundleTasks *t, char *err, size_t cap)
{
    return eval_bundle_parse_yaml(text, strlen(text), Y, t, err, cap);
}

/* The yaml must be refused with a message containing want. */
static void yaml_error(const char *text, const char *want)
{
    EvalBundleTasks t;
    char err[1024] = "";
    CHECK(!parse_yaml(text, &t, err, sizeof err));
    CHECK(t.n_tasks == 0 && t.tasks == NULL);
    if (!strstr(err, want)) {
        check_failures++;
        fprintf(stderr, "yaml %s\n  message '%s' lacks '%s'\n", text, err, want);
    }
    check_count++;
}

static void test_yaml_good(void)
{
    /* nanochat's style (bare '-', keys below), DCLM's skipped keys, and the other style
     * ('- key: value', indented sequence); comments, quotes and escapes everywhere. */
    const char *text =
        "\xEF\xBB\xBF---\r\n"
        "# a comment\n"
        "max_seq_len: 2048\n"
        "tokenizer:\n"
        "  kwargs:\n"
        "    model_max_length: 2048   # nested, not read\n"
        "  list:\n"
        "  - a: [1, {2: 3}]\n"
        "load_path: # empty\n"
        "icl_tasks:\n"
        "-\n"
        "  label: jeopardy\n"
        "  dataset_uri: world_knowledge/jeopardy_all.jsonl # a comment\n"
        "  num_fewshot: [10]\n"
        "  icl_task_type: language_modeling\n"
        "  continuation_delimiter: \"\\nAnswer: \" # this separates questions from answers\n"
        "  has_categories: true\n"
        "\n"
        "-   label: 'copa'\n"
        "    dataset_uri: \"commonsense_reasoning/copa.jsonl\"\n"
        "    num_fewshot: [ 0, 5 ]\n"
        "    icl_task_type: \"multiple_choice\"\r\n"
        "    continuation_delimiter: 'it''s: '\n"
        "    prompt_string: \"\"\n"
        "- label: esc\n"
        "  dataset_uri: x.jsonl\n"
        "  num_fewshot: 3\n"
        "  icl_task_type: schema   \n"
        "  continuation_delimiter: \"\\t\\\"\\\\\\x41\\u00e9\\U0001F600\\/\\ \"\n"
        "other: after\n"
        "  - skipped\n";
    EvalBundleTasks t;
    char err[1024] = "";
    bool ok = parse_yaml(text, &t, err, sizeof err);
    CHECK(ok);
    if (!ok) { fprintf(stderr, "%s\n", err); return; }
    CHECK_EQ_INT(t.n_tasks, 3);
    if (t.n_tasks != 3) { eval_bundle_tasks_free(&t); return; }
    CHECK_STR(t.tasks[0].label, "jeopardy");
    CHECK_STR(t.tasks[0].dataset_uri, "world_knowledge/jeopardy_all.jsonl");
    CHECK_EQ_INT(t.tasks[0].type, EVAL_LANGUAGE_MODELING);
    CHECK_EQ_INT(t.tasks[0].num_fewshot, 10);
    CHECK_EQ_INT(t.tasks[0].n_fewshot, 1);
    CHECK_STR(t.tasks[0].delimiter, "\nAnswer: ");
    CHECK_EQ_INT(t.tasks[0].line, 11);
    CHECK_STR(t.tasks[1].label, "copa");
    CHECK_STR(t.tasks[1].dataset_uri, "commonsense_reasoning/copa.jsonl");
    CHECK_EQ_INT(t.tasks[1].type, EVAL_MULTIPLE_CHOICE);
    CHECK_EQ_INT(t.tasks[1].num_fewshot, 0); /* the first value, as nanochat takes it */
    CHECK_EQ_INT(t.tasks[1].n_fewshot, 2);
    CHECK_STR(t.tasks[1].delimiter, "it's: ");
    CHECK_EQ_INT(t.tasks[1].line, 19);
    CHECK_STR(t.tasks[2].label, "esc");
    CHECK_EQ_INT(t.tasks[2].type, EVAL_SCHEMA);
    CHECK_EQ_INT(t.tasks[2].num_fewshot, 3);
    CHECK_STR(t.tasks[2].delimiter, "\t\"\\A\xC3\xA9\xF0\x9F\x98\x80/ ");
    eval_bundle_tasks_free(&t);

    /* no continuation_delimiter: NULL (the suite then uses " ") */
    ok = parse_yaml("icl_tasks:\n  - label: a\n    dataset_uri: a.jsonl\n    num_fewshot: [0]\n"
                    "    icl_task_type: schema\n", &t, err, sizeof err);
    CHECK(ok);
    if (ok) {
        CHECK_EQ_INT(t.n_tasks, 1);
        CHECK(t.tasks[0].delimiter == NULL);
        eval_bundle_tasks_free(&t);
    }
}

#define TASK "  dataset_uri: a.jsonl\n  num_fewshot: [0]\n  icl_task_type: schema\n"

static void test_yaml_errors(void)
{
    yaml_error("icl_tasks:\n-\n\tlabel: a\n", Y ":3: a tab in the indentation");
    yaml_error("icl_tasks:\n-\n  label: a\n  x:\n    y: 1\n" TASK, Y ":5: nested blocks inside a task are not supported");
    yaml_error("icl_tasks:\n-\n  label: |\n    a\n", Y ":3: block scalars (| and >) are not supported");
    yaml_error("icl_tasks:\n- {label: a}\n", Y ":2: flow mappings ({...}) are not supported");
    yaml_error("icl_tasks:\n-\n  label: &x a\n", Y ":3: anchors (&) are not supported");
    yaml_error("icl_tasks:\n-\n  label: !!str a\n", Y ":3: tags (!) are not supported");
    yaml_error("icl_tasks:\n-\n  label: a\n  continuation_delimiter: \"x\n  y\"\n",
               Y ":4: a double-quoted string does not end on its line");
    yaml_error("icl_tasks:\n-\n  label: a\n  continuation_delimiter: 'x\n", Y ":4: a single-quoted string does not end");
    yaml_error("icl_tasks:\n-\n  label: a\n  continuation_delimiter: \"\\q\"\n", Y ":4: unknown escape \"\\q\"");
    yaml_error("icl_tasks:\n-\n  label: a\n  continuation_delimiter: \"\\x4\"\n", Y ":4: \\x needs 2 hex digits");
    yaml_error("icl_tasks:\n-\n  label: a\n  continuation_delimiter: \"\\0\"\n", Y ":4: \\0 (a NUL character)");
    yaml_error("icl_tasks:\n-\n  label: a\n  continuation_delimiter: \"\\uD800\"\n", Y ":4: \\u escape of U+D800");
    yaml_error("icl_tasks:\n-\n  label: a\n  dataset_uri: a.jsonl\n  icl_task_type: schema\n",
               Y ":2: task \"a\" has no num_fewshot");
    yaml_error("icl_tasks:\n-\n  dataset_uri: a.jsonl\n", Y ":2: the task has no label");
    yaml_error("icl_tasks:\n-\n  label: a\n  dataset_uri: a.jsonl\n  num_fewshot: [3]\n  icl_task_type: question_answering\n",
               Y ":6: icl_task_type \"question_answering\" is not supported");
    yaml_error("icl_tasks:\n-\n  label: a\n" TASK "-\n  label: a\n" TASK, Y ":7: task \"a\" is listed twice (also at line 2)");
    yaml_error("icl_tasks:\n-\n  label: a\n  label: b\n", Y ":4: label given twice in one task");
    yaml_error("tasks:\n- label: a\n", Y ": no icl_tasks key");
    yaml_error("icl_tasks: []\n", Y ":1: icl_tasks must be a block sequence");
    yaml_error("icl_tasks:\n# nothing\nother: 1\n", Y ":1: icl_tasks has no tasks");
    yaml_error("icl_tasks:\n-\n-\n  label: a\n" TASK, Y ":2: an empty task entry");
    yaml_error("icl_tasks:\n-\n  label: a b\n", Y ":3: label \"a b\" must be letters, digits, '_' or '-'");
    yaml_error("icl_tasks:\n-\n  label: a\n  num_fewshot: [\"10\"]\n", Y ":4: num_fewshot must be a list of whole numbers");
    yaml_error("icl_tasks:\n-\n  label: a\n  num_fewshot: [-1]\n", Y ":4: num_fewshot must be a list of whole numbers");
    yaml_error("icl_tasks:\n-\n  label: a\n  num_fewshot: [1001]\n", Y ":4: num_fewshot must be a list of whole numbers");
    yaml_error("icl_tasks:\n-\n  label: a\n  num_fewshot: []\n", Y ":4: num_fewshot is an empty list");
    yaml_error("icl_tasks:\n-\n  label: a\n  num_fewshot: [1, [2]]\n", Y ":4: nested flow collections");
    yaml_error("icl_tasks:\n-\n  label: a\n  num_fewshot: [1,\n    2]\n", Y ":4: a flow list [...] does not end on its line");
    yaml_error("icl_tasks:\n-\n  label: a\n  num_fewshot: [1,,2]\n", Y ":4: an empty item in a flow list");
    yaml_error("icl_tasks:\n-\n  label: a\n  dataset_uri: [a.jsonl]\n", Y ":4: dataset_uri must be a string, not a list");
    yaml_error("icl_tasks:\n-\n  label:\n", Y ":3: label has no value");
    yaml_error("icl_tasks:\n-\n  label: ~\n", Y ":3: label has no value");
    yaml_error("icl_tasks:\n-\n  label: \"a\" b\n", Y ":3: unexpected text after the value");
    yaml_error("icl_tasks:\n-\n  label: \"a\"# c\n", Y ":3: unexpected text after the value");
    yaml_error("icl_tasks:\n-\n  label: a: b\n", Y ":3: a plain value may not hold ': '");
    yaml_error("icl_tasks:\n-\n  label:a\n", Y ":3: expected \"key: value\"");
    yaml_error("icl_tasks:\n-\n  \"label\": a\n", Y ":3: quoted keys are not supported");
    yaml_error("icl_tasks:\n-\n  - label: a\n", Y ":3: nested sequences are not supported");
    yaml_error("icl_tasks:\n  - label: a\n- label: b\n", Y ":3: this line is indented less than the icl_tasks entries");
    yaml_error("icl_tasks:\n  - label: a\n  label: b\n", Y ":3: expected a task entry \"- ...\" at this indentation");
    yaml_error("icl_tasks:\n- label: a\n    dataset_uri: b\n", Y ":3: nested blocks inside a task are not supported");
    yaml_error("icl_tasks:\n-\n    label: a\n  dataset_uri: b\n", Y ":4: this line is indented less than the task's keys");
    yaml_error("icl_tasks:\n  label: a\n", Y ":2: icl_tasks: expected a task entry");
    yaml_error("  icl_tasks:\n", Y ":1: expected a top-level \"key:\"");
    yaml_error("- a\n", Y ":1: expected a top-level \"key:\"");
    yaml_error("a: 1\n---\nicl_tasks:\n", Y ":2: a second YAML document (---) is not supported");
    yaml_error("icl_tasks:\n- label: a\n" TASK "...\n", Y ":6: a document end marker (...) is not supported");
    yaml_error("icl_tasks:\n- label: a\n" TASK "icl_tasks:\n", Y ":6: icl_tasks given twice (also at line 1)");
    yaml_error("icl_tasks:\n-\n  label: `a`\n", Y ":3: a plain value may not start with a reserved character");
    yaml_error("icl_tasks:\n-\n  label: ]\n", Y ":3: a plain value may not start with a flow indicator");
    yaml_error("icl_tasks:\n-\n  label: \xff\n", Y ":3: not valid UTF-8");
    EvalBundleTasks t;
    char err[256] = "";
    static const char nul[] = "icl_tasks:\n-\n  label: a\0b\n";
    CHECK(!eval_bundle_parse_yaml(nul, sizeof nul - 1, Y, &t, err, sizeof err));
    CHECK(strstr(err, Y ":3: a NUL byte") != NULL);
}

static bool parse_csv(const char *text, EvalBaselines *b, char *err, size_t cap)
{
    return eval_bundle_parse_csv(text, strlen(text), C, b, err, cap);
}

static void csv_error(const char *text, const char *want)
{
    EvalBaselines b;
    char err[1024] = "";
    CHECK(!parse_csv(text, &b, err, sizeof err));
    CHECK(b.n_rows == 0 && b.rows == NULL);
    if (!strstr(err, want)) {
        check_failures++;
        fprintf(stderr, "csv %s\n  message '%s' lacks '%s'\n", text, err, want);
    }
    check_count++;
}

/* The baseline lookup must fail with a message containing want. */
static void lookup_error(const EvalBaselines *b, const char *task, const char *want)
{
    double v = -1;
    char err[1024] = "";
    CHECK(!eval_bundle_baseline(b, task, &v, err, sizeof err));
    if (!strstr(err, want)) {
        check_failures++;
        fprintf(stderr, "lookup %s: message '%s' lacks '%s'\n", task, err, want);
    }
    check_count++;
}

static void test_csv(void)
{
    const char *text =
        "\xEF\xBB\xBF" "Eval Task,\"Task, Category\",#shots,Random baseline,Description\r\n"
        "copa,commonsense reasoning,0,50,\"COPA: 100 \"\"cause\"\"/effect, two choices\r\n"
        "over two lines\"\r\n"
        "\r\n"
        "squad,reading comprehension,10,0,plain 5\"5 kept\n"
        "bigbench_language_identification,language understanding,10, 9.1 ,\n"
        "twice,x,0,25,\n"
        "twice,x,0,25,\n"
        "bad,x,0,abc,\n"
        "high,x,0,100,\n"
        "empty,x,0,,\n"
        "nan,x,0,nan,\n"
        "last,x,0,1e1,no newline at the end";
    EvalBaselines b;
    char err[1024] = "";
    bool ok = parse_csv(text, &b, err, sizeof err);
    CHECK(ok);
    if (!ok) { fprintf(stderr, "%s\n", err); return; }
    CHECK_EQ_INT(b.n_rows, 10);
    double v = -1;
    CHECK(eval_bundle_baseline(&b, "copa", &v, err, sizeof err));
    CHECK_CLOSE(v, 50, 0, 0);
    CHECK(eval_bundle_baseline(&b, "squad", &v, err, sizeof err));
    CHECK_CLOSE(v, 0, 0, 0);
    CHECK(eval_bundle_baseline(&b, "bigbench_language_identification", &v, err, sizeof err));
    CHECK_CLOSE(v, 9.1, 0, 0);
    CHECK(eval_bundle_baseline(&b, "last", &v, err, sizeof err));
    CHECK_CLOSE(v, 10, 0, 0);
    CHECK_EQ_INT(b.rows[0].line, 2);
    CHECK_EQ_INT(b.rows[1].line, 5); /* after the two-line record and the blank line */
    lookup_error(&b, "coqa", C ": no row for task \"coqa\"");
    lookup_error(&b, "twice", C ":8: a second row for task \"twice\" (the first is at line 7)");
    lookup_error(&b, "bad", C ":9: task \"bad\": Random baseline \"abc\" is not a number of percent in [0, 100)");
    lookup_error(&b, "high", C ":10: task \"high\": Random baseline \"100\"");
    lookup_error(&b, "empty", C ":11: task \"empty\": Random baseline \"\"");
    lookup_error(&b, "nan", C ":12: task \"nan\"");
    eval_baselines_free(&b);

    csv_error("", C ": empty");
    csv_error("\n\n", C ": empty");
    csv_error("Eval Task,Baseline\ncopa,50\n", C ":1: the header has no \"Random baseline\" column");
    csv_error("Task,Random baseline\ncopa,50\n", C ":1: the header has no \"Eval Task\" column");
    csv_error("Eval Task,Random baseline\ncopa,50\nsquad,0,extra\n", C ":3: 3 fields, the header has 2");
    csv_error("Eval Task,Random baseline\ncopa\n", C ":2: 1 field, the header has 2");
    csv_error("Eval Task,Random baseline\ncopa,\"50\n\nsquad,0\n", C ":2: a quoted field is never closed");
    csv_error("Eval Task,Random baseline\n\"copa\"x,50\n", C ":2: text after the closing quote of field 1");
    csv_error("Eval Task,Random baseline\ncopa,50\xc3\n", C ":2: not valid UTF-8");
}

int main(void)
{
    test_yaml_good();
    test_yaml_errors();
    test_csv();
    return check_report("test_eval_bundle");
}
