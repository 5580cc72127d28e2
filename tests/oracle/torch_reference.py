#!/usr/bin/python3
"""torch_reference.py: nmoe's dense transformer written independently in PyTorch, checked
against what the C trainer dumped (tests/tools/train_oracle_dump.c).

    torch_reference.py DUMP_DIR

It loads the initial weights from DUMP_DIR/init.bin (the nmoe tensor file format of
nmoe-checkpoint(5)), builds the model from the config stored in that file's header, and
checks, with fp32 tolerances stated below:
  * the logits of the first micro-batch,
  * the loss and EVERY parameter gradient of the first step (micro-batch accumulation,
    EOS masking),
  * the loss, gradient norm and learning rate of every step, and the weights after the
    last step, training with torch.optim.AdamW (parameter groups with and without weight
    decay), torch.nn.utils.clip_grad_norm_ and nmoe's warmup-hold-decay schedule.
Exit status 0 when everything agrees, 1 otherwise (each failure printed).
"""
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# Normwise relative error ||c - t|| / ||t|| allowed, per quantity (fp32 throughout).
TOL_LOGITS = 2e-6
TOL_LOSS = 2e-6
TOL_GRAD = 1e-5      # per tensor
TOL_NORM = 1e-5
TOL_WEIGHTS = 1e-5   # per tensor, after all steps


def read_tensor_file(path):
    """Parse an nmoe tensor file: magic, version, header length, JSON header, f32 data."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"NMOETNSR":
        raise SystemExit(f"{path}: bad magic")
    version, _reserved, header_bytes = struct.unpack("<IIQ", data[8:24])
    if version != 1:
        raise SystemExit(f"{path}: version {version}")
    header = json.loads(data[24:24 + header_bytes].decode("utf-8"))
    base = 24 + header_bytes
    if len(data) != base + header["data_bytes"]:
        raise SystemExit(f"{path}: size mismatch")
    tensors = {}
    for t in header["tensors"]:
        shape = t["shape"]
        n = int(np.prod(shape))
        arr = np.frombuffer(data, dtype="<f4", count=n, offset=base + t["offset"]).reshape(shape)
        tensors[t["name"]] = torch.from_numpy(arr.copy())
    return header, tensors


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(seq_len, head_dim, theta):
    """cos/sin of p * theta^(-2i/head_dim), computed in double and rounded to float32."""
    half = head_dim // 2
    cos = [[math.cos(p * theta ** (-2.0 * i / head_dim)) for i in range(half)] for p in range(seq_len)]
    sin = [[math.sin(p * theta ** (-2.0 * i / head_dim)) for i in range(half)] for p in range(seq_len)]
    return (torch.tensor(cos, dtype=torch.float64).float(), torch.tensor(sin, dtype=torch.float64).float())


def apply_rope(x, cos, sin):
    """x: (B, T, heads, hd); rotates the interleaved pairs (x[2i], x[2i+1])."""
    B, T, Hh, hd = x.shape
    xp = x.view(B, T, Hh, hd // 2, 2)
    x0, x1 = xp[..., 0], xp[..., 1]
    c = cos[:T].view(1, T, 1, hd // 2)
    s = sin[:T].view(1, T, 1, hd // 2)
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).view(B, T, Hh, hd)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, H = cfg["dim"], cfg["n_heads"]
        self.H = H
        self.KV = cfg["n_kv_heads"] or H
        self.hd = C // H
        self.window = cfg["attn_window"]
        self.wq = nn.Linear(C, H * self.hd, bias=False)
        self.wk = nn.Linear(C, self.KV * self.hd, bias=False)
        self.wv = nn.Linear(C, self.KV * self.hd, bias=False)
        self.wo = nn.Linear(H * self.hd, C, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = apply_rope(self.wq(x).view(B, T, self.H, self.hd), cos, sin).transpose(1, 2)
        k = apply_rope(self.wk(x).view(B, T, self.KV, self.hd), cos, sin).transpose(1, 2)
        v = self.wv(x).view(B, T, self.KV, self.hd).transpose(1, 2)
        k = k.repeat_interleave(self.H // self.KV, dim=1)
        v = v.repeat_interleave(self.H // self.KV, dim=1)
        scale = 1.0 / math.sqrt(self.hd)
        scores = (q @ k.transpose(-2, -1)) * scale
        t = torch.arange(T).view(T, 1)
        j = torch.arange(T).view(1, T)
        visible = j <= t
        if self.window > 0:
            visible = visible & (j > t - self.window)
        scores = scores.masked_fill(~visible, float("-inf"))
        out = scores.softmax(dim=-1) @ v
        return self.wo(out.transpose(1, 2).reshape(B, T, self.H * self.hd))


class FeedForward(nn.Module):
    def __init__(self, dim, inter):
        super().__init__()
        self.w1 = nn.Linear(dim, inter, bias=False)
        self.w3 = nn.Linear(dim, inter, bias=False)
        self.w2 = nn.Linear(inter, dim, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attn_norm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.attn = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.ffn = FeedForward(cfg["dim"], cfg["inter_dim"])

    def forward(self, x, cos, sin):
        x = x + self.attn(self.attn_norm(x), cos, sin)
        return x + self.ffn(self.ffn_norm(x))


class Transformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.tok_embeddings = nn.Embedding(cfg["vocab_size"], cfg["dim"])
        self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg["n_layers"])])
        self.norm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.output = nn.Linear(cfg["dim"], cfg["vocab_size"], bias=False)
        self.cos, self.sin = rope_tables(cfg["seq_len"], cfg["dim"] // cfg["n_heads"], cfg["rope_theta"])

    def forward(self, tokens):
        x = self.tok_embeddings(tokens)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin)
        return self.output(self.norm(x))


def schedule_scale(cfg, step, tokens):
    """nmoe's warmup-hold-decay (opt.py update_lr)."""
    if step < cfg["warmup_steps"]:
        return (step + 1) / cfg["warmup_steps"]
    if tokens < cfg["hold_tokens"]:
        return 1.0
    t = tokens - cfg["hold_tokens"]
    if t < cfg["decay_tokens"]:
        return 0.5 * (1.0 + math.cos(math.pi * t / cfg["decay_tokens"]))
    return 0.0


