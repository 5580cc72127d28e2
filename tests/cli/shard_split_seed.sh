#!/usr/bin/env bash
# The train/val split is by document and depends only on the seed: the same seed
# gives identical files (shards and manifest), another seed another split; the val
# share is near --val-fraction; 0 and 1 put everything on one side.
source "$NMOE_TOP/tests/cli/shard_common.bash"

mktokstream --docs 4000 --max-len 100 --seed 3 > in.tok
nmoe-shard pack -q -o A --val-fraction 0.1 --seed 42 --shard-tokens 20K < in.tok
nmoe-shard pack -q -o B --val-fraction 0.1 --seed 42 --shard-tokens 20K < in.tok
nmoe-shard pack -q -o C --val-fraction 0.1 --seed 43 --shard-tokens 20K < in.tok
for f in A/*; do cmp "$f" "B/${f#A/}" || fail "same seed, different $f"; done
[ "$(ls A | wc -l)" -eq "$(ls B | wc -l)" ] || fail "same seed, different file count"

val_a=$(nmoe-shard cat --ids A/val-*.shard | md5sum)
val_c=$(nmoe-shard cat --ids C/val-*.shard | md5sum)
[ "$val_a" != "$val_c" ] || fail "seed 43 chose the same val documents as seed 42"
nmoe-shard cat C | cmp - in.tok || fail "seed 43 pack does not round-trip"

# The val share: 4000 documents at 0.1 -> 400 expected; 4 sigma is 76.
vdocs=$(jq '.splits.val.n_docs' A/manifest.json)
[ "$vdocs" -gt 324 ] && [ "$vdocs" -lt 476 ] || fail "val holds $vdocs of 4000 documents at 0.1"

# The split does not depend on the shard size or compression (only seed and position).
nmoe-shard pack -q -o D --val-fraction 0.1 --seed 42 --shard-tokens 1M --zstd < in.tok
[ "$(nmoe-shard cat --ids D/val-*.shard | md5sum)" = "$val_a" ] || fail "the split changed with the shard size"

nmoe-shard pack -q -o Z --val-fraction 0 < in.tok
[ "$(jq '.splits.val.n_docs' Z/manifest.json)" -eq 0 ] || fail "--val-fraction 0 made val documents"
[ -z "$(ls Z/val-* 2>/dev/null)" ] || fail "--val-fraction 0 made val shards"
nmoe-shard pack -q -o O --val-fraction 1 < in.tok
[ "$(jq '.splits.train.n_docs' O/manifest.json)" -eq 0 ] || fail "--val-fraction 1 left train documents"
nmoe-shard cat O | cmp - in.tok || fail "--val-fraction 1 does not round-trip"

# zstd output does not depend on the thread count (so neither do checksums in manifests).
mktokstream --tokens 3M --max-len 5000 --zipf --seed 4 > big.tok
nmoe-shard pack -q -o T1 --zstd --level 1 -T 1 < big.tok
nmoe-shard pack -q -o T3 --zstd --level 1 -T 3 < big.tok
cmp T1/train-000000.shard T3/train-000000.shard || fail "zstd shard differs between -T 1 and -T 3"
cmp T1/manifest.json T3/manifest.json || fail "manifest differs between -T 1 and -T 3"
