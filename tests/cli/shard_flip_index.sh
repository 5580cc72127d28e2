#!/usr/bin/env bash
# A flipped byte in the document index or the sequence section (the document order)
# is refused on open with `document index checksum mismatch` / `sequence section
# checksum mismatch`; an index that is consistent but wrong (checksums redone by
# hand) is refused as out of order.
source "$NMOE_TOP/tests/cli/shard_common.bash"

mktokstream --docs 100 --max-len 300 --seed 4 > in.tok
for z in "" --zstd; do
    rm -rf P
    nmoe-shard pack -q -o P $z < in.tok
    f=P/train-000000.shard
    cp $f orig.shard
    index_at=$(shardpatch $f get 72 u64)
    seq_at=$(shardpatch $f get 80 u64)
    size=$(stat -c %s $f)
    for at in $index_at $((index_at + 8 * 50 + 1)) $((seq_at - 1)); do
        cp orig.shard x.shard
        flipbyte x.shard $at 0x01
        expect_fail 1 "x.shard: document index checksum mismatch (corrupted index)" nmoe-shard info x.shard
        expect_fail 1 "x.shard: document index checksum mismatch (corrupted index)" nmoe-shard cat x.shard
        rc=0; nmoe-shard verify x.shard > out.txt 2>/dev/null || rc=$?
        [ $rc -eq 1 ] || fail "verify after an index flip exited $rc"
        expect_line out.txt "x.shard: FAILED: document index checksum mismatch (corrupted index)"
    done
    for at in $seq_at $((size - 1)); do
        cp orig.shard x.shard
        flipbyte x.shard $at 0x01
        expect_fail 1 "x.shard: sequence section checksum mismatch (corrupted document order)" nmoe-shard cat x.shard
    done
done

# Consistent but wrong: two index entries swapped, or two sequence numbers, and every
# checksum recomputed (shardpatch reseal). The structure checks catch them.
/usr/bin/python3 - <<'PY'
import struct
b = bytearray(open("orig.shard", "rb").read())
index_at, seq_at = struct.unpack_from("<QQ", b, 72)
a, c = struct.unpack_from("<QQ", b, index_at + 8 * 10)
s = bytearray(b)
struct.pack_into("<QQ", b, index_at + 8 * 10, c + 1, a)
open("swapped.shard", "wb").write(b)
a, c = struct.unpack_from("<QQ", s, seq_at + 8 * 10)
struct.pack_into("<QQ", s, seq_at + 8 * 10, c, a)
open("seq_swapped.shard", "wb").write(s)
PY
shardpatch swapped.shard reseal
shardpatch seq_swapped.shard reseal
expect_fail 1 "swapped.shard: document index entry 11" nmoe-shard cat swapped.shard
grep -qF "is out of order or past the" cmd.err || fail "$(cat cmd.err)"
expect_fail 1 "seq_swapped.shard: document sequence numbers are not increasing at document 11" nmoe-shard info seq_swapped.shard
