/* test_config.c: the TOML -> Config mapping: defaults, flat keys and [model]/[train]/
 * [data] tables, every kind of error naming the key (and file:line:col), --set
 * overrides, the relations config_check enforces (MoE ones included), the canonical
 * JSON form and which keys the fingerprint covers. */
#include "check.h"
#include "train/config.h"
#include "base/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[] = "/tmp/nmoe_test_config_XXXXXX";

static const char *write_cfg(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loading `text` must fail with exactly `expected` (the path prefix replaced by "F"). */
static void expect_load_error(const char *text, const char *expected)
{
    Config c;
    config_defaults(&c);
    char err[512];
    const char *path = write_cfg("bad.toml", text);
    bool ok = config_load_file(&c, path, err, sizeof err);
    CHECK(!ok);
    if (ok) return;
    char want[600];
    snprintf(want, sizeof want, "%s%s", path, expected);
    CHECK_STR(err, want);
}

static void expect_set_error(const char *assignment, const char *expected)
{
    Config c;
    config_defaults(&c);
    char err[512];
    CHECK(!config_set(&c, assignment, err, sizeof err));
    CHECK_STR(err, expected);
}

static void expect_check_error(const char *assignment1, const char *assignment2, const char *expected)
{
    Config c;
    config_defaults(&c);
    char err[512];
    CHECK(config_set(&c, assignment1, err, sizeof err));
    if (assignment2) CHECK(config_set(&c, assignment2, err, sizeof err));
    CHECK(!config_check(&c, "cfg", err, sizeof err));
    CHECK_STR(err, expected);
}

int main(void)
{
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    char err[512];
    Config c;
    config_defaults(&c);
    CHECK(config_check(&c, "defaults", err, sizeof err));
    CHECK_EQ_INT(c.vocab_size, 50257);
    CHECK_EQ_INT(config_kv_heads(&c), c.n_heads);
    CHECK_EQ_INT(config_micro_batch(&c), c.batch_size);

    /* Flat keys and tables map to the same names; ints are accepted for floats. */
    const char *good =
        "# a config\n"
        "seed = 7\n"
        "[model]\n"
        "dim = 64\n"
        "n_heads = 4\n"
        "n_kv_heads = 2\n"
        "rope_theta = 500\n"
        "[train]\n"
        "lr_dense = 1e-3\n"
        "loss_mask_eos = false\n"
        "micro_batch_size = 4\n"
        "[data]\n"
        "data_path = \"run/data\"\n";
    CHECK(config_load_file(&c, write_cfg("good.toml", good), err, sizeof err));
    CHECK_EQ_INT(c.seed, 7);
    CHECK_EQ_INT(c.dim, 64);
    CHECK_EQ_INT(config_kv_heads(&c), 2);
    CHECK_EQ_INT(config_head_dim(&c), 16);
    CHECK(c.rope_theta == 500.0);
    CHECK(c.lr_dense == 1e-3);
    CHECK(!c.loss_mask_eos);
    CHECK_STR(c.data_path, "run/data");
    CHECK(config_check(&c, "good", err, sizeof err));

    /* Errors in the file name the key and where it is. */
    expect_load_error("dimm = 3\n", ":1:8: unknown key 'dimm' (did you mean 'dim'?)");
    expect_load_error("[optim]\nlr = 3\n", ":2:6: unknown key 'optim.lr' (keys go at top level or in [model], [train], [data])");
    expect_load_error("dim = \"big\"\n", ":1:7: dim: expected an integer, got a string");
    expect_load_error("dim = 1.5\n", ":1:7: dim: expected an integer, got a float");
    expect_load_error("lr_dense = \"x\"\n", ":1:12: lr_dense: expected a number, got a string");
    expect_load_error("resume = 1\n", ":1:10: resume: expected true or false, got an integer");
    expect_load_error("data_path = [1]\n", ":1:13: data_path: expected a string, got an array");
    expect_load_error("dim = 0\n", ":1:7: dim: 0 is out of range [1, 65536]");
    expect_load_error("adam_eps = 0.0\n", ":1:12: adam_eps: 0 must be > 0");
    expect_load_error("adam_beta2 = 1.0\n", ":1:14: adam_beta2: 1 must be < 1");
    expect_load_error("lr_dense = -1\n", ":1:12: lr_dense: -1 must be >= 0");
    expect_load_error("lr_dense = inf\n", ":1:12: lr_dense: must be a finite number");
    expect_load_error("router_score = \"relu\"\n", ":1:16: router_score: 'relu' is not one of: sigmoid, softmax");
    expect_load_error("dim = 64\n[model]\ndim = 32\n", ":3:7: dim: given twice (first at line 1)");
    /* A TOML syntax error comes through with its position. */
    Config d;
    config_defaults(&d);
    const char *p = write_cfg("syntax.toml", "dim = = 3\n");
    CHECK(!config_load_file(&d, p, err, sizeof err));
    CHECK(strstr(err, "syntax.toml:1:") != NULL);
    CHECK(!config_load_file(&d, "/nonexistent/x.toml", err, sizeof err));
    CHECK(strstr(err, "/nonexistent/x.toml") != NULL);

    /* --set */
    Config s;
    config_defaults(&s);
    CHECK(config_set(&s, "lr_dense=1e30", err, sizeof err));
    CHECK(s.lr_dense == 1e30);
    CHECK(config_set(&s, "model.n_layers=2", err, sizeof err));
    CHECK_EQ_INT(s.n_layers, 2);
    CHECK(config_set(&s, "resume=true", err, sizeof err));
    CHECK(s.resume);
    CHECK(config_set(&s, "out_dir=a b=c", err, sizeof err));
    CHECK_STR(s.out_dir, "a b=c");
    CHECK(config_set(&s, "data_path=", err, sizeof err));
    CHECK_STR(s.data_path, "");
    expect_set_error("dim", "--set dim: expected key=value");
    expect_set_error("=3", "--set =3: expected key=value");
    expect_set_error("dim=abc", "--set dim=abc: dim: expected an integer");
    expect_set_error("dim=", "--set dim=: dim: expected an integer");
    expect_set_error("dim=-4", "--set dim=-4: dim: -4 is out of range [1, 65536]");
    expect_set_error("lr_dense=fast", "--set lr_dense=fast: lr_dense: expected a number");
    expect_set_error("lr_dense=nan", "--set lr_dense=nan: lr_dense: must be a finite number");
    expect_set_error("resume=yes", "--set resume=yes: resume: expected true or false");
    expect_set_error("n_layer=3", "--set n_layer=3: unknown key 'n_layer' (did you mean 'n_layers'?)");
    expect_set_error("zzzzzzzz=3", "--set zzzzzzzz=3: unknown key 'zzzzzzzz'");

    /* Relations between keys. */
    expect_check_error("n_routed_experts=2", "n_activated_experts=3", "cfg: n_activated_experts (3) must not exceed n_routed_experts (2)");
    expect_check_error("dim=100", "n_heads=3", "cfg: dim (100) must be a multiple of n_heads (3)");
    expect_check_error("dim=12", "n_heads=4", "cfg: dim / n_heads (3) must be even for rotary embeddings");
    expect_check_error("n_heads=4", "n_kv_heads=3", "cfg: n_heads (4) must be a multiple of n_kv_heads (3)");
    expect_check_error("vocab_size=4096", NULL, "cfg: eos_token_id (50256) must be below vocab_size (4096), or -1 for none");
    expect_check_error("batch_size=10", "micro_batch_size=4", "cfg: batch_size (10) must be a multiple of micro_batch_size (4)");
    expect_check_error("lr_dense=1e-5", NULL, "cfg: decay_floor (3e-05) must not exceed lr_dense (1e-05)");

    /* Canonical JSON: every key, in table order, shortest round-trip numbers. */
    Config a;
    config_defaults(&a);
    char *json = config_to_json(&a, false);
    CHECK(strncmp(json, "{\"vocab_size\":50257,\"dim\":128,", 30) == 0);
    CHECK(strstr(json, "\"lr_dense\":0.00034,") != NULL);
    CHECK(strstr(json, "\"rope_theta\":10000.0,") != NULL);
    CHECK(strstr(json, "\"router_score\":\"sigmoid\",") != NULL);
    CHECK(strstr(json, "\"loss_mask_eos\":true,") != NULL);
    CHECK(strstr(json, "\"out_dir\":\"out\"") != NULL);
    CHECK(json[strlen(json) - 1] == '}');
    size_t n_keys = 0;
    for (const char *q = json; (q = strstr(q, "\":")); q++) n_keys++;
    CHECK_EQ_INT(n_keys, config_key_count());
    free(json);
    char *fp_json = config_to_json(&a, true);
    CHECK(strstr(fp_json, "\"steps\"") == NULL && strstr(fp_json, "\"out_dir\"") == NULL);
    CHECK(strstr(fp_json, "\"lr_dense\"") != NULL && strstr(fp_json, "\"seed\"") != NULL);
    free(fp_json);

    /* The fingerprint follows the trajectory keys and ignores the operational ones. */
    char h0[17], h1[17];
    config_fingerprint_hex(&a, h0);
    CHECK_EQ_INT(strlen(h0), 16);
    Config b = a;
    CHECK(config_set(&b, "steps=5", err, sizeof err) && config_set(&b, "out_dir=elsewhere", err, sizeof err) &&
          config_set(&b, "resume=true", err, sizeof err) && config_set(&b, "log_every=1", err, sizeof err));
    config_fingerprint_hex(&b, h1);
    CHECK_STR(h0, h1);
    CHECK(config_set(&b, "lr_dense=0.0003400000000000001", err, sizeof err));
    config_fingerprint_hex(&b, h1);
    CHECK(strcmp(h0, h1) != 0);
    /* A value set to what it already was leaves the fingerprint alone. */
    Config e = a;
    CHECK(config_set(&e, "seed=42", err, sizeof err));
    config_fingerprint_hex(&e, h1);
    CHECK_STR(h0, h1);
    /* The dials added after checkpoints existed are in the fingerprint only when set
     * off their default: the defaults' canonical form does not name them (so older
     * fingerprints stand), another value does, and out-of-range values name the key. */
    fp_json = config_to_json(&a, true);
    CHECK(strstr(fp_json, "ffn_activation") == NULL);
    free(fp_json);
    CHECK(config_set(&e, "ffn_activation=swiglu", err, sizeof err));
    config_fingerprint_hex(&e, h1);
    CHECK_STR(h0, h1);
    CHECK(config_set(&e, "ffn_activation=relu2", err, sizeof err));
    config_fingerprint_hex(&e, h1);
    CHECK(strcmp(h0, h1) != 0);
    fp_json = config_to_json(&e, true);
    CHECK(strstr(fp_json, "\"ffn_activation\":\"relu2\"") != NULL);
    free(fp_json);
    CHECK(!config_set(&e, "ffn_activation=gelu", err, sizeof err) && strstr(err, "ffn_activation") != NULL);

    /* Every key has help text and a section. */
    for (size_t i = 0; i < config_key_count(); i++) {
        const ConfigKey *k = config_key_at(i);
        CHECK(k->help && *k->help && k->section);
        CHECK(config_key_find(k->name) == k);
    }
    CHECK(config_key_find("nope") == NULL);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    return check_report("test_config");
}
