#!/usr/bin/env bash
# eval_oracle.sh: nmoe-eval's log-likelihoods and bits per byte against PyTorch
# (Debian's python3-torch). A tiny checkpoint is trained (tests/cli/eval_common.bash:
# a BPE tokenizer learned by nmoe-tok, Tiny Shakespeare shards, 30 steps of nmoe-train);
# then
#   nmoe-eval core --examples   on tests/data/eval/oracle_tasks.toml (hand-made files and
#                               a few real CORE tasks, with few-shot prompts cut to the
#                               64-token context): every sequence's scored span,
#                               log-likelihood, mean loss and greedy flag, the prediction
#                               and the tallies;
#   nmoe-eval bpb               on the val split: loss per token and bits per byte;
# are recomputed by tests/oracle/eval_reference.py with the trainer oracle's PyTorch
# model (torch_reference.py) from the checkpoint's model.bin, and must agree to 1e-4.
set -euo pipefail
: "${NMOE_TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
export NMOE_TOP
/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "skip: /usr/bin/python3 has no torch (apt-get install python3-torch)"; exit 77; }
source "$NMOE_TOP/tests/cli/eval_common.bash"
make_checkpoint
ckpt_dir=$(echo ckpt/step-*)
nmoe-eval core -q --ckpt ckpt --tokenizer tok.nmoe --tasks "$NMOE_TOP/tests/data/eval/oracle_tasks.toml" \
    --limit 6 --examples --batch 5 >core.ndjson
nmoe-eval bpb -q --ckpt ckpt --data data --tokenizer tok.nmoe --tokens 1280 >bpb.ndjson
nmoe-shard cat --ids data/val-000000.shard >val.ids
[ "$(ls data/val-*.shard | wc -l)" = 1 ] || fail "expected one val shard"
"$PY" "$NMOE_TOP/tests/oracle/eval_reference.py" "$ckpt_dir/model.bin" tok.nmoe core.ndjson bpb.ndjson val.ids
