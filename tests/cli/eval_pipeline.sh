#!/usr/bin/env bash
# pipelines/core_eval.mk end to end with the real nmoe-eval on a real tiny checkpoint
# (tests/cli/core_eval_mk.sh tests the make graph itself with a stand-in): three tasks of
# the shipped pipelines/core.toml (multiple choice, schema, language modelling), eight
# examples each, two at a time. The summary must hold exactly what `nmoe-eval core`
# gives for the same tasks and flags, the CORE line their mean centered score, the table
# must be printed, and a second make must not score anything again.
source "$NMOE_TOP/tests/cli/eval_common.bash"
command -v make >/dev/null || { echo "skip: make not found"; exit 77; }
make_checkpoint
tasks="copa winograd lambada_openai"
flags="--limit 8 --tokenizer $work/tok.nmoe --threads 1"
run() { make --no-print-directory -f "$NMOE_TOP/pipelines/core_eval.mk" CKPT=ckpt OUT=core TASKS="$tasks" \
        EVAL_FLAGS="$flags" "$@"; }

run -j2 >table1.txt
for t in $tasks core; do [ -s "core/$t.ndjson" ] || fail "no core/$t.ndjson"; done
grep -q '^CORE (3 tasks)' table1.txt || { cat table1.txt; fail "no CORE row in the table"; }
grep -q '^winograd  *schema ' table1.txt || { cat table1.txt; fail "no winograd row"; }

# The same tasks in one nmoe-eval run: the same eval lines (timings aside), in order.
args=()
for t in $tasks; do args+=(--task "$t"); done
# shellcheck disable=SC2086
nmoe-eval core -q --ckpt ckpt --tasks "$NMOE_TOP/pipelines/core.toml" "${args[@]}" $flags >direct.ndjson
strip() { grep '"kind":"eval"' "$@" | sed 's/,"time":{[^}]*}//; s/"file":"[^"]*"//'; }
cmp <(strip core/core.ndjson) <(strip direct.ndjson) || { diff <(strip core/core.ndjson) <(strip direct.ndjson); fail "the pipeline's eval lines differ from a direct run"; }
"$PY" - core/core.ndjson direct.ndjson <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ev = [l for l in lines if l["kind"] == "eval"]
core = [l for l in lines if l["kind"] == "core"]
assert [l["task"] for l in ev] == ["copa", "winograd", "lambada_openai"], ev
assert all(l["examples"] == 8 for l in ev), ev
assert len(core) == 1 and core[0]["n_tasks"] == 3
mean = sum(l["centered"] for l in ev) / 3
assert abs(core[0]["core"] - mean) < 1e-12, (core[0], mean)
direct = [json.loads(l) for l in open(sys.argv[2]) if '"kind":"core"' in l]
assert abs(direct[0]["core"] - core[0]["core"]) < 1e-12, (direct, core)
print(f"CORE over 3 tasks: {core[0]['core']:.4f}")
PY

# Nothing changed: no task is scored again, the table is printed again.
before=$(stat -c %Y.%s core/copa.ndjson core/winograd.ndjson core/lambada_openai.ndjson core/core.ndjson)
sleep 1
run -j2 >table2.txt
after=$(stat -c %Y.%s core/copa.ndjson core/winograd.ndjson core/lambada_openai.ndjson core/core.ndjson)
[ "$before" = "$after" ] || fail "a second make rewrote outputs with nothing changed"
! grep -q 'nmoe-eval core' table2.txt || { cat table2.txt; fail "a second make ran nmoe-eval core"; }
tail -n "$(wc -l <table2.txt)" table1.txt | cmp - table2.txt || fail "the second table differs"
echo "core_eval.mk: real tasks on a real checkpoint, equal to a direct nmoe-eval core run"
