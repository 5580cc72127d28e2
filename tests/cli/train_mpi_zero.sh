#!/usr/bin/env bash
# ZeRO-1 (nmoe-train(1) DATA PARALLEL, zero_stage): with zero_stage = 1 each rank holds
# the optimizer moments of its part of the parameters and updates that part, then the
# parameters are all-gathered; -np 1, 2 and 4, with zero on and off, give one process's
# metric stream bit for bit (train, val, router, checkpoint and stop lines) and the same
# checkpoint contents, on an MoE model with AdamW and with Muon (whose matrices stay
# whole on one rank), and with expert parallel. A ZeRO checkpoint resumes with zero off
# and on another rank count, and a plain one with zero on, with the same steps after.
# The meta line's optimizer_state_bytes halves at -np 2 and is the same with zero off.
. "$(dirname "$0")/train_mpi_common.bash"
make_data
write_config
# 4 micro-batches of 2 a step: 1, 2 or 4 ranks take 4, 2 or 1 of them.
moe=(--set batch_size=8 --set steps=8 --set n_routed_experts=8 --set n_activated_experts=2 --set n_shared_experts=1
     --set n_dense_layers=0 --set moe_inter_dim=24 --set router_bias_update_rate=0.01 --set capacity_factor=1.1
     --set log_every=2 --set aux_loss_alpha=0.001)
files_hashes() { grep -o '"files":{[^}]*}' "$1/step-00000008/state.json"; }
state_bytes() { grep -o '"optimizer_state_bytes":[0-9]*' "$1" | cut -d: -f2; }

for opt in adamw muon; do
    o=(--set optimizer=$opt)
    nmoe-train -q tiny.toml "${moe[@]}" "${o[@]}" --set out_dir=one-$opt >one-$opt.ndjson
    runs=("2 0" "2 1" "4 1")
    [ $opt = adamw ] && runs+=("1 1")
    for run in "${runs[@]}"; do
        set -- $run
        name=np$1-z$2-$opt
        mpi "$1" -q tiny.toml "${moe[@]}" "${o[@]}" --set zero_stage="$2" --set out_dir=$name >$name.ndjson
        diff <(global_lines one-$opt.ndjson) <(global_lines $name.ndjson) \
            || fail "$opt: -np $1 zero_stage = $2 differs from one process"
        [ "$(files_hashes one-$opt)" = "$(files_hashes $name)" ] || fail "$opt -np $1 zero_stage = $2: checkpoint differs"
    done
done
[ "$(grep -c '"kind":"router"' np4-z1-adamw.ndjson)" = 8 ] || fail "expected 8 router lines (4 windows x 2 blocks)"
[ "$(grep -c '"kind":"val"' np4-z1-adamw.ndjson)" = 3 ] || fail "expected 3 val lines (steps 0, 4, 8)"

# The memory the option saves, on the meta line: the whole moments at zero_stage = 0
# (whatever the rank count), half of them per rank at -np 2 (AdamW cuts anywhere), and
# the largest rank's share at -np 4 with Muon (its matrices whole) between a quarter and
# the whole.
whole=$(state_bytes one-adamw.ndjson)
n_params=$(grep -o '"n_params":[0-9]*' one-adamw.ndjson | cut -d: -f2)
[ "$whole" = $((8 * n_params)) ] || fail "optimizer_state_bytes $whole is not 2 moments x 4 bytes x $n_params"
[ "$(state_bytes np2-z0-adamw.ndjson)" = "$whole" ] || fail "zero_stage = 0 at -np 2: not the whole moments"
half=$(state_bytes np2-z1-adamw.ndjson)
[ $((2 * half)) -ge "$whole" ] && [ $((2 * half)) -le $((whole + 8)) ] || fail "-np 2 zero: $half bytes, not half of $whole"
q=$(state_bytes np4-z1-muon.ndjson)
[ $((4 * q)) -ge "$whole" ] && [ "$q" -lt "$whole" ] || fail "-np 4 zero muon: $q bytes of $whole"

# With expert parallel: the same bits.
mpi 2 -q tiny.toml "${moe[@]}" --set zero_stage=1 --set expert_parallel=2 --set out_dir=ep >ep.ndjson
diff <(global_lines one-adamw.ndjson) <(global_lines ep.ndjson) || fail "zero_stage = 1 with expert_parallel = 2 differs"

# Resume: a ZeRO checkpoint (-np 4) with zero off on 2 ranks, and one process's (zero
# off) with zero on on 2 ranks: the steps after are one process's.
mpi 2 -q tiny.toml "${moe[@]}" --set out_dir=r1 --resume np4-z1-adamw/step-00000004 >r1.ndjson
diff <(after_step 4 one-adamw.ndjson | norm_paths) <(after_step 4 r1.ndjson | norm_paths) \
    || fail "-np 4 zero then -np 2 without: steps after 4 differ"
mpi 2 -q tiny.toml "${moe[@]}" --set zero_stage=1 --set out_dir=r2 --resume one-adamw/step-00000004 >r2.ndjson
diff <(after_step 4 one-adamw.ndjson | norm_paths) <(after_step 4 r2.ndjson | norm_paths) \
    || fail "one process then -np 2 zero: steps after 4 differ"
mpi 4 -q tiny.toml "${moe[@]}" --set optimizer=muon --set zero_stage=1 --set out_dir=r3 \
    --resume np2-z1-muon/step-00000004 >r3.ndjson
diff <(after_step 4 one-muon.ndjson | norm_paths) <(after_step 4 r3.ndjson | norm_paths) \
    || fail "muon: -np 2 zero then -np 4 zero: steps after 4 differ"

# A config key that does not change the math: not in the fingerprint; out of range refused.
fp() { grep -o '"fingerprint":"[0-9a-f]*"' "$1" | sed -n 1p; }
[ "$(fp one-adamw.ndjson)" = "$(fp np2-z1-adamw.ndjson)" ] || fail "zero_stage changed the fingerprint"
rc=0
nmoe-train -q tiny.toml --set zero_stage=2 --set out_dir=x2 >x2.out 2>x2.err || rc=$?
[ $rc -eq 2 ] && grep -q "zero_stage" x2.err || { cat x2.err >&2; fail "zero_stage = 2: exit $rc, expected 2 naming the key"; }
rc=0
nmoe-train -q tiny.toml --set zero_stage=1 --set backend=cuda --set out_dir=xc >xc.out 2>xc.err || rc=$?
[ $rc -eq 2 ] && grep -qF 'backend "cuda": zero_stage 1 is not in the CUDA backend' xc.err \
    || { cat xc.err >&2; fail "backend cuda with zero_stage = 1: exit $rc"; }
echo "train_mpi_zero: ok"
