/* test_tokenizer_input.c: the JSON-line reader behind `nmoe-tok encode --field`:
 * every escape decoded exactly (\u0000 and surrogate pairs included), the field
 * found only at the top level, and each kind of bad line reported with a reason. */
#include "check.h"
#include "base/error.h"
#include "tok/text_input.h"

#include <stdlib.h>

static char *buf;
static size_t cap;
static char err[256];

static long ext(const char *line, const char *field) { return jsonl_extract(line, strlen(line), field, &buf, &cap, err, sizeof err); }

static void ok(const char *line, const char *field, const char *want, size_t want_len)
{
    long n = ext(line, field);
    CHECK_EQ_INT(n, (long)want_len);
    if (n == (long)want_len) CHECK(memcmp(buf, want, want_len) == 0);
    else fprintf(stderr, "line %s: %s\n", line, err);
}

static void bad(const char *line, const char *field, const char *reason)
{
    long n = ext(line, field);
    CHECK_EQ_INT(n, -1);
    if (!strstr(err, reason)) fprintf(stderr, "line %s: got reason '%s', want '%s'\n", line, err, reason);
    CHECK(strstr(err, reason) != NULL);
}

int main(void)
{
    nmoe_set_prog("test_tokenizer_input");
    ok("{\"text\": \"hello\"}", "text", "hello", 5);
    ok("  {\"id\": 3, \"text\": \"a\\nb\\t\\\"q\\\" \\\\ \\/\"}  \r", "text", "a\nb\t\"q\" \\ /", 11);
    ok("{\"text\": \"nul\\u0000inside\"}", "text", "nul\0inside", 10);
    ok("{\"text\": \"\\u00e9\\u20ac\\ud83d\\ude00\"}", "text", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
    ok("{\"text\": \"\"}", "text", "", 0);
    ok("{\"meta\": {\"text\": \"inner\"}, \"text\": \"outer\", \"x\": [1, -2.5e3, true, null, {}]}", "text", "outer", 5);
    ok("{\"body\": \"raw \xff bytes kept\"}", "body", "raw \xff bytes kept", 16);
    ok("{\"text\": \"first\", \"text\": \"last\"}", "text", "last", 4);

    bad("{\"text\": 5}", "text", "no string field \"text\"");
    bad("{\"other\": \"x\"}", "text", "no string field");
    bad("{\"meta\": {\"text\": \"inner\"}}", "text", "no string field");
    bad("[\"text\"]", "text", "not a JSON object");
    bad("{\"text\": \"x\"", "text", "not JSON");
    bad("{\"text\": \"x\"} trailing", "text", "unexpected text after");
    bad("{\"text\": \"a\\ud800\"}", "text", "lone high surrogate");
    bad("{\"text\": \"a\\udc00\"}", "text", "lone low surrogate");
    bad("{\"text\": \"tab\there\"}", "text", "control character");
    bad("{\"text\": \"\\q\"}", "text", "bad escape");
    bad("{\"text\": 01}", "text", "not JSON");
    bad("{text: \"x\"}", "text", "member name expected");
    bad("not json at all", "text", "not JSON");
    bad("{\"text\": \"x\",}", "text", "member name expected");

    /* Deep nesting is refused, not a stack overflow. */
    size_t depth = 100000;
    char *deep = xmalloc(2 * depth + 20);
    strcpy(deep, "{\"a\": ");
    size_t k = strlen(deep);
    for (size_t i = 0; i < depth; i++) deep[k++] = '[';
    for (size_t i = 0; i < depth; i++) deep[k++] = ']';
    deep[k++] = '}';
    deep[k] = 0;
    bad(deep, "text", "nested deeper");
    free(deep);
    /* The column is reported. */
    CHECK(ext("{\"text\": tru}", "text") == -1);
    CHECK(strstr(err, "column 10") != NULL);
    free(buf);
    return check_report("test_tokenizer_input");
}
