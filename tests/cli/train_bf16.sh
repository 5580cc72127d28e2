#!/usr/bin/env bash
# precision = bf16 (issue 14), the rest of the model's dial beside expert_precision and
# router_precision: the meta line says bf16 and that the CPU emulates it; the losses are
# finite and differ from fp32's; a run learns, is bit-identical with 1 and 2 threads and
# resumes bit for bit (the rounded weights are rebuilt from the fp32 masters); fp32
# leaves the stream as it was. Refusals are configuration errors (exit 2) naming the key:
# an unknown value, bf16 on the CUDA backend, bf16 with attention = "mla".
. "$(dirname "$0")/moe_common.bash"
make_shakespeare
write_moe_config

moe_run fp32 --set steps=3
moe_run fp32b --set steps=3 --set precision=fp32
[ "$(moe_losses fp32.ndjson)" = "$(moe_losses fp32b.ndjson)" ] || fail "precision = fp32 changed the losses"
# (sed -n 1p, grep -m 1: never a pipe that a reader closes early, under pipefail)
grep -q '"precision":{"model":"fp32","experts":"fp32","router":"fp32","emulated_on":null}' <<<"$(sed -n 1p fp32b.ndjson)" ||
    fail "fp32 meta line: $(sed -n 1p fp32b.ndjson)"
moe_run bf16 --set steps=3 --set precision=bf16
meta=$(sed -n 1p bf16.ndjson)
grep -q '"precision":{"model":"bf16","experts":"fp32","router":"fp32","emulated_on":"cpu"}' <<<"$meta" ||
    fail "bf16 meta line: $meta"
grep -q '"backend_describe":"cpu: bf16 emulated in fp32, ' <<<"$meta" || fail "bf16 backend_describe: $meta"
base=$(moe_losses fp32.ndjson) l=$(moe_losses bf16.ndjson)
[ "$(wc -w <<<"$l")" = 3 ] || fail "bf16: train lines: $l"
for v in $l; do awk -v v="$v" 'BEGIN { exit !(v == v + 0 && v > 0 && v < 100) }' || fail "bf16: loss $v"; done
[ "$l" != "$base" ] || fail "bf16: the same losses as fp32 ($l)"
# The first loss (the forward at the initial weights, before any update) differs: the
# forward rounds; it moves by about bf16's relative precision, not more.
[ "${l%% *}" != "${base%% *}" ] || fail "bf16: the first loss is fp32's (${l%% *}): the forward does not round"
awk -v a="${base%% *}" -v b="${l%% *}" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < 0.05 * a) }' ||
    fail "bf16: first loss ${l%% *} is far from fp32's ${base%% *}"
echo "bf16: losses $l (fp32: $base)"

# With the other dials: bf16 experts and router beside a bf16 model.
moe_run all --set steps=2 --set precision=bf16 --set expert_precision=nvfp4 --set router_precision=bf16
grep -q '"precision":{"model":"bf16","experts":"nvfp4","router":"bf16","emulated_on":"cpu"}' <<<"$(sed -n 1p all.ndjson)" ||
    fail "all-dials meta line"

# Learns, and the threads do not change a bit.
moe_learns_threads bf16_t --set precision=bf16

# Resume: the checkpoint holds the fp32 masters; the rounded copy is rebuilt from them.
mkdir tiny
cd tiny
make_data
write_config
check_resume bf16 --set precision=bf16
grep -q '"model":"bf16"' bf16_b.ndjson || fail "bf16 resume: meta line"
cd ..

# Refusals, naming the key.
expect_fail 2 "precision: 'fp16' is not one of: fp32, bf16" nmoe-train -q moe.toml --set precision=fp16
expect_fail 2 'precision "bf16" is not in the CUDA backend' nmoe-train -q moe.toml --set precision=bf16 --set backend=cuda
expect_fail 2 'precision "bf16" is not implemented with attention = "mla"' \
    nmoe-train -q tiny/tiny.toml --set precision=bf16 --set attention=mla --set n_kv_heads=0
[ ! -e out ] || fail "a refused run wrote $(ls out)"
echo "bf16: ok"
