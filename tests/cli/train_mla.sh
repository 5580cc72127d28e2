#!/usr/bin/env bash
# attention = "mla" (DeepSeek-V2's multi-head latent attention, kernels/cpu/mla.h) from
# the outside: the keys are listed, bad values and inconsistent dims are refused naming
# the key (exit 2), backend = "cuda" refuses it before writing anything, a tiny dense and
# a tiny MoE model train with it (loss finite and falling), the checkpoint carries
# DeepSeek's tensor names (and no wk/wv), a resumed run matches an uninterrupted one bit
# for bit, the MLA keys move the fingerprint while the default (mha) does not, and
# nmoe-eval bpb reads the checkpoint.
. "$(dirname "$0")/train_common.bash"
make_data
write_config

nmoe-train --list-keys >keys.txt
for k in attention q_lora_rank kv_lora_rank qk_nope_head_dim qk_rope_head_dim v_head_dim; do
    grep -q "^$k " keys.txt || fail "--list-keys lacks $k"
done

mla=(--set attention=mla --set n_kv_heads=0 --set kv_lora_rank=16 --set qk_nope_head_dim=8
     --set qk_rope_head_dim=4 --set v_head_dim=8)
expect_fail 2 "attention: 'gqa' is not one of: mha, mla" nmoe-train -q tiny.toml --set attention=gqa
expect_fail 2 "qk_rope_head_dim (5) must be even" nmoe-train -q tiny.toml "${mla[@]}" --set qk_rope_head_dim=5
expect_fail 2 "kv_lora_rank is an MLA dimension" nmoe-train -q tiny.toml --set kv_lora_rank=16
expect_fail 2 "q_lora_rank is an MLA dimension" nmoe-train -q tiny.toml --set q_lora_rank=8
expect_fail 2 "n_kv_heads (2): attention = \"mla\" has no grouped-query heads" \
    nmoe-train -q tiny.toml --set attention=mla
# The mha attention dials do not reach MLA's attention: refused, naming the dial.
for d in qk_norm=true attn_sinks=true "attn_global_every=2 --set attn_local_window=4" \
         "rope_scaling=yarn --set rope_factor=2 --set rope_original_seq_len=16"; do
    # shellcheck disable=SC2086
    expect_fail 2 "${d%%=*} is a dial of attention = \"mha\"" nmoe-train -q tiny.toml "${mla[@]}" --set $d
done
expect_fail 2 "kv_lora_rank: -1 is out of range [0, 65536]" nmoe-train -q tiny.toml "${mla[@]}" --set kv_lora_rank=-1
expect_fail 2 'backend "cuda": attention "mla" is not in the CUDA backend' \
    nmoe-train -q tiny.toml "${mla[@]}" --backend cuda --set out_dir=out_cuda
[ ! -e out_cuda ] || fail "mla on cuda: wrote $(ls out_cuda)"

# The fingerprint: unchanged by the default, changed by attention = mla.
fp() { nmoe-train --print-config "$@" | grep -o '"fingerprint":"[0-9a-f]*"'; }
[ "$(fp tiny.toml)" = "$(fp tiny.toml --set attention=mha)" ] || fail "attention = mha moved the fingerprint"
[ "$(fp tiny.toml)" != "$(fp tiny.toml "${mla[@]}")" ] || fail "attention = mla left the fingerprint"

check_resume mla "${mla[@]}"
check_resume mla_q "${mla[@]}" --set q_lora_rank=12 --set attn_window=8
# MoE with MLA and the default dims (kv_lora_rank 4 d, rope d / 2).
check_resume moe_mla --set attention=mla --set n_kv_heads=0 --set n_routed_experts=8 --set n_activated_experts=2 \
    --set n_shared_experts=1 --set n_dense_layers=1 --set moe_inter_dim=16 --set router_bias_update_rate=0.01

# The loss falls (first against last train line) and is finite.
first=$(grep '"kind":"train"' mla_a.ndjson | sed -n 1p | grep -o '"loss":[0-9.e+-]*' | cut -d: -f2)
last=$(grep '"kind":"train"' mla_a.ndjson | tail -n 1 | grep -o '"loss":[0-9.e+-]*' | cut -d: -f2)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || fail "mla: loss $first -> $last did not fall"
# Different from the mha run of the same config.
nmoe-train -q tiny.toml --set n_kv_heads=0 --set out_dir=out_mha >mha.ndjson
[ "$(grep '"step":12,"loss"' mha.ndjson)" != "$(grep '"step":12,"loss"' mla_a.ndjson)" ] || fail "mla ran as mha"

# DeepSeek's names in the checkpoint; no mha projections.
ck=out_mla_q_a/step-00000012/model.bin
for t in wq_a q_norm wq_b wkv_a kv_norm wkv_b wo; do
    grep -a -q "\"layers.1.attn.$t.weight\"" "$ck" || fail "mla_q: the checkpoint lacks layers.1.attn.$t.weight"
done
n=$({ grep -a -o '"layers\.[0-9]*\.attn\.w[qkv]\.weight"' "$ck" || true; } | wc -l)
[ "$n" = 0 ] || fail "mla_q: the checkpoint has $n wq/wk/wv tensors"
grep -a -q '"layers.0.attn.wq.weight"' out_mla_a/step-00000012/model.bin || fail "mla (q_lora_rank 0): no wq"
# Resuming with the other attention is refused naming the key.
nmoe-train tiny.toml "${mla[@]}" --set q_lora_rank=12 --set attn_window=8 --resume out_mla_a >/dev/null 2>fp.err \
    && fail "resumed with another q_lora_rank"
grep -qF 'q_lora_rank' fp.err || fail "refusal does not name q_lora_rank: $(cat fp.err)"

# nmoe-eval scores the checkpoint (its shape from the checkpoint's config).
nmoe-eval router --ckpt out_moe_mla_a --data data >router.ndjson 2>router.err || fail "nmoe-eval router on MLA: $(cat router.err)"
grep -q '"kind":"router"' router.ndjson || fail "nmoe-eval router on MLA: $(head -c 300 router.ndjson)"
echo "mla: keys, refusals, training, checkpoints and resume ok"
