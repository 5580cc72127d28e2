#!/usr/bin/env bash
# nmoe-eval scores a checkpoint trained with the attention dials (qk_norm, attn_sinks,
# the local/global pattern, together) as the trainer's forward does: nmoe-eval bpb's loss
# per token equals the trainer's last validation loss on the same windows (the shape
# comes from the checkpoint's config), and sampling runs through the key/value cache.
source "$NMOE_TOP/tests/cli/eval_common.bash"
make_tokenizer
make_text_data data --val-fraction 0.1
write_config a.toml data out-a validation_every=20 validation_steps=2 steps=20 \
    qk_norm=true attn_sinks=true attn_global_every=2 attn_local_window=16
nmoe-train -q a.toml --metrics a.ndjson
nmoe-eval bpb -q --ckpt out-a --data data --tokenizer tok.nmoe --tokens 1024 --batch 3 >a.eval
"$PY" - a.ndjson a.eval <<'PY'
import json, sys
val = [json.loads(l) for l in open(sys.argv[1]) if '"kind":"val"' in l][-1]
ev = json.loads(open(sys.argv[2]).read())
assert ev["kind"] == "eval" and ev["task"] == "bpb" and ev["step"] == val["step"], (ev, val)
assert ev["tokens"] == val["tokens"], (ev["tokens"], val["tokens"])
rel = abs(ev["loss"] - val["loss"]) / abs(val["loss"])
print(f"loss: nmoe-eval {ev['loss']!r}, trainer {val['loss']!r}, relative difference {rel:.3g}")
# Same float32 losses summed in double; only the batching differs, which a dense
# model's result does not depend on (model.h): agreement to double rounding.
assert rel <= 1e-6, "nmoe-eval's loss differs from the trainer's validation loss"
PY
[ $? -eq 0 ] || fail "bpb disagrees with the trainer"
nmoe-eval sample -q --ckpt out-a --tokenizer tok.nmoe --prompt "ROMEO:" --max-tokens 40 --seed 1 >s1.txt \
    || fail "sample on the dials' checkpoint failed"
nmoe-eval sample -q --ckpt out-a --tokenizer tok.nmoe --prompt "ROMEO:" --max-tokens 40 --seed 1 >s2.txt
cmp -s s1.txt s2.txt || fail "sampling with a seed is not deterministic"
[ -s s1.txt ] || fail "sample wrote nothing"
echo "eval on the attention dials: bpb equals the trainer's validation loss, sampling runs"
