#!/usr/bin/env bash
# An interrupted pack (SIGINT or SIGTERM while it waits on a slow pipe) exits 130 and
# leaves no file under a final name for the shard it was writing, no temporary file
# and no manifest. Shards it had finished stay whole and verify.
source "$NMOE_TOP/tests/cli/shard_common.bash"

mktokstream --docs 2000 --max-len 400 --seed 9 > in.tok

# wait_for GLOB: until a file matching GLOB exists (5 s at most).
wait_for() {
    for _ in $(seq 100); do compgen -G "$1" >/dev/null && return 0; sleep 0.05; done
    fail "no file matching $1 appeared"
}

run_case() { # SIGNAL BYTES SHARD_TOKENS: send BYTES of the stream, then the signal
    local sig=$1 bytes=$2 limit=$3 dir=out_$1_$2
    rm -f fifo
    mkfifo fifo
    nmoe-shard pack -q -o $dir --shard-tokens $limit < fifo 2> err_$sig &
    local pid=$!
    exec 3> fifo                        # the writer end stays open: pack waits for more
    head -c "$bytes" in.tok >&3
    wait_for "$dir/*.tmp.*"             # the shard being written
    sleep 0.2
    kill -s "$sig" $pid
    local rc=0
    wait $pid || rc=$?
    exec 3>&-
    [ $rc -eq 130 ] || fail "pack killed by $sig exited $rc: $(cat err_$sig)"
    no_temps $dir
    [ ! -e $dir/manifest.json ] || fail "an interrupted pack wrote a manifest"
}

# Interrupted inside its first shard: nothing at all is left in the directory.
for sig in INT TERM; do
    run_case $sig 100000 100M
    [ -z "$(ls -A out_${sig}_100000)" ] || fail "files left after $sig: $(ls -A out_${sig}_100000)"
done

# Interrupted after finishing some shards: those are whole; nothing else is there.
run_case TERM 600000 20K
n=$(ls out_TERM_600000 | wc -l)
[ "$n" -ge 2 ] || fail "expected finished shards before the signal, got $n files"
for f in out_TERM_600000/*; do
    case $f in *.shard) nmoe-shard verify -q "$f" || fail "$f is damaged" ;; *) fail "unexpected file $f" ;; esac
done

# And pack -f over an old pack, interrupted: the old manifest is already gone, so no
# manifest ever points at a mix of old and new shards.
nmoe-shard pack -q -o old --shard-tokens 20K < in.tok
rm -f fifo; mkfifo fifo
nmoe-shard pack -q -f -o old --shard-tokens 20K < fifo 2> err_f &
pid=$!
exec 3> fifo
head -c 100000 in.tok >&3
for _ in $(seq 100); do [ ! -e old/manifest.json ] && compgen -G "old/*.tmp.*" >/dev/null && break; sleep 0.05; done
kill -INT $pid
rc=0; wait $pid || rc=$?
exec 3>&-
[ $rc -eq 130 ] || fail "pack -f killed by INT exited $rc"
[ ! -e old/manifest.json ] || fail "an interrupted pack -f left a manifest"
no_temps old
