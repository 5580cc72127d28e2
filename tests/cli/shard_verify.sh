#!/usr/bin/env bash
# verify: a good pack and good shards print `FILE: OK` for each and exit 0; with -q
# nothing is printed; one bad file among good ones makes the exit status 1 and names it.
source "$NMOE_TOP/tests/cli/shard_common.bash"

mktokstream --docs 600 --max-len 400 --seed 6 > in.tok
nmoe-shard pack -q -o P --shard-tokens 40K --val-fraction 0.2 < in.tok
nmoe-shard pack -q -o Z --shard-tokens 40K --zstd < in.tok

nmoe-shard verify P Z > out.txt
for f in P/*.shard Z/*.shard; do expect_line out.txt "$f: OK"; done
expect_line out.txt "P: OK"
expect_line out.txt "Z: OK"
[ "$(wc -l < out.txt)" -eq $(( $(ls P/*.shard Z/*.shard | wc -l) + 2 )) ] || fail "extra lines: $(cat out.txt)"

nmoe-shard verify P/train-000001.shard Z/train-000000.shard > out.txt
expect_line out.txt "P/train-000001.shard: OK"
expect_line out.txt "Z/train-000000.shard: OK"

[ -z "$(nmoe-shard verify -q P Z)" ] || fail "verify -q printed something for good files"

cp P/train-000000.shard bad.shard
flipbyte bad.shard 200
rc=0
nmoe-shard verify P/train-000000.shard bad.shard P > out.txt 2> err.txt || rc=$?
[ $rc -eq 1 ] || fail "verify with a bad file exited $rc"
expect_line out.txt "P/train-000000.shard: OK"
expect_line out.txt "bad.shard: FAILED: token checksum mismatch (corrupted tokens)"
expect_line out.txt "P: OK"
grep -qF "1 of 3 checked failed verification" err.txt || fail "summary: $(cat err.txt)"

rc=0; nmoe-shard verify missing.shard > out.txt 2>/dev/null || rc=$?
[ $rc -eq 1 ] || fail "verify of a missing file exited $rc"
expect_line out.txt "missing.shard: FAILED: No such file or directory"
