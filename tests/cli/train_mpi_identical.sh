#!/usr/bin/env bash
# Data parallel over MPI (nmoe-train(1) DATA PARALLEL): mpirun -np 1, 2 and 4 with the
# same global batch give one process's metric stream bit for bit (train, val, router,
# checkpoint and stop lines; "time" apart), on a dense model and on an MoE model (loads,
# bias update, capacity drops, aux loss, router gradient norm); rank 0 alone writes the
# stream and the checkpoints; the train lines carry every rank's compute, communication
# and waiting; a batch that does not split over the ranks is refused, naming the keys.
. "$(dirname "$0")/train_mpi_common.bash"
make_data
write_config
# 4 micro-batches of 2 a step: 1, 2 or 4 ranks take 4, 2 or 1 of them.
dense=(--set batch_size=8 --set steps=8)
moe=(--set batch_size=8 --set steps=8 --set n_routed_experts=8 --set n_activated_experts=2 --set n_shared_experts=1
     --set n_dense_layers=0 --set moe_inter_dim=24 --set router_bias_update_rate=0.01 --set capacity_factor=1.1
     --set log_every=2 --set log_router_grad_norm=true --set aux_loss_alpha=0.001 --set z_loss=0.001
     --set router_z_loss=0.01)
for model in dense moe; do
    declare -n args=$model
    nmoe-train -q tiny.toml "${args[@]}" --set out_dir=one-$model >one-$model.ndjson
    for n in 1 2 4; do
        mpi "$n" -q tiny.toml "${args[@]}" --set out_dir=np$n-$model >np$n-$model.ndjson
        diff <(global_lines one-$model.ndjson) <(global_lines np$n-$model.ndjson) \
            || fail "$model: -np $n differs from one process"
        [ "$(cat np$n-$model/latest)" = step-00000008 ] || fail "$model -np $n: no final checkpoint"
    done
done
[ "$(grep -c '"kind":"router"' np4-moe.ndjson)" = 8 ] || fail "expected 8 router lines (4 windows x 2 blocks)"
# The checkpoints' contents (state.json's hashes of the weights and moments; the files
# themselves name their out_dir).
files_hashes() { grep -o '"files":{[^}]*}' "$1/step-00000008/state.json"; }
[ "$(files_hashes one-moe)" = "$(files_hashes np4-moe)" ] || fail "-np 4 checkpoint differs from one process's"

python3 - np4-dense.ndjson np1-dense.ndjson <<'PY' || fail "rank timings"
import json, sys
four = [json.loads(l) for l in open(sys.argv[1])]
assert four[0]["kind"] == "meta" and four[0]["ranks"] == 4
for l in four:
    if l["kind"] == "train":
        t = l["time"]
        for k in ("rank_compute_ms", "rank_comm_ms", "rank_wait_ms"):
            assert len(t[k]) == 4 and all(x >= 0 for x in t[k]), (k, t)
        assert all(x > 0 for x in t["rank_compute_ms"]) and all(x > 0 for x in t["rank_comm_ms"]), t
one = [json.loads(l) for l in open(sys.argv[2])]
assert "ranks" not in one[0] and all("rank_comm_ms" not in l.get("time", {}) for l in one)
PY

# 4 micro-batches do not split over 3 ranks (nor 2 over 4): refused before anything runs.
rc=0
mpi 3 -q tiny.toml "${dense[@]}" --set out_dir=np3 >np3.out 2>np3.err || rc=$?
[ $rc -eq 2 ] || { cat np3.err >&2; fail "-np 3 exited $rc, expected 2"; }
grep -q "batch_size = 8 with micro_batch_size = 2 is 4 micro-batches a step, which do not split over 3 ranks" np3.err \
    || { cat np3.err >&2; fail "-np 3: no message naming batch_size"; }
[ ! -s np3.out ] || fail "-np 3 wrote a metric stream"
echo "train_mpi_identical: ok"
