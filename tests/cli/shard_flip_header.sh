#!/usr/bin/env bash
# A flipped byte in a shard header is refused on open (info, verify, cat) with the
# reason: `bad magic`, `unsupported shard version` or `header checksum mismatch`.
source "$NMOE_TOP/tests/cli/shard_common.bash"

mktokstream --docs 100 --max-len 300 --seed 2 > in.tok
nmoe-shard pack -q -o P < in.tok
f=P/train-000000.shard
check_flip() { # OFFSET REASON
    cp $f x.shard
    flipbyte x.shard "$1" 0x20
    expect_fail 1 "x.shard: $2" nmoe-shard info x.shard
    expect_fail 1 "x.shard: $2" nmoe-shard cat x.shard
    rc=0; nmoe-shard verify x.shard > out.txt 2>/dev/null || rc=$?
    [ $rc -eq 1 ] || fail "verify after a flip at $1 exited $rc"
    grep -qF "x.shard: FAILED: $2" out.txt || fail "verify after a flip at $1: $(cat out.txt)"
}
check_flip 0 "bad magic (not an nmoe shard)"
check_flip 9 "unsupported shard version"
for off in 13 17 21 25 33 41 49 53 57 65 73 81 89 97 105 113 121 127; do
    check_flip $off "header checksum mismatch (corrupted header)"
done
