/* test_toml.c: every feature of the TOML subset parses to the right flattened keys
 * and values, and every error names the right line:col and reason, exactly. */
#include "check.h"
#include "formats/toml.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

/* Parse from an exact-size heap copy with no NUL after it, so that ASan catches any
 * read past the end of the text. */
static TomlDoc *parse_exact(const char *text, size_t len, char *err, size_t cap)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    TomlDoc *d = toml_parse(copy, len, "cfg.toml", err, cap);
    free(copy);
    return d;
}

static TomlDoc *parse(const char *text)
{
    char err[256];
    TomlDoc *d = parse_exact(text, strlen(text), err, sizeof err);
    if (!d) fprintf(stderr, "unexpected parse error: %s\n", err);
    return d;
}

/* The text must fail with exactly this message. */
#define CHECK_ERR(text, expected) CHECK_ERR_N((text), strlen(text), (expected))

/* Same, for text that holds NUL bytes (length given). */
#define CHECK_ERR_N(text, len, expected) do { char err_[256]; \
    TomlDoc *d_ = parse_exact((text), (len), err_, sizeof err_); \
    CHECK(d_ == NULL); if (d_) toml_free(d_); else CHECK_STR(err_, expected); } while (0)

static int64_t get_int(const TomlDoc *d, const char *key)
{
    const TomlValue *v = toml_get(d, key);
    CHECK(v && v->type == TOML_INT);
    return v && v->type == TOML_INT ? v->u.i : -424242;
}

static double get_float(const TomlDoc *d, const char *key)
{
    const TomlValue *v = toml_get(d, key);
    CHECK(v && v->type == TOML_FLOAT);
    return v && v->type == TOML_FLOAT ? v->u.f : -424242.0;
}

static const char *get_str(const TomlDoc *d, const char *key)
{
    const TomlValue *v = toml_get(d, key);
    CHECK(v && v->type == TOML_STRING);
    return v && v->type == TOML_STRING ? v->u.s : NULL;
}

static void test_realistic_config(void)
{
    const char *text =
        "# nmoe tiny MoE\n"
        "run = \"tiny-moe\"   # comment after a value\n"
        "seed = 1337\n"
        "\n"
        "[model]\n"
        "dim = 256\n"
        "n_layers = 4\n"
        "n_dense_layers = 1\n"
        "n_routed_experts = 64\n"
        "router_score = 'sigmoid'\n"
        "route_scale = 2.5\n"
        "\n"
        "[optim]\n"
        "lr = 3e-4\n"
        "betas = [0.9, 0.95]\n"
        "clip_grad = true\n"
        "tokens = 1_000_000\n";
    TomlDoc *d = parse(text);
    CHECK(d != NULL);
    if (!d) return;
    CHECK_EQ_INT(toml_count(d), 12);
    const char *order[] = { "run", "seed", "model.dim", "model.n_layers", "model.n_dense_layers",
                            "model.n_routed_experts", "model.router_score", "model.route_scale",
                            "optim.lr", "optim.betas", "optim.clip_grad", "optim.tokens" };
    for (size_t i = 0; i < 12; i++) CHECK_STR(toml_key_at(d, i), order[i]);
    CHECK(toml_key_at(d, 12) == NULL);
    CHECK(toml_value_at(d, 12) == NULL);
    CHECK_STR(get_str(d, "run"), "tiny-moe");
    CHECK_EQ_INT(get_int(d, "seed"), 1337);
    CHECK_EQ_INT(get_int(d, "model.n_routed_experts"), 64);
    CHECK_STR(get_str(d, "model.router_score"), "sigmoid");
    CHECK(get_float(d, "model.route_scale") == 2.5);
    CHECK(get_float(d, "optim.lr") == 3e-4);
    CHECK_EQ_INT(get_int(d, "optim.tokens"), 1000000);
    const TomlValue *b = toml_get(d, "optim.betas");
    CHECK(b && b->type == TOML_ARRAY && b->u.arr.n == 2);
    if (b && b->type == TOML_ARRAY && b->u.arr.n == 2) {
        CHECK(b->u.arr.items[0].type == TOML_FLOAT && b->u.arr.items[0].u.f == 0.9);
        CHECK(b->u.arr.items[1].u.f == 0.95);
        CHECK_EQ_INT(b->u.arr.items[1].line, 15);
        CHECK_EQ_INT(b->u.arr.items[1].col, 15);
    }
    const TomlValue *cg = toml_get(d, "optim.clip_grad");
    CHECK(cg && cg->type == TOML_BOOL && cg->u.b);
    /* value positions */
    const TomlValue *dim = toml_get(d, "model.dim");
    CHECK(dim && dim->line == 6 && dim->col == 7);
    /* absent keys and tables are not leaves */
    CHECK(toml_get(d, "model") == NULL);
    CHECK(toml_get(d, "model.nope") == NULL);
    CHECK(toml_get(d, "") == NULL);
    CHECK_STR(toml_filename(d), "cfg.toml");
    toml_free(d);
}

