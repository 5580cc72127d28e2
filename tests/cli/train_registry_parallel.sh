#!/usr/bin/env bash
# Trainers started together on one new registry (parallel make targets) all get their
# rows, complete: the schema is created once, and no write is lost to another's lock.
# Two pairs share a config: one fingerprint, two runs, two rows.
. "$(dirname "$0")/train_common.bash"
require_tools sqlite3
make_data
write_config

n=4
pids=()
for i in $(seq 1 $n); do
    nmoe-train -q -T 1 tiny.toml --registry reg.db --set seed=$(((i + 1) / 2)) --set checkpoint_every=1 --set out_dir=out$i \
        --metrics m$i.ndjson &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a trainer failed"; done
[ "$(sqlite3 reg.db 'select count(*) from schema_version')" = 1 ] || fail "schema_version has more than one row"
[ "$(sqlite3 reg.db "select count(*) from runs where status = 'completed' and steps = 12 and end_time is not null
    and train_loss is not null and val_loss is not null")" = $n ] || fail "rows: $(sqlite3 reg.db 'select * from runs')"
[ "$(sqlite3 reg.db 'select count(distinct id), count(distinct fingerprint) from runs')" = "$n|$((n / 2))" ] \
    || fail "ids and fingerprints: $(sqlite3 reg.db 'select id, fingerprint from runs')"
for i in $(seq 1 $n); do
    id=$(head -n 1 m$i.ndjson | sed -E 's/.*"run":"([0-9a-f]{16})".*/\1/')
    [ "$(sqlite3 reg.db "select out_dir like '%/out$i' from runs where id = '$id'")" = 1 ] || fail "no row for run $id (out$i)"
done
echo "registry parallel: ok"
