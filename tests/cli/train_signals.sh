#!/usr/bin/env bash
# SIGINT and SIGTERM stop a run cleanly: the step in progress finishes, a checkpoint of
# it is written, the metric stream ends with a `stop` line, the exit status is 130; and
# the run resumes from that checkpoint.
. "$(dirname "$0")/train_common.bash"
make_data
write_config

for sig in INT TERM; do
    out=out_$sig
    nmoe-train -q tiny.toml --set out_dir=$out --set steps=10000000 --set checkpoint_every=0 --set validation_every=0 \
        --metrics m_$sig.ndjson &
    pid=$!
    for _ in $(seq 1 600); do
        grep -q '"kind":"train","run":"[0-9a-f]*","step":[5-9]' m_$sig.ndjson 2>/dev/null && break
        sleep 0.05
    done
    kill -$sig "$pid"
    rc=0
    wait "$pid" || rc=$?
    [ "$rc" = 130 ] || fail "SIG$sig: exit status $rc, expected 130"
    last=$(tail -n 1 m_$sig.ndjson)
    grep -q "\"kind\":\"stop\".*\"reason\":\"interrupted by SIG$sig\",\"status\":130" <<<"$last" || fail "SIG$sig: last line is $last"
    k=$(sed -E 's/.*"step":([0-9]+).*/\1/' <<<"$last")
    [ "$(cat $out/latest)" = "$(printf 'step-%08d' "$k")" ] || fail "SIG$sig: latest is $(cat $out/latest), stopped at $k"
    grep -q "\"kind\":\"checkpoint\",\"run\":\"[0-9a-f]*\",\"step\":$k," m_$sig.ndjson || fail "SIG$sig: no checkpoint line for step $k"
    grep -q "\"step\":$k," $out/step-*/state.json || fail "SIG$sig: state.json is not at step $k"
    # It resumes where it stopped.
    nmoe-train -q tiny.toml --set out_dir=$out --set steps=$((k + 2)) --set checkpoint_every=0 --set validation_every=0 \
        --resume $out >r_$sig.ndjson
    grep -q "\"kind\":\"train\",\"run\":\"[0-9a-f]*\",\"step\":$((k + 1))," r_$sig.ndjson || fail "SIG$sig: resume did not continue at $((k + 1))"
    tail -n 1 r_$sig.ndjson | grep_all '"reason":"finished"' || fail "SIG$sig: resumed run did not complete"
done
echo "signals: ok"
