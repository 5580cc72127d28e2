#!/usr/bin/env bash
# pipelines/dense_vs_moe.mk on a tiny dense model and a tiny MoE of the same active FFN
# width (48 = (1 shared + 2 routed) x 16): both train on the same tokens, the table
# gives the parameter and FLOP counts of the documented formula (recomputed here by
# hand), the PNG is drawn; configs that are not matched are refused, naming the key,
# unless ALLOW_MISMATCH=1.
source "$NMOE_TOP/tests/cli/train_common.bash"
require_tools jq gnuplot
make_data
write_config
sed -e 's/^inter_dim = 64$/inter_dim = 48/' -e 's/^checkpoint_every = 4$/checkpoint_every = 0/' tiny.toml >dense.toml
sed 's/^inter_dim = 48$/inter_dim = 48\nn_dense_layers = 1\nn_routed_experts = 8\nn_shared_experts = 1\nn_activated_experts = 2\nmoe_inter_dim = 16/' \
    dense.toml >moe.toml
grep -q '^moe_inter_dim = 16$' moe.toml || fail "moe.toml: the MoE keys were not added"
dvm() { make -s -f "$NMOE_TOP/pipelines/dense_vs_moe.mk" DATA=data TRAIN_FLAGS="--threads 1" "$@"; }

dvm DENSE=dense.toml MOE=moe.toml SET="steps=6" OUT=cmp -j2 >table.out
# By hand: dim 32, 4 heads of 8, 2 kv heads, 2 blocks, vocab 256, seq_len 32.
# Attention 32*32*2 + 32*16*2 = 3072 per block; FFN 3*32*48 = 4608; head 32*256 = 8192.
# dense: 2*(3072+4608) + 8192 = 23552; moe: + the router of block 1, 32*8 = 256.
# FLOPs/token = 6 N + 6*2*32*(4*8) = 6 N + 12288; tokens = 6 steps * 4 * 32 = 768.
grep -q '^| dense | [0-9]* | 23552 | 153600 | 768 | 117964800 | [0-9.]* | [0-9.]* | [0-9.]* | [0-9]* |$' table.out ||
    { cat table.out; fail "the dense row"; }
grep -q '^| moe | [0-9]* | 23808 | 155136 | 768 | 119144448 | [0-9.]* | [0-9.]* | [0-9.]* | [0-9]* |$' table.out ||
    { cat table.out; fail "the moe row"; }
# The same tokens: the same steps, batch and data in both resolved configs.
for k in steps batch_size seq_len seed data_path; do
    [ "$(jq -c "select(.kind == \"meta\") | .config.$k" cmp/dense/metrics.ndjson)" = \
      "$(jq -c "select(.kind == \"meta\") | .config.$k" cmp/moe/metrics.ndjson)" ] || fail "$k differs"
done
[ "$(jq -c 'select(.kind == "meta") | .config.steps' cmp/moe/metrics.ndjson)" = 6 ] || fail "SET did not reach the runs"
[ "$(head -c 8 cmp/compare.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "compare.png is not a PNG"
[ "$(stat -c %s cmp/compare.png)" -gt 10000 ] || fail "compare.png is too small to hold three panels"
grep -q '<tr><td>dense</td><td>[0-9]*</td><td>23552</td>' cmp/index.html && grep -q '<img src="compare.png"' cmp/index.html ||
    fail "cmp/index.html lacks the table or the plot"

# Not matched: a wider expert, a different seed.
sed 's/^moe_inter_dim = 16$/moe_inter_dim = 32/' moe.toml >wide.toml
expect_fail 2 "active FFN width per block is [48,48] in cmp/dense/metrics.ndjson but [48,96] in cmp/moe/metrics.ndjson" \
    dvm DENSE=dense.toml MOE=wide.toml SET="steps=2" OUT=cmp
sed 's/^seed = 3$/seed = 4/' moe.toml >seed.toml
expect_fail 2 "seed is 3 in cmp2/dense/metrics.ndjson but 4 in cmp2/moe/metrics.ndjson" \
    dvm DENSE=dense.toml MOE=seed.toml SET="steps=2" OUT=cmp2
dvm DENSE=dense.toml MOE=seed.toml SET="steps=2" OUT=cmp2 ALLOW_MISMATCH=1 >allowed.out 2>allowed.err
grep -q "warning: not a matched comparison" allowed.err || fail "ALLOW_MISMATCH=1 gave no warning"
grep -q '^| moe |' allowed.out || fail "ALLOW_MISMATCH=1 gave no table"
echo "ok: dense_vs_moe.mk trains matched models, counts their FLOPs and refuses unmatched ones"
