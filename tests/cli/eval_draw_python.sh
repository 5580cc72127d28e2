#!/usr/bin/env bash
# nmoe-eval core --draw python draws the --limit subset and every item's few-shot
# examples as the DCLM / nanochat CORE reference does, and renders the same prompts:
# tests/oracle/core_draw_reference.py (Python's own random.Random(1337).shuffle and
# random.Random(1234 + idx).sample, nanochat's templates as string operations) must give
# every prompt of --dump-prompts character for character. Real shipped tasks of the three
# types (arc_easy 10-shot "\nAnswer: ", winograd_wsc and winogrande schema with few-shot,
# jeopardy 10-shot "\nAnswer: " and bigbench_qa_wikidata's 20,321 items), the
# whitespace-heavy hand-made suite, and a task made here whose few-shot pool sits on
# either side of random.sample's list/set switch (85 for 10 shots), each without --limit
# and with limits that put the pool on both sides. Also: suite.draw, --seed as the few-
# shot base, the philox default unchanged and different, the `draw` key of the eval line,
# and the usage errors.
source "$NMOE_TOP/tests/cli/eval_common.bash"
ref=$NMOE_TOP/tests/oracle/core_draw_reference.py
data=$NMOE_TOP/data/eval

# A multiple-choice task of 90 items (question i, gold i % 3), for the threshold.
"$PY" - <<'PY'
import json
with open("tiny_mc.jsonl", "w") as f:
    for i in range(90):
        f.write(json.dumps({"query": f"Question {i}: which?", "choices": [f"a{i}", f"b{i} ", f" c{i}"],
                            "gold": i % 3}) + "\n")
PY
cat >real.toml <<TOML
[suite]
data_dir = "$data"

[task.arc_easy]
file = "arc_easy.jsonl"
icl_task_type = "multiple_choice"
num_fewshot = 10
random_baseline = 25
continuation_delimiter = "\nAnswer: "

[task.winograd]
file = "winograd_wsc.jsonl"
icl_task_type = "schema"
num_fewshot = 6
random_baseline = 50

[task.winogrande]
file = "winogrande.jsonl"
icl_task_type = "schema"
num_fewshot = 3
random_baseline = 50
continuation_delimiter = "\n"

[task.jeopardy]
file = "jeopardy_all.jsonl"
icl_task_type = "language_modeling"
num_fewshot = 10
random_baseline = 0
continuation_delimiter = "\nAnswer: "

[task.wikidata]
file = "bigbench_qa_wikidata.jsonl"
icl_task_type = "language_modeling"
num_fewshot = 10
random_baseline = 0

[task.tiny]
file = "$work/tiny_mc.jsonl"
icl_task_type = "multiple_choice"
num_fewshot = 10
random_baseline = 33
continuation_delimiter = " => "
TOML
tricky=$NMOE_TOP/tests/data/eval/suite_tricky.toml   # seed 99; 4 to 9 items, 2 to 8 shots

dump() { nmoe-eval core -q --dump-prompts "$@"; }
check() {   # check CONFIG LIMIT SEED DUMP
    "$PY" "$ref" "$@" || fail "--draw python prompts differ from the reference ($1, --limit $2, seed $3)"
}

# No limit: the whole shuffled file is the few-shot pool (tiny: 89 > 85, the set
# algorithm; the tricky suite: the list algorithm).
dump --tasks real.toml --draw python >all.ndjson
check real.toml 0 1234 all.ndjson
dump --tasks "$tricky" --draw python >tricky.ndjson
check "$tricky" 0 99 tricky.ndjson
# --limit 86 / 87: tiny's pool of 85 / 86 others, the last list and the first set case;
# every task's pool is the truncated list. --limit 200: the set algorithm again.
for n in 86 87 200; do
    dump --tasks real.toml --draw python --limit $n >limit$n.ndjson
    check real.toml $n 1234 limit$n.ndjson
done
# --seed replaces the few-shot base 1234; the shuffle stays random.Random(1337).
dump --tasks real.toml --draw python --limit 40 --task tiny --task winograd --seed 7 >seed7.ndjson
sed -e '/^\[task.arc_easy\]/,/^$/d' -e '/^\[task.winogrande\]/,/^$/d' -e '/^\[task.jeopardy\]/,/^$/d' \
    -e '/^\[task.wikidata\]/,/^$/d' real.toml >two.toml