def rel(a, b):
    a = a.double()
    b = b.double()
    nb = b.norm().item()
    return (a - b).norm().item() / (nb if nb > 0 else 1.0)


failures = []


def check(what, err, tol):
    ok = err <= tol
    print(f"{'ok  ' if ok else 'FAIL'} {what}: relative error {err:.3g} (tolerance {tol:g})")
    if not ok:
        failures.append(what)


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: torch_reference.py DUMP_DIR")
    d = sys.argv[1]
    torch.manual_seed(0)
    header, init = read_tensor_file(f"{d}/init.bin")
    cfg = header["meta"]["config"]
    model = Transformer(cfg)
    model.load_state_dict(init, strict=True)

    B, T, V = cfg["batch_size"], cfg["seq_len"], cfg["vocab_size"]
    micro = cfg["micro_batch_size"] or B
    steps = cfg["steps"]
    batches = np.fromfile(f"{d}/batches.bin", dtype="<u4").astype(np.int64).reshape(steps, B, T + 1)
    batches = torch.from_numpy(batches)
    eos = cfg["eos_token_id"]

    # Logits of the first micro-batch at the initial weights.
    with torch.no_grad():
        logits = model(batches[0, :micro, :T])
    c_logits = torch.from_numpy(np.fromfile(f"{d}/logits.bin", dtype="<f4").reshape(micro, T, V).copy())
    check("logits", rel(c_logits, logits), TOL_LOGITS)

    decayed = ("wq", "wk", "wv", "wo", "w1", "w2", "w3")
    decay = [p for n, p in model.named_parameters() if n.split(".")[-2] in decayed]
    no_decay = [p for n, p in model.named_parameters() if n.split(".")[-2] not in decayed]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg["lr_dense"], betas=(cfg["adam_beta1"], cfg["adam_beta2"]),
                            eps=cfg["adam_eps"], foreach=False)
    with open(f"{d}/steps.json") as f:
        c_steps = [json.loads(line) for line in f]
    _, c_grads = read_tensor_file(f"{d}/grads.bin")
    tokens = 0
    peak, floor = cfg["lr_dense"], min(cfg["decay_floor"], cfg["lr_dense"])
    for s in range(steps):
        lr = floor + (peak - floor) * schedule_scale(cfg, s, tokens)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=False)
        inp, tgt = batches[s, :, :T], batches[s, :, 1:]
        mask = torch.ones_like(tgt, dtype=torch.float32)
        if cfg["loss_mask_eos"] and eos >= 0:
            mask = (tgt != eos).float()
        count = mask.sum().item()
        loss_sum = 0.0
        for b0 in range(0, B, micro):
            lg = model(inp[b0:b0 + micro])
            ce = F.cross_entropy(lg.reshape(-1, V), tgt[b0:b0 + micro].reshape(-1), reduction="none")
            m = mask[b0:b0 + micro].reshape(-1)
            (ce * m).sum().div(count).backward()
            loss_sum += (ce.double() * m.double()).sum().item()
        loss = loss_sum / count
        if s == 0:
            for name, p in model.named_parameters():
                check(f"step 0 gradient {name}", rel(c_grads[name], p.grad), TOL_GRAD)
        params = [p for p in model.parameters()]
        if cfg["grad_clip"] > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, cfg["grad_clip"]).item()
        else:
            norm = torch.norm(torch.stack([p.grad.norm() for p in params])).item()
        opt.step()
        tokens += B * T
        cs = c_steps[s]
        check(f"step {s} loss", abs(cs["loss"] - loss) / abs(loss), TOL_LOSS)
        check(f"step {s} grad_norm", abs(cs["grad_norm"] - norm) / norm, TOL_NORM)
        check(f"step {s} lr", abs(cs["lr"] - lr) / lr, 1e-12)
        if cs["counted"] != int(count):
            failures.append(f"step {s} counted")
            print(f"FAIL step {s} counted targets {cs['counted']} vs {int(count)}")

    _, final = read_tensor_file(f"{d}/final.bin")
    for name, p in model.named_parameters():
        check(f"weights after {steps} steps {name}", rel(final[name], p.detach()), TOL_WEIGHTS)
    moved = sum(rel(init[n], p.detach()) for n, p in model.named_parameters())
    print(f"weights moved by a total relative {moved:.3g} over the run")
    if moved < 1e-3:
        failures.append("training moved nothing")
    if failures:
        print(f"{len(failures)} checks failed")
        return 1
    print("torch reference agrees")
    return 0


if __name__ == "__main__":
    sys.exit(main())
