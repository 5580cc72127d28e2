#!/usr/bin/env bash
# pack into a directory that holds a pack is refused unless -f; with -f the old pack
# is replaced (its manifest removed first, then its shards), leaving no stale shard.
source "$NMOE_TOP/tests/cli/shard_common.bash"

mktokstream --docs 400 --max-len 300 --seed 2 > a.tok
mktokstream --docs 50 --max-len 300 --seed 3 > b.tok
nmoe-shard pack -q -o P --shard-tokens 10K --val-fraction 0.2 < a.tok
before=$(ls P | wc -l)
expect_fail 1 "P: already holds a pack (manifest.json); use -f to replace it" nmoe-shard pack -o P < b.tok
[ "$(ls P | wc -l)" -eq "$before" ] || fail "a refused pack changed the directory"
nmoe-shard cat P | cmp - a.tok || fail "a refused pack damaged the old one"

nmoe-shard pack -q -f -o P --shard-tokens 10K < b.tok
nmoe-shard cat P | cmp - b.tok || fail "pack -f did not replace the pack"
listed=$(jq -r '.splits[].shards[].file' P/manifest.json | sort)
present=$(cd P && ls *.shard | sort)
[ "$listed" = "$present" ] || fail "stale shards left: $present vs $listed"
nmoe-shard verify -q P

# import honours the same rule.
/usr/bin/python3 -c 'import numpy as np; np.save("t.npy", np.arange(10, dtype="uint16"))' 2>/dev/null || exit 0
expect_fail 1 "P: already holds a pack" nmoe-shard import --from npy -o P t.npy
nmoe-shard import -q -f --from npy --eot none -o P t.npy
[ "$(nmoe-shard cat --ids P)" = "0 1 2 3 4 5 6 7 8 9" ] || fail "import -f"
