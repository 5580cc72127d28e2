#!/usr/bin/env bash
# Bad input to nmoe-eval gives one clear line `nmoe-eval: file...: reason` and the right
# exit status, through the real program on a real checkpoint:
#   - malformed task files (a bad JSON line, a gold index out of range, a missing field,
#     ...) name the file and the line, exit 1, before any scoring and with no output file;
#   - a bad task config names file, line and key;
#   - a damaged or missing checkpoint, a tokenizer or data set of another vocabulary, a
#     dense model asked for router health: exit 1 with the reason;
#   - command-line mistakes: exit 2.
source "$NMOE_TOP/tests/cli/eval_common.bash"
make_checkpoint
bad=$NMOE_TOP/tests/data/eval

# task_config FILE TYPE: a one-task config over tests/data/eval/FILE
task_config() {
    printf '[suite]\ndata_dir = "%s"\n[task.t]\nfile = "%s"\nicl_task_type = "%s"\nnum_fewshot = 0\nrandom_baseline = 25\n' \
        "$bad" "$1" "$2" >t.toml
}
core() { nmoe-eval core --ckpt ckpt --tokenizer tok.nmoe --tasks t.toml "$@"; }

# Malformed task files: file:line: reason, exit 1, no output file left behind.
check_task() { # FILE TYPE EXPECTED-MESSAGE
    task_config "$1" "$2"
    expect_fail 1 "nmoe-eval: $bad/$1:$3" core -o out.ndjson
    [ "$(wc -l <cmd.err)" = 1 ] || { cat cmd.err; fail "$1: more than one line on stderr"; }
    [ ! -e out.ndjson ] || fail "$1: an output file was left"
}
check_task bad_json.jsonl multiple_choice '2: malformed JSON'
check_task gold_range.jsonl multiple_choice '2: "gold" 4 is out of range (4 choices: 0..3)'
check_task missing_field.jsonl multiple_choice '3: missing field "choices"'
check_task wrong_type.jsonl multiple_choice '1: field "choices" is not an array'
check_task gold_negative.jsonl multiple_choice '1: "gold"'
check_task blank_line.jsonl multiple_choice '2: blank line'
check_task schema_missing.jsonl schema '1: missing field "continuation"'
check_task lm_empty_continuation.jsonl language_modeling '1: field "continuation" is empty'
check_task lm_blank_context.jsonl language_modeling '2:'
# a bad file among good ones fails before the good ones are scored
printf '[suite]\ndata_dir = "%s"\n[task.good]\nfile = "mc.jsonl"\nicl_task_type = "multiple_choice"\nnum_fewshot = 0\nrandom_baseline = 25\n[task.bad]\nfile = "gold_range.jsonl"\nicl_task_type = "multiple_choice"\nnum_fewshot = 0\nrandom_baseline = 25\n' "$bad" >t.toml
expect_fail 1 "gold_range.jsonl:2:" core
[ ! -s cmd.out ] || fail "the good task was scored before the bad file was found"
# too few examples for the shots
printf '[suite]\ndata_dir = "%s"\n[task.t]\nfile = "mc_pair.jsonl"\nicl_task_type = "multiple_choice"\nnum_fewshot = 5\nrandom_baseline = 50\n' "$bad" >t.toml
expect_fail 1 "mc_pair.jsonl: 2 examples are too few for 5-shot prompts" core
# a task file that is missing
task_config no-such-file.jsonl multiple_choice
expect_fail 1 "no-such-file.jsonl" core
# task configs: file:line and the key
expect_fail 1 "suite_unknown_key.toml:6" nmoe-eval core --ckpt ckpt --tokenizer tok.nmoe --tasks "$bad/suite_unknown_key.toml"
grep -q has_categories cmd.err || fail "the unknown key is not named: $(cat cmd.err)"
expect_fail 1 "suite_missing_key.toml" nmoe-eval core --tasks "$bad/suite_missing_key.toml" --list
task_config mc.jsonl multiple_choice
expect_fail 2 "--task nope: no such task in t.toml" core --task nope
expect_fail 2 "--task t given twice" core --task t --task t

