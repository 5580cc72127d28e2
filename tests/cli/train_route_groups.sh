#!/usr/bin/env bash
# Group-limited routing (DeepSeek-V3's n_expert_groups / n_limited_groups) from the
# outside: the keys are listed, inconsistent values are refused naming the key (exit 2),
# the CUDA backend refuses the dial before writing anything, a tiny MoE trains with 2
# groups of 4 experts and 1 kept, resumes bit for bit, routes differently than without
# the limit, keeps its router lines, and nmoe-eval routes its checkpoint.
. "$(dirname "$0")/train_common.bash"
make_data
write_config

nmoe-train --list-keys >keys.txt
for k in n_expert_groups n_limited_groups; do
    grep -q "^$k " keys.txt || fail "--list-keys lacks $k"
done

moe=(--set n_routed_experts=8 --set n_activated_experts=2 --set n_shared_experts=1 --set n_dense_layers=1
     --set moe_inter_dim=16 --set router_bias_update_rate=0.01)
expect_fail 2 "n_expert_groups (3) must divide n_routed_experts (8)" \
    nmoe-train -q tiny.toml "${moe[@]}" --set n_expert_groups=3
expect_fail 2 "n_limited_groups (3) must not exceed n_expert_groups (2)" \
    nmoe-train -q tiny.toml "${moe[@]}" --set n_expert_groups=2 --set n_limited_groups=3
expect_fail 2 "n_limited_groups (1) groups of 1 experts hold fewer than n_activated_experts (2)" \
    nmoe-train -q tiny.toml "${moe[@]}" --set n_expert_groups=8 --set n_limited_groups=1
expect_fail 2 "n_expert_groups: 0 is out of range [1, 65536]" nmoe-train -q tiny.toml "${moe[@]}" --set n_expert_groups=0
expect_fail 2 "n_limited_groups: 0 is out of range [1, 65536]" nmoe-train -q tiny.toml "${moe[@]}" --set n_limited_groups=0
expect_fail 2 'backend "cuda": n_expert_groups 2 (group-limited routing) is not in the CUDA backend' \
    nmoe-train -q tiny.toml "${moe[@]}" --set n_expert_groups=2 --backend cuda --set out_dir=out_cuda
[ ! -e out_cuda ] || fail "groups on cuda: wrote $(ls out_cuda)"

check_resume grouped "${moe[@]}" --set n_expert_groups=2 --set n_limited_groups=1
check_resume plain "${moe[@]}"
grep -q '"kind":"router"' grouped_a.ndjson || fail "grouped: no router lines"
grep -q '"entropy"' <<<"$(grep '"kind":"router"' grouped_a.ndjson)" || fail "grouped: router lines lack entropy: $(grep -m1 '"kind":"router"' grouped_a.ndjson)"
[ "$(grep '"step":12,"loss"' grouped_a.ndjson)" != "$(grep '"step":12,"loss"' plain_a.ndjson)" ] \
    || fail "group-limited routing changed nothing"
# n_expert_groups = 1, set explicitly, is the default bit for bit.
nmoe-train -q tiny.toml "${moe[@]}" --set n_expert_groups=1 --set out_dir=out_one >one.ndjson
diff <(grep '"kind":"train"' one.ndjson | sed 's/"time":{[^}]*}//; s/"run":"[0-9a-f]*"//') <(grep '"kind":"train"' plain_a.ndjson | sed 's/"time":{[^}]*}//; s/"run":"[0-9a-f]*"//') \
    || fail "n_expert_groups = 1 differs from the default"
# A checkpoint of another routing is not resumed as this one.
nmoe-train tiny.toml "${moe[@]}" --resume out_grouped_a >/dev/null 2>fp.err && fail "resumed grouped as ungrouped"
grep -q 'n_expert_groups' fp.err || fail "refusal does not name n_expert_groups: $(cat fp.err)"

nmoe-eval router --ckpt out_grouped_a --data data >router.ndjson 2>router.err || fail "nmoe-eval router: $(cat router.err)"
grep -q '"kind":"router"' router.ndjson || fail "nmoe-eval router: $(head -c 300 router.ndjson)"
echo "group-limited routing: keys, refusals, training, resume and eval ok"
