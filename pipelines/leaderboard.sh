#!/usr/bin/env bash
# leaderboard.sh: the speedrun's bookkeeping (pipelines/speedrun.mk).
#
#   leaderboard.sh result TARGET METRICS
#       The run's time to target from its metric stream (nmoe-metrics(5)), as JSON on
#       stdout: {"target","steps","tokens","train_s","val_s","wall_s","val_loss",
#       "train_loss"}. train_s is the stop line's (seconds in training steps, validation
#       and checkpoints excluded); val_s sums the val lines' val_s; tokens are the
#       steps times the meta line's tokens_per_step. Exit 1, naming the file, when the run did not
#       stop at the target (its stop line is not "target_loss reached").
#   leaderboard.sh record LEADERBOARD METRICS RESULT CORE EVAL_FLAGS
#       Add the run to LEADERBOARD (a JSON array, created if missing), replacing an
#       entry of the same run id, sorted by train_s then date; under a lock on
#       LEADERBOARD.lock, written to a temporary file, synced and renamed, so parallel
#       speedruns and a crash lose nothing. Prints the entry and its rank.
#
# An entry: run, fingerprint, config (the resolved config of the meta line), hardware
# (CPU model, cores), threads, backend, backend_describe, dtype, target, steps, tokens,
# train_s, val_s, wall_s, val_loss, train_loss, core, core_tasks, eval_flags,
# revision (git, or "unknown"), date (UTC, ISO 8601).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "leaderboard.sh: $*" >&2; exit 1; }

result() {
    local target=$1 metrics=$2 out
    [ -s "$metrics" ] || die "$metrics: missing or empty"
    out=$(jq -cs --argjson target "$target" --arg file "$metrics" '
        (map(select(.kind == "stop")) | last) as $stop
        | (map(select(.kind == "val")) | last) as $val
        | if $stop == null then { error: "\($file): no stop line: the run did not end" }
          elif ($stop.reason | startswith("target_loss reached")) | not then
            { error: "\($file): missed the target \($target): the run ended (\($stop.reason)) at step \($stop.step) with validation loss \($val.loss // "none")" }
          elif $val.loss > $target then { error: "\($file): the last validation loss \($val.loss) is above the target \($target)" }
          else
            { target: $target, steps: $stop.step,
                tokens: ($stop.step * (map(select(.kind == "meta")) | first | .tokens_per_step)),
                train_s: $stop.time.train_s,
                val_s: (map(select(.kind == "val") | .time.val_s // 0) | add),
                wall_s: $stop.time.elapsed_s, val_loss: $val.loss, train_loss: $stop.loss }
          end' "$metrics") || die "$metrics: not a metric stream (jq failed)"
    if [ "$(jq -r 'has("error")' <<<"$out")" = true ]; then die "$(jq -r .error <<<"$out")"; fi
    printf '%s\n' "$out"
}

record() {
    local board=$1 metrics=$2 res=$3 core=$4 flags=$5
    for f in "$metrics" "$res" "$core"; do [ -s "$f" ] || die "$f: missing or empty"; done
    local cpu cores rev date
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
    cores=$(nproc)
    rev=$(git -C "$top" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
    date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    local entry
    entry=$(jq -c -n --slurpfile m "$metrics" --slurpfile r "$res" --slurpfile c "$core" \
        --arg cpu "${cpu:-unknown}" --argjson cores "$cores" --arg rev "$rev" --arg date "$date" --arg flags "$flags" '
        ($m | map(select(.kind == "meta")) | first) as $meta
        | ($c | map(select(.kind == "core")) | last) as $core
        | $r[0] + { run: $meta.run, fingerprint: $meta.fingerprint, config: $meta.config,
                    hardware: { cpu: $cpu, cores: $cores }, threads: $meta.time.threads,
                    backend: $meta.backend, backend_describe: $meta.time.backend_describe,
                    dtype: ($meta.config.precision // "fp32"),
                    core: $core.core, core_tasks: $core.n_tasks, eval_flags: $flags,
                    revision: $rev, date: $date }')
    [ "$(jq -r '.core | type' <<<"$entry")" = number ] || die "$core: no core line"
    exec 9>>"$board.lock"
    flock 9
    local tmp="$board.tmp.$$"
    if [ -e "$board" ]; then
        jq -e 'type == "array"' "$board" >/dev/null 2>&1 || die "$board: not a JSON array (left as it is)"
        jq --argjson e "$entry" '[.[] | select(.run != $e.run)] + [$e] | sort_by(.train_s, .date)' "$board" >"$tmp"
    else
        jq -n --argjson e "$entry" '[$e]' >"$tmp"
    fi
    sync "$tmp" 2>/dev/null || sync
    mv "$tmp" "$board"
    local rank n
    rank=$(jq --arg r "$(jq -r .run <<<"$entry")" 'map(.run) | index($r) + 1' "$board")
    n=$(jq length "$board")
    flock -u 9
    jq -r --arg rank "$rank" --arg n "$n" --arg board "$board" \
        '"speedrun: run \(.run) reached \(.target) at step \(.steps) (\(.tokens) tokens) in \(.train_s * 10 | round / 10) s of training (validation \(.val_s * 10 | round / 10) s apart); CORE \(.core * 10000 | round / 10000) over \(.core_tasks) tasks; rank \($rank) of \($n) in \($board)"' <<<"$entry"
}

case ${1:-} in
    result) shift; [ $# -eq 2 ] || die "usage: result TARGET METRICS"; result "$@" ;;
    record) shift; [ $# -eq 5 ] || die "usage: record LEADERBOARD METRICS RESULT CORE EVAL_FLAGS"; record "$@" ;;
    *) die "usage: leaderboard.sh result|record ..." ;;
esac
