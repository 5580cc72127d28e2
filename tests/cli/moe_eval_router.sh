#!/usr/bin/env bash
# nmoe-eval router on an MoE checkpoint: one `router` line per MoE layer with the
# checkpoint's step and routing biases (the trainer's last ones), loads that count every
# routed token K times over the held-out split, --tokens and --split selecting whole
# windows, no side effects (the same pass twice gives the same line), a different line
# for an older checkpoint, nmoe-routerstat reading the output, and a dense checkpoint
# refused.
. "$(dirname "$0")/moe_common.bash"
make_shakespeare
write_moe_config
OMP_NUM_THREADS=1 nmoe-train -q moe.toml --set steps=40 --set checkpoint_every=20 >m.ndjson

nmoe-eval router --ckpt out --data data >r.ndjson
[ "$(wc -l <r.ndjson)" = 1 ] || fail "expected one router line (one MoE layer): $(cat r.ndjson)"
line=$(cat r.ndjson)
grep -qE '^\{"kind":"router","run":"[0-9a-f]{16}","step":40,"layer":1,"experts":8,"top_k":2,"from_step":40,"to_step":40,' <<<"$line" \
    || fail "router line: $line"
# The biases are the checkpoint's: those of the trainer's last router line (step 40).
bias_eval=$(sed -E 's/.*"bias":\[([^]]*)\].*/\1/' <<<"$line")
bias_train=$(grep '"kind":"router"' m.ndjson | tail -n 1 | sed -E 's/.*"bias":\[([^]]*)\].*/\1/')
[ "$bias_eval" = "$bias_train" ] || fail "biases $bias_eval, the trainer's last $bias_train"
# Loads: K assignments per routed token; the held-out tail is 5% of the text.
tokens=$(json_field tokens <<<"$line")
loads_sum=$(sed -E 's/.*"loads":\[([^]]*)\].*/\1/' <<<"$line" | tr ',' '\n' | awk '{ s += $1 } END { print s }')
[ "$loads_sum" = $((2 * tokens)) ] || fail "loads sum to $loads_sum for $tokens tokens (top-2)"
[ "$tokens" -gt 20000 ] || fail "only $tokens tokens routed from the val split"
# No side effects: the same again; and an older checkpoint (step 20) has other biases.
nmoe-eval router --ckpt out --data data | cmp -s - r.ndjson || fail "a second pass differs"
nmoe-eval router --ckpt out/step-00000020 --data data >r20.ndjson
grep -q '"step":20,' r20.ndjson || fail "step-20 checkpoint: $(cat r20.ndjson)"
cmp -s r20.ndjson r.ndjson && fail "step 20 and step 40 give the same line"
# --tokens and --split: whole sequences of seq_len.
nmoe-eval router --ckpt out --data data --tokens 640 --split train >t.ndjson
[ "$(json_field tokens <t.ndjson)" = 640 ] || fail "--tokens 640: $(json_field tokens <t.ndjson) tokens"
# routerstat reads it.
nmoe-routerstat -q r.ndjson >table.txt || fail "routerstat on eval router output failed"
grep -qE '^\| 1 \| [0-9.]+ \| [0-9.]+ \| [0-9]/8 \|' table.txt || fail "routerstat table: $(cat table.txt)"
cat table.txt
# A dense checkpoint is still refused.
nmoe-train -q moe.toml --set n_routed_experts=0 --set steps=2 --set out_dir=dense >/dev/null
expect_fail 1 "no MoE layers" nmoe-eval router --ckpt dense --data data
echo "eval router: ok"
