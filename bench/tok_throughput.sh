#!/usr/bin/env bash
# tok_throughput.sh: nmoe-tok encoding speed against tiktoken (node, single thread)
# on the same few MB of real text, measured in the same run; plus training speed.
#
# Text: the 10 Project Gutenberg books of ../shared/data/text/gutenberg (5.3 MB)
# concatenated, else data/tinyshakespeare.txt five times. The peer is the npm
# package `tiktoken` (WASM build of OpenAI's Rust core), installed into
# build/bench-node/ (falling back to `js-tiktoken` if tiktoken cannot be installed).
# Each figure is the best of REPEATS runs of the encoding alone (tokenizer loading
# excluded on both sides). The token counts must agree, or the script fails.
#
#   bash bench/tok_throughput.sh            (REPEATS=3 by default)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
REPEATS=${REPEATS:-3}
tok=bin/nmoe-tok
[ -x "$tok" ] || { echo "tok_throughput: build first (make)"; exit 1; }
work=build/bench-tok
mkdir -p "$work"
text=$work/text.txt
shared=${NMOE_SHARED:-$top/../shared}
if ls "$shared"/data/text/gutenberg/*.txt >/dev/null 2>&1; then
    cat "$shared"/data/text/gutenberg/*.txt > "$text"
    what="10 Gutenberg books"
else
    for _ in 1 2 3 4 5; do cat data/tinyshakespeare.txt; done > "$text"
    what="Tiny Shakespeare x5"
fi
bytes=$(stat -c %s "$text")

# The peer, installed once per build folder.
node_dir=build/bench-node
if [ ! -d "$node_dir/node_modules/tiktoken" ] && [ ! -d "$node_dir/node_modules/js-tiktoken" ]; then
    npm install --silent --no-audit --no-fund --prefix "$node_dir" tiktoken@1.0.22 >/dev/null 2>&1 ||
        npm install --silent --no-audit --no-fund --prefix "$node_dir" js-tiktoken@1.0.21 >/dev/null 2>&1 ||
        { echo "tok_throughput: cannot install tiktoken or js-tiktoken with npm"; exit 1; }
fi
cores=$(nproc)

# Best-of-N encode rate of nmoe-tok from its -v line "... T tokens in S s (X MB/s, J threads)".
nmoe_rate() { # nmoe_rate TOKENIZER THREADS -> "tokens mbps"
    local best=0 tokens=0 line r
    for _ in $(seq "$REPEATS"); do
        line=$("$tok" encode -v -t "$1" -j "$2" -o /dev/null "$text" 2>&1 >/dev/null | tail -n 1)
        tokens=$(sed -n 's/.* bytes, \([0-9]*\) tokens in .*/\1/p' <<<"$line")
        r=$(sed -n 's/.*(\([0-9.]*\) MB\/s.*/\1/p' <<<"$line")
        best=$(awk -v a="$best" -v b="$r" 'BEGIN { print (b > a) ? b : a }')
    done
    echo "$tokens $best"
}

printf 'text: %s, %d bytes; %d cores; best of %d runs\n' "$what" "$bytes" "$cores" "$REPEATS"
printf '%-12s %-12s %10s %12s %12s %12s %9s %9s\n' encoding peer tokens "peer MB/s" "nmoe -j1" "nmoe -j$cores" "x peer" "x peer"
printf '%-12s %-12s %10s %12s %12s %12s %9s %9s\n' "" "" "" "(1 thread)" "MB/s" "MB/s" "(-j1)" "(-j$cores)"
status=0
for enc in gpt2 cl100k_base o200k_base; do
    read -r pkg _ peer_tokens _ peer_rate < <(NODE_PATH="$node_dir/node_modules" node bench/tok_tiktoken.js "$enc" "$text" "$REPEATS")
    read -r tokens1 rate1 < <(nmoe_rate "$enc" 1)
    read -r tokensN rateN < <(nmoe_rate "$enc" "$cores")
    if [ "$tokens1" != "$peer_tokens" ] || [ "$tokensN" != "$peer_tokens" ]; then
        echo "tok_throughput: $enc token counts disagree: nmoe-tok $tokens1 / $tokensN, $pkg $peer_tokens"
        status=1
    fi
    printf '%-12s %-12s %10s %12.2f %12.2f %12.2f %9.2f %9.2f\n' "$enc" "$pkg" "$peer_tokens" "$peer_rate" "$rate1" "$rateN" \
        "$(awk -v a="$rate1" -v b="$peer_rate" 'BEGIN { print a / b }')" \
        "$(awk -v a="$rateN" -v b="$peer_rate" 'BEGIN { print a / b }')"
done

# Training: Tiny Shakespeare, 4096 ids, gpt2 pattern; the figure covers counting and merging.
best=0
for _ in $(seq "$REPEATS"); do
    line=$("$tok" train -v --vocab-size 4096 -o "$work/train.tok" data/tinyshakespeare.txt 2>&1 | grep 'MB/s')
    r=$(sed -n 's/.*(\([0-9.]*\) MB\/s).*/\1/p' <<<"$line")
    best=$(awk -v a="$best" -v b="$r" 'BEGIN { print (b > a) ? b : a }')
done
printf 'train: tinyshakespeare.txt (1,115,394 bytes) to 4096 ids: %.2f MB/s (all %d cores)\n' "$best" "$cores"
exit $status
