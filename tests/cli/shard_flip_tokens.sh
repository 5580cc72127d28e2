#!/usr/bin/env bash
# A flipped byte in the token section is caught: verify prints `FILE: FAILED: token
# checksum mismatch` and exits 1, cat refuses (it never passes damaged ids on). In a
# zstd shard the flip is caught already on open. Also inside a pack directory.
# cat checks a binary stream as it writes it: what it wrote before stopping lacks
# the trailer, so a reader (pack) rejects it and writes nothing.
source "$NMOE_TOP/tests/cli/shard_common.bash"

mktokstream --docs 100 --max-len 300 --seed 3 > in.tok
for z in "" --zstd; do
    rm -rf P
    nmoe-shard pack -q -o P --shard-tokens 10K $z < in.tok
    f=P/train-000001.shard
    cp $f orig.shard
    size=$(shardpatch $f get 64 u64)
    for at in 128 $((128 + size / 2)) $((128 + size - 1)); do
        cp orig.shard $f
        flipbyte $f $at 0x04
        rc=0; nmoe-shard verify $f > out.txt 2>/dev/null || rc=$?
        [ $rc -eq 1 ] || fail "verify after a token flip at $at exited $rc"
        expect_line out.txt "$f: FAILED: token checksum mismatch (corrupted tokens)"
        expect_fail 1 "$f: token checksum mismatch (corrupted tokens)" nmoe-shard cat P
        cp cmd.out partial.tok
        expect_fail 1 "stream ends without its trailer" nmoe-shard pack -o Q partial.tok
        [ ! -e Q/manifest.json ] || fail "pack accepted the stream of a failed cat"
        expect_fail 1 "$f: token checksum mismatch (corrupted tokens)" nmoe-shard cat --ids $f
        rc=0; nmoe-shard verify P > out.txt 2>/dev/null || rc=$?
        [ $rc -eq 1 ] || fail "verify P after a token flip exited $rc"
        expect_line out.txt "P: FAILED: damaged shards (above)"
    done
done
