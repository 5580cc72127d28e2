#!/usr/bin/env bash
# The router lines' update telemetry (nmoe-metrics(5)) can tell: a bf16 router trained
# at lr_router 1e-7 has (nearly) every router update below bf16's floor, an fp32 router
# at a normal rate (nearly) none; expert_codes_changed is there for quantized experts
# only, a share in (0, 1), larger with a larger expert rate; a resumed run writes the
# router lines an uninterrupted one writes; routerstat shows the fields.
source "$NMOE_TOP/tests/cli/train_common.bash"
require_tools nmoe-routerstat jq
make_data
write_config
sed -e 's/^inter_dim = 64$/inter_dim = 64\nn_dense_layers = 1\nn_routed_experts = 8\nn_shared_experts = 1\nn_activated_experts = 2\nmoe_inter_dim = 16/' \
    -e 's/^log_every = 1$/log_every = 4/' tiny.toml >moe.toml
grep -q '^n_routed_experts = 8$' moe.toml || fail "moe.toml: the MoE keys were not added"
run() { nmoe-train -q --threads 1 moe.toml --set steps=8 --set validation_every=0 --set out_dir="out_$1" "${@:2}" >"$1.ndjson"; }
# field NAME FILE: NAME of every router line, one a line ("null" where absent)
field() { jq -r "select(.kind == \"router\") | .$1" "$2"; }
all() { awk "{ if (!(\$1 $1)) bad = 1; n++ } END { exit bad || n == 0 }"; }

run tiny --set router_precision=bf16 --set lr_router=1e-7
field router_below_floor tiny.ndjson | all '>= 0.99' || fail "bf16 router, lr 1e-7: below floor $(field router_below_floor tiny.ndjson | tr '\n' ' ')"
field router_update_ratio tiny.ndjson | all '< 1e-4' || fail "lr 1e-7: update ratio $(field router_update_ratio tiny.ndjson | tr '\n' ' ')"
[ "$(field expert_codes_changed tiny.ndjson | sort -u)" = null ] || fail "fp32 experts have expert_codes_changed"

run normal --set lr_router=3e-3
field router_below_floor normal.ndjson | all '<= 0.01' || fail "fp32 router, lr 3e-3: below floor $(field router_below_floor normal.ndjson | tr '\n' ' ')"
field router_update_ratio normal.ndjson | all '> 1e-4' || fail "lr 3e-3: update ratio $(field router_update_ratio normal.ndjson | tr '\n' ' ')"
# the same rate against bf16: still some updates too small for it, but not all
run normal16 --set lr_router=3e-3 --set router_precision=bf16
field router_below_floor normal16.ndjson | all '< 0.5' || fail "bf16 router, lr 3e-3: below floor $(field router_below_floor normal16.ndjson | tr '\n' ' ')"

run mx --set expert_precision=mxfp4 --set lr_expert=3e-3
run mxslow --set expert_precision=mxfp4 --set lr_expert=1e-6
field expert_codes_changed mx.ndjson | all '> 0 && $1 < 1' || fail "mxfp4: codes changed $(field expert_codes_changed mx.ndjson | tr '\n' ' ')"
a=$(field expert_codes_changed mx.ndjson | tail -n 1) b=$(field expert_codes_changed mxslow.ndjson | tail -n 1)
awk -v a="$a" -v b="$b" 'BEGIN { exit !(b < a / 10) }' || fail "codes changed at lr_expert 1e-6 ($b) not far below 3e-3's ($a)"
echo "below floor: bf16 @1e-7 $(field router_below_floor tiny.ndjson | tail -n 1), fp32 @3e-3 $(field router_below_floor normal.ndjson | tail -n 1), bf16 @3e-3 $(field router_below_floor normal16.ndjson | tail -n 1); codes changed: mxfp4 $a, at 1e-6 $b"

# routerstat shows them; a stream without them keeps the old table
nmoe-routerstat -q mx.ndjson >table.txt
grep -q '^| Layer | CV% | Entropy (norm) | Active | Bias Range | Upd/W | Below floor | Codes changed |$' table.txt || fail "routerstat table: $(cat table.txt)"
grep -Eq '^\| 1 \| [0-9.]+ \| [0-9.]+ \| [0-9]/8 \| \[.*\] \| [0-9.e-]+ \| [0-9.]+% \| [0-9.]+% \|$' table.txt || fail "routerstat row: $(cat table.txt)"
nmoe-routerstat -q --over-time mx.ndjson | sed -n 1p | grep_all $'\tupdate_ratio\tbelow_floor\tcodes_changed$' || fail "over-time header"
jq -c 'if .kind == "router" then del(.router_update_ratio, .router_below_floor, .expert_codes_changed) else . end' mx.ndjson >old.ndjson
nmoe-routerstat -q old.ndjson | sed -n 1p | grep_all -x '| Layer | CV% | Entropy (norm) | Active | Bias Range |' || fail "old stream's table"

# resume: 4 steps, then on to 8, writes the router lines of one 8-step run
run whole --set expert_precision=nvfp4 --set router_precision=bf16 --set checkpoint_every=4
nmoe-train -q --threads 1 moe.toml --set steps=4 --set validation_every=0 --set out_dir=out_part --set checkpoint_every=4 \
    --set expert_precision=nvfp4 --set router_precision=bf16 >part.ndjson
nmoe-train -q --threads 1 moe.toml --set steps=8 --set validation_every=0 --set out_dir=out_part --set checkpoint_every=4 \
    --set expert_precision=nvfp4 --set router_precision=bf16 --resume out_part >>part.ndjson
diff <(grep '"kind":"router"' whole.ndjson | strip_time) <(grep '"kind":"router"' part.ndjson | strip_time) >/dev/null ||
    fail "the resumed run's router lines differ from an uninterrupted run's"
grep -q '"expert_codes_changed"' part.ndjson || fail "no codes changed in the nvfp4 run"
echo "ok: the update telemetry tells a lost update from a kept one, and survives a resume"
