#!/usr/bin/env bash
# nmoe-eval past the trained context (seq_len 64): --context-factor S lets --seq-len
# reach S times it (RoPE extrapolates as trained) and changes nothing at the trained
# length; --yarn applies YaRN (factor S over the trained length) to a checkpoint trained
# without it and changes the score; a checkpoint trained with yarn scores at its own
# frequencies; the misuses are usage errors (exit 2), the CUDA backend refuses yarn.
source "$NMOE_TOP/tests/cli/eval_common.bash"
make_checkpoint
loss() { sed -n 's/.*"loss":\([-0-9.e+]*\).*/\1/p' "$1" | sed -n 1p; }
bpb() { nmoe-eval bpb -q --ckpt "$1" --data data --tokenizer tok.nmoe "${@:2}"; }
bpb ckpt >e64.ndjson || fail "bpb at 64"
expect_fail 2 "--seq-len 128 is longer than the checkpoint's seq_len 64" bpb ckpt --seq-len 128
expect_fail 2 "--seq-len 257 is longer than --context-factor 4 times the checkpoint's seq_len 64" \
    bpb ckpt --seq-len 257 --context-factor 4
expect_fail 2 "--yarn needs --context-factor above 1" bpb ckpt --yarn
expect_fail 2 'backend "cuda": rope_scaling "yarn" is not in the CUDA backend' \
    bpb ckpt --yarn --context-factor 2 --backend cuda
bpb ckpt --seq-len 256 --context-factor 4 >e256.ndjson || fail "bpb at 256"
bpb ckpt --seq-len 256 --context-factor 4 --yarn >y256.ndjson || fail "bpb at 256 with yarn"
grep -q '"seq_len":256' e256.ndjson && grep -q '"seq_len":256' y256.ndjson || fail "bpb at 256: $(cat e256.ndjson)"
[ "$(loss e256.ndjson)" != "$(loss y256.ndjson)" ] || fail "--yarn changed nothing"
bpb ckpt --context-factor 4 >f64.ndjson
[ "$(loss f64.ndjson)" = "$(loss e64.ndjson)" ] || fail "--context-factor changed the trained-length score"
# A checkpoint trained with yarn: refused by --yarn, scored at its frequencies otherwise.
write_config yarn.toml data ckpt_yarn 'rope_scaling="yarn"' rope_factor=2 rope_original_seq_len=32
nmoe-train -q yarn.toml --metrics yarn.ndjson
expect_fail 2 'was trained with rope_scaling "yarn" already' bpb ckpt_yarn --yarn --context-factor 2
bpb ckpt_yarn --seq-len 128 --context-factor 2 >yy.ndjson || fail "bpb of the yarn checkpoint at 128"
echo "eval past the trained context: ok (loss at 64 $(loss e64.ndjson), at 256 $(loss e256.ndjson), with yarn $(loss y256.ndjson))"
