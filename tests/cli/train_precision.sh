#!/usr/bin/env bash
# The precision dials of a run (issue 14): expert_precision, router_precision,
# embed_gain and logit_gain. The meta line says the precision and that the CPU emulates
# it; every format trains to finite losses that differ from fp32's; an nvfp4 run with a
# bf16 router learns and is bit-identical with 1 and 2 threads; the gains change the
# loss; a bad value is a configuration error (exit 2) naming the key.
. "$(dirname "$0")/moe_common.bash"
make_shakespeare
write_moe_config

moe_run fp32 --set steps=3
grep -q '"precision":{"model":"fp32","experts":"fp32","router":"fp32","emulated_on":null}' <<<"$(sed -n 1p fp32.ndjson)" ||
    fail "fp32 meta line: $(head -c 600 fp32.ndjson)"
base=$(moe_losses fp32.ndjson)
for f in bf16 fp8_e4m3 mxfp8 mxfp4 nvfp4; do
    moe_run "$f" --set steps=3 --set expert_precision=$f
    grep -q "\"precision\":{\"model\":\"fp32\",\"experts\":\"$f\",\"router\":\"fp32\",\"emulated_on\":\"cpu\"}" <<<"$(sed -n 1p "$f.ndjson")" ||
        fail "$f meta line: $(head -c 600 "$f.ndjson")"
    l=$(moe_losses "$f.ndjson")
    [ "$(wc -w <<<"$l")" = 3 ] || fail "$f: train lines: $l"
    for v in $l; do awk -v v="$v" 'BEGIN { exit !(v == v + 0 && v > 0 && v < 100) }' || fail "$f: loss $v"; done
    [ "$l" != "$base" ] || fail "$f: the same losses as fp32 ($l)"
    echo "$f: losses $l (fp32: $base)"
done

# nvfp4 experts and a bf16 router learn, and the threads do not change a bit
moe_learns_threads nv --set expert_precision=nvfp4 --set router_precision=bf16
grep -q '"precision":{"model":"fp32","experts":"nvfp4","router":"bf16","emulated_on":"cpu"}' <<<"$(sed -n 1p nv1.ndjson)" ||
    fail "nvfp4 meta line"

# the gains: a different first loss; the defaults leave the fp32 stream as it was
for g in embed_gain=3 logit_gain=0.25; do
    moe_run "${g%%=*}" --set steps=1 --set "$g"
    a=$(moe_losses "${g%%=*}.ndjson") b=$(grep -m 1 '"kind":"train"' fp32.ndjson | json_field loss)
    [ "$a" != "$b " ] || fail "$g: the same first loss as without it ($a)"
done
moe_run again --set steps=3 --set embed_gain=1 --set logit_gain=1 --set expert_precision=fp32
[ "$(moe_losses again.ndjson)" = "$base" ] || fail "the gains at 1 changed the fp32 losses"

# bad values: exit 2, naming the key
expect_fail 2 "expert_precision: 'fp6' is not one of" nmoe-train -q moe.toml --set expert_precision=fp6
expect_fail 2 "router_precision: 'nvfp4' is not one of: fp32, bf16" nmoe-train -q moe.toml --set router_precision=nvfp4
expect_fail 2 "logit_gain: 0 must be > 0" nmoe-train -q moe.toml --set logit_gain=0
printf '[model]\nembed_gain = -2.0\n' >bad.toml
expect_fail 2 "embed_gain" nmoe-train -q bad.toml
echo "precision: ok"
