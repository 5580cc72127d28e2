#!/usr/bin/env bash
# A pack whose manifest and shards disagree is refused by cat and verify with the
# reason: a shard missing, a shard swapped for another, a document lost, a manifest
# that is not JSON or lacks a key.
source "$NMOE_TOP/tests/cli/shard_common.bash"

mktokstream --docs 300 --max-len 300 --seed 4 > in.tok
nmoe-shard pack -q -o P --shard-tokens 10K --val-fraction 0.3 < in.tok
nmoe-shard pack -q -o Q --shard-tokens 10K --val-fraction 0.3 --seed 1 < in.tok

verify_says() { # DIR LINE
    local rc=0
    nmoe-shard verify "$1" > out.txt 2>/dev/null || rc=$?
    [ $rc -eq 1 ] || fail "verify $1 exited $rc"
    expect_line out.txt "$2"
}

cp -r P M; rm M/train-000001.shard
expect_fail 1 "M/train-000001.shard: No such file or directory" nmoe-shard cat M
verify_says M "M/train-000001.shard: FAILED: No such file or directory"

cp -r P S; cp Q/train-000001.shard S/train-000001.shard
expect_fail 1 "S/train-000001.shard: " nmoe-shard cat S
grep -qE "the manifest says|is not the shard the manifest lists" cmd.err || fail "$(cat cmd.err)"
verify_says S "S: FAILED: damaged shards (above)"

# A val shard listed as train and the other way round: every shard is fine, but
# documents come out of order; the merge notices.
cp -r P X
jq -c '.splits.train.shards[0] as $t | .splits.val.shards[0] as $v
       | .splits.train.shards[0] = $v | .splits.val.shards[0] = $t
       | .splits.train.n_docs = ([.splits.train.shards[].n_docs] | add)
       | .splits.val.n_docs = ([.splits.val.shards[].n_docs] | add)
       | .splits.train.n_tokens = ([.splits.train.shards[].n_tokens] | add)
       | .splits.val.n_tokens = ([.splits.val.shards[].n_tokens] | add)' P/manifest.json > X/manifest.json
expect_fail 1 "X: document " nmoe-shard cat X
grep -qF "is in no shard (damaged pack; run nmoe-shard verify)" cmd.err || fail "$(cat cmd.err)"
rc=0; nmoe-shard verify X > out.txt 2>/dev/null || rc=$?
[ $rc -eq 1 ] && grep -qE '^X: FAILED: .*document order goes back' out.txt || fail "verify X: $(cat out.txt)"

# A shard dropped from the manifest (with the counts fixed): a document is missing.
cp -r P L
jq -c 'del(.splits.train.shards[1]) | .splits.train.n_docs = ([.splits.train.shards[].n_docs] | add)
       | .splits.train.n_tokens = ([.splits.train.shards[].n_tokens] | add)
       | .n_docs = .splits.train.n_docs + .splits.val.n_docs | .n_tokens = .splits.train.n_tokens + .splits.val.n_tokens' \
       P/manifest.json > L/manifest.json
expect_fail 1 "is in no shard (damaged pack; run nmoe-shard verify)" nmoe-shard cat L
rc=0; nmoe-shard verify L > out.txt 2>/dev/null || rc=$?
[ $rc -eq 1 ] && grep -qE '^L: FAILED: .*past the [0-9]+ documents of the pack|^L: FAILED: document [0-9]+ is in no shard' out.txt \
    || fail "verify L: $(cat out.txt)"

cp -r P J; head -c 100 P/manifest.json > J/manifest.json
expect_fail 1 "J/manifest.json: not valid JSON (corrupted manifest)" nmoe-shard cat J
expect_fail 1 "J/manifest.json: not valid JSON (corrupted manifest)" nmoe-shard info J
verify_says J "J: FAILED: J/manifest.json: not valid JSON (corrupted manifest)"

cp -r P K; jq -c 'del(.vocab_id)' P/manifest.json > K/manifest.json
expect_fail 1 "K/manifest.json: key 'vocab_id' is missing" nmoe-shard cat K

cp -r P R; jq -c '.splits.train.shards[0].file = "../in.tok"' P/manifest.json > R/manifest.json
expect_fail 1 "R/manifest.json: key 'splits.train.shards[0].file': '../in.tok' is not a plain file name" nmoe-shard cat R
