#!/usr/bin/env bash
# Every run has its own id, on every line of its metric stream: two runs of one config
# are two runs (two ids, neither the fingerprint); a run resumed in its own out_dir
# keeps its id (stored in state.json); a branch from a checkpoint elsewhere is a new run
# naming its parent. (That nmoe-eval's lines carry the trainer's run id is checked by
# eval_bpb_trainer.sh.)
. "$(dirname "$0")/train_common.bash"
make_data
write_config

# The run id of a stream's first meta line, checked to be on every line.
run_of() {
    python3 - "$1" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
run = lines[0]["run"]
assert len(run) == 16 and all(c in "0123456789abcdef" for c in run), run
assert all(l["run"] == run for l in lines), "a line with another run id"
print(run)
PY
}
meta_field() { head -n 1 "$1" | python3 -c 'import json,sys; v = json.load(sys.stdin)[sys.argv[1]]; print("null" if v is None else v)' "$2"; }

nmoe-train -q tiny.toml --set steps=4 --set out_dir=a >a.ndjson
nmoe-train -q tiny.toml --set steps=4 --set out_dir=b >b.ndjson
ra=$(run_of a.ndjson) || fail "a.ndjson"
rb=$(run_of b.ndjson) || fail "b.ndjson"
fp=$(meta_field a.ndjson fingerprint)
[ "$fp" = "$(meta_field b.ndjson fingerprint)" ] || fail "one config, two fingerprints"
[ "$ra" != "$rb" ] || fail "two runs of one config share the id $ra"
[ "$ra" != "$fp" ] || fail "the run id is the fingerprint"
[ "$(meta_field a.ndjson parent_run)" = null ] || fail "a fresh run has a parent"
grep -q "\"run\":\"$ra\"" a/step-00000004/state.json || fail "state.json does not record the run id $ra"

# Resumed in its own out_dir (--resume, then resume = true): the same run.
nmoe-train -q tiny.toml --set steps=8 --set out_dir=a --resume a >>a.ndjson
nmoe-train -q tiny.toml --set steps=12 --set out_dir=a --set resume=true >>a.ndjson
[ "$(grep -c '"kind":"meta"' a.ndjson)" = 3 ] || fail "expected three meta lines"
[ "$(run_of a.ndjson)" = "$ra" ] || fail "the resumed run changed its id"
grep -q "\"run\":\"$ra\"" a/step-00000012/state.json || fail "the resumed run's checkpoint lost the id"

# A branch from a's checkpoint into another out_dir: a new run, a's id its parent.
nmoe-train -q tiny.toml --set steps=16 --set out_dir=c --resume a/step-00000008 >c.ndjson
rc_=$(run_of c.ndjson) || fail "c.ndjson"
[ "$rc_" != "$ra" ] || fail "a branch kept its parent's id"
[ "$(meta_field c.ndjson parent_run)" = "$ra" ] || fail "the branch's parent_run is $(meta_field c.ndjson parent_run), not $ra"

echo "run id: ok"
