#!/usr/bin/env bash
# A checkpoint is only resumed by the config that wrote it: a different fingerprint is
# refused, naming the keys that differ; keys outside the fingerprint (steps, log_every,
# out_dir, ...) may change. A damaged checkpoint is refused with the file and reason.
. "$(dirname "$0")/train_common.bash"
make_data
write_config

nmoe-train -q tiny.toml --set steps=4 >a.ndjson
fp=$(head -n 1 a.ndjson | sed -E 's/.*"fingerprint":"([0-9a-f]{16})".*/\1/')
printed=$(nmoe-train tiny.toml --print-config | sed -E 's/^\{"fingerprint":"([0-9a-f]{16})".*/\1/')
[ "$fp" = "$printed" ] || fail "--print-config fingerprint $printed, the run's $fp"

expect_fail 1 "out/step-00000004: a checkpoint of another config (fingerprint $fp, this config's is" \
    nmoe-train tiny.toml --set lr_dense=0.002 --resume out
grep -qF "lr_dense 0.003 -> 0.002" cmd.err || fail "refusal does not name lr_dense: $(cat cmd.err)"
expect_fail 1 "dim 32 -> 64" nmoe-train tiny.toml --set dim=64 --set seed=4 --resume out
grep -qF "seed 3 -> 4" cmd.err || fail "refusal does not name seed: $(cat cmd.err)"

# Not fingerprinted: these resume fine.
nmoe-train -q tiny.toml --set steps=6 --set log_every=2 --set validation_every=3 --set checkpoint_every=0 --resume out >b.ndjson
tail -n 1 b.ndjson | grep_all '"step":6,"reason":"finished"' || fail "resume with more steps did not complete"

# Damaged checkpoints (continued into an out_dir of their own: out holds the run they
# were copied from).
cp -r out/step-00000004 bad
printf 'X' | dd of=bad/model.bin bs=1 seek=5000 conv=notrunc 2>/dev/null
expect_fail 1 "bad/model.bin: data checksum" nmoe-train tiny.toml --set out_dir=out_bad --resume bad
cp out/step-00000004/model.bin bad/model.bin
cp out/step-00000006/optimizer.bin bad/optimizer.bin
expect_fail 1 "bad/optimizer.bin: checksum" nmoe-train tiny.toml --set out_dir=out_bad --resume bad
grep -qF "files from different checkpoints" cmd.err || fail "mixed files: $(cat cmd.err)"
head -c 100 out/step-00000004/state.json >bad/state.json
expect_fail 1 "bad/state.json: no state_xxh3 (truncated or edited; corrupt checkpoint)" nmoe-train tiny.toml --set out_dir=out_bad --resume bad
expect_fail 1 "nothere: no checkpoint there" nmoe-train tiny.toml --set out_dir=out_bad --resume nothere
# The same data_path holding other data is noticed.
rm -rf data
mktokstream --docs 200 --vocab 256 --zipf --max-len 300 --seed 8 | nmoe-shard pack -q --val-fraction 0.1 -o data
expect_fail 1 "(the data changed)" nmoe-train tiny.toml --set steps=8 --resume out
echo "fingerprint: ok"
