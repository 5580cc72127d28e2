#!/usr/bin/env bash
# optimizer = "muon" from the outside (issue 15): the keys are listed, bad values are
# refused naming the key (exit 2), backend = "cuda" refuses Muon before writing
# anything, a Muon run (dense, and MoE with the experts on Muon per expert or on AdamW)
# logs lr_muon and resumes bit for bit (12 steps straight against 8 + resume: its
# momentum is in the checkpoint), its stream does not depend on the thread count, a
# checkpoint of one optimizer is refused by a config of the other (naming both), and
# the per-group warmup and adam_beta2_expert change only what they should.
. "$(dirname "$0")/train_common.bash"
make_data
write_config

nmoe-train --list-keys >keys.txt
for k in optimizer lr_muon muon_momentum muon_nesterov muon_update_rms muon_experts adam_beta2_expert \
         warmup_steps_dense warmup_steps_expert warmup_steps_router warmup_steps_muon \
         decay_tokens_dense decay_tokens_expert decay_tokens_router decay_tokens_muon; do
    grep -q "^$k " keys.txt || fail "--list-keys lacks $k"
done

expect_fail 2 "optimizer: 'sgd' is not one of: adamw, muon" nmoe-train -q tiny.toml --set optimizer=sgd
expect_fail 2 "muon_momentum: 1 must be < 1" nmoe-train -q tiny.toml --set optimizer=muon --set muon_momentum=1
expect_fail 2 "muon_update_rms: 0 must be > 0" nmoe-train -q tiny.toml --set optimizer=muon --set muon_update_rms=0
expect_fail 2 "lr_muon: -0.1 must be >= 0" nmoe-train -q tiny.toml --set lr_muon=-0.1
expect_fail 2 "warmup_steps_router: -2 is out of range" nmoe-train -q tiny.toml --set warmup_steps_router=-2
expect_fail 2 "adam_beta2_expert: 1 must be < 1" nmoe-train -q tiny.toml --set adam_beta2_expert=1
expect_fail 2 'backend "cuda": optimizer "muon" is not in the CUDA backend (it has adamw only); use backend = "cpu"' \
    nmoe-train -q tiny.toml --set optimizer=muon --backend cuda --set out_dir=out_cuda
[ ! -e out_cuda ] || fail "muon on cuda: wrote $(ls out_cuda)"

moe=(--set n_routed_experts=8 --set n_activated_experts=2 --set n_shared_experts=1 --set n_dense_layers=1
     --set moe_inter_dim=16 --set router_bias_update_rate=0.01)
muon=(--set optimizer=muon --set lr_muon=0.01)

check_resume adamw "${moe[@]}"
check_resume dense "${muon[@]}"
check_resume moe "${moe[@]}" "${muon[@]}"
check_resume moe_adamexp "${moe[@]}" "${muon[@]}" --set muon_experts=false

# lr_muon on Muon runs' train lines only, under the schedule (warmup 3 steps).
[ "$(grep -c '"kind":"train".*"lr_muon":' moe_a.ndjson)" = 12 ] || fail "muon: train lines lack lr_muon"
! grep '"kind":"train"' adamw_a.ndjson | grep_all '"lr_muon"' || fail "adamw: lr_muon reported"
field() { grep "\"kind\":\"train\",\"run\":\"[0-9a-f]*\",\"step\":$2," "$1" | sed "s/.*\"$3\":\([^,}]*\).*/\1/"; }
awk -v x="$(field moe_a.ndjson 1 lr_muon)" 'BEGIN { d = x - (1e-4 + (0.01 - 1e-4) / 3); exit !(d < 1e-15 && d > -1e-15) }' \
    || fail "muon: step 1's lr_muon $(field moe_a.ndjson 1 lr_muon) is not 1e-4 + (0.01 - 1e-4) / 3"
# Different optimizers, different trajectories; the experts on AdamW differ from Muon's.
loss12() { grep '"kind":"train","run":"[0-9a-f]*","step":12,' "$1" | sed 's/.*"step":12,"loss":\([^,]*\),.*/\1/'; }
[ "$(loss12 moe_a.ndjson)" != "$(loss12 adamw_a.ndjson)" ] || fail "muon ran as adamw"
[ "$(loss12 moe_a.ndjson)" != "$(loss12 moe_adamexp_a.ndjson)" ] || fail "muon_experts = false changed nothing"
awk -v m="$(loss12 moe_a.ndjson)" 'BEGIN { exit !(m < 5.5) }' || fail "muon MoE did not learn: loss $(loss12 moe_a.ndjson)"

