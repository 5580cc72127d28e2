#!/usr/bin/env bash
# Expert parallel (nmoe-train(1) EXPERT PARALLEL): mpirun -np 2 with expert_parallel = 2
# (each rank computes 4 of the 8 experts of every block for both ranks' tokens, over
# MPI_Alltoall(v)) gives one process's metric stream bit for bit: losses, gradient norms,
# router lines (global loads, biases, drops under a capacity factor, aux loss, router
# gradient norm), validation and checkpoints; so does -np 4 with two groups of 2 and with
# one group of 4. A checkpoint of an expert-parallel run resumes as one process (and one
# process's at -np 2 with expert_parallel = 2) with the same steps after. Values that do
# not fit, and backend = "cuda", are refused, naming expert_parallel.
. "$(dirname "$0")/train_mpi_common.bash"
make_data
write_config
moe=(--set batch_size=8 --set steps=8 --set n_routed_experts=8 --set n_activated_experts=2 --set n_shared_experts=1
     --set n_dense_layers=0 --set moe_inter_dim=24 --set router_bias_update_rate=0.01 --set capacity_factor=1.1
     --set log_every=2 --set log_router_grad_norm=true --set aux_loss_alpha=0.001 --set z_loss=0.001
     --set router_z_loss=0.01)
nmoe-train -q tiny.toml "${moe[@]}" --set out_dir=one >one.ndjson
for run in "2 2" "4 2" "4 4"; do
    set -- $run
    mpi "$1" -q tiny.toml "${moe[@]}" --set expert_parallel="$2" --set out_dir=np$1-ep$2 >np$1-ep$2.ndjson
    diff <(global_lines one.ndjson) <(global_lines np$1-ep$2.ndjson) \
        || fail "-np $1 expert_parallel = $2 differs from one process"
done
[ "$(grep -c '"kind":"router"' np2-ep2.ndjson)" = 8 ] || fail "expected 8 router lines (4 windows x 2 blocks)"
files_hashes() { grep -o '"files":{[^}]*}' "$1/step-00000008/state.json"; }
[ "$(files_hashes one)" = "$(files_hashes np2-ep2)" ] || fail "-np 2 expert_parallel = 2 checkpoint differs"
# The all-to-alls are communication: every rank reports some.
python3 - np2-ep2.ndjson <<'PY' || fail "rank timings"
import json, sys
for l in map(json.loads, open(sys.argv[1])):
    if l["kind"] == "train":
        t = l["time"]
        assert len(t["rank_comm_ms"]) == 2 and all(x > 0 for x in t["rank_comm_ms"]), t
PY

# Resume across layouts: the expert-parallel run's step 4 as one process, one process's
# step 4 as -np 2 expert_parallel = 2.
nmoe-train -q tiny.toml "${moe[@]}" --set out_dir=r1 --resume np2-ep2/step-00000004 >r1.ndjson
diff <(after_step 4 one.ndjson | norm_paths) <(after_step 4 r1.ndjson | norm_paths) \
    || fail "expert parallel then one process: steps after 4 differ"
mpi 2 -q tiny.toml "${moe[@]}" --set expert_parallel=2 --set out_dir=r2 --resume one/step-00000004 >r2.ndjson
diff <(after_step 4 one.ndjson | norm_paths) <(after_step 4 r2.ndjson | norm_paths) \
    || fail "one process then expert parallel: steps after 4 differ"

# Refusals, before anything runs (exit 2, the key named, no metric stream).
refused() { # NAME EXPECTED-MESSAGE COMMAND...
    local name=$1 msg=$2 rc=0
    shift 2
    "$@" >$name.out 2>$name.err || rc=$?
    [ $rc -eq 2 ] || { cat $name.err >&2; fail "$name: exited $rc, expected 2"; }
    grep -qF -- "$msg" $name.err || { cat $name.err >&2; fail "$name: no message \"$msg\""; }
    [ ! -s $name.out ] || fail "$name wrote a metric stream"
}
refused ep3 "expert_parallel (3) must divide n_routed_experts (8)" \
    mpi 2 -q tiny.toml "${moe[@]}" --set expert_parallel=3 --set out_dir=x3
refused ranks "expert_parallel = 2 must divide the number of ranks (1)" \
    nmoe-train -q tiny.toml "${moe[@]}" --set expert_parallel=2 --set out_dir=x1
refused ranks3 "expert_parallel = 4 must divide the number of ranks (2)" \
    mpi 2 -q tiny.toml "${moe[@]}" --set expert_parallel=4 --set out_dir=x4
refused dense "expert_parallel = 2 needs an MoE model" \
    mpi 2 -q tiny.toml --set batch_size=8 --set steps=2 --set expert_parallel=2 --set out_dir=xd
refused quant "expert_parallel > 1 runs the experts in fp32 only" \
    mpi 2 -q tiny.toml "${moe[@]}" --set expert_parallel=2 --set expert_precision=bf16 --set out_dir=xq
refused cuda 'backend "cuda": expert_parallel 2 is not in the CUDA backend' \
    nmoe-train -q tiny.toml "${moe[@]}" --set expert_parallel=2 --set backend=cuda --set out_dir=xc
refused zero "expert_parallel" nmoe-train -q tiny.toml "${moe[@]}" --set expert_parallel=0 --set out_dir=x0
echo "train_mpi_ep: ok"
