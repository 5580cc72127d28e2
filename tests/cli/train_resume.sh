#!/usr/bin/env bash
# Resuming gives the metrics of a run that never stopped, bit for bit (apart from
# "time"): from the latest checkpoint of an out_dir (--resume DIR and resume = true),
# from an older checkpoint directory, and after a kill -9 in the middle of a run. A
# resumed run appends to its --metrics file. And an MoE model (F): the routing biases,
# their update and the open router-telemetry window resume too, so the router lines
# match, also when a checkpoint falls inside a log interval.
. "$(dirname "$0")/train_common.bash"
make_data
write_config

# A: 12 steps without stopping.
nmoe-train -q tiny.toml --set out_dir=out_a >a.ndjson

# B: 8 steps, then resume from out_b's latest to 12, appending to the same file.
nmoe-train -q tiny.toml --set out_dir=out_b --set steps=8 --metrics b.ndjson
[ "$(cat out_b/latest)" = step-00000008 ] || fail "latest is not step-00000008"
nmoe-train -q tiny.toml --set out_dir=out_b --resume out_b --metrics b.ndjson
[ "$(grep -c '"kind":"meta"' b.ndjson)" = 2 ] || fail "resume did not append to the metrics file"
grep '"kind":"meta"' b.ndjson | tail -n 1 | grep_all '"resumed_from":"out_b/step-00000008"' || fail "meta lacks resumed_from"
diff <(after_step 8 a.ndjson | norm_paths) <(after_step 8 b.ndjson | norm_paths) || fail "--resume: steps after 8 differ"

# C: resume = true in the config continues from out_dir by itself.
nmoe-train -q tiny.toml --set out_dir=out_c --set steps=4 >/dev/null
nmoe-train -q tiny.toml --set out_dir=out_c --set resume=true >c.ndjson
diff <(after_step 4 a.ndjson | norm_paths) <(after_step 4 c.ndjson | norm_paths) || fail "resume=true: steps after 4 differ"
# resume = true with nothing to resume from starts fresh.
nmoe-train -q tiny.toml --set out_dir=out_fresh --set resume=true >f.ndjson
diff <(strip_time a.ndjson | grep -v '"kind":"meta"' | norm_paths) <(strip_time f.ndjson | grep -v '"kind":"meta"' | norm_paths) \
    || fail "resume=true on an empty out_dir differs from a fresh run"

# D: an older checkpoint directory, given explicitly.
nmoe-train -q tiny.toml --set out_dir=out_d --resume out_a/step-00000004 >d.ndjson
diff <(after_step 4 a.ndjson | norm_paths) <(after_step 4 d.ndjson | norm_paths) || fail "resume from step 4: differs"

# A checkpoint of step 0 (steps = 0 writes one and stops) resumes into the whole run.
nmoe-train -q tiny.toml --set out_dir=out_z --set steps=0 >z.ndjson
[ "$(cat out_z/latest)" = step-00000000 ] || fail "steps=0 wrote no step-0 checkpoint"
nmoe-train -q tiny.toml --set out_dir=out_z --resume out_z >z2.ndjson
diff <(after_step 0 a.ndjson | norm_paths) <(after_step 0 z2.ndjson | norm_paths) || fail "resume from step 0: differs"

# E: kill -9 somewhere in a long run, resume from whatever `latest` names, and compare
# with an uninterrupted run of the same length.
nmoe-train -q tiny.toml --set out_dir=out_e --set steps=100000 --set checkpoint_every=5 --set validation_every=5 \
    --metrics e.ndjson &
pid=$!
for _ in $(seq 1 600); do
    grep -q '"kind":"checkpoint","run":"[0-9a-f]*","step":1[05]' e.ndjson 2>/dev/null && break
    sleep 0.05
done
kill -9 "$pid" 2>/dev/null || fail "the run ended before it could be killed"
wait "$pid" 2>/dev/null || true
k=$(sed 's/step-0*//' out_e/latest)
[ "$k" -ge 10 ] || fail "latest is step $k"
n=$((k + 6))
nmoe-train -q tiny.toml --set out_dir=out_e --set steps=$n --set checkpoint_every=5 --set validation_every=5 --resume out_e >e2.ndjson
nmoe-train -q tiny.toml --set out_dir=out_f --set steps=$n --set checkpoint_every=5 --set validation_every=5 >full.ndjson
diff <(after_step "$k" full.ndjson | norm_paths) <(after_step "$k" e2.ndjson | norm_paths) || fail "after kill -9 at step $k: differs"

# F: MoE, with checkpoints every 4 steps and router lines every 3 (windows cross
# checkpoints), a centred, scheduled, clamped bias update, and a capacity factor.
moe=(--set n_routed_experts=8 --set n_activated_experts=2 --set n_shared_experts=1 --set n_dense_layers=1
     --set moe_inter_dim=16 --set router_bias_update_rate=0.01 --set router_bias_center=true
     --set router_bias_schedule=true --set router_bias_clamp=0.03 --set capacity_factor=1.25
     --set log_every=3 --set log_router_grad_norm=true)
nmoe-train -q tiny.toml "${moe[@]}" --set out_dir=out_ma >ma.ndjson
[ "$(grep -c '"kind":"router"' ma.ndjson)" = 4 ] || fail "MoE: expected 4 router lines"
grep '"kind":"router"' ma.ndjson | tail -n 1 | grep_all '"router_grad_norm":' || fail "MoE: router lines lack router_grad_norm"
nmoe-train -q tiny.toml "${moe[@]}" --set out_dir=out_mb --set steps=8 >mb.ndjson
nmoe-train -q tiny.toml "${moe[@]}" --set out_dir=out_mb --resume out_mb >>mb.ndjson
diff <(after_step 8 ma.ndjson | norm_paths) <(after_step 8 mb.ndjson | norm_paths) || fail "MoE resume from step 8: differs"
nmoe-train -q tiny.toml "${moe[@]}" --set out_dir=out_mc --resume out_ma/step-00000004 >mc.ndjson
diff <(after_step 4 ma.ndjson | norm_paths) <(after_step 4 mc.ndjson | norm_paths) || fail "MoE resume from step 4 (inside a window): differs"
echo "resume: ok (killed after checkpoint $k; MoE too)"