static void test_keys_and_tables(void)
{
    TomlDoc *d = parse("a.b.c = 1\n"
                       "\"quoted key\" = 2\n"
                       "'lit' . \"q\" . bare-key_9 = 3\n"
                       "[ x . y ]  # header with spaces\n"
                       "z = 4\n"
                       "w.v = 5\n"
                       "[x]\n"             /* defining an implicit parent later is fine */
                       "k = 6\n"
                       "[a.b.d]\n"         /* a sub-table of tables made by dotted keys */
                       "e = 7\n"
                       "[empty]\n"
                       "[\"é\".t]\n"
                       "u = 8\n");
    CHECK(d != NULL);
    if (!d) return;
    CHECK_EQ_INT(get_int(d, "a.b.c"), 1);
    CHECK_EQ_INT(get_int(d, "quoted key"), 2);
    CHECK_EQ_INT(get_int(d, "lit.q.bare-key_9"), 3);
    CHECK_EQ_INT(get_int(d, "x.y.z"), 4);
    CHECK_EQ_INT(get_int(d, "x.y.w.v"), 5);
    CHECK_EQ_INT(get_int(d, "x.k"), 6);
    CHECK_EQ_INT(get_int(d, "a.b.d.e"), 7);
    CHECK_EQ_INT(get_int(d, "é.t.u"), 8);
    CHECK_EQ_INT(toml_count(d), 8);
    toml_free(d);
    /* bare keys may look like numbers or booleans */
    d = parse("1 = 'one'\ntrue = false\n3.14 = 3\n"); /* 3.14 is the dotted key 3 -> 14 */
    CHECK(d != NULL);
    if (d) {
        CHECK_STR(get_str(d, "1"), "one");
        CHECK(toml_get(d, "true") && toml_get(d, "true")->u.b == false);
        CHECK_EQ_INT(get_int(d, "3.14"), 3);
        toml_free(d);
    }
}

