#!/usr/bin/env bash
# A data-parallel run in the run registry (nmoe-registry(5)): rank 0 alone records it,
# as one row under one run id, the id of the metric stream, completed with the stream's
# final step; every rank agrees on that id (the checkpoint rank 0 writes carries it).
. "$(dirname "$0")/train_mpi_common.bash"
command -v sqlite3 >/dev/null || fail "sqlite3 is not installed (make deps installs it)"
make_data
write_config
mpi 2 -q tiny.toml --set batch_size=8 --set steps=4 --set out_dir=np2 --registry runs.db >np2.ndjson
[ "$(sqlite3 runs.db 'select count(*) from runs')" = 1 ] || fail "$(sqlite3 runs.db 'select count(*) from runs') rows for one run"
run=$(grep '"kind":"meta"' np2.ndjson | grep -o '"run":"[0-9a-f]*"' | cut -d'"' -f4)
[ "$(sqlite3 runs.db 'select id, status, steps from runs')" = "$run|completed|4" ] ||
    fail "the row is $(sqlite3 runs.db 'select id, status, steps from runs'), not $run|completed|4"
grep -q "\"run\":\"$run\"" np2/step-00000004/state.json || fail "the checkpoint holds another run id"
echo "ok: one row per data-parallel run"
