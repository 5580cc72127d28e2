#!/usr/bin/env bash
# Corrupt training data is never trained on: one flipped bit in an uncompressed shard
# that leaves the id in range (so no window read could notice it) stops nmoe-train
# before its first step with exit 1, naming the shard and the token checksum, and
# stops nmoe-eval bpb likewise on every split. The check is one pass over the
# tokens on open; its cost is in the meta line (time.data_verify_s) and the bytes it
# covered in data.verified_bytes.
source "$NMOE_TOP/tests/cli/eval_common.bash"
require_tools flipbyte shardpatch
make_checkpoint
cp -r data good
verified=$(json_field train.ndjson meta data | "$PY" -c "import ast,sys; print(ast.literal_eval(sys.stdin.read())['verified_bytes'])")
want=$(cat data/*.shard | wc -c)
# Every shard's token section, at least, and never more than the files hold.
[ "$verified" -gt 0 ] && [ "$verified" -le "$want" ] || fail "verified_bytes $verified (shards hold $want bytes)"
"$PY" - train.ndjson <<'PY' || fail "meta line lacks time.data_verify_s"
import json, sys
m = json.loads(open(sys.argv[1]).readline())
assert m["kind"] == "meta" and m["time"]["data_verify_s"] >= 0, m
PY

for shard in train val; do
    rm -rf data && cp -r good data
    f=$(ls data/$shard-*.shard | sed -n 1p)
    off=$(shardpatch "$f" get 56 u64)      # tokens_offset
    size=$(shardpatch "$f" get 64 u64)     # tokens_size
    at=$(( off + (size / 2) / 4 * 4 ))     # the low byte of a token (2- or 4-byte ids)
    flipbyte "$f" "$at" 0x01                # id ^ 1 stays below the 384-id vocabulary
    write_config fresh.toml data fresh-out
    expect_fail 1 "$f: token checksum mismatch (corrupted tokens)" nmoe-train -q fresh.toml --metrics fresh.ndjson
    [ ! -s fresh.ndjson ] || fail "$shard: a metric line was written before the check"
    [ ! -e fresh-out/latest ] || fail "$shard: a checkpoint was written from corrupt data"
    # Resuming is no different: the check runs on every open.
    expect_fail 1 "$f: token checksum mismatch (corrupted tokens)" nmoe-train -q tiny.toml --resume ckpt --metrics resumed.ndjson
    for split in val train all; do
        expect_fail 1 "$f: token checksum mismatch (corrupted tokens)" \
            nmoe-eval bpb -q --ckpt ckpt --data data --split "$split" --tokenizer tok.nmoe --tokens 256
    done
done
# The good data still trains and scores (the check is not a false alarm).
rm -rf data && cp -r good data
nmoe-eval bpb -q --ckpt ckpt --data data --split all --tokenizer tok.nmoe --tokens 256 >ok.eval
json_field ok.eval eval time | grep_all data_verify_s || fail "the eval line lacks time.data_verify_s"
echo ok