static void test_strings(void)
{
    TomlDoc *d = parse("a = \"tab\\there\\nnl \\\"q\\\" back\\\\slash \\b\\f\\r\"\n"
                       "b = \"\\u00e9\\U0001F600\\u0041\"\n"
                       "c = 'C:\\path\\no escapes \"here\"'\n"
                       "d = \"\"\n"
                       "e = ''\n"
                       "f = \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"\n"
                       "g = \"# not a comment\"  # a comment\n"
                       "h = \"tab\tinside\"\n");
    CHECK(d != NULL);
    if (!d) return;
    CHECK_STR(get_str(d, "a"), "tab\there\nnl \"q\" back\\slash \b\f\r");
    CHECK_STR(get_str(d, "b"), "\xc3\xa9\xf0\x9f\x98\x80" "A");
    CHECK_STR(get_str(d, "c"), "C:\\path\\no escapes \"here\"");
    CHECK_STR(get_str(d, "d"), "");
    CHECK_STR(get_str(d, "e"), "");
    CHECK_STR(get_str(d, "f"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    CHECK_STR(get_str(d, "g"), "# not a comment");
    CHECK_STR(get_str(d, "h"), "tab\tinside");
    toml_free(d);
}

static void test_numbers(void)
{
    TomlDoc *d = parse("i1 = +99\n"
                       "i2 = 42\n"
                       "i3 = 0\n"
                       "i4 = -17\n"
                       "i5 = 1_000\n"
                       "i6 = 5_349_221\n"
                       "i7 = 0xDEAD_beef\n"
                       "i8 = 0o755\n"
                       "i9 = 0b1101_0110\n"
                       "i10 = 9223372036854775807\n"
                       "i11 = -9223372036854775808\n"
                       "i12 = 0x7FFFFFFFFFFFFFFF\n"
                       "i13 = -0\n"
                       "f1 = +1.0\n"
                       "f2 = 3.1415\n"
                       "f3 = -0.01\n"
                       "f4 = 5e+22\n"
                       "f5 = 1e06\n"
                       "f6 = -2E-2\n"
                       "f7 = 6.626e-34\n"
                       "f8 = 224_617.445_991\n"
                       "f9 = inf\n"
                       "f10 = -inf\n"
                       "f11 = +nan\n"
                       "f12 = nan\n"
                       "f13 = 0e0\n"
                       "f14 = 1e-400\n"     /* underflows to 0: representable, accepted */
                       "b1 = true\n"
                       "b2 = false\n");
    CHECK(d != NULL);
    if (!d) return;
    CHECK_EQ_INT(get_int(d, "i1"), 99);
    CHECK_EQ_INT(get_int(d, "i2"), 42);
    CHECK_EQ_INT(get_int(d, "i3"), 0);
    CHECK_EQ_INT(get_int(d, "i4"), -17);
    CHECK_EQ_INT(get_int(d, "i5"), 1000);
    CHECK_EQ_INT(get_int(d, "i6"), 5349221);
    CHECK_EQ_INT(get_int(d, "i7"), 0xDEADBEEF);
    CHECK_EQ_INT(get_int(d, "i8"), 0755);
    CHECK_EQ_INT(get_int(d, "i9"), 0xD6);
    CHECK(get_int(d, "i10") == INT64_MAX);
    CHECK(get_int(d, "i11") == INT64_MIN);
    CHECK(get_int(d, "i12") == INT64_MAX);
    CHECK_EQ_INT(get_int(d, "i13"), 0);
    CHECK(get_float(d, "f1") == 1.0);
    CHECK(get_float(d, "f2") == 3.1415);
    CHECK(get_float(d, "f3") == -0.01);
    CHECK(get_float(d, "f4") == 5e22);
    CHECK(get_float(d, "f5") == 1e6);
    CHECK(get_float(d, "f6") == -2e-2);
    CHECK(get_float(d, "f7") == 6.626e-34);
    CHECK(get_float(d, "f8") == 224617.445991);
    CHECK(isinf(get_float(d, "f9")) && get_float(d, "f9") > 0);
    CHECK(isinf(get_float(d, "f10")) && get_float(d, "f10") < 0);
    CHECK(isnan(get_float(d, "f11")));
    CHECK(isnan(get_float(d, "f12")));
    CHECK(get_float(d, "f13") == 0.0);
    CHECK(get_float(d, "f14") == 0.0);
    const TomlValue *b1 = toml_get(d, "b1"), *b2 = toml_get(d, "b2");
    CHECK(b1 && b1->type == TOML_BOOL && b1->u.b);
    CHECK(b2 && b2->type == TOML_BOOL && !b2->u.b);
    toml_free(d);
}

static void test_arrays(void)
{
    TomlDoc *d = parse("empty = []\n"
                       "nested = [ [1, 2], [\"a\", 'b'], [] ]\n"
                       "mixed = [1, 2.5, \"s\", true]\n"
                       "multi = [\n"
                       "  1,  # one\n"
                       "  2,\n"
                       "\n"
                       "  # a comment line\n"
                       "  3,   # trailing comma allowed\n"
                       "]\n"
                       "crlf = [\r\n 4,\r\n 5\r\n]\r\n");
    CHECK(d != NULL);
    if (!d) return;
    const TomlValue *v = toml_get(d, "empty");
    CHECK(v && v->type == TOML_ARRAY && v->u.arr.n == 0);
    v = toml_get(d, "nested");
    CHECK(v && v->type == TOML_ARRAY && v->u.arr.n == 3);
    if (v && v->u.arr.n == 3) {
        const TomlValue *a = &v->u.arr.items[0], *s = &v->u.arr.items[1], *e = &v->u.arr.items[2];
        CHECK(a->type == TOML_ARRAY && a->u.arr.n == 2 && a->u.arr.items[1].u.i == 2);
        CHECK(s->type == TOML_ARRAY && s->u.arr.n == 2);
        if (s->u.arr.n == 2) CHECK_STR(s->u.arr.items[1].u.s, "b");
        CHECK(e->type == TOML_ARRAY && e->u.arr.n == 0);
    }
    v = toml_get(d, "mixed");
    CHECK(v && v->u.arr.n == 4 && v->u.arr.items[2].type == TOML_STRING && v->u.arr.items[3].type == TOML_BOOL);
    v = toml_get(d, "multi");
    CHECK(v && v->u.arr.n == 3);
    if (v && v->u.arr.n == 3) {
        CHECK_EQ_INT(v->u.arr.items[2].u.i, 3);
        CHECK_EQ_INT(v->u.arr.items[2].line, 9);
        CHECK_EQ_INT(v->u.arr.items[2].col, 3);
    }
    v = toml_get(d, "crlf");
    CHECK(v && v->u.arr.n == 2 && v->u.arr.items[1].u.i == 5);
    toml_free(d);

    /* nesting up to the limit parses; one more level is an error */
    char deep[300];
    size_t n = 0;
    n += (size_t)sprintf(deep, "a = ");
    for (int i = 0; i < 64; i++) deep[n++] = '[';
    for (int i = 0; i < 64; i++) deep[n++] = ']';
    deep[n++] = '\n';
    deep[n] = 0;
    d = parse(deep);
    CHECK(d != NULL);
    toml_free(d);
    n = (size_t)sprintf(deep, "a = ");
    for (int i = 0; i < 65; i++) deep[n++] = '[';
    for (int i = 0; i < 65; i++) deep[n++] = ']';
    deep[n] = 0;
    CHECK_ERR(deep, "cfg.toml:1:69: arrays nested too deeply (limit 64)");
}

static void test_layout(void)
{
    /* CRLF line endings, no final newline, BOM, blank and comment-only lines, tabs */
    TomlDoc *d = parse("\xEF\xBB\xBF# bom\r\n\r\n\ta\t=\t1\r\n  # indented comment\r\n[t]\r\nb = 2");
    CHECK(d != NULL);
    if (d) {
        CHECK_EQ_INT(get_int(d, "a"), 1);
        CHECK_EQ_INT(get_int(d, "t.b"), 2);
        toml_free(d);
    }
    d = parse("");
    CHECK(d != NULL && toml_count(d) == 0);
    toml_free(d);
    d = parse("# only a comment");
    CHECK(d != NULL && toml_count(d) == 0);
    toml_free(d);
    /* text that is not NUL-terminated: only len bytes are read */
    char err[256];
    d = toml_parse("a = 12345", 6, "cfg.toml", err, sizeof err);
    CHECK(d != NULL);
    if (d) { CHECK_EQ_INT(get_int(d, "a"), 12); toml_free(d); }
    /* NULL filename and a NULL/zero error buffer are allowed */
    d = toml_parse("a = ", 4, NULL, err, sizeof err);
    CHECK(d == NULL);
    CHECK_STR(err, "<input>:1:5: expected a value, found end of file");
    CHECK(toml_parse("a = ", 4, NULL, NULL, 0) == NULL);
}

static void test_errors(void)
{
    /* syntax */
    CHECK_ERR("a = 1\nb = 2\nmodel dim = 3\n", "cfg.toml:3:7: expected '=' after key, found 'd'");
    CHECK_ERR("a 1\n", "cfg.toml:1:3: expected '=' after key, found '1'");
    CHECK_ERR("= 1\n", "cfg.toml:1:1: expected a key, found '='");
    CHECK_ERR("a. = 1\n", "cfg.toml:1:4: expected a key after '.', found '='");
    CHECK_ERR("a =\n", "cfg.toml:1:4: expected a value, found end of line");
    CHECK_ERR("a = 1 2\n", "cfg.toml:1:7: expected end of line after value, found '2'");
    CHECK_ERR("a = \"x\"y\n", "cfg.toml:1:8: expected end of line after value, found 'y'");
    CHECK_ERR("[t] x = 1\n", "cfg.toml:1:5: expected end of line after table header, found 'x'");
    CHECK_ERR("[t\n", "cfg.toml:1:3: expected ']' to close the table header, found end of line");
    CHECK_ERR("[]\n", "cfg.toml:1:2: expected a key, found ']'");
    CHECK_ERR("a = hello\n", "cfg.toml:1:5: expected a value, found 'hello' (strings need quotes)");
    CHECK_ERR("a = @\n", "cfg.toml:1:5: expected a value, found '@'");
    CHECK_ERR("a = \xc3\xa9\n", "cfg.toml:1:5: expected a value, found '\xc3\xa9'");
    /* unsupported features */
    CHECK_ERR("a = { b = 1 }\n", "cfg.toml:1:5: inline tables are not supported");
    CHECK_ERR("x = 1\n[[runs]]\n", "cfg.toml:2:1: arrays of tables ([[...]]) are not supported");
    CHECK_ERR("a = \"\"\"multi\"\"\"\n", "cfg.toml:1:5: multi-line strings are not supported");
    CHECK_ERR("a = '''multi'''\n", "cfg.toml:1:5: multi-line strings are not supported");
    CHECK_ERR("d = 1979-05-27\n", "cfg.toml:1:5: dates and times are not supported ('1979-05-27')");
    CHECK_ERR("d = 1979-05-27T07:32:00Z\n", "cfg.toml:1:5: dates and times are not supported ('1979-05-27T07:32:00Z')");
    CHECK_ERR("t = 07:32:00\n", "cfg.toml:1:5: dates and times are not supported ('07:32:00')");
    /* duplicates and redefinitions */
    CHECK_ERR("[model]\ndim = 1\nn = 2\ndim = 3\n", "cfg.toml:4:1: duplicate key 'model.dim' (first set at line 2)");
    CHECK_ERR("a = 1\n\"a\" = 2\n", "cfg.toml:2:1: duplicate key 'a' (first set at line 1)");
    CHECK_ERR("a.b = 1\na . b = 2\n", "cfg.toml:2:1: duplicate key 'a.b' (first set at line 1)");
    CHECK_ERR("[model]\nx = 1\n[optim]\n[model]\n", "cfg.toml:4:1: table 'model' defined twice (first at line 1)");
    CHECK_ERR("[a.b]\n[a]\n[a]\n", "cfg.toml:3:1: table 'a' defined twice (first at line 2)");
    CHECK_ERR("a = 1\n[a]\n", "cfg.toml:2:1: cannot define table 'a': 'a' is a value (set at line 1)");
    CHECK_ERR("a = 1\n[a.b]\n", "cfg.toml:2:1: cannot define table 'a.b': 'a' is a value (set at line 1)");
    CHECK_ERR("[x]\na.b = 1\n[x.a]\n", "cfg.toml:3:1: table 'x.a' was already defined by dotted keys (at line 2)");
    CHECK_ERR("a = 1\na.b = 2\n", "cfg.toml:2:1: key 'a.b': 'a' is already a value (set at line 1)");
    CHECK_ERR("a.b = 1\na = 2\n", "cfg.toml:2:1: key 'a' is already a table (defined by dotted keys at line 1)");
    CHECK_ERR("[t.u]\n[t]\nu = 1\n", "cfg.toml:3:1: key 't.u' is already a table (defined by the [table] header at line 1)");
    CHECK_ERR("[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n",
              "cfg.toml:4:1: dotted key 'a.b.c.t' may not add to table 'a.b' (created by the [table] header at line 1)");
    /* integers */
    CHECK_ERR("n = 99999999999999999999\n", "cfg.toml:1:5: integer 99999999999999999999 out of range");
    CHECK_ERR("n = 9223372036854775808\n", "cfg.toml:1:5: integer 9223372036854775808 out of range");
    CHECK_ERR("n = -9223372036854775809\n", "cfg.toml:1:5: integer -9223372036854775809 out of range");
    CHECK_ERR("n = 0x8000000000000000\n", "cfg.toml:1:5: integer 0x8000000000000000 out of range");
    CHECK_ERR("n = 012\n", "cfg.toml:1:5: leading zeros are not allowed in '012'");
    CHECK_ERR("n = -007\n", "cfg.toml:1:5: leading zeros are not allowed in '-007'");
    CHECK_ERR("n = 01.5\n", "cfg.toml:1:5: leading zeros are not allowed in '01.5'");
    CHECK_ERR("n = 1__000\n", "cfg.toml:1:5: invalid number '1__000' (misplaced '_')");
    CHECK_ERR("n = 1000_\n", "cfg.toml:1:5: invalid number '1000_' (misplaced '_')");
    CHECK_ERR("n = _1\n", "cfg.toml:1:5: expected a value, found '_1' (strings need quotes)");
    CHECK_ERR("n = +0x10\n", "cfg.toml:1:5: a sign is not allowed on '+0x10'");
    CHECK_ERR("n = 0x\n", "cfg.toml:1:5: invalid number '0x'");
    CHECK_ERR("n = 0b102\n", "cfg.toml:1:5: invalid number '0b102'");
    CHECK_ERR("n = 0X10\n", "cfg.toml:1:5: invalid number '0X10'");
    CHECK_ERR("n = 12abc\n", "cfg.toml:1:5: invalid number '12abc'");
    CHECK_ERR("n = -\n", "cfg.toml:1:5: invalid number '-'");
    CHECK_ERR("n = +", "cfg.toml:1:5: invalid number '+'");   /* a sign at the very end of the input */
    CHECK_ERR("n = 1234567890123456789012345678901234567890123456789\n",
              "cfg.toml:1:5: integer 1234567890123456789012345678901234567890... out of range");
    /* floats */
    CHECK_ERR("f = 1.\n", "cfg.toml:1:5: invalid number '1.'");
    CHECK_ERR("f = .5\n", "cfg.toml:1:5: invalid number '.5'");
    CHECK_ERR("f = 1.e5\n", "cfg.toml:1:5: invalid number '1.e5'");
    CHECK_ERR("f = 1e\n", "cfg.toml:1:5: invalid number '1e'");
    CHECK_ERR("f = 1e_5\n", "cfg.toml:1:5: invalid number '1e_5'");
    CHECK_ERR("f = 1.5.2\n", "cfg.toml:1:5: invalid number '1.5.2'");
    CHECK_ERR("f = 1e999\n", "cfg.toml:1:5: float 1e999 out of range");
    CHECK_ERR("f = infinity\n", "cfg.toml:1:5: expected a value, found 'infinity' (strings need quotes)");
    CHECK_ERR("f = NaN\n", "cfg.toml:1:5: expected a value, found 'NaN' (strings need quotes)");
    CHECK_ERR("b = True\n", "cfg.toml:1:5: expected a value, found 'True' (strings need quotes)");
    /* strings */
    CHECK_ERR("s = \"abc\n", "cfg.toml:1:5: unterminated string");
    CHECK_ERR("s = 'abc", "cfg.toml:1:5: unterminated string");
    CHECK_ERR("x = 1\ns = \"a\\qb\"\n", "cfg.toml:2:7: bad escape '\\q' in string");
    CHECK_ERR("s = \"a\\\xc3\xa9\"\n", "cfg.toml:1:7: bad escape '\\\xc3\xa9' in string");
    CHECK_ERR("s = \"a\\x41\"\n", "cfg.toml:1:7: bad escape '\\x' in string");
    CHECK_ERR("s = \"a\\\n\"\n", "cfg.toml:1:7: bad escape: '\\' at the end of the line");
    CHECK_ERR("s = \"\\u12\"\n", "cfg.toml:1:6: bad unicode escape: \\u needs 4 hex digits");
    CHECK_ERR("s = \"\\U0001F60\"\n", "cfg.toml:1:6: bad unicode escape: \\U needs 8 hex digits");
    CHECK_ERR("s = \"\\uD800\"\n", "cfg.toml:1:6: bad unicode escape: U+D800 is not a Unicode scalar value");
    CHECK_ERR("s = \"\\U00110000\"\n", "cfg.toml:1:6: bad unicode escape: U+110000 is not a Unicode scalar value");
    CHECK_ERR("s = \"\\u0000\"\n", "cfg.toml:1:6: strings may not contain NUL (\\u0000)");
    /* keys */
    CHECK_ERR("\"\" = 1\n", "cfg.toml:1:1: empty quoted key");
    CHECK_ERR("\"a.b\" = 1\n", "cfg.toml:1:1: quoted key may not contain '.' (nmoe flattens keys to dotted paths)");
    CHECK_ERR("\"a\\nb\" = 1\n", "cfg.toml:1:1: quoted key may not contain control characters");
    CHECK_ERR("a.\"b\n", "cfg.toml:1:3: unterminated string");
    /* arrays */
    CHECK_ERR("a = [1, 2\n", "cfg.toml:1:5: unterminated array");
    CHECK_ERR("a = [1 2]\n", "cfg.toml:1:8: expected ',' or ']' in array, found '2'");
    CHECK_ERR("a = [,]\n", "cfg.toml:1:6: expected a value, found ','");
    CHECK_ERR("a = [1,,2]\n", "cfg.toml:1:8: expected a value, found ','");
    CHECK_ERR("a = [\n  1,\n  {x = 1}\n]\n", "cfg.toml:3:3: inline tables are not supported");
    /* raw bytes: control characters, bare CR, invalid UTF-8 (columns count characters) */
    CHECK_ERR("a = \"x\x01y\"\n", "cfg.toml:1:7: control character U+0001 is not allowed (inside a string, write it as an escape)");
    CHECK_ERR("# comment \x7f\n", "cfg.toml:1:11: control character U+007F is not allowed (inside a string, write it as an escape)");
    CHECK_ERR_N("a = 1\nb = \"\0\"\n", 12, "cfg.toml:2:6: control character U+0000 is not allowed (inside a string, write it as an escape)");
    CHECK_ERR("a = 1\rb = 2\n", "cfg.toml:1:6: bare carriage return (lines must end in \\n or \\r\\n)");
    CHECK_ERR("a = \"\xc3\xa9\xff\"\n", "cfg.toml:1:7: invalid UTF-8 byte 0xff");
    CHECK_ERR("a = \"\xc0\xaf\"\n", "cfg.toml:1:6: invalid UTF-8 byte 0xc0");       /* overlong */
    CHECK_ERR("a = \"\xed\xa0\x80\"\n", "cfg.toml:1:6: invalid UTF-8 byte 0xed");   /* surrogate */
    CHECK_ERR("a = \"\xf4\x90\x80\x80\"\n", "cfg.toml:1:6: invalid UTF-8 byte 0xf4"); /* > U+10FFFF */
    CHECK_ERR("a = \"\xe2\x82", "cfg.toml:1:6: invalid UTF-8 byte 0xe2");           /* truncated */
    CHECK_ERR("# \x80\n", "cfg.toml:1:3: invalid UTF-8 byte 0x80");
}

static void test_file(void)
{
    char path[] = "/tmp/nmoe-test-toml-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *text = "[model]\ndim = 64\n\n[model]\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    char err[512];
    CHECK(toml_parse_file(path, err, sizeof err) == NULL);
    char expected[600];
    snprintf(expected, sizeof expected, "%s:4:1: table 'model' defined twice (first at line 1)", path);
    CHECK_STR(err, expected);
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0);
    text = "[model]\ndim = 64\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    TomlDoc *d = toml_parse_file(path, err, sizeof err);
    CHECK(d != NULL);
    if (d) {
        CHECK_EQ_INT(get_int(d, "model.dim"), 64);
        CHECK_STR(toml_filename(d), path);
        toml_free(d);
    }
    unlink(path);
    CHECK(toml_parse_file("/nonexistent/nmoe.toml", err, sizeof err) == NULL);
    CHECK_STR(err, "/nonexistent/nmoe.toml: No such file or directory");
    CHECK(toml_parse_file("/tmp", err, sizeof err) == NULL);
    CHECK_STR(err, "/tmp: read failed: Is a directory");
}

int main(void)
{
    test_realistic_config();
    test_keys_and_tables();
    test_strings();
    test_numbers();
    test_arrays();
    test_layout();
    test_errors();
    test_file();
    CHECK_STR(toml_type_name(TOML_STRING), "string");
    CHECK_STR(toml_type_name(TOML_INT), "integer");
    CHECK_STR(toml_type_name(TOML_FLOAT), "float");
    CHECK_STR(toml_type_name(TOML_BOOL), "boolean");
    CHECK_STR(toml_type_name(TOML_ARRAY), "array");
    return check_report("test_toml");
}