# Checkpoints, tokenizers, data.
expect_fail 1 "nmoe-eval: nowhere: not a checkpoint" nmoe-eval bpb --ckpt nowhere --data data --tokenizer tok.nmoe
cp -r ckpt ckpt-bad
flipbyte "$(echo ckpt-bad/step-*/model.bin)" -5
expect_fail 1 "model.bin" nmoe-eval bpb --ckpt ckpt-bad --data data --tokenizer tok.nmoe
expect_fail 1 "is not the one the checkpoint was trained with" nmoe-eval sample --ckpt ckpt --max-tokens 1
grep -q 'tokenizer gpt2' cmd.err || fail "the default tokenizer is not named: $(cat cmd.err)"
expect_fail 1 "tokenizer" nmoe-eval bpb --ckpt ckpt --data data --tokenizer no-such-tokenizer
mktokstream --docs 20 --vocab 256 --seed 1 | nmoe-shard pack -q --val-fraction 0.5 -o other
expect_fail 1 "nmoe-eval: other: its tokenizer" nmoe-eval bpb --ckpt ckpt --data other --tokenizer tok.nmoe
expect_fail 1 "no MoE layers" nmoe-eval router --ckpt ckpt --data data
nmoe-shard pack -q -o noval < <(nmoe-tok encode -q -t tok.nmoe --eot docs.jsonl)
write_config nohold.toml noval nohold-out holdout_fraction=0.0 steps=1
nmoe-train -q nohold.toml --metrics /dev/null
expect_fail 1 "no validation data" nmoe-eval bpb --ckpt nohold-out --data noval --tokenizer tok.nmoe

# Interrupted: exit 130, and neither the output file nor a temporary file is left.
mkdir intr
nmoe-eval core -q --ckpt ckpt --tokenizer tok.nmoe --tasks "$NMOE_TOP/pipelines/core.toml" --task hellaswag \
    -o intr/out.ndjson &
pid=$!
sleep 1
kill -INT $pid
rc=0
wait $pid || rc=$?
[ $rc = 130 ] || fail "interrupted nmoe-eval exited $rc, expected 130"
[ -z "$(ls -A intr)" ] || fail "interrupted nmoe-eval left: $(ls -A intr)"

# The command line.
expect_fail 2 "no subcommand" nmoe-eval
expect_fail 2 "unknown subcommand 'score'" nmoe-eval score
expect_fail 2 "unknown option '--frobnicate'" nmoe-eval bpb --frobnicate
expect_fail 2 "--prompt does not apply to 'bpb'" nmoe-eval bpb --ckpt ckpt --data data --prompt x
expect_fail 2 "--ckpt DIR is required" nmoe-eval sample
expect_fail 2 "--data SHARDS is required" nmoe-eval bpb --ckpt ckpt --tokenizer tok.nmoe
expect_fail 2 "--seq-len 65 is longer than the checkpoint's seq_len 64" \
    nmoe-eval bpb --ckpt ckpt --data data --tokenizer tok.nmoe --seq-len 65
expect_fail 2 "--split test" nmoe-eval bpb --ckpt ckpt --data data --split test
expect_fail 2 "--tokens 10 is less than one sequence" nmoe-eval bpb --ckpt ckpt --data data --tokenizer tok.nmoe --tokens 10
expect_fail 2 "--tokens" nmoe-eval bpb --ckpt ckpt --data data --tokens 12Q
expect_fail 2 "--temperature" nmoe-eval sample --ckpt ckpt --temperature -1
expect_fail 2 "--batch" nmoe-eval core --ckpt ckpt --batch 0
expect_fail 2 "--table and -o - both want stdout" nmoe-eval summary --table -o - x.ndjson
expect_fail 2 "summary: no input files" nmoe-eval summary
expect_fail 2 "needs a value" nmoe-eval core --tasks
nmoe-eval --version | grep_all -x 'nmoe-eval [0-9]*\.[0-9]*\.[0-9]*' || fail "--version: $(nmoe-eval --version)"
nmoe-eval -h | grep_all '^Usage: nmoe-eval bpb' || fail "-h gives no short usage"
echo "nmoe-eval: bad task files, configs, checkpoints, data and command lines give clear errors"
