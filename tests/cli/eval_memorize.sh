#!/usr/bin/env bash
# nmoe-eval core on tasks whose right answers are forced: a tiny model trained for 200
# steps on tests/data/eval/memorize/corpus.txt (eight sentences "NAME likes OBJECT.",
# repeated in shuffled order as documents) has memorised them; then multiple-choice,
# schema and language-modelling tasks built from the sentences score 8/8, and copies
# whose gold answers point at a wrong choice (or continuation) score 0/8. The untrained
# model (step 1) is not right by accident: it gets far fewer than 8/8 on the three good
# tasks together. Also: the `eval` lines carry the counts, the `core` line their mean
# centered score, and --limit / --seed / --batch do not change what a full run decides.
source "$NMOE_TOP/tests/cli/eval_common.bash"
make_tokenizer
src=$NMOE_TOP/tests/data/eval/memorize
"$PY" - "$src/corpus.txt" <<'PY'
import json, random, sys
sentences = [l.rstrip("\n") for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
r = random.Random(5)
with open("corpus.jsonl", "w") as f:
    for _ in range(60):
        order = list(range(len(sentences)))
        r.shuffle(order)
        for i in order:
            f.write(json.dumps({"text": sentences[i]}) + "\n")
PY
nmoe-tok encode -q -t tok.nmoe --eot corpus.jsonl | nmoe-shard pack -q -o mem
write_config mem.toml mem out seq_len=32 micro_batch_size=0 steps=200 seed=1 lr_dense=1e-2 weight_decay=0.0 \
    warmup_steps=10 hold_tokens=1000000 decay_tokens=1000000 holdout_fraction=0.0 checkpoint_every=0
nmoe-train -q mem.toml --metrics mem.ndjson
cp -r "$src" tasks
ev() { nmoe-eval core -q --tokenizer tok.nmoe --tasks tasks/tasks.toml "$@"; }
ev --ckpt out >scores.ndjson

"$PY" - scores.ndjson <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ev = {l["task"]: l for l in lines if l["kind"] == "eval"}
core = [l for l in lines if l["kind"] == "core"]
want = {"mc": 8, "schema": 8, "lm": 8, "mc_3shot": 8, "mc_shuffled": 0, "schema_shuffled": 0, "lm_shuffled": 0}
for task, correct in want.items():
    l = ev[task]
    print(f"{task:16s} {l['correct']}/{l['examples']}  accuracy {l['accuracy']:.3f}  truncated {l['truncated']}")
    assert l["examples"] == 8 and l["correct"] == correct, f"{task}: {l['correct']}/8 correct, expected {correct}"
    assert l["overlong"] == 0 and l["nonfinite"] == 0, l
assert ev["mc_3shot"]["truncated"] == 8, "3-shot prompts should have been cut to the 32-token context"
assert ev["mc"]["centered"] == 1.0 and abs(ev["mc_shuffled"]["centered"] - (-1 / 3)) < 1e-12
assert len(core) == 1 and core[0]["n_tasks"] == 7, core
mean = sum(l["centered"] for l in ev.values()) / 7
assert abs(core[0]["core"] - mean) < 1e-12, (core[0]["core"], mean)
PY

# A subset (--limit) is a subset of the same decisions; the batch size changes nothing.
ev --ckpt out --task mc --task lm --batch 1 >b1.ndjson
ev --ckpt out --task mc --task lm --batch 64 >b64.ndjson
strip() { sed 's/,"time":{[^}]*}//' "$@"; }
cmp <(strip b1.ndjson) <(strip b64.ndjson) || fail "--batch 1 and --batch 64 differ"
ev --ckpt out --task mc_shuffled --limit 3 --seed 9 >lim.ndjson
[ "$(json_field lim.ndjson eval examples)" = 3 ] && [ "$(json_field lim.ndjson eval correct)" = 0 ] ||
    fail "--limit 3: $(cat lim.ndjson)"

# The same tasks on the model after one step: far from memorised.
nmoe-train -q mem.toml --set steps=1 --set out_dir=out1 --metrics /dev/null
ev --ckpt out1 --task mc --task schema --task lm >early.ndjson
early=$("$PY" -c 'import json,sys; print(sum(json.loads(l).get("correct",0) for l in open(sys.argv[1]) if "\"eval\"" in l))' early.ndjson)
echo "after 1 step: $early/24 correct on mc, schema, lm"
[ "$early" -le 16 ] || fail "an untrained model already gets $early/24: the tasks do not test memory"
echo "nmoe-eval core: forced answers score 8/8, shuffled gold 0/8"
