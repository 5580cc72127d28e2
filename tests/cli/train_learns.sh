#!/usr/bin/env bash
# configs/tiny.toml learns Tiny Shakespeare (GPT-2 tokens, the README's pipeline): a
# short run of it (72K tokens: shorter sequences, fewer steps, so the suite stays quick)
# must bring the validation loss 0.4 nats or more below the unigram entropy of the
# training tokens (the loss of the best model that ignores context). Prints both. The
# full run (1.7 nats below) is bench/train_tiny_shakespeare.sh.
. "$(dirname "$0")/train_common.bash"
command -v nmoe-tok >/dev/null || fail "missing nmoe-tok"
command -v unigram_entropy >/dev/null || fail "missing unigram_entropy (run make unit)"
nmoe-tok encode -t gpt2 --eot "$NMOE_TOP/data/tinyshakespeare.txt" | nmoe-shard pack -q -o run/data
# 280 steps of 2 x 128 tokens (72K tokens, about a quarter of an epoch).
sets=(--set seq_len=128 --set batch_size=2 --set micro_batch_size=2 --set steps=280 --set warmup_steps=10
      --set lr_dense=3e-3 --set hold_tokens=40000 --set decay_tokens=32000 --set validation_every=280
      --set validation_steps=16 --set checkpoint_every=0 --set log_every=20)
h=$(unigram_entropy "$NMOE_TOP/configs/tiny.toml" "${sets[@]}" | awk '{ print $2 }')
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} nmoe-train -q "$NMOE_TOP/configs/tiny.toml" "${sets[@]}" >m.ndjson
first=$(grep '"kind":"val"' m.ndjson | sed -n 1p | sed -E 's/.*"loss":([0-9.e+-]+).*/\1/')
last=$(grep '"kind":"val"' m.ndjson | tail -n 1 | sed -E 's/.*"loss":([0-9.e+-]+).*/\1/')
echo "unigram entropy of the training tokens: $h nats"
echo "validation loss: $first at step 0, $last at step 280"
awk -v l="$last" -v h="$h" 'BEGIN { exit !(l < h - 0.4) }' || fail "val loss $last is not well below the unigram entropy $h"
awk -v l="$last" -v f="$first" 'BEGIN { exit !(l < f - 4) }' || fail "val loss fell only from $first to $last"
echo "learns: ok"
