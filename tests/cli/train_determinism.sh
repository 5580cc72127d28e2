#!/usr/bin/env bash
# The same config and seed give a bit-identical metric stream (apart from "time") on
# 1 and 2 threads and from run to run; also on a shape that exercises the tiling of
# the matrix products (sequences longer than a row tile and an attention block, a
# vocabulary wider than a column tile). The stream follows nmoe-metrics(5). And an MoE
# model (routing, grouped experts, bias update, router lines with a capacity factor and
# the gradient norm): the same on 1 and 2 threads, router lines as the schema says.
. "$(dirname "$0")/train_common.bash"
make_data
write_config

OMP_NUM_THREADS=1 nmoe-train -q tiny.toml --metrics a.ndjson
rm -rf out
OMP_NUM_THREADS=2 nmoe-train -q tiny.toml >b.ndjson
rm -rf out
nmoe-train -q -T 2 tiny.toml >c.ndjson
diff <(strip_time a.ndjson) <(strip_time b.ndjson) || fail "1 vs 2 threads differ"
diff <(strip_time b.ndjson) <(strip_time c.ndjson) || fail "two runs on 2 threads differ"

# What the stream holds: meta first, 12 train lines, val at 0, 4, 8, 12, checkpoints
# at 4, 8, 12, a closing stop; timing only under "time".
[ "$(head -n 1 a.ndjson | grep -c '"kind":"meta"')" = 1 ] || fail "first line is not meta"
[ "$(grep -c '"kind":"train"' a.ndjson)" = 12 ] || fail "expected 12 train lines"
[ "$(grep -c '"kind":"val"' a.ndjson)" = 4 ] || fail "expected 4 val lines"
[ "$(grep -c '"kind":"checkpoint"' a.ndjson)" = 3 ] || fail "expected 3 checkpoint lines"
tail -n 1 a.ndjson | grep_all '"kind":"stop".*"reason":"finished","status":0' || fail "no completed stop line"
python3 - a.ndjson <<'PY' || fail "metric stream schema"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
meta = lines[0]
for key in ("program", "version", "fingerprint", "config", "backend", "n_params"):
    assert key in meta, key
assert meta["backend"] == "cpu" and len(meta["fingerprint"]) == 16 and len(meta["run"]) == 16
assert meta["run"] != meta["fingerprint"] and meta["parent_run"] is None
assert meta["config"]["dim"] == 32 and meta["config"]["n_routed_experts"] == 0
for l in lines:
    assert isinstance(l["kind"], str) and l["run"] == meta["run"] and isinstance(l["step"], int), l
    if l["kind"] == "train":
        for key in ("loss", "lr", "grad_norm", "tokens", "time"):
            assert key in l, key
        assert l["tokens"] == l["step"] * 4 * 32
    if l["kind"] == "val":
        assert l["tokens"] > 0 and l["loss"] > 0
steps = [l["step"] for l in lines if l["kind"] == "train"]
assert steps == list(range(1, 13)), steps
PY

# A shape with several row and column tiles and attention blocks.
rm -rf out
args=(--set seq_len=300 --set vocab_size=1100 --set steps=3 --set batch_size=2 --set micro_batch_size=1
      --set validation_every=3 --set checkpoint_every=0)
OMP_NUM_THREADS=1 nmoe-train -q tiny.toml "${args[@]}" >d.ndjson
rm -rf out
OMP_NUM_THREADS=2 nmoe-train -q tiny.toml "${args[@]}" >e.ndjson
diff <(strip_time d.ndjson) <(strip_time e.ndjson) || fail "1 vs 2 threads differ on the larger shape"

# MoE: 1 vs 2 threads, and the router lines' schema.
rm -rf out
moe=(--set n_routed_experts=8 --set n_activated_experts=2 --set n_shared_experts=1 --set n_dense_layers=0
     --set moe_inter_dim=24 --set router_bias_update_rate=0.01 --set capacity_factor=1.1 --set log_every=4
     --set log_router_grad_norm=true --set aux_loss_alpha=0.001)
OMP_NUM_THREADS=1 nmoe-train -q tiny.toml "${moe[@]}" >f.ndjson
rm -rf out
OMP_NUM_THREADS=2 nmoe-train -q tiny.toml "${moe[@]}" >g.ndjson
diff <(strip_time f.ndjson) <(strip_time g.ndjson) || fail "MoE: 1 vs 2 threads differ"
python3 - f.ndjson <<'PY' || fail "MoE router line schema"
import json, math, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
router = [l for l in lines if l["kind"] == "router"]
assert [(l["step"], l["layer"]) for l in router] == [(s, b) for s in (4, 8, 12) for b in (0, 1)], router
for l in router:
    E, K = l["experts"], l["top_k"]
    assert (E, K) == (8, 2) and l["from_step"] == l["step"] - 3 and l["to_step"] == l["step"]
    assert l["tokens"] == 4 * 4 * 32 and sum(l["loads"]) == K * l["tokens"] and len(l["bias"]) == E
    mean = sum(l["loads"]) / E
    cv = 100 * math.sqrt(sum((x - mean) ** 2 for x in l["loads"]) / E) / mean
    p = [x / sum(l["loads"]) for x in l["loads"]]
    ent = -sum(q * math.log(q) for q in p if q > 0) / math.log(E)
    assert abs(cv - l["cv_pct"]) < 1e-9 and abs(ent - l["entropy"]) < 1e-12, l
    assert l["active"] == sum(1 for x in l["loads"] if x > 0)
    assert l["bias_min"] == min(l["bias"]) or abs(l["bias_min"] - min(l["bias"])) < 1e-8
    assert 0 < l["drop_frac"] < 1 and 0 < l["top1_affinity"] < 1 and l["router_grad_norm"] > 0
    assert l["max_over_mean"] == max(l["loads"]) / mean
train = [l for l in lines if l["kind"] == "train"]
assert all(l["aux_loss"] > 0 for l in train)
PY
echo "determinism: ok"
