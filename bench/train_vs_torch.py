#!/usr/bin/python3
"""train_vs_torch.py: the PyTorch side of bench/train_vs_torch.sh.

    train_vs_torch.py CONFIG_JSON THREADS STEPS WARMUP

Trains the same model as nmoe-train (the module of tests/oracle/torch_reference.py,
built from the resolved config that `nmoe-train --print-config` prints) on the CPU with
torch.optim.AdamW, gradient clipping and the same batch and micro-batch, and prints one
line: "torch tok_per_s X max_rss_mb Y", the rate over the steps after WARMUP.
"""
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "oracle"))
from torch_reference import Transformer  # noqa: E402


def main():
    cfg = json.load(open(sys.argv[1]))["config"]
    threads, steps, warmup = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(cfg["seed"])
    model = Transformer(cfg)
    decayed = ("wq", "wk", "wv", "wo", "w1", "w2", "w3")
    decay = [p for n, p in model.named_parameters() if n.split(".")[-2] in decayed]
    no_decay = [p for n, p in model.named_parameters() if n.split(".")[-2] not in decayed]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg["lr_dense"], betas=(cfg["adam_beta1"], cfg["adam_beta2"]), eps=cfg["adam_eps"])
    B, T, V = cfg["batch_size"], cfg["seq_len"], cfg["vocab_size"]
    micro = cfg["micro_batch_size"] or B
    g = torch.Generator().manual_seed(1)
    t0 = None
    for step in range(steps):
        if step == warmup:
            t0 = time.perf_counter()
        batch = torch.randint(0, V, (B, T + 1), generator=g)
        opt.zero_grad(set_to_none=True)
        for b0 in range(0, B, micro):
            x, y = batch[b0:b0 + micro, :T], batch[b0:b0 + micro, 1:]
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1)) * (micro / B)
            loss.backward()
        if cfg["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        opt.step()
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"torch tok_per_s {(steps - warmup) * B * T / dt:.1f} max_rss_mb {rss:.1f}")


if __name__ == "__main__":
    main()
