#!/usr/bin/env bash
# pipelines/core_eval.mk as a make graph: every task is its own target, tasks run in
# parallel under -j, the summary gathers them into core.ndjson and prints the table, and
# a rerun redoes only what changed (checkpoint, task data, flags, selection).
#
# The model is not part of this test: NMOE_EVAL points at a stub whose `core --task`
# "predicts" choice 0 of every item (eval_offline first-choice, a stand-in for the model)
# after a short sleep, so parallelism and reruns can be observed; `core --list` and
# `summary` run the real library code (build/testtools/eval_offline), as nmoe-eval does.
# tests/cli/eval_pipeline.sh runs the makefile with the real nmoe-eval on a real
# checkpoint.
set -euo pipefail
cd "$NMOE_TOP"
tool=$NMOE_TOP/build/testtools/eval_offline
[ -x "$tool" ] || { echo "$tool not built (make unit)"; exit 1; }
command -v make >/dev/null || { echo "skip: make not found"; exit 77; }
[ -x /usr/bin/python3 ] || { echo "skip: /usr/bin/python3 not found"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A private copy of a small suite, so touching its files does not touch the tree.
mkdir -p "$tmp/suite" "$tmp/ckpt"
cp tests/data/eval/mc.jsonl tests/data/eval/mc_pair.jsonl tests/data/eval/schema_pair.jsonl "$tmp/suite/"
cat >"$tmp/suite/tasks.toml" <<'EOF'
[task.four]
file = "mc.jsonl"
icl_task_type = "multiple_choice"
num_fewshot = 1
random_baseline = 25

[task.pair]
file = "mc_pair.jsonl"
icl_task_type = "multiple_choice"
num_fewshot = 0
random_baseline = 50

[task.winners]
file = "schema_pair.jsonl"
icl_task_type = "schema"
num_fewshot = 0
random_baseline = 50
EOF
echo weights >"$tmp/ckpt/model.bin"
echo config >"$tmp/ckpt/config.toml"

log=$tmp/stub.log
cat >"$tmp/nmoe-eval" <<EOF
#!/usr/bin/env bash
# stub nmoe-eval (see tests/cli/core_eval_mk.sh)
set -euo pipefail
sub=\$1; shift
if [ "\$sub" = summary ]; then exec "$tool" summary "\$@"; fi
[ "\$sub" = core ] || { echo "stub: unknown subcommand \$sub" >&2; exit 2; }
tasks= task= out= list=0 ckpt=
while [ \$# -gt 0 ]; do
    case \$1 in
        --tasks) tasks=\$2; shift ;;
        --task) task=\$2; shift ;;
        --ckpt) ckpt=\$2; shift ;;
        -o) out=\$2; shift ;;
        --list) list=1 ;;
        --limit) shift ;;
        *) echo "stub: unknown option \$1" >&2; exit 2 ;;
    esac
    shift
done
if [ \$list = 1 ]; then exec "$tool" list "\$tasks"; fi
echo "start \$task" >>"$log"
sleep 1
"$tool" first-choice "\$tasks" "\$task" stub-run 7 "\$out"
echo "end \$task" >>"$log"
EOF
chmod +x "$tmp/nmoe-eval"

run() { make --no-print-directory -f pipelines/core_eval.mk NMOE_EVAL="$tmp/nmoe-eval" \
        TASKS_FILE="$tmp/suite/tasks.toml" CKPT="$tmp/ckpt" OUT="$tmp/out" "$@"; }
runs() { grep -c '^start' "$log" 2>/dev/null || true; }

