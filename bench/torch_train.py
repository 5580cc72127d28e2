#!/usr/bin/python3
"""torch_train.py: the PyTorch side of bench/train_vs_torch.sh and bench/moe_train_vs_torch.sh.

    torch_train.py CONFIG_JSON THREADS STEPS WARMUP

Trains the same model as nmoe-train (the module of tests/oracle/torch_reference.py,
built from the resolved config that `nmoe-train --print-config` prints) on the CPU with
the same batch and micro-batch, torch.optim.AdamW with nmoe's parameter groups (dense,
experts, routers without weight decay) and gradient clipping. MoE blocks are written
the way most PyTorch MoE code is (tests/oracle/moe_reference.py: a router Linear, top-K,
then a Python loop over the experts with index masks and index_add_), with the aux
loss and the aux-loss-free bias update after every step from the step's loads; a dense
config has none of these, and its expert and router groups are empty. Prints one line:
"torch tok_per_s X max_rss_mb Y", the rate over the steps after WARMUP.
"""
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "oracle"))
from torch_reference import Transformer, moe_blocks  # noqa: E402


def main():
    cfg = json.load(open(sys.argv[1]))["config"]
    threads, steps, warmup = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(cfg["seed"])
    model = Transformer(cfg)
    moes = moe_blocks(model)
    decayed = ("wq", "wk", "wv", "wo", "w1", "w2", "w3")
    groups = {"router": [], "expert": [], "decay": [], "no_decay": []}
    for n, p in model.named_parameters():
        if ".moe.router." in n:
            groups["router"].append(p)
        elif ".moe.experts." in n:
            groups["expert"].append(p)
        else:
            groups["decay" if n.split(".")[-2] in decayed else "no_decay"].append(p)
    wd = cfg["weight_decay"]
    lr_expert = cfg["lr_expert"] or cfg["lr_dense"]
    lr_router = cfg["lr_router"] or cfg["lr_dense"]
    opt = torch.optim.AdamW([{"params": groups["decay"], "weight_decay": wd},
                             {"params": groups["no_decay"], "weight_decay": 0.0},
                             {"params": groups["expert"], "weight_decay": wd, "lr": lr_expert},
                             {"params": groups["router"], "weight_decay": 0.0, "lr": lr_router}],
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
        loads = [torch.zeros(cfg["n_routed_experts"], dtype=torch.int64) for _ in moes]
        for b0 in range(0, B, micro):
            x, y = batch[b0:b0 + micro, :T], batch[b0:b0 + micro, 1:]
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1)) * (micro / B)
            for i, (_, f) in enumerate(moes):
                loss = loss + f.aux * (micro / B)
                loads[i] += f.moe.last["loads"]
            loss.backward()
        if cfg["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        opt.step()
        for i, (_, f) in enumerate(moes):
            f.moe.update_bias(loads[i], cfg["router_bias_update_rate"], 1.0, cfg["router_bias_center"],
                              cfg["router_bias_clamp"])
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"torch tok_per_s {(steps - warmup) * B * T / dt:.1f} max_rss_mb {rss:.1f}")


if __name__ == "__main__":
    main()
