#!/usr/bin/env bash
# pipelines/sweep.mk on a tiny MoE: one run per value under -j2, each with only the dial
# changed (the meta lines' configs), the table (a row per value, router health from
# nmoe-routerstat) and the PNG; a rerun trains nothing, a new SET retrains; a run
# interrupted after a checkpoint resumes and gives the stream an uninterrupted run
# gives; a failing run stops the sweep with its status; bad variables are refused.
source "$NMOE_TOP/tests/cli/train_common.bash"
require_tools nmoe-routerstat jq gnuplot
make_data
write_config
# The tiny MoE: tiny.toml's dense model with block 1 routed (8 experts, top-2).
sed -e 's/^inter_dim = 64$/inter_dim = 64\nn_dense_layers = 1\nn_routed_experts = 8\nn_shared_experts = 1\nn_activated_experts = 2\nmoe_inter_dim = 16/' \
    -e 's/^checkpoint_every = 4$/checkpoint_every = 4\nrouter_bias_update_rate = 1e-3/' tiny.toml >moe.toml
grep -q '^n_routed_experts = 8$' moe.toml || fail "moe.toml: the MoE keys were not added"
sweep() { make -s -f "$NMOE_TOP/pipelines/sweep.mk" BASE=moe.toml DIAL=router_bias_update_rate TRAIN_FLAGS="--threads 1" "$@"; }

# Two values, in parallel.
sweep VALUES="1e-4 1e-2" SET="steps=8" OUT=sw -j2 >table.out
for v in 1e-4 1e-2; do
    [ -s "sw/$v/metrics.ndjson" ] || fail "no stream for $v"
    got=$(jq -r 'select(.kind == "meta") | .config.router_bias_update_rate' "sw/$v/metrics.ndjson")
    [ "$(jq -n "$got == $v")" = true ] || fail "$v: the run's config has router_bias_update_rate $got"
    grep -q '"kind":"stop".*"reason":"finished"' "sw/$v/metrics.ndjson" || fail "$v: the run did not finish"
    grep -q "^| $v | finished | 8 | 1024 | [0-9.]* | [0-9.]* | [0-9]* | [0-9.]* | 0\\.[0-9]* | [0-9]/8 | [0-9.e-]* | 0\\.[0-9]* ([0-9]*) | \\([0-9]*\\|never\\) |\$" table.out ||
        { cat table.out >&2; fail "no table row for $v"; }
done
# Every other key equal: the two configs differ in the dial alone (and out_dir).
diff <(jq -S 'select(.kind == "meta") | .config | del(.router_bias_update_rate, .out_dir)' sw/1e-4/metrics.ndjson) \
     <(jq -S 'select(.kind == "meta") | .config | del(.router_bias_update_rate, .out_dir)' sw/1e-2/metrics.ndjson) >/dev/null ||
    fail "the two runs differ in more than the dial"
cmp -s table.out sw/sweep.md || fail "the printed table is not sw/sweep.md"
[ "$(head -c 8 sw/loss.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "sw/loss.png is not a PNG"
[ "$(stat -c %s sw/loss.png)" -gt 5000 ] || fail "sw/loss.png is too small to hold the curves"
grep -q '<tr><td>1e-2</td><td>finished</td><td>8</td>' sw/index.html && grep -q '<img src="loss.png"' sw/index.html ||
    fail "sw/index.html lacks the table or the plot"

# A rerun trains nothing; a new SET retrains both.
before=$(stat -c %Y.%s sw/1e-4/metrics.ndjson sw/1e-2/metrics.ndjson)
sleep 1
sweep VALUES="1e-4 1e-2" SET="steps=8" OUT=sw >/dev/null
[ "$(stat -c %Y.%s sw/1e-4/metrics.ndjson sw/1e-2/metrics.ndjson)" = "$before" ] || fail "a rerun retrained"
sweep VALUES="1e-4 1e-2" SET="steps=8 seed=4" OUT=sw >/dev/null
[ "$(jq -r 'select(.kind == "meta") | .config.seed' sw/1e-2/metrics.ndjson)" = 4 ] || fail "a new SET did not retrain"

# An interrupted run: a checkpoint at step 4 and its partial stream, as a run stopped
# there leaves them; the sweep resumes it to step 8, and the stream is the one of an
# uninterrupted run (the run's timing aside).
mkdir -p re/1e-3
nmoe-train moe.toml -q --threads 1 --registry run/registry.db --set router_bias_update_rate=1e-3 --set steps=4 \
    --set out_dir=re/1e-3/train --metrics re/1e-3/metrics.part
sweep VALUES="1e-3" SET="steps=8" OUT=re 2>resume.err >/dev/null
grep -q "resuming re/1e-3/train" resume.err || { cat resume.err >&2; fail "the interrupted run was not resumed"; }
sweep VALUES="1e-3" SET="steps=8" OUT=whole >/dev/null
diff <(strip_time re/1e-3/metrics.ndjson | grep -v '"kind":"meta"' | grep -v '"kind":"stop"' | norm_paths | awk '!seen[$0]++') \
     <(strip_time whole/1e-3/metrics.ndjson | grep -v '"kind":"meta"' | grep -v '"kind":"stop"' | norm_paths) >/dev/null ||
    fail "the resumed run's stream differs from an uninterrupted run's"
[ ! -e re/1e-3/metrics.part ] || fail "the partial stream was left behind"

# Every run is in the registry (nmoe-registry(5)), the resumed one as one run of two
# segments.
[ "$(sqlite3 run/registry.db "select count(*) from runs where status = 'completed' and out_dir like '%/sw/%'")" = 4 ] ||
    fail "the registry lacks the sweep's four runs (two values, twice)"
[ "$(sqlite3 run/registry.db "select segments from runs where out_dir like '%/re/1e-3/train'")" = 2 ] ||
    fail "the resumed run is not one row of two segments"

# A run that fails (a value out of range) stops the sweep, naming the value and status.
expect_fail 2 "router_bias_update_rate=-1: nmoe-train exited with status 2" sweep VALUES="-1" SET="steps=2" OUT=bad
[ ! -e bad/-1/metrics.ndjson ] || fail "a failed run left a finished stream"
expect_fail 2 "DIAL=key is required" make -s -f "$NMOE_TOP/pipelines/sweep.mk" BASE=moe.toml VALUES=1
expect_fail 2 "a value is given twice" sweep VALUES="1e-3 1e-3"
expect_fail 2 "BASE=nope.toml: no such file" make -s -f "$NMOE_TOP/pipelines/sweep.mk" BASE=nope.toml DIAL=seed VALUES=1
echo "ok: sweep.mk trains, tabulates, plots, reruns only what changed and resumes"
