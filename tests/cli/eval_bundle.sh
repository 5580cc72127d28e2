#!/usr/bin/env bash
# nmoe-eval core --bundle and core_eval.mk BUNDLE=: a CORE eval bundle made here, in
# nanochat's layout (core.yaml, eval_meta_data.csv, eval_data/), with four tasks of all
# three types (a squad-like and a coqa-like language-modelling task among them), a
# quoted "\nAnswer: " delimiter, a num_fewshot list of two values and a csv with quoted
# fields, is read as the equivalent hand-written TOML suite: the same task table, the
# same prompts, and on a tiny checkpoint the same eval and core lines (timings aside);
# the pipeline gives the same lines too. The same tasks in DCLM's layout (a yaml with
# other top-level keys, local_data/ beside it) read the same. Broken bundles (no
# core.yaml, a bad yaml line, a task without a baseline row, a missing data file, a bad
# csv) fail with one line naming the file and the reason; --bundle with --tasks is a
# usage error.
source "$NMOE_TOP/tests/cli/eval_common.bash"
command -v make >/dev/null || { echo "skip: make not found"; exit 77; }
make_checkpoint

# ---- the bundle -----------------------------------------------------------------------
mkdir -p bundle/eval_data/commonsense bundle/eval_data/language bundle/eval_data/reading
"$PY" - <<'PY'
import json
def write(path, items):
    with open(path, "w") as f:
        for it in items:
            f.write(json.dumps(it) + "\n")
write("bundle/eval_data/commonsense/mc.jsonl", [
    {"query": "Question: What color is a clear daytime sky?", "choices": ["blue", "green", "red", "black"], "gold": 0},
    {"query": "Question: How many legs does a cat have?", "choices": ["two", "four", "six", "eight"], "gold": 1},
    {"query": "Question: What is frozen water called?", "choices": ["ice", "steam", "sand", "wood"], "gold": 0},
    {"query": "Question: Which animal barks?", "choices": ["cow", "dog", "fish", "owl"], "gold": 1},
    {"query": "Question: What do bees make?", "choices": ["milk", "silk", "honey", "wax"], "gold": 2},
    {"query": "Question: Which is a fruit?", "choices": ["stone", "apple", "brick", "nail"], "gold": 1},
])
write("bundle/eval_data/language/schema.jsonl", [
    {"context_options": ["The trophy did not fit in the case because the trophy",
                         "The trophy did not fit in the case because the case"], "continuation": "was too big.", "gold": 0},
    {"context_options": ["Romeo loved Juliet so Romeo", "Romeo loved Juliet so Juliet"],
     "continuation": "wrote her a letter.", "gold": 0},
    {"context_options": ["The king spoke to the lord and the king", "The king spoke to the lord and the lord"],
     "continuation": "bowed low.", "gold": 1},
    {"context_options": ["The night was cold so the fire", "The night was cold so the snow"],
     "continuation": "was lit.", "gold": 0},
])
write("bundle/eval_data/reading/squad.jsonl", [
    {"context": "ROMEO: But soft, what light through yonder window breaks?\nQuestion: Who speaks?\nAnswer:", "continuation": " ROMEO"},
    {"context": "First Citizen: Before we proceed any further, hear me speak.\nQuestion: Who speaks?\nAnswer:", "continuation": " First Citizen"},
    {"context": "MENENIUS: What work's, my countrymen, in hand?\nQuestion: Who speaks?\nAnswer:", "continuation": " MENENIUS"},
    {"context": "JULIET: O Romeo, Romeo! wherefore art thou Romeo?\nQuestion: Who speaks?\nAnswer:", "continuation": " JULIET"},
    {"context": "MARCIUS: They are dissolved: hang 'em!\nQuestion: Who speaks?\nAnswer:", "continuation": " MARCIUS"},
    {"context": "All: Speak, speak.\nQuestion: Who speaks?\nAnswer:", "continuation": " All"},
])
write("bundle/eval_data/reading/coqa.jsonl", [
    {"context": "The citizens are hungry and angry. Q: How are the citizens? A:", "continuation": "hungry"},
    {"context": "Caius Marcius is chief enemy to the people. Q: Who is the enemy? A:", "continuation": "Caius Marcius"},
    {"context": "The senators of Rome are in the Capitol. Q: Where are the senators? A:", "continuation": "the Capitol"},
    {"context": "Menenius tells a tale of the belly. Q: What does Menenius tell? A:", "continuation": "a tale"},
])
PY
cat >bundle/core.yaml <<'EOF'
# a small nanochat-style eval bundle (tests/cli/eval_bundle.sh)
icl_tasks:
-
  label: mc_qa
  dataset_uri: commonsense/mc.jsonl
  num_fewshot: [2]
  icl_task_type: multiple_choice
  continuation_delimiter: "\nAnswer: " # this separates questions from answers
