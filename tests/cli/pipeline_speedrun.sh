#!/usr/bin/env bash
# pipelines/speedrun.mk end to end on a tiny real checkpoint: the run stops at the
# target, its time to target excludes validation, CORE runs on it, and the leaderboard
# gets one entry with every documented field; a run that misses the target is refused
# and records nothing; entries stay sorted by training time; two writers at once lose
# nothing; a rerun redoes nothing; a damaged leaderboard is refused and left as it is.
source "$NMOE_TOP/tests/cli/eval_common.bash"
require_tools jq flock
make_tokenizer
make_text_data data --val-fraction 0.1
write_config fast.toml data unused validation_steps=2 steps=20
speedrun() {
    make -s --no-print-directory -f "$NMOE_TOP/pipelines/speedrun.mk" DATA=data VAL_EVERY=2 CORE_TASKS="copa winograd" \
        EVAL_FLAGS="--limit 4 --tokenizer $work/tok.nmoe --threads 1" TRAIN_FLAGS="--threads 1" "$@"
}

# A target the first validation after step 0 reaches (step 2).
speedrun CONFIG=fast.toml TARGET=100 OUT=runs/a >a.out
grep -q '^speedrun: run [0-9a-f]* reached 100 at step 2 (1024 tokens) in [0-9.]* s of training' a.out ||
    { cat a.out; fail "no record line"; }
grep -q '"kind":"stop".*"reason":"target_loss reached' runs/a/metrics.ndjson || fail "the run did not stop at the target"
[ "$(jq length LEADERBOARD.json)" = 1 ] || fail "LEADERBOARD.json does not hold one entry"
jq -e '.[0] | (.run | type == "string") and (.fingerprint | length == 16) and (.config.dim == 64)
        and (.hardware.cores >= 1) and (.backend == "cpu") and (.dtype == "fp32") and (.target == 100)
        and (.steps == 2) and (.tokens == 1024) and (.train_s > 0) and (.val_s > 0) and (.val_loss <= 100)
        and (.core | type == "number") and (.core_tasks == 2) and (.date | test("^[0-9-]+T[0-9:]+Z$"))
        and (.eval_flags | contains("--limit 4"))' LEADERBOARD.json >/dev/null ||
    { jq . LEADERBOARD.json; fail "the entry lacks a field or has a wrong one"; }
# Time to target without validation: the trainer's train_s, below the wall clock by at
# least the validation time.
want=$(jq -s '[.[] | select(.kind == "stop") | .time.train_s] | last' runs/a/metrics.ndjson)
[ "$(jq -n "$(jq '.[0].train_s' LEADERBOARD.json) == $want")" = true ] || fail "train_s is not the stop line's"
jq -e '.[0] | .train_s + .val_s <= .wall_s' LEADERBOARD.json >/dev/null || fail "train_s + val_s exceeds the wall time"
[ -s runs/a/core/core.ndjson ] || fail "no CORE summary"
[ "$(sqlite3 run/registry.db "select status, steps from runs where id = '$(jq -r '.[0].run' LEADERBOARD.json)'")" = "target_reached|2" ] ||
    fail "the registry does not hold the run as target_reached at step 2"

# A rerun redoes nothing.
before=$(stat -c %Y runs/a/recorded runs/a/metrics.ndjson)
sleep 1
speedrun CONFIG=fast.toml TARGET=100 OUT=runs/a >/dev/null
[ "$(stat -c %Y runs/a/recorded runs/a/metrics.ndjson)" = "$before" ] || fail "a rerun redid a step"

# A target out of reach: the run ends after its steps, and nothing is recorded.
expect_fail 2 "missed the target 0.01: the run ended (finished) at step 4" \
    speedrun CONFIG=fast.toml TARGET=0.01 SET="steps=4" OUT=runs/miss
[ ! -e runs/miss/recorded ] && [ ! -e runs/miss/result.json ] || fail "a missed target left a result"
[ "$(jq length LEADERBOARD.json)" = 1 ] || fail "a missed target was recorded"

# Another config reaching the target later: two entries, sorted by training time.
write_config slow.toml data unused validation_steps=2 steps=20 seed=4
speedrun CONFIG=slow.toml TARGET=100 VAL_EVERY=6 OUT=runs/b >/dev/null
jq -e 'length == 2 and .[0].train_s <= .[1].train_s' LEADERBOARD.json >/dev/null || fail "not two sorted entries"

# Two writers at once (the same run under two run ids): both entries arrive.
for id in w1 w2; do jq -c "if .run then .run = \"$id\" else . end" runs/a/metrics.ndjson >"$id.ndjson"; done
bash "$NMOE_TOP/pipelines/leaderboard.sh" record LEADERBOARD.json w1.ndjson runs/a/result.json runs/a/core/core.ndjson "" >/dev/null &
bash "$NMOE_TOP/pipelines/leaderboard.sh" record LEADERBOARD.json w2.ndjson runs/a/result.json runs/a/core/core.ndjson "" >/dev/null
wait
[ "$(jq -r '[.[].run] | sort | join(",")' LEADERBOARD.json | grep -o 'w[12]' | tr -d '\n')" = w1w2 ] ||
    { jq -c '[.[].run]' LEADERBOARD.json; fail "a parallel writer's entry was lost"; }
[ "$(jq length LEADERBOARD.json)" = 4 ] || fail "parallel writers: expected 4 entries"
# The same run recorded again replaces its entry.
bash "$NMOE_TOP/pipelines/leaderboard.sh" record LEADERBOARD.json w1.ndjson runs/a/result.json runs/a/core/core.ndjson "" >/dev/null
[ "$(jq length LEADERBOARD.json)" = 4 ] || fail "recording a run again added an entry"

# A damaged leaderboard is refused, not overwritten.
cp LEADERBOARD.json good.json
printf '{"not": "an array"}\n' >LEADERBOARD.json
expect_fail 1 "LEADERBOARD.json: not a JSON array (left as it is)" \
    bash "$NMOE_TOP/pipelines/leaderboard.sh" record LEADERBOARD.json w1.ndjson runs/a/result.json runs/a/core/core.ndjson ""
[ "$(cat LEADERBOARD.json)" = '{"not": "an array"}' ] || fail "the damaged leaderboard was changed"
expect_fail 2 "TARGET=abc: not a positive number" speedrun CONFIG=fast.toml TARGET=abc OUT=runs/c
echo "ok: speedrun.mk times a run to its target, runs CORE and keeps the leaderboard"
