#!/usr/bin/env bash
# --registry FILE records each run as one row of FILE's runs table (nmoe-registry(5)):
# its id, fingerprint, config, build and host, and, when it ends, its status, exit
# status and final figures; for a completed, a target_loss, a diverged and a failed run,
# and for a resumed one (the same row, one more segment). NMOE_REGISTRY is the default,
# and --registry '' turns it off.
. "$(dirname "$0")/train_common.bash"
require_tools sqlite3
make_data
write_config
q() { sqlite3 -batch reg.db "$@"; }
meta_field() { head -n 1 "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"; }

# Completed: every column as the metric stream says.
nmoe-train -q tiny.toml --registry reg.db --set steps=8 --set out_dir=done --metrics done.ndjson
id=$(meta_field done.ndjson run)
python3 - reg.db done.ndjson "$PWD" <<'PY' || fail "the completed run's row"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1]); db.row_factory = sqlite3.Row
lines = [json.loads(l) for l in open(sys.argv[2])]
meta, stop = lines[0], lines[-1]
rows = db.execute("select * from runs").fetchall()
assert len(rows) == 1, len(rows)
r = rows[0]
assert r["id"] == meta["run"] and r["parent"] is None and r["fingerprint"] == meta["fingerprint"], dict(r)
assert json.loads(r["config"]) == meta["config"], "config"
assert r["git_rev"] == meta["git_rev"] and r["git_rev"] and r["version"] == meta["version"]
assert r["host"] and r["backend"] == "cpu" and r["pid"] > 0
assert r["out_dir"] == sys.argv[3] + "/done" and r["metrics"] == sys.argv[3] + "/done.ndjson", (r["out_dir"], r["metrics"])
assert r["status"] == "completed" and r["exit_status"] == 0 and r["reason"] == "finished" and r["segments"] == 1
assert r["steps"] == 8 and r["tokens"] == 8 * 4 * 32
train = [l for l in lines if l["kind"] == "train"][-1]
val = [l for l in lines if l["kind"] == "val"][-1]
assert r["train_loss"] == train["loss"] and r["val_loss"] == val["loss"], (r["train_loss"], r["val_loss"])
assert r["start_time"] <= r["end_time"] and r["wall_s"] > 0
assert r["checkpoint"] == sys.argv[3] + "/done/step-00000008", r["checkpoint"]
assert [tuple(x) for x in db.execute("select version from schema_version")] == [(1,)]
PY
[ "$(q 'pragma journal_mode')" = wal ] || fail "not in WAL mode"

# Resumed in place: the same row, a second segment, the new end.
nmoe-train -q tiny.toml --registry reg.db --set steps=12 --set out_dir=done --resume done >/dev/null
[ "$(q "select count(*), segments, status, steps from runs where id = '$id'")" = "1|2|completed|12" ] \
    || fail "resumed row: $(q "select * from runs")"

# target_loss reached; diverged (lr 1e30, as train_diverge.sh); a fatal error mid-run
# (a file where the step-4 checkpoint directory must go).
nmoe-train -q tiny.toml --registry reg.db --set target_loss=100 --set out_dir=target >target.ndjson
expect_fail 4 "diverged" nmoe-train tiny.toml --registry reg.db --set lr_dense=1e30 --set checkpoint_every=1 --set out_dir=div
mkdir failed && touch failed/step-00000004
expect_fail 1 "failed/step-00000004" nmoe-train tiny.toml --registry reg.db --set out_dir=failed
got=$(q "select status, exit_status, steps, reason from runs where out_dir like '%/target'")
grep -q '^target_reached|0|4|target_loss reached: val loss [0-9.]* <= 100$' <<<"$got" || fail "target row: $got"
got=$(q "select status, exit_status, steps, reason, checkpoint like '%/div/step-00000001' from runs where out_dir like '%/div'")
[ "$got" = "diverged|4|1|diverged: non-finite loss at step 2|1" ] || fail "diverged row: $got"
got=$(q "select status, exit_status, steps, end_time is not null from runs where out_dir like '%/failed'")
[ "$got" = "failed|1|4|1" ] || fail "failed row: $got"
[ "$(q "select count(*) from runs where status = 'running'")" = 0 ] || fail "a row left running"

# NMOE_REGISTRY is the default; --registry '' turns it off.
NMOE_REGISTRY=env.db nmoe-train -q tiny.toml --set steps=2 --set out_dir=env >/dev/null
[ "$(sqlite3 env.db "select count(*), status from runs")" = "1|completed" ] || fail "NMOE_REGISTRY was not used"
NMOE_REGISTRY=env.db nmoe-train -q tiny.toml --set steps=2 --set out_dir=off --registry '' >/dev/null
[ "$(sqlite3 env.db "select count(*) from runs")" = 1 ] || fail "--registry '' did not turn it off"
echo "registry: ok"