-
  label: winners
  dataset_uri: language/schema.jsonl
  num_fewshot: [0]
  icl_task_type: schema
  has_categories: true
- label: squad
  dataset_uri: reading/squad.jsonl
  num_fewshot: [1, 3]   # nanochat takes num_fewshot[0]
  icl_task_type: language_modeling
- label: 'coqa'
  dataset_uri: "reading/coqa.jsonl"
  num_fewshot: [ 0 ]
  icl_task_type: "language_modeling"
  continuation_delimiter: ' '
EOF
{
    printf 'Eval Task,Task Category,Task Type,#shots,#datapoints,Random baseline,Centered Metric?,Description\r\n'
    printf 'mc_qa,commonsense reasoning,multiple choice,2,6,25,,"Four choices, with ""quoted"" words"\r\n'
    printf 'winners,language understanding,schema,0,4,50,,"Two options,\nover two lines"\n'
    printf 'unused,other,multiple choice,10,100,33.3,,not in core.yaml\n'
    printf '\n'
    printf 'squad,reading comprehension,language modeling,10,6,0,,SQuAD-like\n'
    printf 'coqa,reading comprehension,language modeling,0,4,0,,"CoQA, exact match"\n'
} >bundle/eval_meta_data.csv

# The same suite written by hand in nmoe's own format.
cat >suite.toml <<'EOF'
[suite]
data_dir = "bundle/eval_data"

[task.mc_qa]
file = "commonsense/mc.jsonl"
icl_task_type = "multiple_choice"
num_fewshot = 2
random_baseline = 25
continuation_delimiter = "\nAnswer: "

[task.winners]
file = "language/schema.jsonl"
icl_task_type = "schema"
num_fewshot = 0
random_baseline = 50

[task.squad]
file = "reading/squad.jsonl"
icl_task_type = "language_modeling"
num_fewshot = 1
random_baseline = 0

[task.coqa]
file = "reading/coqa.jsonl"
icl_task_type = "language_modeling"
num_fewshot = 0
random_baseline = 0
EOF

# ---- the task table -------------------------------------------------------------------
nmoe-eval core --bundle bundle --list >list.txt 2>list.err
printf '%s\t%s\t%s\t%s\t%s\n' \
    mc_qa multiple_choice 2 25 bundle/eval_data/commonsense/mc.jsonl \
    winners schema 0 50 bundle/eval_data/language/schema.jsonl \
    squad language_modeling 1 0 bundle/eval_data/reading/squad.jsonl \
    coqa language_modeling 0 0 bundle/eval_data/reading/coqa.jsonl >want.txt
cmp list.txt want.txt || { diff list.txt want.txt; fail "--list of the bundle"; }
grep -qF 'bundle/core.yaml:15: task "squad": num_fewshot lists 2 values; CORE uses the first, 1' list.err ||
    { cat list.err; fail "no warning about the num_fewshot list"; }
nmoe-eval core --tasks suite.toml --list | cmp - want.txt || fail "the hand-written suite lists differently"

# Prompts, delimiters included, are the hand-written suite's.
nmoe-eval core -q --bundle bundle --dump-prompts >prompts_bundle.ndjson
nmoe-eval core -q --tasks suite.toml --dump-prompts >prompts_toml.ndjson
cmp prompts_bundle.ndjson prompts_toml.ndjson || fail "the bundle's prompts differ from the TOML suite's"
"$PY" - prompts_bundle.ndjson <<'PY'
import json, sys
p = [json.loads(l) for l in open(sys.argv[1])]
mc = [x for x in p if x["task"] == "mc_qa"]
assert len(mc) == 6 and all(len(x["fewshot"]) == 2 for x in mc), mc[0]
assert all(c.endswith("\nAnswer: ") for c in mc[0]["context"]), mc[0]["context"]
sq = [x for x in p if x["task"] == "squad"]
assert all(len(x["fewshot"]) == 1 for x in sq), sq[0]
co = [x for x in p if x["task"] == "coqa"]
assert co[0]["context"][0].endswith("A:") and co[0]["continuation"][0] == " hungry", co[0]
PY

