#!/usr/bin/env bash
# pipelines/precision.mk on a tiny MoE and a tiny budget: a run per expert precision and
# set (each run's config has its format, and the gain set's keys only in the "gain"
# runs), a table row per run and MoE layer with the update telemetry (codes changed
# for quantized experts only) and the validation loss, a PNG, a page; bad variables
# are refused.
source "$NMOE_TOP/tests/cli/train_common.bash"
require_tools nmoe-routerstat jq gnuplot
make_data
write_config
sed -e 's/^inter_dim = 64$/inter_dim = 64\nn_dense_layers = 1\nn_routed_experts = 8\nn_shared_experts = 1\nn_activated_experts = 2\nmoe_inter_dim = 16/' \
    -e 's/^log_every = 1$/log_every = 2/' tiny.toml >moe.toml
grep -q '^n_routed_experts = 8$' moe.toml || fail "moe.toml: the MoE keys were not added"
prec() { make -s -f "$NMOE_TOP/pipelines/precision.mk" CONFIG=moe.toml DATA=data SCHEDULE= TRAIN_FLAGS="--threads 1" "$@"; }

prec STEPS=4 OUT=pr -j2 >table.out
formats="fp32 bf16 fp8_e4m3 mxfp4 nvfp4"
for f in $formats; do
    for s in base gain; do
        m=pr/$f-$s/metrics.ndjson
        [ -s "$m" ] || fail "no stream for $f-$s"
        [ "$(jq -r 'select(.kind == "meta") | "\(.config.expert_precision) \(.config.steps) \(.config.grad_clip) \(.config.embed_gain)"' "$m")" = \
          "$f 4 $([ $s = gain ] && echo "0 10" || echo "1 1")" ] || fail "$f-$s: the run's config: $(jq -c 'select(.kind == "meta") | .config' "$m")"
        codes='[0-9.]+%'
        [ "$f" = fp32 ] && codes=-
        grep -Eq "^\| $f \| $s \| 1 \| [0-9.]+ \| [0-9.]+ \| [0-9]/8 \| \[[-+0-9., ]+\] \| [0-9.e-]+ \| [0-9.]+% \| $codes \| finished \| [0-9.]+ \|\$" table.out ||
            { cat table.out >&2; fail "no table row for $f-$s"; }
    done
done
[ "$(grep -c '^| [a-z0-9_]* | \(base\|gain\) | ' table.out)" = 10 ] || fail "want 10 rows: $(cat table.out)"
cmp -s table.out pr/precision.md || fail "the printed table is not pr/precision.md"
[ "$(head -c 8 pr/precision.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "pr/precision.png is not a PNG"
[ "$(stat -c %s pr/precision.png)" -gt 5000 ] || fail "pr/precision.png is too small to hold the curves"
grep -q '<img src="precision.png"' pr/index.html && grep -q '<td>nvfp4</td><td>gain</td>' pr/index.html || fail "pr/index.html"

expect_fail 2 "STEPS=0: a positive whole number" prec STEPS=0 OUT=bad
expect_fail 2 "CONFIG=nope.toml: no such file" make -s -f "$NMOE_TOP/pipelines/precision.mk" CONFIG=nope.toml
echo "ok: precision.mk trains every format with and without the gains, tabulates and plots"
