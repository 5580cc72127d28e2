/* test_config_precision.c: the precision and gain keys of issue 14 (precision,
 * expert_precision, router_precision, embed_gain, logit_gain): defaults, accepted
 * values, errors naming the key, the fingerprint, the model shape they give, and the
 * refusals of precision = bf16 where it is not implemented. */
#include "check.h"
#include "base/error.h"
#include "model/backend.h"
#include "model/model.h"
#include "quant/quant.h"
#include "train/config.h"

static void expect_set_error(const char *assignment, const char *expected)
{
    Config c;
    config_defaults(&c);
    char err[512] = "";
    CHECK(!config_set(&c, assignment, err, sizeof err));
    CHECK_STR(err, expected);
}

int main(void)
{
    Config c;
    config_defaults(&c);
    CHECK_STR(c.expert_precision, "fp32");
    CHECK_STR(c.router_precision, "fp32");
    CHECK(c.embed_gain == 1.0 && c.logit_gain == 1.0);
    CHECK(config_key_find("expert_precision") && config_key_find("expert_precision")->fingerprinted);
    CHECK(config_key_find("router_precision") && config_key_find("router_precision")->fingerprinted);
    CHECK(config_key_find("embed_gain") && config_key_find("embed_gain")->fingerprinted);
    CHECK(config_key_find("logit_gain") && config_key_find("logit_gain")->fingerprinted);

    /* every format the library knows is a value of the key, and the shape gets it */
    char err[512];
    for (int f = 0; f < QUANT_FORMAT_COUNT; f++) {
        char set[64];
        snprintf(set, sizeof set, "expert_precision=%s", quant_format_name((QuantFormat)f));
        config_defaults(&c);
        CHECK(config_set(&c, set, err, sizeof err));
        CHECK_EQ_INT(model_shape_from_config(&c).expert_precision, f);
    }
    config_defaults(&c);
    const uint64_t fp0 = config_fingerprint(&c);
    CHECK(config_set(&c, "model.expert_precision=nvfp4", err, sizeof err));
    CHECK(config_fingerprint(&c) != fp0);
    CHECK(config_set(&c, "router_precision=bf16", err, sizeof err));
    CHECK(config_set(&c, "embed_gain=2.5", err, sizeof err));
    CHECK(config_set(&c, "logit_gain=0.125", err, sizeof err));
    ModelShape s = model_shape_from_config(&c);
    CHECK_EQ_INT(s.expert_precision, QUANT_NVFP4);
    CHECK_EQ_INT(s.router_bf16, 1);
    CHECK(s.embed_gain == 2.5f && s.logit_gain == 0.125f);
    config_defaults(&c);
    CHECK(config_set(&c, "logit_gain=3", err, sizeof err));
    CHECK(config_fingerprint(&c) != fp0);

    /* precision: fp32 by default, bf16 in the shape; fingerprinted only when set away
     * from fp32, so every fingerprint from before the key stays as it was */
    config_defaults(&c);
    CHECK_STR(c.precision, "fp32");
    CHECK(config_key_find("precision") && config_key_find("precision")->fingerprinted &&
          config_key_find("precision")->fingerprint_if_set);
    CHECK_STR(config_key_find("precision")->section, "model");
    CHECK_EQ_INT(model_shape_from_config(&c).model_bf16, 0);
    CHECK(config_set(&c, "precision=fp32", err, sizeof err));
    CHECK(config_fingerprint(&c) == fp0);
    CHECK(config_set(&c, "model.precision=bf16", err, sizeof err));
    CHECK_STR(c.precision, "bf16");
    CHECK(config_fingerprint(&c) != fp0);
    s = model_shape_from_config(&c);
    CHECK_EQ_INT(s.model_bf16, 1);
    CHECK_EQ_INT(s.expert_precision, QUANT_FP32);
    CHECK_EQ_INT(s.router_bf16, 0);
    CHECK(config_check(&c, "cfg", err, sizeof err));
    /* the refusals name the key: the CUDA backend, and MLA */
    char why[512] = "";
    CHECK(backend_supports("cpu", &s, why, sizeof why));
    CHECK(!backend_supports("cuda", &s, why, sizeof why));
    CHECK(strstr(why, "precision \"bf16\" is not in the CUDA backend") != NULL);
    s.model_bf16 = 0;
    CHECK(backend_supports("cuda", &s, why, sizeof why));
    CHECK(config_set(&c, "attention=mla", err, sizeof err));
    CHECK(config_set(&c, "n_kv_heads=0", err, sizeof err));
    CHECK(!config_check(&c, "cfg", err, sizeof err));
    CHECK_STR(err, "cfg: precision \"bf16\" is not implemented with attention = \"mla\" (MLA's products run in fp32 "
                   "only); use precision = \"fp32\" or attention = \"mha\"");
    CHECK(config_set(&c, "precision=fp32", err, sizeof err));
    CHECK(config_check(&c, "cfg", err, sizeof err));

    /* errors name the key */
    expect_set_error("precision=fp16", "--set precision=fp16: precision: 'fp16' is not one of: fp32, bf16");
    expect_set_error("expert_precision=fp8",
                     "--set expert_precision=fp8: expert_precision: 'fp8' is not one of: fp32, bf16, fp8_e4m3, mxfp8, mxfp4, nvfp4");
    expect_set_error("router_precision=fp8_e4m3",
                     "--set router_precision=fp8_e4m3: router_precision: 'fp8_e4m3' is not one of: fp32, bf16");
    expect_set_error("embed_gain=0", "--set embed_gain=0: embed_gain: 0 must be > 0");
    expect_set_error("logit_gain=-1", "--set logit_gain=-1: logit_gain: -1 must be > 0");
    expect_set_error("logit_gain=2e6", "--set logit_gain=2e6: logit_gain: 2e+06 must be <= 1e+06");
    expect_set_error("embed_gain=nan", "--set embed_gain=nan: embed_gain: must be a finite number");

    return check_report("test_config_precision");
}
