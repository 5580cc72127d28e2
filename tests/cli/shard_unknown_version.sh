#!/usr/bin/env bash
# An intact header (checksum redone) from an unknown format version is refused with
# `unsupported shard version N`, never read as if it were version 1; likewise a
# manifest of an unknown version. Unknown flags and a wrong header size too.
source "$NMOE_TOP/tests/cli/shard_common.bash"

mktokstream --docs 50 --seed 5 > in.tok
nmoe-shard pack -q -o P < in.tok
f=P/train-000000.shard
cp $f v2.shard
shardpatch v2.shard 8 u32 2
expect_fail 1 "v2.shard: unsupported shard version 2 (this build reads version 1)" nmoe-shard info v2.shard
expect_fail 1 "v2.shard: unsupported shard version 2" nmoe-shard cat v2.shard
rc=0; nmoe-shard verify v2.shard > out.txt 2>/dev/null || rc=$?
[ $rc -eq 1 ] || fail "verify of a version 2 shard exited $rc"
expect_line out.txt "v2.shard: FAILED: unsupported shard version 2 (this build reads version 1)"

cp $f flags.shard
shardpatch flags.shard 48 u32 0x80
expect_fail 1 "flags.shard: unknown flags 0x80 in header" nmoe-shard info flags.shard
cp $f hsize.shard
shardpatch hsize.shard 12 u32 256
expect_fail 1 "hsize.shard: header size 256, expected 128" nmoe-shard info hsize.shard

sed -i 's/"version":1,/"version":2,/' P/manifest.json
expect_fail 1 "P/manifest.json: unsupported manifest version 2 (this build reads version 1)" nmoe-shard cat P
expect_fail 1 "P/manifest.json: unsupported manifest version 2" nmoe-shard info P
rc=0; nmoe-shard verify P > out.txt 2>/dev/null || rc=$?
[ $rc -eq 1 ] || fail "verify of a version 2 manifest exited $rc"
grep -qF "P: FAILED: P/manifest.json: unsupported manifest version 2" out.txt || fail "$(cat out.txt)"
