#!/usr/bin/env bash
# The attention dials of issue 15 from the outside: qk_norm, attn_sinks and the
# local/global pattern (attn_global_every, attn_local_window) are config keys
# (--list-keys); bad values and ambiguous combinations are refused naming the key
# (exit 2); backend = "cuda" with any of them is refused naming the dial (exit 2,
# nothing written); a tiny model trains with each (the checkpoint carries the dial's
# tensors); a resumed run matches an uninterrupted one bit for bit; each dial changes
# the trajectory; and resuming under another dial is refused by the fingerprint.
. "$(dirname "$0")/train_common.bash"
make_data
write_config

nmoe-train --list-keys >keys.txt
for k in qk_norm attn_sinks attn_global_every attn_local_window; do
    grep -q "^$k " keys.txt || fail "--list-keys lacks $k"
done

expect_fail 2 "qk_norm: expected true or false" nmoe-train -q tiny.toml --set qk_norm=1
expect_fail 2 "attn_sinks: expected true or false" nmoe-train -q tiny.toml --set attn_sinks=yes
expect_fail 2 "attn_global_every: -1 is out of range" nmoe-train -q tiny.toml --set attn_global_every=-1
expect_fail 2 "attn_local_window: -3 is out of range" nmoe-train -q tiny.toml --set attn_local_window=-3
expect_fail 2 "attn_global_every (2) needs attn_local_window > 0" nmoe-train -q tiny.toml --set attn_global_every=2
expect_fail 2 "attn_window (8) with attn_global_every (2) is ambiguous" \
    nmoe-train -q tiny.toml --set attn_global_every=2 --set attn_local_window=8 --set attn_window=8
expect_fail 2 "attn_local_window (8) is used only with attn_global_every > 0" \
    nmoe-train -q tiny.toml --set attn_local_window=8
expect_fail 2 "attn_global_every (3) leaves no global block of the n_layers (2)" \
    nmoe-train -q tiny.toml --set attn_global_every=3 --set attn_local_window=8
expect_fail 2 "attn_global_every (1) leaves no local block" \
    nmoe-train -q tiny.toml --set attn_global_every=1 --set attn_local_window=8
printf '[model]\nqk_norm = "yes"\n' >bad.toml
expect_fail 2 "bad.toml:2:11: qk_norm: expected true or false" nmoe-train -q bad.toml

expect_fail 2 'backend "cuda": qk_norm is not in the CUDA backend' \
    nmoe-train -q tiny.toml --set qk_norm=true --backend cuda --set out_dir=out_cuda
expect_fail 2 'backend "cuda": attn_sinks is not in the CUDA backend' \
    nmoe-train -q tiny.toml --set attn_sinks=true --backend cuda --set out_dir=out_cuda
expect_fail 2 'backend "cuda": attn_global_every 2 is not in the CUDA backend' \
    nmoe-train -q tiny.toml --set attn_global_every=2 --set attn_local_window=8 --backend cuda --set out_dir=out_cuda
[ ! -e out_cuda ] || fail "an attention dial on cuda: wrote $(ls out_cuda)"

# resume_and_val NAME SETTINGS...: check_resume, and the straight run has a finite validation loss.
resume_and_val() {
    check_resume "$@"
    grep -q '"kind":"val".*"loss":[0-9]' $1_a.ndjson || fail "$1: no finite validation loss"
}
# tensors_in NAME PATTERN: the distinct tensor names of the run's last checkpoint matching PATTERN.
tensors_in() { { grep -a -o "\"layers\.[0-9]*\.attn\.$2\"" out_$1_a/step-00000012/model.bin || true; } | sort -u | wc -l; }

resume_and_val plain
resume_and_val qk --set qk_norm=true
[ "$(tensors_in qk 'q_norm\.weight')" = 2 ] && [ "$(tensors_in qk 'k_norm\.weight')" = 2 ] \
    || fail "qk_norm: the checkpoint lacks the q_norm/k_norm tensors of both blocks"
[ "$(tensors_in plain '[qk]_norm\.weight')" = 0 ] || fail "q/k norm tensors without qk_norm"
resume_and_val sinks --set attn_sinks=true
[ "$(tensors_in sinks sinks)" = 2 ] || fail "attn_sinks: the checkpoint lacks the sinks of both blocks"
[ "$(tensors_in plain sinks)" = 0 ] || fail "sinks tensors without attn_sinks"
# The pattern: block 0 local over 4 tokens, block 1 global (seq_len 32); then all three.
resume_and_val lg --set attn_global_every=2 --set attn_local_window=4
resume_and_val all --set attn_global_every=2 --set attn_local_window=4 --set qk_norm=true --set attn_sinks=true
# Every dial changes the trajectory (a dial that does nothing would pass the rest).
for name in qk sinks lg all; do
    [ "$(grep '"step":12,"loss"' ${name}_a.ndjson)" != "$(grep '"step":12,"loss"' plain_a.ndjson)" ] \
        || fail "$name ran the same as plain"
done
# The pattern is not the window of every block: attn_window = 4 everywhere differs.
resume_and_val win4 --set attn_window=4
[ "$(grep '"step":12,"loss"' lg_a.ndjson)" != "$(grep '"step":12,"loss"' win4_a.ndjson)" ] \
    || fail "attn_global_every=2 ran like attn_window=4 in every block"
# A checkpoint of one dial does not resume under another.
nmoe-train tiny.toml --set attn_sinks=true --resume out_qk_a >/dev/null 2>fp.err && fail "resumed qk_norm as attn_sinks"
grep -qF 'qk_norm' fp.err || fail "refusal does not name qk_norm: $(cat fp.err)"
echo "attention dials: keys, refusals, checkpoints and resume ok"
