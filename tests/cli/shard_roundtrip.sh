#!/usr/bin/env bash
# pack then cat of the pack directory gives back the input token stream byte for byte:
# 16- and 32-bit vocabularies, a 32-bit stream whose vocabulary fits 16 bits, with and
# without --zstd, several shards, a val split (cat merges train and val back into the
# input order), and an empty stream. Each shard also reads back alone.
source "$NMOE_TOP/tests/cli/shard_common.bash"

n=0
for gen in "--vocab 50257" "--vocab 100277" "--vocab 1000 --width 4" "--vocab 65536"; do
    mktokstream --docs 1000 --max-len 500 --seed 11 $gen > in.tok
    for z in "" "--zstd" "--zstd --level 12 -T 2"; do
        rm -rf P
        nmoe-shard pack -q -o P --shard-tokens 40K --val-fraction 0.2 --seed 5 $z < in.tok
        nmoe-shard cat P > out.tok
        cmp in.tok out.tok || fail "round trip differs for '$gen' '$z'"
        shards=$(ls P/*.shard | wc -l)
        [ "$shards" -ge 4 ] || fail "expected several shards, got $shards"
        ls P/val-*.shard >/dev/null || fail "no val shard"
        # Shards one by one: the same documents (train first, then val), same count.
        nmoe-shard cat P/train-*.shard P/val-*.shard > parts.tok
        [ "$(nmoe-shard cat --ids P | wc -l)" -eq 1000 ] || fail "--ids of the pack is not 1000 lines"
        [ "$(nmoe-shard cat --ids P/*.shard | wc -l)" -eq 1000 ] || fail "--ids of the shards is not 1000 lines"
        [ "$(stat -c %s parts.tok)" -eq "$(stat -c %s in.tok)" ] || fail "shards alone do not add up to the input"
        n=$((n + 1))
    done
done

# Documents below and above cat's 4 MiB read window (several windows per shard, and
# documents read through the mapping), with a val split interleaving two shards.
for gen in "--vocab 50257 --max-len 3000000" "--vocab 100277 --max-len 1500000"; do
    mktokstream --docs 12 --seed 4 $gen > in.tok
    rm -rf P
    nmoe-shard pack -q -o P --val-fraction 0.3 --seed 1 < in.tok
    nmoe-shard cat P | cmp - in.tok || fail "round trip of large documents differs for '$gen'"
done

# The input named as a FILE argument, and '-' for stdin, give the same pack.
mktokstream --docs 300 --seed 2 > in.tok
nmoe-shard pack -q -o A --shard-tokens 50K in.tok
nmoe-shard pack -q -o B --shard-tokens 50K - < in.tok
for f in A/*; do cmp "$f" "B/${f#A/}" || fail "FILE and stdin packs differ at $f"; done

# An empty stream: no shards, a manifest, and cat gives back the header and trailer.
mktokstream --docs 0 > empty.tok
nmoe-shard pack -q -o E < empty.tok
[ -z "$(ls E/*.shard 2>/dev/null)" ] || fail "empty stream made shards"
nmoe-shard cat E | cmp - empty.tok || fail "empty round trip differs"

# Only empty documents.
mktokstream --docs 50 --max-len 0 > zero.tok
nmoe-shard pack -q -o Z --zstd < zero.tok
nmoe-shard cat Z | cmp - zero.tok || fail "empty-documents round trip differs"

# --prefix names the files.
nmoe-shard pack -q -o F --prefix web --val-fraction 0.5 < in.tok
[ -f F/web-train-000000.shard ] && [ -f F/web-val-000000.shard ] || fail "--prefix not used: $(ls F)"
nmoe-shard cat F | cmp - in.tok || fail "prefixed round trip differs"

# The --ids text view: a document per line, ids separated by single spaces.
mktokstream --docs 3 --max-len 5 --seed 9 --vocab 100 > t.tok
nmoe-shard pack -q -o T < t.tok
nmoe-shard cat --ids T > ids.txt
[ "$(wc -l < ids.txt)" -eq 3 ] || fail "--ids gave $(wc -l < ids.txt) lines"
grep -qvE '^([0-9]+( [0-9]+)*)?$' ids.txt && fail "--ids lines are not space-separated ids: $(cat ids.txt)"
echo "round trips: $n packs"
