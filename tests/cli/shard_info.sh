#!/usr/bin/env bash
# info: the table for people and --json for programs, for shard files and for a pack
# directory (summarized from its manifest); the fields agree with what was packed.
source "$NMOE_TOP/tests/cli/shard_common.bash"

mktokstream --docs 800 --max-len 300 --seed 8 --vocab 100277 --vocab-id 0123456789abcdef > in.tok
nmoe-shard pack -q -o P --shard-tokens 30K --val-fraction 0.25 --seed 3 --zstd < in.tok

# --json of the directory: one object, counts add up to the input.
nmoe-shard info --json P > dir.json
[ "$(wc -l < dir.json)" -eq 1 ] || fail "info --json DIR is not one line"
total_docs=$(nmoe-shard cat --ids P | wc -l)
tokens_in=$(nmoe-shard cat --ids P | wc -w)
check() { # check JSONFILE JQ-EXPR EXPECTED
    local got
    got=$(jq -r "$2" "$1")
    [ "$got" = "$3" ] || fail "$1: $2 is '$got', expected '$3'"
}
check dir.json .kind pack
check dir.json .file P
check dir.json .n_docs "$total_docs"
check dir.json .n_tokens "$tokens_in"
check dir.json .vocab_size 100277
check dir.json .vocab_id 0123456789abcdef
check dir.json .token_bytes 4
check dir.json .stream_token_bytes 4
check dir.json .compressed true
check dir.json .seed 3
check dir.json .val_fraction 0.25
check dir.json .shard_tokens 30720
check dir.json '.splits.train.n_docs + .splits.val.n_docs' "$total_docs"
check dir.json '.splits.train.shards + .splits.val.shards' "$(ls P/*.shard | wc -l)"
check dir.json '.splits.train.bytes + .splits.val.bytes' "$(cat P/*.shard | wc -c)"

# --json of shard files: one object per file, in argument order.
nmoe-shard info --json P/train-000000.shard P/val-000000.shard > files.json
[ "$(wc -l < files.json)" -eq 2 ] || fail "info --json of two files is not two lines"
head -n 1 files.json > one.json
check one.json .file P/train-000000.shard
check one.json .kind shard
check one.json .version 1
check one.json .n_docs "$(nmoe-shard cat --ids P/train-000000.shard | wc -l)"
check one.json .n_tokens "$(nmoe-shard cat --ids P/train-000000.shard | wc -w)"
check one.json .file_bytes "$(stat -c %s P/train-000000.shard)"
check one.json .compressed true
check one.json .first_seq 0
check one.json .checksum "$(jq -r '.splits.train.shards[0].checksum' P/manifest.json)"
sum=0
for f in P/*.shard; do sum=$((sum + $(nmoe-shard info --json "$f" | jq .n_tokens))); done
[ "$sum" -eq "$tokens_in" ] || fail "shard token counts add up to $sum, not $tokens_in"

# The table: a header line, then a row per shard ending in its path.
nmoe-shard info P/*.shard > table.txt
head -n 1 table.txt | grep_all -E '^ *tokens +docs +vocab +width +zstd +bytes +vocab_id +file$' || fail "table header: $(head -n 1 table.txt)"
[ "$(wc -l < table.txt)" -eq $(( $(ls P/*.shard | wc -l) + 1 )) ] || fail "table rows"
row=$(grep ' P/train-000000.shard$' table.txt)
read -r t d v w z b id f <<<"$row"
[ "$t" = "$(jq .n_tokens one.json)" ] && [ "$d" = "$(jq .n_docs one.json)" ] && [ "$v" = 100277 ] && [ "$w" = 4 ] \
    && [ "$z" = yes ] && [ "$b" = "$(jq .file_bytes one.json)" ] && [ "$id" = 0123456789abcdef ] || fail "table row: $row"

# The directory table: a summary line and a row per split plus the total.
nmoe-shard info P > dtable.txt
grep -q '^P: pack of ' dtable.txt || fail "directory summary: $(head -n 1 dtable.txt)"
grep -qE "^  total +$(ls P/*.shard | wc -l) +$tokens_in +$total_docs " dtable.txt || fail "total row: $(cat dtable.txt)"

# info needs a file, and a non-shard is refused with the reason.
expect_fail 2 "info needs at least one FILE" nmoe-shard info
echo "not a shard" > x.txt
expect_fail 1 "x.txt: bad magic (not an nmoe shard)" nmoe-shard info x.txt
mkdir plain
expect_fail 1 "plain/manifest.json: No such file or directory" nmoe-shard info plain