# ---- scores on a tiny checkpoint ------------------------------------------------------
flags=(--ckpt ckpt --tokenizer tok.nmoe --threads 1)
nmoe-eval core "${flags[@]}" --bundle bundle -o bundle.ndjson 2>run.err
nmoe-eval core -q "${flags[@]}" --tasks suite.toml -o toml.ndjson
strip() { sed 's/,"time":{[^}]*}//' "$@"; }
cmp <(strip bundle.ndjson) <(strip toml.ndjson) ||
    { diff <(strip bundle.ndjson) <(strip toml.ndjson); fail "the bundle's eval lines differ from the TOML suite's"; }
"$PY" - bundle.ndjson <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ev = [l for l in lines if l["kind"] == "eval"]
core = [l for l in lines if l["kind"] == "core"]
assert [l["task"] for l in ev] == ["mc_qa", "winners", "squad", "coqa"], ev
want = {"mc_qa": ("multiple_choice", 2, 25, 6), "winners": ("schema", 0, 50, 4),
        "squad": ("language_modeling", 1, 0, 6), "coqa": ("language_modeling", 0, 0, 4)}
for l in ev:
    assert (l["type"], l["num_fewshot"], l["random_baseline"], l["examples"]) == want[l["task"]], l
    assert l["seed"] == 1234, l
assert len(core) == 1 and core[0]["n_tasks"] == 4 and core[0]["tasks"] == [l["task"] for l in ev], core
assert abs(core[0]["core"] - sum(l["centered"] for l in ev) / 4) < 1e-12, core
PY
grep -q '^CORE -\?[0-9.]* over 4 of the 4 tasks of bundle/core.yaml (CORE proper is the mean over 22)$' run.err ||
    { cat run.err; fail "stderr does not say how many tasks the CORE score covers"; }

# ---- the pipeline ---------------------------------------------------------------------
mk() { make --no-print-directory -f "$NMOE_TOP/pipelines/core_eval.mk" CKPT=ckpt OUT=core \
       EVAL_FLAGS="--tokenizer tok.nmoe --threads 1" "$@"; }
mk BUNDLE=bundle -j2 >table.txt 2>make.err || { cat make.err; fail "core_eval.mk BUNDLE=bundle failed"; }
grep -q '^CORE (4 tasks)' table.txt || { cat table.txt; fail "no CORE (4 tasks) row in the pipeline's table"; }
grep -q -- '--bundle bundle --task squad' make.err table.txt || fail "the pipeline did not run nmoe-eval core --bundle"
cmp <(grep '"kind":"eval"' core/core.ndjson | strip) <(grep '"kind":"eval"' bundle.ndjson | strip) ||
    fail "the pipeline's eval lines differ from a direct --bundle run"
