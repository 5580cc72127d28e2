#!/usr/bin/env bash
# state.json is not taken as written: an edited step, token count or RNG counter is
# refused on resume (exit 1, naming the file), whether or not whoever edited it also
# recomputed its checksum; then by the cross-checks with the step that model.bin and
# optimizer.bin record, with the arithmetic of the config (tokens = step x tokens per
# step, sequences = step x batch_size, optimizer_step = step) and with a replay of the
# data sampler's draws. nmoe-eval refuses the same files. An untouched checkpoint, and
# one merely resealed, resume as before.
. "$(dirname "$0")/train_common.bash"
require_tools statepatch
make_data
write_config
nmoe-train -q tiny.toml --set steps=8 --set checkpoint_every=4 --set validation_every=0 >/dev/null
grep -q '"version":2,' out/step-00000004/state.json || fail "state.json is not version 2"
tail -c 40 out/step-00000004/state.json | grep_all ',"state_xxh3":"[0-9a-f]\{16\}"}$' || fail "state.json does not end with its checksum"

# try LABEL MESSAGE statepatch-ARGS...: a copy of step 4, patched, is refused with MESSAGE.
try() {
    local label=$1 msg=$2
    shift 2
    rm -rf ck && cp -r out/step-00000004 ck
    [ $# -eq 0 ] || statepatch ck/state.json "$@"
    expect_fail 1 "$msg" nmoe-train tiny.toml --set out_dir=o_$label --set steps=8 --resume ck
}
# Edited, checksum left alone.
try step "ck/state.json: checksum" step 3
grep -qF "edited or damaged since it was written" cmd.err || fail "step: $(cat cmd.err)"
try counter "ck/state.json: checksum" rng_counter '"12"'
try load "ck/state.json: checksum" tokens 0
# Edited and resealed: the other witnesses.
try step_sealed "ck/state.json: optimizer_step 4 is not step 3" step 3 --reseal
try tokens_sealed "ck/state.json: tokens 100 is not step 4 x 128 tokens per step" tokens 100 --reseal
try seqs_sealed "ck/state.json: data.sequences 15 is not step 4 x batch_size 4" sequences '"15"' --reseal
try seed_sealed "are not the config's seed 3 and the data stream 1" rng_seed '"4"' --reseal
try counter_sealed "data.rng_counter 12 is not where 16 draws from seed 3 end (32" rng_counter '"12"' --reseal
# Every count moved together (a consistent edit of step 4 into step 3): model.bin's own
# header still says 4.
rm -rf ck && cp -r out/step-00000004 ck
statepatch ck/state.json step 3
statepatch ck/state.json optimizer_step 3
statepatch ck/state.json tokens 384
statepatch ck/state.json sequences '"12"'
statepatch ck/state.json rng_counter '"24"' --reseal
expect_fail 1 "ck/model.bin: written at step 4, but state.json says 3" nmoe-train tiny.toml --set out_dir=o_all --set steps=8 --resume ck
expect_fail 1 "ck/model.bin: written at step 4, but state.json says 3" nmoe-eval bpb --ckpt ck --data data --split val
# optimizer.bin of step 8 under step 4's state.json, its checksum recorded too: its
# header's step says 8.
rm -rf ck && cp -r out/step-00000004 ck
cp out/step-00000008/optimizer.bin ck/
sum=$(sed -E 's/.*"optimizer.bin":"([0-9a-f]{16})".*/\1/' out/step-00000008/state.json)
statepatch ck/state.json optimizer.bin "\"$sum\"" --reseal
expect_fail 1 "ck/optimizer.bin: written at step 8, but state.json says 4" nmoe-train tiny.toml --set out_dir=o_opt --set steps=8 --resume ck
# A truncated state.json.
rm -rf ck && cp -r out/step-00000004 ck
head -c -30 out/step-00000004/state.json > ck/state.json
expect_fail 1 "ck/state.json: no state_xxh3 (truncated or edited; corrupt checkpoint)" nmoe-train tiny.toml --set out_dir=o_cut --resume ck

# Resealing an untouched file changes no byte, and the copy resumes to the same end.
rm -rf ck && cp -r out/step-00000004 ck
statepatch ck/state.json --reseal
cmp -s ck/state.json out/step-00000004/state.json || fail "resealing an untouched state.json changed it"
nmoe-train -q tiny.toml --set out_dir=o_ok --set steps=8 --set checkpoint_every=4 --set validation_every=0 --resume ck >/dev/null
# (the files' headers name their out_dir; the data checksums state.json records do not)
weights() { sed -E 's/.*"model.bin":"([0-9a-f]{16})".*/\1/' "$1"; }
[ "$(weights o_ok/step-00000008/state.json)" = "$(weights out/step-00000008/state.json)" ] ||
    fail "the resumed copy did not reach the same weights"
echo "state tamper: ok"
