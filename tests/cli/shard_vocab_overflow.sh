#!/usr/bin/env bash
# A token id at or beyond the vocabulary size is an error naming the file and the
# position: in a shard (its header's vocabulary made smaller, checksum redone),
# verify says `id N is beyond the vocabulary size V` and cat refuses; import refuses
# such ids in its input; pack refuses them in the token stream.
source "$NMOE_TOP/tests/cli/shard_common.bash"

mktokstream --docs 50 --max-len 100 --vocab 50257 --seed 6 > in.tok
for z in "" --zstd; do
    rm -rf P
    nmoe-shard pack -q -o P $z < in.tok
    cp P/train-000000.shard small.shard
    shardpatch small.shard 20 u32 1000
    rc=0; nmoe-shard verify small.shard > out.txt 2>/dev/null || rc=$?
    [ $rc -eq 1 ] || fail "verify with ids beyond the vocabulary exited $rc"
    grep -qE '^small.shard: FAILED: token [0-9]+ \(document [0-9]+\): id [0-9]+ is beyond the vocabulary size 1000$' out.txt \
        || fail "verify: $(cat out.txt)"
    expect_fail 1 "is beyond the vocabulary size 1000" nmoe-shard cat small.shard
    grep -qF "small.shard: token " cmd.err || fail "cat does not name the file: $(cat cmd.err)"
    expect_fail 1 "is beyond the vocabulary size 1000" nmoe-shard cat --ids small.shard
done

# Token stream input: a stream whose header promises a vocabulary of 100 but holds
# larger ids (tokpatch rewrites the field and the header checksum).
mktokstream --docs 3 --max-len 20 --vocab 50257 --seed 7 > small.tok
tokpatch small.tok 16 100
expect_fail 1 "beyond the vocabulary size 100" nmoe-shard pack -o S small.tok
grep -qF "small.tok: offset" cmd.err || fail "pack does not name the stream and offset: $(cat cmd.err)"
[ ! -e S/manifest.json ] || fail "pack of a bad stream wrote a manifest"
no_temps S

# An unknown token stream version, intact header: refused by pack with the reason.
mktokstream --docs 3 --seed 7 > v9.tok
tokpatch v9.tok 8 9
expect_fail 1 "v9.tok: unsupported token stream version 9" nmoe-shard pack -o V v9.tok
