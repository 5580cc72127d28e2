#!/usr/bin/env bash
# nmoe-eval bpb agrees with the trainer's own validation loss on the same sequences:
# nmoe-train validates a tiny model at its last step, then nmoe-eval bpb scores the
# checkpoint on the same data and must report the same loss per token and token count
# (the same windows, the same loss mask). Two setups: a pack with a val split and
# loss_mask_eos = true (EOS targets left out), and a pack without one (the trainer holds
# out the last holdout_fraction of the tokens) with loss_mask_eos = false; each with a
# --batch other than the trainer's micro-batch. Also: bpb is consistent with the numbers
# on its own line, the trainer's val lines (validation_log_bpb) give the same bpb over
# the same bytes, and --tokens, --split and --table do what they say.
source "$NMOE_TOP/tests/cli/eval_common.bash"
make_tokenizer
make_text_data split --val-fraction 0.1
make_text_data whole

# compare TRAIN_METRICS EVAL_LINE: the last val line against the eval line.
compare() {
    "$PY" - "$1" "$2" <<'PY'
import json, math, sys
val = [json.loads(l) for l in open(sys.argv[1]) if '"kind":"val"' in l][-1]
ev = json.loads(open(sys.argv[2]).read())
stop = [json.loads(l) for l in open(sys.argv[1]) if '"kind":"stop"' in l][-1]
assert ev["kind"] == "eval" and ev["task"] == "bpb", ev
assert ev["step"] == val["step"] == stop["step"], (ev["step"], val["step"])
assert ev["run"] == val["run"], (ev["run"], val["run"])
assert ev["tokens"] == val["tokens"], f"tokens: eval {ev['tokens']} vs trainer {val['tokens']}"
assert ev["sequences"] == val["sequences"], (ev["sequences"], val["sequences"])
rel = abs(ev["loss"] - val["loss"]) / abs(val["loss"])
print(f"loss: nmoe-eval {ev['loss']!r}, trainer {val['loss']!r}, relative difference {rel:.3g}")
assert rel <= 1e-6, "loss per token differs from the trainer's validation loss"
# validation_log_bpb: the trainer's val line gives the bpb nmoe-eval reports, over the
# same bytes. The same float32 losses summed in double in the same order, except that
# the eval batches differently (--batch), which the backend's result does not depend on.
assert val["bytes"] == ev["bytes"], f"bytes: eval {ev['bytes']} vs trainer {val['bytes']}"
rel = abs(ev["bpb"] - val["bpb"]) / ev["bpb"]
print(f"bpb: nmoe-eval {ev['bpb']!r}, trainer {val['bpb']!r}, relative difference {rel:.3g}")
assert rel <= 1e-12, "the trainer's validation bpb differs from nmoe-eval bpb"
# bpb from the line's own counts: bpb * ln2 * bytes is the text tokens' loss, which is
# at most the loss of every target, and at least the counted loss minus the EOS targets
assert ev["bytes"] > ev["text_tokens"] > 0 and math.isfinite(ev["bpb"]) and ev["bpb"] > 0
text_nats = ev["bpb"] * math.log(2) * ev["bytes"]
assert ev["targets"] == ev["sequences"] * ev["seq_len"], ev
assert ev["text_tokens"] <= ev["tokens"] <= ev["targets"], ev
if not ev["loss_mask_eos"]:
    assert ev["tokens"] == ev["targets"], ev
else:
    assert ev["tokens"] == ev["text_tokens"], ev   # EOS is the only 0-byte token here
    assert abs(text_nats - ev["loss"] * ev["tokens"]) <= 1e-9 * text_nats, (text_nats, ev)
PY
}

# 1. A val split, EOS targets masked (the default), trainer micro-batch 4, eval batch 3.
write_config a.toml split out-a validation_every=10 validation_steps=2 validation_log_bpb=true 'tokenizer="tok.nmoe"'
nmoe-train -q a.toml --metrics a.ndjson
nmoe-eval bpb -q --ckpt out-a --data split --tokenizer tok.nmoe --tokens 1024 --batch 3 >a.eval
grep -q '"loss_mask_eos":true' a.eval || fail "setup 1 should mask EOS targets"
compare a.ndjson a.eval

# 2. No val split (holdout_fraction 0.2 of the tokens), EOS counted, eval batch 16.
write_config b.toml whole out-b validation_every=30 validation_steps=3 holdout_fraction=0.2 loss_mask_eos=false \
    validation_log_bpb=true 'tokenizer="tok.nmoe"'
nmoe-train -q b.toml --metrics b.ndjson
nmoe-eval bpb -q --ckpt out-b --data whole --tokenizer tok.nmoe --tokens 1536 >b.eval
compare b.ndjson b.eval

# --tokens counts whole sequences: 1600 tokens are 25 sequences of 64 (1600 = 25 * 64),
# 1663 still 25; the whole val split is more.
nmoe-eval bpb -q --ckpt out-a --data split --tokenizer tok.nmoe --tokens 1663 >c.eval
[ "$(json_field c.eval eval sequences)" = 25 ] || fail "--tokens 1663 should score 25 sequences"
nmoe-eval bpb -q --ckpt out-a --data split --tokenizer tok.nmoe >all.eval
n_all=$(json_field all.eval eval sequences)
[ "$n_all" -gt 25 ] || fail "the whole val split should hold more than 25 sequences, got $n_all"
# --split train scores other tokens; --split all of a single-split pack is the train split
nmoe-eval bpb -q --ckpt out-a --data split --tokenizer tok.nmoe --split train --tokens 1024 >t.eval
[ "$(json_field t.eval eval split)" = train ] || fail "--split train not recorded"
[ "$(json_field t.eval eval loss)" != "$(json_field a.eval eval loss)" ] || fail "--split train scored the val tokens"
# --table: the table on stdout, the NDJSON only in -o
nmoe-eval bpb -q --ckpt out-a --data split --tokenizer tok.nmoe --tokens 1024 --table -o tab.eval >tab.txt
grep -q '^bpb ' tab.txt && grep -q '^loss ' tab.txt || { cat tab.txt; fail "--table prints no table"; }
! grep -q '{' tab.txt || fail "--table also printed NDJSON on stdout"
cmp <(sed 's/,"time":{[^}]*}//' tab.eval) <(sed 's/,"time":{[^}]*}//' a.eval) || fail "-o with --table wrote another line"
echo "nmoe-eval bpb: loss per token equals the trainer's validation loss (val split and held-out tail)"