grep -q '^\[task.winograd\]' two.toml && grep -q '^\[task.tiny\]' two.toml && ! grep -q arc_easy two.toml ||
    fail "two.toml: $(cat two.toml)"
check two.toml 40 7 seed7.ndjson

# suite.draw = "python" draws the same; --draw philox overrides it.
sed 's/^\[suite\]$/[suite]\ndraw = "python"/' real.toml >suite_python.toml
dump --tasks suite_python.toml --limit 87 >suite87.ndjson
cmp -s limit87.ndjson suite87.ndjson || fail "suite.draw = \"python\" drew other prompts than --draw python"

# philox: the default, the same as --draw philox and as the library's own prompts
# (eval_offline calls eval_prompts_build, the philox path), and other few-shot draws.
dump --tasks real.toml >philox.ndjson
dump --tasks suite_python.toml --draw philox >philox2.ndjson
cmp -s philox.ndjson philox2.ndjson || fail "--draw philox over suite.draw python is not the default draw"
for t in arc_easy winograd jeopardy tiny; do
    grep "\"task\":\"$t\"" philox.ndjson >p_$t.ndjson
    eval_offline prompts real.toml $t >o_$t.ndjson
    cmp -s p_$t.ndjson o_$t.ndjson || fail "$t: the philox prompts changed"
done
! "$PY" "$ref" real.toml 0 1234 philox.ndjson >philox.out 2>&1 || fail "the philox draw passed as the reference's"
grep -q "few-shot examples" philox.out || fail "philox vs reference: $(cat philox.out)"
dump --tasks real.toml --limit 87 >philox87.ndjson
[ "$(grep -c '"task":"arc_easy"' philox87.ndjson)" = 87 ] || fail "philox --limit 87 is not 87 arc_easy items"
! cmp -s philox87.ndjson limit87.ndjson || fail "philox and python drew the same 87-item subsets"

# The eval line says which draw made it; philox lines stay as they were (no "draw").
make_checkpoint
cat >small.toml <<TOML
[suite]
data_dir = "$work"
[task.tiny]
file = "tiny_mc.jsonl"
icl_task_type = "multiple_choice"
num_fewshot = 2
random_baseline = 33
TOML
nmoe-eval core -q --ckpt ckpt --tokenizer tok.nmoe --tasks small.toml --limit 12 --draw python >py_eval.ndjson
[ "$(json_field py_eval.ndjson eval draw)" = python ] || fail "the python eval line has no \"draw\":\"python\""
[ "$(json_field py_eval.ndjson eval examples)" = 12 ] || fail "--limit 12 did not score 12 examples"
nmoe-eval core -q --ckpt ckpt --tokenizer tok.nmoe --tasks small.toml --limit 12 >ph_eval.ndjson
! grep -q '"draw"' ph_eval.ndjson || fail "a philox eval line has a \"draw\" key"
nmoe-eval summary py_eval.ndjson >sum.ndjson
grep -q '"draw":"python"' sum.ndjson || fail "summary dropped the draw"
sed 's/"draw":"python"/"draw":"mt"/' py_eval.ndjson >bad_draw.ndjson
expect_fail 1 '"draw" "mt" is not philox or python' nmoe-eval summary bad_draw.ndjson

# Usage errors name the option; a bad suite.draw names the file, line and key.
expect_fail 2 "--draw foo: expected philox or python" nmoe-eval core --tasks real.toml --dump-prompts --draw foo
expect_fail 2 "--draw does not apply to 'sample'" nmoe-eval sample --ckpt ckpt --draw python
expect_fail 2 "--limit 10: task arc_easy has 10-shot prompts" \
    nmoe-eval core --tasks real.toml --task arc_easy --dump-prompts --draw python --limit 10
dump --tasks real.toml --task arc_easy --draw python --limit 11 >/dev/null || fail "--limit 11 refused for 10 shots"
sed 's/^\[suite\]$/[suite]\ndraw = "mt"/' real.toml >bad.toml
expect_fail 1 "bad.toml:2:8: suite.draw must be \"philox\" or \"python\"" nmoe-eval core --tasks bad.toml --list

echo "nmoe-eval core --draw python: every prompt the reference's, philox unchanged"
