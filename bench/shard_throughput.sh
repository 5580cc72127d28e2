#!/usr/bin/env bash
# shard_throughput.sh: nmoe-shard pack and cat throughput in MB/s (1 MB = 10^6 bytes
# of token stream), each next to its peer measured in the same run on the same bytes:
#   pack            vs  cat FILE > FILE2; sync FILE2 (a copy onto the same disk, made
#                       durable as pack makes each shard: fsync, rename, fsync dir)
#   cat (unpacking) vs  cat FILE > /dev/null
#   pack --zstd     vs  the zstd command line (same level, -T0) compressing the stream
#   cat of zstd     vs  zstd -d of that compressed stream
# Input: ~200 MB of token stream with Zipf-distributed ids over GPT-2's vocabulary
# (tests/tools/mktokstream --zipf), so compression sees text-like skew, not noise.
# Each figure is the best of BENCH_REPEAT runs (default 3), page cache warm, as wall
# time and as CPU time (user + system, all threads and child processes); MB/s from
# CPU time is the throughput per core-second, steadier on a busy machine.
#
#   bash bench/shard_throughput.sh            (after make and make unit)
#   BENCH_TOKENS=50M bash bench/shard_throughput.sh   for a quicker look
#   BENCH_NULL=PATH                           the discarding sink [default: /dev/null];
#                                             it must be a character device, not a file
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
shard=${NMOE_SHARD:-$top/bin/nmoe-shard}
gen=${MKTOKSTREAM:-$top/build/testtools/mktokstream}
tokens=${BENCH_TOKENS:-100M}
repeat=${BENCH_REPEAT:-3}
for p in "$shard" "$gen"; do [ -x "$p" ] || { echo "missing $p (run make and make unit)" >&2; exit 1; }; done
command -v zstd >/dev/null || { echo "zstd command line not found" >&2; exit 1; }

null=${BENCH_NULL:-/dev/null}
[ -c "$null" ] || { echo "$null is not a character device (a regular file would measure writes to it); set BENCH_NULL" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/shard-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

"$gen" --tokens "$tokens" --max-len 4000 --zipf --seed 1 > in.tok
bytes=$(stat -c %s in.tok)
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')

# best "WALL CPU" seconds of `repeat` runs of the shell command $1 (after the setup
# command $2, untimed); CPU is user + system time of every process the command ran,
# which other load on the machine disturbs far less than wall time. The minimum of
# each is kept separately.
best() {
    local cmd=$1 setup=${2:-true} bw="" bc="" w c
    local TIMEFORMAT='%R %U %S'
    for _ in $(seq "$repeat"); do
        eval "$setup"
        read -r w u s < <( { time eval "$cmd" ; } 2>&1 >/dev/null | tail -n 1 )
        c=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.3f", u + s }')
        if [ -z "$bw" ] || awk -v a="$w" -v b="$bw" 'BEGIN { exit !(a < b) }'; then bw=$w; fi
        if [ -z "$bc" ] || awk -v a="$c" -v b="$bc" 'BEGIN { exit !(a < b) }'; then bc=$c; fi
    done
    echo "$bw $bc"
}
rate() { awk -v b="$bytes" -v s="$1" 'BEGIN { if (s <= 0) s = 0.001; printf "%.0f", b / 1e6 / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a <= 0) a = 0.001; printf "%.2f", b / a }'; } # speed ratio from two times
# row LABEL "WALL CPU" ["PEER_WALL PEER_CPU" PEER_NAME]
row() {
    local w c pw pc
    read -r w c <<<"$2"
    printf '%-42s %7s s %6s MB/s %7s s %6s MB/s' "$1" "$w" "$(rate "$w")" "$c" "$(rate "$c")"
    if [ -n "${3:-}" ]; then
        read -r pw pc <<<"$3"
        printf '   %5sx %5sx  %s' "$(ratio "$w" "$pw")" "$(ratio "$c" "$pc")" "$4"
    fi
    printf '\n'
}

cores=$(nproc)
echo "input: $mb MB token stream ($tokens tokens, vocab 50257, Zipf ids), $cores cores, best of $repeat"
echo "nmoe-shard $("$shard" --version | cut -d' ' -f2), $(zstd --version | sed 's/^\*\*\* //; s/,.*//')"
printf '%-42s %22s %22s   %s\n' "operation" "wall time, speed" "CPU time, speed" "speed vs peer (wall, CPU)"

t_catnull=$(best 'cat in.tok > "$null"')
t_catpipe=$(best 'cat in.tok | cat > "$null"')
t_catfile=$(best 'cat in.tok > copy.tok' 'rm -f copy.tok')
t_catsync=$(best 'cat in.tok > copy.tok; sync copy.tok' 'rm -f copy.tok')
t_pack=$(best '"$shard" pack -q -o P in.tok' 'rm -rf P')
t_unpack=$(best '"$shard" cat P > "$null"')
t_unpipe=$(best '"$shard" cat P | cat > "$null"')
"$shard" cat P | cmp -s - in.tok || { echo "round trip failed" >&2; exit 1; }
row "cat FILE > /dev/null (peer)" "$t_catnull"
row "cat FILE > FILE2" "$t_catfile"
row "cat FILE > FILE2; sync FILE2 (peer)" "$t_catsync"
row "nmoe-shard pack" "$t_pack" "$t_catsync" "cat > FILE2; sync"
row "nmoe-shard cat (uncompressed)" "$t_unpack" "$t_catnull" "cat > /dev/null"
row "cat FILE | cat > /dev/null (peer)" "$t_catpipe"
row "nmoe-shard cat | cat > /dev/null" "$t_unpipe" "$t_catpipe" "cat | cat > /dev/null"

for level in 1 3; do
    t_zc=$(best "zstd -q -$level -T0 -f in.tok -o in.tok.zst")
    t_zd=$(best 'zstd -q -d -c in.tok.zst > "$null"')
    t_zpack=$(best "\"\$shard\" pack -q -o Z$level --zstd --level $level -T 0 in.tok" "rm -rf Z$level")
    t_zcat=$(best "\"\$shard\" cat Z$level > \"\$null\"")
    "$shard" cat Z$level | cmp -s - in.tok || { echo "zstd round trip failed" >&2; exit 1; }
    zsize=$(stat -c %s in.tok.zst)
    ssize=$(cat Z$level/*.shard | wc -c)
    row "zstd -$level -T0 (peer)" "$t_zc"
    row "nmoe-shard pack --zstd --level $level -T 0" "$t_zpack" "$t_zc" "zstd -$level -T0"
    row "zstd -d (peer)" "$t_zd"
    row "nmoe-shard cat (zstd level $level)" "$t_zcat" "$t_zd" "zstd -d"
    printf '%-42s %s (zstd) vs %s (shards, with index and headers)\n' "  compression ratio, level $level" \
        "$(awk -v a="$bytes" -v b="$zsize" 'BEGIN { printf "%.3f", a / b }')" \
        "$(awk -v a="$bytes" -v b="$ssize" 'BEGIN { printf "%.3f", a / b }')"
done