# The thread count changes no bit (the Newton-Schulz products on the fixed grid).
nmoe-train -q tiny.toml "${moe[@]}" "${muon[@]}" --threads 1 --set out_dir=out_t1 >t1.ndjson
diff <(after_step 0 t1.ndjson | norm_paths) <(after_step 0 moe_a.ndjson | norm_paths) \
    || fail "muon: 1 thread and the default differ"

# One optimizer's checkpoint, the other's config: refused, naming both.
nmoe-train -q tiny.toml "${moe[@]}" --resume out_moe_a >/dev/null 2>sw.err && fail "adamw resumed a muon checkpoint"
grep -qF 'a checkpoint of optimizer "muon", and this config has optimizer = "adamw"' sw.err || fail "refusal: $(cat sw.err)"
nmoe-train -q tiny.toml "${moe[@]}" "${muon[@]}" --resume out_adamw_a >/dev/null 2>sw.err && fail "muon resumed an adamw checkpoint"
grep -qF 'a checkpoint of optimizer "adamw", and this config has optimizer = "muon"' sw.err || fail "refusal: $(cat sw.err)"

# Per-group warmup: the router's over 6 steps while the rest warm over 3 (lr_router =
# lr_dense here): below lr at step 3 (1/2 against 1), equal once both are done.
nmoe-train -q tiny.toml "${moe[@]}" --set warmup_steps_router=6 --set out_dir=out_wr >wr.ndjson
awk -v r="$(field wr.ndjson 3 lr_router)" -v l="$(field wr.ndjson 3 lr)" 'BEGIN { exit !(r < l) }' \
    || fail "warmup_steps_router: lr_router $(field wr.ndjson 3 lr_router) not below lr $(field wr.ndjson 3 lr) at step 3"
[ "$(field wr.ndjson 7 lr_router)" = "$(field wr.ndjson 7 lr)" ] || fail "warmup_steps_router: rates differ after the warmup"
[ "$(field wr.ndjson 3 lr_expert)" = "$(field wr.ndjson 3 lr)" ] || fail "warmup_steps_router moved lr_expert"
# Per-group decay: the router's over 100 tokens from hold_tokens (640) reaches the floor
# (1e-4) by step 9 while the rest are still decaying over 1000; step 5 is in the hold.
nmoe-train -q tiny.toml "${moe[@]}" --set decay_tokens_router=100 --set out_dir=out_dr >dr.ndjson
[ "$(field dr.ndjson 5 lr_router)" = "$(field dr.ndjson 5 lr)" ] || fail "decay_tokens_router moved the hold"
awk -v r="$(field dr.ndjson 9 lr_router)" -v l="$(field dr.ndjson 9 lr)" 'BEGIN { exit !(r == 1e-4 && l > 1e-4) }' \
    || fail "decay_tokens_router: lr_router $(field dr.ndjson 9 lr_router), lr $(field dr.ndjson 9 lr) at step 9"
[ "$(field dr.ndjson 9 lr_expert)" = "$(field dr.ndjson 9 lr)" ] || fail "decay_tokens_router moved lr_expert"
expect_fail 2 "decay_tokens_muon: -2 is out of range" nmoe-train -q tiny.toml --set decay_tokens_muon=-2
# The defaults are the old behaviour: warmup_steps_<group> = warmup_steps and
# adam_beta2_expert = adam_beta2 given explicitly run the same stream as unset.
nmoe-train -q tiny.toml "${moe[@]}" --set warmup_steps_router=3 --set warmup_steps_expert=3 --set warmup_steps_dense=3 \
    --set decay_tokens_router=1000 --set decay_tokens_expert=1000 --set decay_tokens_dense=1000 --set adam_beta2_expert=0.95 --set out_dir=out_same >same.ndjson
diff <(after_step 0 same.ndjson | norm_paths) <(after_step 0 adamw_a.ndjson | norm_paths) >/dev/null \
    || fail "explicit defaults changed the run"
nmoe-train -q tiny.toml "${moe[@]}" --set adam_beta2_expert=0.999 --set out_dir=out_b2 >b2.ndjson
[ "$(loss12 b2.ndjson)" != "$(loss12 adamw_a.ndjson)" ] || fail "adam_beta2_expert changed nothing"
echo "muon: keys, refusals, resume, threads, optimizer switch and group warmups ok"
