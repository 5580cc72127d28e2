#!/usr/bin/env bash
# tok_scaling.sh: how nmoe-tok encode scales with threads, on the same text as many
# documents (JSONL, about 4 KB each, the shape of a training corpus) and as one
# document (a single plain file, cut into parts inside nmoe-tok).
#
# Text: the 10 Project Gutenberg books of ../shared/data/text/gutenberg, else
# data/tinyshakespeare.txt, repeated to about SCALE_MB MB (default 100, so that
# even the all-cores runs last long enough to time). For each thread count J (1,
# 2, 4, ... and all cores) the best of REPEATS runs of the encoding alone (the -v
# figure: tokenizer loading excluded); speedup is against 1 thread, efficiency is
# speedup / J. The token streams must be identical for every thread count.
#
# The peer, measured in the same run: J independent one-thread processes, each on
# 1/J of the input, all at once (total bytes over the slowest one's encoding time).
# That is perfect software scaling on this machine: what it gives up against J
# times the one-thread figure is the hardware's (clock speed with all cores busy,
# shared caches), and "x indep." says how close the threaded run comes to it.
# Ends with the -vv line of the all-cores runs: how busy reader, writer and
# encoding threads were.
#
#   bash bench/tok_scaling.sh              (after make; needs python3 for the JSONL)
#   SCALE_MB=20 REPEATS=1 bash bench/tok_scaling.sh   for a quick look
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
REPEATS=${REPEATS:-3}
SCALE_MB=${SCALE_MB:-100}
TOKENIZER=${TOKENIZER:-gpt2}
tok=bin/nmoe-tok
[ -x "$tok" ] || { echo "tok_scaling: build first (make)"; exit 1; }
work=build/bench-tok-scale
mkdir -p "$work"
shared=${NMOE_SHARED:-$top/../shared}
if ls "$shared"/data/text/gutenberg/*.txt >/dev/null 2>&1; then
    sources=("$shared"/data/text/gutenberg/*.txt)
    what="10 Gutenberg books"
else
    sources=(data/tinyshakespeare.txt)
    what="Tiny Shakespeare"
fi
python3 - "$work" "$SCALE_MB" "${sources[@]}" <<'EOF'
import json, sys
work, mb, paths = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
text = "".join(open(p, encoding="utf-8", errors="replace").read() for p in paths)
reps = max(1, int(mb * 1e6 / len(text.encode("utf-8")) + 0.5))
with open(f"{work}/one.txt", "w", encoding="utf-8") as one, open(f"{work}/docs.jsonl", "w", encoding="utf-8") as docs:
    for r in range(reps):
        one.write(text)
        cur = []
        size = 0
        for para in text.split("\n\n"):
            cur.append(para)
            size += len(para) + 2
            if size >= 4000:
                docs.write(json.dumps({"text": "\n\n".join(cur) + "\n\n", "rep": r}) + "\n")
                cur, size = [], 0
        if cur:
            docs.write(json.dumps({"text": "\n\n".join(cur), "rep": r}) + "\n")
EOF
cores=$(nproc)
counts=()
for j in 1 2 4 8 16 32 64 128; do [ "$j" -lt "$cores" ] && counts+=("$j"); done
counts+=("$cores")

rate_of() { sed -n 's/.*(\([0-9.]*\) MB\/s.*/\1/p' <<<"$1"; }

# independent_rate FILE J: MB/s of J concurrent one-thread nmoe-tok processes, each
# on 1/J of FILE (JSONL cut at line ends).
independent_rate() {
    local f=$1 j=$2 dir=$work/split$2 ext=${1##*.}
    rm -rf "$dir" && mkdir -p "$dir"
    if [ "$ext" = jsonl ]; then split -n "l/$j" -d -a 3 "$f" "$dir/p"; else split -n "$j" -d -a 3 "$f" "$dir/p"; fi
    for p in "$dir"/p[0-9]*; do mv "$p" "$p.$ext"; done
    for p in "$dir"/p[0-9]*."$ext"; do
        "$tok" encode -v -t "$TOKENIZER" -j 1 -o /dev/null "$p" 2> "$p.log" &
    done
    wait
    cat "$dir"/*.log | sed -n 's/.* documents, \([0-9]*\) bytes, .* tokens in \([0-9.]*\) s .*/\1 \2/p' |
        awk '{ b += $1; if ($2 > s) s = $2 } END { printf "%.1f", b / 1e6 / s }'
}
echo "text: $what repeated to ~$SCALE_MB MB; $TOKENIZER; $cores cores; best of $REPEATS"
status=0
for input in docs.jsonl one.txt; do
    f=$work/$input
    bytes=$(stat -c %s "$f")
    case $input in
        docs.jsonl) label="many documents ($(wc -l < "$f") JSON lines, $bytes bytes)" ;;
        *) label="one document ($bytes bytes)" ;;
    esac
    echo
    echo "$label"
    printf '%8s %10s %9s %11s %14s %9s\n' threads MB/s speedup efficiency "J x -j1 MB/s" "x indep."
    base=""
    for j in "${counts[@]}"; do
        best=0
        for _ in $(seq "$REPEATS"); do
            line=$("$tok" encode -v -t "$TOKENIZER" -j "$j" -o "$work/out.tok" "$f" 2>&1 >/dev/null | tail -n 1)
            best=$(awk -v a="$best" -v b="$(rate_of "$line")" 'BEGIN { print (b > a) ? b : a }')
        done
        if [ -z "$base" ]; then
            base=$best
            cp "$work/out.tok" "$work/out1.tok"
        elif ! cmp -s "$work/out.tok" "$work/out1.tok"; then
            echo "tok_scaling: -j$j output differs from -j1 for $input"
            status=1
        fi
        peer=$best
        if [ "$j" -gt 1 ]; then
            peer=0
            for _ in $(seq "$REPEATS"); do
                peer=$(awk -v a="$peer" -v b="$(independent_rate "$f" "$j")" 'BEGIN { print (b > a) ? b : a }')
            done
        fi
        printf '%8d %10.1f %8.2fx %10.0f%% %14.1f %8.2fx\n' "$j" "$best" "$(awk -v a="$best" -v b="$base" 'BEGIN { print a / b }')" \
            "$(awk -v a="$best" -v b="$base" -v j="$j" 'BEGIN { print 100 * a / b / j }')" "$peer" \
            "$(awk -v a="$best" -v b="$peer" 'BEGIN { print a / b }')"
    done
    "$tok" encode -vv -t "$TOKENIZER" -j "$cores" -o "$work/out.tok" "$f" 2>&1 >/dev/null | grep 'stages' | sed 's/^nmoe-tok: /  /'
done
exit $status
