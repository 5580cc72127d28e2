#!/usr/bin/env bash
# A truncated shard (cut in the header, the tokens, the index or by one byte) is
# refused by info, verify and cat with `FILE: truncated: ...`; so is a file with bytes
# added after its end, and a cut token stream given to pack.
source "$NMOE_TOP/tests/cli/shard_common.bash"

mktokstream --docs 200 --max-len 300 --seed 1 > in.tok
for z in "" --zstd; do
    rm -rf P
    nmoe-shard pack -q -o P $z < in.tok
    f=P/train-000000.shard
    size=$(stat -c %s $f)
    index_at=$(shardpatch $f get 72 u64)
    for len in 0 7 100 127 200 $((index_at + 8)) $((size - 1)); do
        head -c "$len" $f > cut.shard
        expect_fail 1 "cut.shard: truncated" nmoe-shard info cut.shard
        expect_fail 1 "cut.shard: truncated" nmoe-shard cat cut.shard
        rc=0; nmoe-shard verify cut.shard > out.txt 2>/dev/null || rc=$?
        [ $rc -eq 1 ] || fail "verify of a $len-byte cut exited $rc"
        grep -q '^cut.shard: FAILED: truncated' out.txt || fail "verify of a $len-byte cut: $(cat out.txt)"
    done
    cp $f long.shard
    printf 'xx' >> long.shard
    expect_fail 1 "long.shard: 2 bytes of trailing garbage" nmoe-shard cat long.shard
done

# A shard cut inside a pack: cat and verify of the directory name it.
rm -rf P; nmoe-shard pack -q -o P --shard-tokens 10K < in.tok
truncate -s -10 P/train-000001.shard
expect_fail 1 "P/train-000001.shard: truncated" nmoe-shard cat P
rc=0; nmoe-shard verify P > out.txt 2>/dev/null || rc=$?
[ $rc -eq 1 ] || fail "verify of a pack with a cut shard exited $rc"
grep -q '^P/train-000001.shard: FAILED: truncated' out.txt || fail "$(cat out.txt)"
expect_line out.txt "P: FAILED: damaged shards (above)"

# A token stream that ends early: pack says where, and leaves no manifest.
head -c 5000 in.tok > cut.tok
expect_fail 1 "stdin: offset" nmoe-shard pack -o C < cut.tok
grep -qF "truncated" cmd.err || fail "pack of a cut stream: $(cat cmd.err)"
[ ! -e C/manifest.json ] || fail "pack of a cut stream wrote a manifest"
no_temps C
