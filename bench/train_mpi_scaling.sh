#!/usr/bin/env bash
# train_mpi_scaling.sh: nmoe-train's data parallelism over MPI on this machine. Tokens
# per second of one process on one thread (the peer), of mpirun -np 2 with one thread
# per rank, of the same with ZeRO-1 (zero_stage = 1: the optimizer sharded, the
# parameters all-gathered after each step; with its optimizer_state_bytes per rank), and
# of one process on 2 threads (the other way to use 2 cores), all on the
# same config and global batch in the same run; the speed-up of N ranks over N times
# one rank; and the share of the ranks' step time spent communicating and waiting
# (the train lines' rank_comm_ms / rank_wait_ms, nmoe-metrics(5)). The metric streams
# must agree bit for bit (time apart), else the bench fails.
#
#   bash bench/train_mpi_scaling.sh                 (after make)
#   BENCH_STEPS=40 BENCH_DIM=256 bash bench/train_mpi_scaling.sh   [defaults: 15 steps, dim 96]
#
# The figures depend on the cores: the ranks and their shared-memory transport need one
# core each, and on a machine with 2 cores shared with other work the ranks are also
# descheduled, which the timings count as communication or waiting.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$top/bin:$top/build/testtools:$PATH"
steps=${BENCH_STEPS:-15}
dim=${BENCH_DIM:-96}
warmup=3
for p in nmoe-train nmoe-shard mktokstream mpirun; do
    command -v $p >/dev/null || { echo "missing $p: run make, make unit and make deps"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
export OMPI_MCA_btl=self,vader OMPI_MCA_plm=isolated OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mktokstream --docs 2000 --vocab 4096 --zipf --max-len 600 --seed 7 | nmoe-shard pack -q --val-fraction 0.05 -o data
cat >bench.toml <<TOML
[model]
vocab_size = 4096
dim = $dim
n_layers = 4
n_heads = 4
n_kv_heads = 4
inter_dim = $((dim * 4))
seq_len = 128
[train]
batch_size = 16
micro_batch_size = 4
steps = $steps
seed = 1
log_every = 1
validation_every = 0
checkpoint_every = 0
[data]
data_path = "data"
eos_token_id = 0
out_dir = "out"
TOML

run() { # LABEL THREADS RANKS [ARGS...]
    local label=$1 threads=$2 ranks=$3
    shift 3
    rm -rf out
    if [ "$ranks" = 1 ]; then
        OMP_NUM_THREADS=$threads nmoe-train -q bench.toml "$@" >"$label.ndjson"
    else
        OMP_NUM_THREADS=$threads mpirun --oversubscribe --allow-run-as-root -np "$ranks" nmoe-train -q bench.toml "$@" \
            >"$label.ndjson"
    fi
}
run one 1 1
run dp2 1 2
run zero2 1 2 --set zero_stage=1
run thr2 2 1
strip() { sed -e 's/,"time":{[^}]*}//' -e 's/"run":"[0-9a-f]*"/"run":""/' "$1" | grep -v '"kind":"meta"'; }
cmp -s <(strip one.ndjson) <(strip dp2.ndjson) || { echo "FAIL: -np 2 stream differs from one process's"; exit 1; }
cmp -s <(strip one.ndjson) <(strip zero2.ndjson) || { echo "FAIL: -np 2 ZeRO-1 stream differs from one process's"; exit 1; }
cmp -s <(strip one.ndjson) <(strip thr2.ndjson) || { echo "FAIL: 2 threads' stream differs from 1 thread's"; exit 1; }

python3 - "$warmup" one.ndjson dp2.ndjson thr2.ndjson zero2.ndjson <<'PY'
import json, os, sys
warm = int(sys.argv[1])
def lines(p):
    return [json.loads(l) for l in open(p) if '"kind":"train"' in l]
def rate(ls):
    a = next(l for l in ls if l["step"] == warm); b = ls[-1]
    return (b["tokens"] - a["tokens"]) / (b["time"]["elapsed_s"] - a["time"]["elapsed_s"])
one, dp2, thr2, zero2 = (lines(p) for p in sys.argv[2:6])
r1, r2, rt, rz = rate(one), rate(dp2), rate(thr2), rate(zero2)
meta = json.loads(open(sys.argv[3]).readline())
zmeta = json.loads(open(sys.argv[5]).readline())
print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (other work on the machine slows the ranks)")
print(f"model: {meta['n_params']} parameters, {meta['tokens_per_step']} tokens a step (4 micro-batches), {len(one)} steps")
print(f"1 process, 1 thread       {r1:10.0f} tok/s   (the peer)")
print(f"mpirun -np 2, 1 thread    {r2:10.0f} tok/s   {r2 / (2 * r1):.2f} of 2 x one rank  ({r2 / r1:.2f}x one)")
def shares(run):
    after = [l for l in run if l["step"] > warm]
    for r in range(meta["ranks"]):
        step = sum(l["time"]["step_ms"] for l in after)
        comm = sum(l["time"]["rank_comm_ms"][r] for l in after)
        wait = sum(l["time"]["rank_wait_ms"][r] for l in after)
        comp = sum(l["time"]["rank_compute_ms"][r] for l in after)
        print(f"  rank {r}: compute {100 * comp / step:5.1f}%  communication {100 * comm / step:5.1f}%  "
              f"waiting {100 * wait / step:5.1f}% of step time ({step / len(after):.1f} ms a step)")
shares(dp2)
print(f"mpirun -np 2, ZeRO-1      {rz:10.0f} tok/s   {rz / (2 * r1):.2f} of 2 x one rank  ({rz / r2:.2f}x -np 2 without)")
print(f"  optimizer state per rank: {zmeta['optimizer_state_bytes']} bytes with ZeRO-1, "
      f"{meta['optimizer_state_bytes']} without ({zmeta['optimizer_state_bytes'] / meta['optimizer_state_bytes']:.2f})")
shares(zero2)
print(f"1 process, 2 threads      {rt:10.0f} tok/s   {rt / r1:.2f}x one")
print("streams: -np 2 (ZeRO-1 on and off) and 2 threads equal to one process, bit for bit")
PY
