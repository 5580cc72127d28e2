#!/usr/bin/env bash
# data_verify.sh: what the one-pass shard check costs nmoe-train at start-up.
# nmoe-train and nmoe-eval verify every shard's token checksum (XXH3-64) and id range
# before the first token is used (dataloader.c); the meta line reports the time as
# time.data_verify_s. This prints that time and its rate for a pack of BENCH_TOKENS
# tokens (default 100M: 200 MB of 16-bit ids), uncompressed and zstd, next to peers
# measured in the same run on the same shard files:
#   cat SHARDS > /dev/null     reading the bytes once (page cache warm)
#   nmoe-shard verify DIR      the same check run by hand (one process per pack)
# and next to the whole start-up of a 1-step run (process start to its stop line).
# Each figure is the best of BENCH_REPEAT runs (default 3).
#
#   bash bench/data_verify.sh                 (after make and make unit)
#   BENCH_TOKENS=20M bash bench/data_verify.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$top/bin
gen=${MKTOKSTREAM:-$top/build/testtools/mktokstream}
tokens=${BENCH_TOKENS:-100M}
repeat=${BENCH_REPEAT:-3}
for p in "$bin/nmoe-train" "$bin/nmoe-shard" "$gen"; do [ -x "$p" ] || { echo "missing $p (run make and make unit)" >&2; exit 1; }; done
work=$(mktemp -d "${TMPDIR:-/tmp}/verify-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

"$gen" --tokens "$tokens" --max-len 4000 --zipf --vocab 50257 --seed 1 > in.tok
"$bin/nmoe-shard" pack -q -o plain in.tok
"$bin/nmoe-shard" pack -q -o zstd --zstd in.tok
cat > tiny.toml <<'TOML'
vocab_size = 50304
dim = 32
n_layers = 1
n_heads = 2
n_kv_heads = 2
inter_dim = 64
seq_len = 64
batch_size = 2
steps = 1
log_every = 1
validation_every = 0
checkpoint_every = 0
TOML

# best_of CMD: the smallest wall time (seconds) of `repeat` runs.
best_of() {
    local b="" t TIMEFORMAT=%R
    for _ in $(seq "$repeat"); do
        t=$( { time eval "$1" >/dev/null 2>&1; } 2>&1 | tail -n 1)
        if [ -z "$b" ] || awk -v a="$t" -v b="$b" 'BEGIN { exit !(a < b) }'; then b=$t; fi
    done
    echo "$b"
}
# field FILE KIND DOTTED.KEY: a number from the first line of that kind.
field() {
    awk -v kind="\"kind\":\"$2\"" -v key="\"${3##*.}\":" 'index($0, kind) {
        i = index($0, key); s = substr($0, i + length(key)); sub(/[,}].*/, "", s); print s; exit }' "$1"
}
rate() { awk -v b="$1" -v s="$2" 'BEGIN { if (s <= 0) s = 0.0005; printf "%.0f", b / 1e6 / s }'; }

echo "input: $tokens tokens ($(stat -c %s in.tok) bytes of stream), $(nproc) cores, best of $repeat"
printf '%-12s %10s %28s %20s %20s %16s\n' pack "shard MB" "nmoe-train data_verify_s" "nmoe-shard verify" "cat > /dev/null" "1-step run"
for p in plain zstd; do
    bytes=$(cat $p/*.shard | wc -c)
    v=""
    for _ in $(seq "$repeat"); do
        "$bin/nmoe-train" -q tiny.toml --set data_path="$work/$p" --set out_dir="$work/out-$p" --force --metrics m.ndjson
        t=$(field m.ndjson meta time.data_verify_s)
        verified=$(field m.ndjson meta data.verified_bytes)
        if [ -z "$v" ] || awk -v a="$t" -v b="$v" 'BEGIN { exit !(a < b) }'; then v=$t; fi
    done
    t_run=$(best_of "\"$bin/nmoe-train\" -q tiny.toml --set data_path=\"$work/$p\" --set out_dir=\"$work/out-$p\" --force --metrics /dev/null")
    t_verify=$(best_of "\"$bin/nmoe-shard\" verify $p")
    t_cat=$(best_of "cat $p/*.shard")
    printf '%-12s %10.1f %15.3f s %5s MB/s %9s s %4s MB/s %9s s %4s MB/s %10s s\n' "$p" "$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')" \
        "$v" "$(rate "$verified" "$v")" "$t_verify" "$(rate "$verified" "$t_verify")" "$t_cat" "$(rate "$bytes" "$t_cat")" "$t_run"
done
