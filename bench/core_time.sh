#!/usr/bin/env bash
# core_time.sh: how long the shipped 20-task CORE suite takes on the demo checkpoint, at
# BENCH_THREADS threads (default 2), before and after the scoring changes of issue 18,
# with the per-task table. "Before" is nmoe-eval built from BENCH_BASE (default 75cc70f,
# the last revision that ran the LM head at every position) in a temporary worktree.
#
# The baseline takes well over an hour for the whole suite on 2 cores, so it runs the
# first BENCH_LIMIT examples of each task (default 200; 0 = all); the current build runs
# the same subset, and must reach the same decisions on it (the `correct` count of every
# task is compared, and the run fails if one differs), and then the whole suite.
#
#   bash bench/core_time.sh                    (after make; trains the demo if needed)
#   CKPT=run/demo/train BENCH_LIMIT=0 bash bench/core_time.sh
#   BENCH_FULL=0 ...    skip the whole-suite run (the subset comparison only)
#
# After the whole suite it prints how many positions were run and scored (the eval
# lines' "time" object) and the time the LM head alone needs for the scored ones at
# this machine's measured rate: a floor that sharing and batching cannot go below.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
threads=${BENCH_THREADS:-2}
limit=${BENCH_LIMIT:-200}
base=${BENCH_BASE:-75cc70f}
ckpt=${CKPT:-$top/run/demo/train}
full=${BENCH_FULL:-1}
[ -x "$top/bin/nmoe-eval" ] || { echo "missing $top/bin/nmoe-eval (run make)" >&2; exit 1; }
if [ ! -e "$ckpt/latest" ]; then
    echo "== no checkpoint at $ckpt: training the demo (make demo)" >&2
    (cd "$top" && bash pipelines/demo.sh >&2)
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/core-bench.XXXXXX")
trap 'git -C "$top" worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

echo "== building the baseline $base in $work/base" >&2
git -C "$top" worktree add -q --detach "$work/base" "$base"
make -C "$work/base" -j"$threads" bin/nmoe-eval >/dev/null

core() { # TREE LIMIT OUT: that tree's nmoe-eval on that tree's task config
    OMP_NUM_THREADS=$threads "$1/bin/nmoe-eval" core -q --ckpt "$ckpt" --tasks "$1/pipelines/core.toml" \
        --tokenizer "$top/data/tokenizers/gpt2" --threads "$threads" --limit "$2" >"$3"
}
field() { grep -o "\"$2\":[^,}]*" <<<"$1" | head -n 1 | cut -d: -f2 | tr -d '"'; }

echo "== baseline, $limit examples per task" >&2
t0=$(date +%s.%N); core "$work/base" "$limit" "$work/base.nd"; t_base=$(echo "$(date +%s.%N) - $t0" | bc)
echo "== this build, $limit examples per task" >&2
t0=$(date +%s.%N); core "$top" "$limit" "$work/new.nd"; t_new=$(echo "$(date +%s.%N) - $t0" | bc)
t_full=0; : >"$work/full.nd"
if [ "$full" = 1 ]; then
    echo "== this build, the whole suite" >&2
    t0=$(date +%s.%N); core "$top" 0 "$work/full.nd"; t_full=$(echo "$(date +%s.%N) - $t0" | bc)
fi

printf '%-34s %8s %10s %10s %8s %10s %8s\n' task examples base_s new_s same full_items full_s
bad=0
while IFS= read -r b; do
    task=$(field "$b" task)
    n=$(grep "\"task\":\"$task\"" "$work/new.nd" | grep '"kind":"eval"')
    f=$(grep "\"task\":\"$task\"" "$work/full.nd" | grep '"kind":"eval"' || true)
    same=yes
    [ "$(field "$b" correct)" = "$(field "$n" correct)" ] || { same=NO; bad=1; }
    printf '%-34s %8s %10.2f %10.2f %8s %10s %8.2f\n' "$task" "$(field "$b" examples)" "$(field "$b" elapsed_s)" \
        "$(field "$n" elapsed_s)" "$same" "$(field "$f" examples)" "$(field "$f" elapsed_s || true)"
done < <(grep '"kind":"eval"' "$work/base.nd")
printf 'suite at --limit %s: baseline %.1f s, this build %.1f s (%.1fx); whole suite, this build: %.1f s (%s threads)\n' \
    "$limit" "$t_base" "$t_new" "$(echo "$t_base / $t_new" | bc -l)" "$t_full" "$threads"
grep '"kind":"core"' "$work/full.nd" | sed 's/^/core line: /' || true
if [ "$full" = 1 ]; then
    # The head's arithmetic floor: every scored position is a dim x vocab product and a
    # loss over the vocab, which no sharing or batching removes; at this machine's rate
    # for the head's blocks (tests/tools/head_rate.c), that is a floor for the suite.
    make -C "$top" -s build/testtools/head_rate >/dev/null
    scored=$(grep '"kind":"eval"' "$work/full.nd" | grep -o '"scored":[0-9]*' | cut -d: -f2 | paste -sd+ | bc)
    positions=$(grep '"kind":"eval"' "$work/full.nd" | grep -o '"positions":[0-9]*' | cut -d: -f2 | paste -sd+ | bc)
    state=$ckpt/state.json
    [ -e "$ckpt/latest" ] && state=$ckpt/$(cat "$ckpt/latest")/state.json
    dim=$(grep -o '"dim":[0-9]*' "$state" | head -n 1 | cut -d: -f2)
    vocab=$(grep -o '"vocab_size":[0-9]*' "$state" | head -n 1 | cut -d: -f2)
    rate=$(OMP_NUM_THREADS=$threads "$top/build/testtools/head_rate" "$dim" "$vocab" "$threads")
    rows_s=$(sed 's/.*rows\/s \([0-9]*\),.*/\1/' <<<"$rate")
    printf 'whole suite: %s positions run, %s scored; %s\n' "$positions" "$scored" "$rate"
    printf 'the head alone at the scored positions: %.1f s at this rate (of the %.1f s the suite took)\n' \
        "$(echo "$scored / $rows_s" | bc -l)" "$t_full"
fi
[ "$bad" = 0 ] || { echo "decisions differ from the baseline" >&2; exit 1; }
