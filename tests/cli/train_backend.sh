#!/usr/bin/env bash
# The backend seam from the outside: the meta line names the backend that ran and
# describes it; backend = "cuda" in a build without CUDA is a configuration error (exit
# 2) naming why, from the config key, from --backend and from nmoe-eval --backend, and
# never a quiet CPU run (no metric line, no checkpoint). Train lines of an MoE run carry
# every group's learning rate and the bias-update step applied, and those follow the
# schedule: warmup (step + 1) / warmup_steps of each peak, the bias step the rate times
# lr_router / peak (router_bias_schedule).
. "$(dirname "$0")/moe_common.bash"
make_shakespeare
write_moe_config

# The suite's programs are the CPU build (cuda_build.sh checks the CUDA build's refusal).
for how in "--backend cuda" "--set backend=cuda"; do
    rc=0
    nmoe-train -q moe.toml $how --set steps=2 --set out_dir=out_cuda >cuda.ndjson 2>cuda.err || rc=$?
    [ $rc = 2 ] || fail "$how: exit $rc, expected 2 (config error)"
    grep -q 'backend "cuda": this build has no CUDA backend' cuda.err || fail "$how: message: $(cat cuda.err)"
    [ ! -s cuda.ndjson ] || fail "$how: wrote metric lines: $(head -c 200 cuda.ndjson)"
    [ ! -e out_cuda ] || fail "$how: wrote $(ls out_cuda)"
done
printf '[train]\nbackend = "tpu"\n' >bad.toml
rc=0; nmoe-train -q bad.toml 2>bad.err || rc=$?
[ $rc = 2 ] && grep -q 'backend' bad.err || fail "backend = tpu: exit $rc: $(cat bad.err)"

OMP_NUM_THREADS=1 nmoe-train -q moe.toml --backend cpu --set steps=8 --set log_every=1 \
    --set router_bias_schedule=true --set lr_expert=2e-3 >run.ndjson
meta=$(head -n 1 run.ndjson)
echo "$meta" | grep_all '"backend":"cpu"' || fail "meta line does not name the backend"
echo "$meta" | grep_all '"backend_describe":"cpu: fp32, OpenBLAS' || fail "meta line does not describe the backend"
/usr/bin/python3 - run.ndjson <<'PY' || fail "the train lines' rates do not follow the schedule"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
train = [l for l in lines if l["kind"] == "train"]
assert len(train) == 8, len(train)
peak = {"lr": 3e-3, "lr_expert": 2e-3, "lr_router": 3e-2}
for t in train:
    s = t["step"] - 1                 # the step's 0-based index
    scale = min(1.0, (s + 1) / 5)     # warmup_steps = 5, then the hold
    for k, p in peak.items():
        assert abs(t[k] - p * scale) <= 1e-15 * p, (t["step"], k, t[k], p * scale)
    # The bias step is computed in float: 2e-2 * (lr_router / peak).
    want = 2e-2 * scale
    assert abs(t["router_bias_step"] - want) <= 1e-7 * want, (t["step"], t["router_bias_step"], want)
print("rates follow the schedule over", len(train), "steps")
PY

# nmoe-eval: the same refusal, and a checkpoint the CPU backend wrote reads back.
rc=0
nmoe-eval bpb --ckpt out --data data --tokenizer tok.json --backend cuda >/dev/null 2>eval.err || rc=$?
[ $rc = 2 ] && grep -q 'no CUDA backend' eval.err || fail "nmoe-eval --backend cuda: exit $rc: $(cat eval.err)"
nmoe-eval bpb --ckpt out --data data --tokenizer tok.json --backend cpu >bpb.ndjson
grep -q '"task":"bpb"' bpb.ndjson || fail "nmoe-eval --backend cpu: $(cat bpb.ndjson)"
echo "backend: meta line, refusals and schedules ok"