# 1. First run, two tasks at a time: every task, then the summary and the table.
run -j2 >"$tmp/stdout1"
for t in four pair winners core; do [ -s "$tmp/out/$t.ndjson" ] || { echo "no $t.ndjson"; exit 1; }; done
[ "$(runs)" = 3 ] || { echo "expected 3 task runs, got $(runs)"; cat "$log"; exit 1; }
# parallel: the second task started before the first ended
[ "$(sed -n 2p "$log" | cut -d' ' -f1)" = start ] || { echo "tasks did not overlap under -j2:"; cat "$log"; exit 1; }
grep -q '^CORE (3 tasks)' "$tmp/stdout1" || { echo "no CORE line in the table:"; cat "$tmp/stdout1"; exit 1; }
# first-choice "predictions": four: golds 0,1,0,1 -> 2/4; pair: golds 1,1 -> 0/2;
# winners: golds 0,0 -> 2/2. centered: (0.5-0.25)/0.75, (0-0.5)/0.5, (1-0.5)/0.5
/usr/bin/python3 - "$tmp/out/core.ndjson" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ev = {l["task"]: l for l in lines if l["kind"] == "eval"}
core = [l for l in lines if l["kind"] == "core"]
assert [l["task"] for l in lines if l["kind"] == "eval"] == ["four", "pair", "winners"], lines
assert ev["four"]["correct"] == 2 and ev["pair"]["correct"] == 0 and ev["winners"]["correct"] == 2
want = ((0.5 - 0.25) / 0.75 + (0 - 0.5) / 0.5 + (1 - 0.5) / 0.5) / 3
assert len(core) == 1 and abs(core[0]["core"] - want) < 1e-12, core
assert core[0]["run"] == "stub-run" and core[0]["step"] == 7 and core[0]["n_tasks"] == 3
PY

# 2. Nothing changed: no task reruns; the table is printed again.
before=$(runs)
run -j2 >"$tmp/stdout2"
[ "$(runs)" = "$before" ] || { echo "a rerun with nothing changed ran tasks again"; exit 1; }
grep -q '^CORE (3 tasks)' "$tmp/stdout2" || { echo "no table on the second run"; exit 1; }

# 3. One task's data changed: only that task reruns.
sleep 1; touch "$tmp/suite/mc_pair.jsonl"
: >"$log"
run -j2 >/dev/null
[ "$(cat "$log" | tr '\n' ' ')" = "start pair end pair " ] || { echo "data change reran:"; cat "$log"; exit 1; }

# 4. The checkpoint changed: every task reruns.
sleep 1; echo more >>"$tmp/ckpt/model.bin"
: >"$log"
run -j3 >/dev/null
[ "$(runs)" = 3 ] || { echo "checkpoint change: expected 3 runs"; cat "$log"; exit 1; }

# 5. New EVAL_FLAGS: every task reruns; the same flags again: none.
: >"$log"
run -j3 EVAL_FLAGS="--limit 1" >/dev/null
[ "$(runs)" = 3 ] || { echo "flag change: expected 3 runs"; cat "$log"; exit 1; }
: >"$log"
run -j3 EVAL_FLAGS="--limit 1" >/dev/null
[ "$(runs)" = 0 ] || { echo "same flags: expected no runs"; cat "$log"; exit 1; }

# 6. A subset of tasks: no task reruns, but the summary covers just those.
: >"$log"
run TASKS="four winners" EVAL_FLAGS="--limit 1" >"$tmp/stdout6"
[ "$(runs)" = 0 ] || { echo "subset: expected no runs"; cat "$log"; exit 1; }
grep -q '^CORE (2 tasks)' "$tmp/stdout6" || { echo "subset summary:"; cat "$tmp/stdout6"; exit 1; }
[ "$(grep -c '"kind":"eval"' "$tmp/out/core.ndjson")" = 2 ] || { echo "core.ndjson should hold 2 tasks"; exit 1; }

# 7. Mistakes are errors that say what is wrong.
if run TASKS="four nope" >/dev/null 2>"$tmp/err"; then echo "unknown task accepted"; exit 1; fi
grep -q 'TASKS: nope not in' "$tmp/err" || { cat "$tmp/err"; exit 1; }
if make --no-print-directory -f pipelines/core_eval.mk NMOE_EVAL="$tmp/nmoe-eval" >/dev/null 2>"$tmp/err"; then
    echo "no CKPT accepted"; exit 1; fi
grep -q 'CKPT=DIR is required' "$tmp/err" || { cat "$tmp/err"; exit 1; }
if run CKPT="$tmp/no-such-dir" >/dev/null 2>"$tmp/err"; then echo "missing checkpoint accepted"; exit 1; fi
grep -q 'no checkpoint files there' "$tmp/err" || { cat "$tmp/err"; exit 1; }

# 8. clean removes the outputs.
run clean >/dev/null
[ ! -e "$tmp/out" ] || { echo "clean left:"; ls -A "$tmp/out"; exit 1; }
echo "core_eval.mk: parallel tasks, summary, and reruns of only what changed"
