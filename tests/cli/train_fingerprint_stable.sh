#!/usr/bin/env bash
# Checkpoints written by earlier builds stay readable: a fingerprinted key added later
# (config.h fingerprint_if_set) enters the fingerprint only when set away from its
# default. 212325159287aebc is the fingerprint that nmoe-train built at 75cc70f (before
# expert_precision, router_precision, embed_gain and logit_gain existed) gave the demo's
# config, as its checkpoints record it; setting one of those keys changes it.
. "$(dirname "$0")/train_common.bash"
fp() { nmoe-train "$NMOE_TOP/configs/tiny_moe.toml" --set data_path=run/demo/data --set out_dir=run/demo/train "$@" \
    --print-config | sed -E 's/^\{"fingerprint":"([0-9a-f]{16})".*/\1/'; }
[ "$(fp)" = 212325159287aebc ] || fail "the demo config's fingerprint changed: $(fp), was 212325159287aebc"
for kv in expert_precision=nvfp4 router_precision=bf16 embed_gain=2 logit_gain=0.5; do
    [ "$(fp --set "$kv")" != 212325159287aebc ] || fail "$kv does not enter the fingerprint"
done
[ "$(fp --set expert_precision=fp32 --set logit_gain=1)" = 212325159287aebc ] ||
    fail "keys set to their defaults changed the fingerprint"
echo "ok: old fingerprints stand; new keys count when set"