before=$(stat -c %Y.%s core/*.ndjson)
sleep 1
mk BUNDLE=bundle -j2 >table2.txt 2>/dev/null
[ "$before" = "$(stat -c %Y.%s core/*.ndjson)" ] || fail "a second make rescored with nothing changed"
# touching the baselines reruns every task
sleep 1
touch bundle/eval_meta_data.csv
mk BUNDLE=bundle TASKS="coqa squad" -j2 >make3.out 2>/dev/null
grep -c -- '--bundle bundle --task' make3.out | grep_all -x 2 || { cat make3.out; fail "a new csv did not rerun the two tasks"; }
expect_fail 2 "give TASKS_FILE or BUNDLE, not both" mk BUNDLE=bundle TASKS_FILE=suite.toml
mkdir empty
expect_fail 2 "BUNDLE=empty: empty/core.yaml: no such file" mk BUNDLE=empty OUT=core-empty

# ---- DCLM's layout: an eval yaml with the csv and local_data/ beside it -----------------
mkdir -p dclm/local_data
cp -r bundle/eval_data/* dclm/local_data/
cp bundle/eval_meta_data.csv dclm/
{
    printf 'max_seq_len: 2048\nseed: 1\ntokenizer:\n  # name: [Add name from memory]\n  kwargs:\n    model_max_length: 2048\n'
    printf 'load_path: # Add your (optional) Composer checkpoint path here!\n\n'
    sed 's|dataset_uri: "*|&local_data/|' bundle/core.yaml
} >dclm/lowvar.yaml
nmoe-eval core -q --bundle dclm/lowvar.yaml --list >dclm_list.txt
sed 's|bundle/eval_data/|dclm/local_data/|' want.txt | cmp - dclm_list.txt || { cat dclm_list.txt; fail "--list of the DCLM layout"; }
nmoe-eval core -q "${flags[@]}" --bundle dclm/lowvar.yaml --task winners --task coqa -o dclm.ndjson
nofile() { strip "$@" | sed 's/"file":"[^"]*"//'; }
cmp <(nofile dclm.ndjson | grep '"kind":"eval"') <(nofile bundle.ndjson | grep -E '"task":"(winners|coqa)"') ||
    fail "the DCLM layout scores differently"

# ---- broken bundles: one line naming the file and the reason ---------------------------
fails() { # STATUS TEXT ARGS...: nmoe-eval core ARGS fails so, with one line on stderr
    local status=$1 text=$2
    shift 2
    expect_fail "$status" "$text" nmoe-eval core "$@"
    [ "$(wc -l <cmd.err)" = 1 ] || { cat cmd.err; fail "$*: more than one line on stderr"; }
}
broken() { rm -rf "$1"; cp -r bundle "$1"; }
fails 1 "nmoe-eval: empty: no core.yaml in this folder" --bundle empty --list
fails 1 "nmoe-eval: nowhere: No such file or directory" --bundle nowhere --list
broken b1
sed -i 's#^  has_categories: true#  has_categories: |\n    nested#' b1/core.yaml
fails 1 "nmoe-eval: b1/core.yaml:14: block scalars (| and >) are not supported" --bundle b1 --list
broken b2
sed -i '/^  label: mc_qa/a\	num_fewshot: [1]' b2/core.yaml
fails 1 "nmoe-eval: b2/core.yaml:5: a tab in the indentation" --bundle b2 "${flags[@]}"
broken b3
sed -i '/^squad,/d' b3/eval_meta_data.csv
fails 1 'nmoe-eval: b3/core.yaml:15: task "squad": b3/eval_meta_data.csv: no row for task "squad"' --bundle b3 --list
broken b4
rm b4/eval_data/reading/coqa.jsonl
fails 1 'nmoe-eval: b4/core.yaml:19: task "coqa": data file b4/eval_data/reading/coqa.jsonl: No such file or directory' \
    --bundle b4 "${flags[@]}"
broken b5
rm b5/eval_meta_data.csv
fails 1 "nmoe-eval: b5/eval_meta_data.csv: No such file or directory" --bundle b5 --list
broken b6
printf 'copa,x,y,0,1,50,,"never closed\n' >>b6/eval_meta_data.csv
fails 1 "nmoe-eval: b6/eval_meta_data.csv:9: a quoted field is never closed" --bundle b6 --list
broken b7
sed -i 's|icl_task_type: schema|icl_task_type: question_answering|' b7/core.yaml
fails 1 'nmoe-eval: b7/core.yaml:13: icl_task_type "question_answering" is not supported' --bundle b7 --list
broken b8
sed -i 's|^winners,\(.*\),50,,|winners,\1,fifty,,|' b8/eval_meta_data.csv
fails 1 'b8/eval_meta_data.csv:3: task "winners": Random baseline "fifty" is not a number' --bundle b8 --list
fails 1 "nmoe-eval: b4/core.yaml:19" --bundle b4 "${flags[@]}" -o b4.ndjson
[ ! -e b4.ndjson ] || fail "a failed run left an output file"
expect_fail 2 "nmoe-eval: --tasks and --bundle do not go together" nmoe-eval core --bundle bundle --tasks suite.toml --list
expect_fail 2 "nmoe-eval: --task nope: no such task in bundle/core.yaml" nmoe-eval core --bundle bundle --task nope \
    "${flags[@]}"
expect_fail 2 "nmoe-eval: --bundle does not apply to 'bpb'" nmoe-eval bpb --bundle bundle --ckpt ckpt --data data
echo "nmoe-eval core --bundle: a nanochat / DCLM bundle reads as the equivalent TOML suite"
