#!/usr/bin/python3
"""torch_reference.py: nmoe's transformer (dense and MoE) written independently in PyTorch,
checked against what the C trainer dumped (tests/tools/train_oracle_dump.c).

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
MoE configs (n_routed_experts > 0): blocks from n_dense_layers on have shared experts plus
the routed MoE of tests/oracle/moe_reference.py (router, top-K on s + bias, a loop over
experts); the router weights and the stacked expert weights get their own learning
rates (lr_router without weight decay), the sequence-wise aux loss joins the objective,
and after every step the routing biases take the aux-loss-free update from the step's
loads. Also checked: every expert choice of every micro-batch (choices.bin) and the
biases after every step, bit for bit.
The attention dials: qk_norm (an RMSNorm over head_dim of each query and key head
before RoPE, gains q_norm / k_norm), attn_sinks (a learned logit per head as an extra
softmax column with no value) and the local/global pattern (attn_global_every,
attn_local_window: which blocks attend full causal and which over a window).
precision = "bf16" (the config's, for the model outside the routed experts and the
router): bf() rounds the same values as kernels/cpu/model_cpu.c, with the tolerances
of BF16_SHARE and BF16_SAME.
Exit status 0 when everything agrees, 1 otherwise (each failure printed).
"""
import copy
import json
import math
import struct
import sys

import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from moe_reference import MoE, ffn_act  # noqa: E402  (the routed layer's PyTorch reference)

# Normwise relative error ||c - t|| / ||t|| allowed, per quantity (fp32 throughout).
TOL_LOGITS = 2e-6
TOL_LOSS = 2e-6
TOL_GRAD = 1e-5      # per tensor
TOL_NORM = 1e-5
TOL_WEIGHTS = 1e-5   # per tensor, after all steps, plus the AdamW amplification bound below
# The weights after several AdamW steps cannot be held to a fixed relative tolerance:
# an element whose gradient is near zero (below the square root of its second moment,
# or near adam_eps) has an update whose first-order sensitivity to its gradient,
#   d u / d g <= lr (1 - beta1) / (1 - beta1^t) / (sqrt(v_hat) + eps),
# is huge, so the last bits of a gradient (which differ between any two fp32
# implementations and BLAS kernels) move it by up to O(lr). The bound allowed per tensor
# is therefore || sum_s sens_s * delta || (2-norm over elements) with delta = GRAD_NOISE_
# FACTOR times the largest per-element difference of the two implementations' step-0
# gradients of that tensor: derived from the arithmetic of AdamW and the measured
# gradient agreement, not from one machine's result.
GRAD_NOISE_FACTOR = 4.0
# precision = "bf16": two faithful implementations that round the same values still
# differ, by flips: where their fp32 values before a rounding (equal to ~1e-7) straddle
# a bf16 rounding boundary, one bf16 ulp (2^-8 relative) apart, and a flip early in a
# sequence spreads to the later positions (causal attention). That is arithmetic of the
# same kind as bf16's own rounding errors but at a fraction of the rounded values, so
# it stays below the whole effect of bf16, E = || fp32 result - bf16 result || (measured
# here, the reference model in fp32 against itself in bf16, at the same weights and
# batch); a C that does not round (or rounds other values) is off by about E itself.
# Hence each normwise tolerance is max(the fp32 one, BF16_SHARE * E), and for the
# logits (the head's output, rounded last) the share of them that are bit-identical
# must be at least BF16_SAME: each agrees exactly unless a flip reached it, while one
# rounding missing or added anywhere upstream moves almost every logit.
BF16_SHARE = 0.5
BF16_SAME = 0.5


# precision = "bf16" (nmoe-train(1), kernels/cpu/model_cpu.c): set from the config in
# main. bf() is the rounding the C does at the same values, written from the list in
# the man page: round to bfloat16 and back in the forward (torch's float -> bfloat16
# conversion rounds to nearest even), the identity in the backward (straight-through).
BF16 = False


def bf(x):
    if not BF16:
        return x
    return x + (x.detach().to(torch.bfloat16).float() - x.detach())


def lin(layer, x):
    """layer(x) with the weight as the forward uses it (bf16-rounded under bf16)."""
    return F.linear(x, bf(layer.weight))


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


def yarn_freqs(cfg, head_dim):
    """YaRN's frequencies as DeepSeek-V3's model.py precompute_freqs_cis writes them, in
    float64 (model.py's float32 ramp aside): find_correction_range, linear_ramp_factor."""
    base, factor, L = cfg["rope_theta"], cfg["rope_factor"], cfg["rope_original_seq_len"]

    def find_correction_dim(num_rotations):
        return head_dim * math.log(L / (num_rotations * 2 * math.pi)) / (2 * math.log(base))

    low = max(math.floor(find_correction_dim(cfg["yarn_beta_fast"])), 0)
    high = min(math.ceil(find_correction_dim(cfg["yarn_beta_slow"])), head_dim - 1)
    if low == high:
        high += 0.001
    ramp = torch.clamp((torch.arange(head_dim // 2, dtype=torch.float64) - low) / (high - low), 0, 1)
    smooth = 1 - ramp
    freqs = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    return freqs / factor * (1 - smooth) + freqs * smooth


def yarn_tables(cfg, seq_len, head_dim):
    """Unit-length cos/sin of the YaRN frequencies (the temperature goes on the softmax
    scale, as in model.py, not into the tables as nmoe does: the oracle checks both
    conventions agree)."""
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float64), yarn_freqs(cfg, head_dim))
    return angles.cos().float(), angles.sin().float()


def yarn_on(cfg):
    return cfg.get("rope_scaling", "none") == "yarn"


def apply_rope(x, cos, sin):
    """x: (B, T, heads, hd); rotates the interleaved pairs (x[2i], x[2i+1])."""
    B, T, Hh, hd = x.shape
    xp = x.view(B, T, Hh, hd // 2, 2)
    x0, x1 = xp[..., 0], xp[..., 1]
    c = cos[:T].view(1, T, 1, hd // 2)
    s = sin[:T].view(1, T, 1, hd // 2)
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).view(B, T, Hh, hd)


def layer_window(cfg, layer):
    """The local/global pattern: with attn_global_every N > 0, blocks l with (l+1) % N == 0
    attend full causal (0) and the others over attn_local_window tokens."""
    every = cfg.get("attn_global_every", 0)
    if every > 0:
        return 0 if (layer + 1) % every == 0 else cfg["attn_local_window"]
    return cfg["attn_window"]


class Attention(nn.Module):
    def __init__(self, cfg, layer):
        super().__init__()
        C, H = cfg["dim"], cfg["n_heads"]
        self.H = H
        self.KV = cfg["n_kv_heads"] or H
        self.hd = C // H
        self.window = layer_window(cfg, layer)
        # YaRN's attention temperature, DeepSeek-V3 style: softmax_scale * mscale^2
        self.mscale = 0.1 * math.log(cfg["rope_factor"]) + 1.0 if yarn_on(cfg) else 1.0
        self.wq = nn.Linear(C, H * self.hd, bias=False)
        self.wk = nn.Linear(C, self.KV * self.hd, bias=False)
        self.wv = nn.Linear(C, self.KV * self.hd, bias=False)
        self.wo = nn.Linear(H * self.hd, C, bias=False)
        # QK-norm (OLMo-2, Gemma-3, Qwen3): RMSNorm over each head's vector, before RoPE.
        self.q_norm = RMSNorm(self.hd, cfg["norm_eps"]) if cfg.get("qk_norm", False) else None
        self.k_norm = RMSNorm(self.hd, cfg["norm_eps"]) if cfg.get("qk_norm", False) else None
        # Learned sinks (gpt-oss): one logit per head, a softmax column with no value.
        self.sinks = nn.Parameter(torch.zeros(H)) if cfg.get("attn_sinks", False) else None

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = bf(lin(self.wq, x)).view(B, T, self.H, self.hd)
        k = bf(lin(self.wk, x)).view(B, T, self.KV, self.hd)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q = bf(apply_rope(q, cos, sin)).transpose(1, 2)
        k = bf(apply_rope(k, cos, sin)).transpose(1, 2)
        v = bf(lin(self.wv, x)).view(B, T, self.KV, self.hd).transpose(1, 2)
        k = k.repeat_interleave(self.H // self.KV, dim=1)
        v = v.repeat_interleave(self.H // self.KV, dim=1)
        scale = 1.0 / math.sqrt(self.hd) * self.mscale * self.mscale
        scores = (q @ k.transpose(-2, -1)) * scale
        t = torch.arange(T).view(T, 1)
        j = torch.arange(T).view(1, T)
        visible = j <= t
        if self.window > 0:
            visible = visible & (j > t - self.window)
        scores = scores.masked_fill(~visible, float("-inf"))
        if self.sinks is not None:
            sink = self.sinks.view(1, self.H, 1, 1).expand(B, self.H, T, 1)
            probs = torch.cat([scores, sink], dim=-1).softmax(dim=-1)[..., :T]
        else:
            probs = scores.softmax(dim=-1)
        out = probs @ v
        return lin(self.wo, bf(out.transpose(1, 2).reshape(B, T, self.H * self.hd)))


class MLA(nn.Module):
    """DeepSeek-V2's multi-head latent attention, written after model.py of DeepSeek-V3's
    reference code ("naive" attention: keys and values expanded per head). RoPE as
    DeepSeek writes it: complex rotation of consecutive pairs, frequencies over the
    qk_rope_head_dim wide parts (its own tables, computed here in double)."""

    def __init__(self, cfg):
        super().__init__()
        C, H = cfg["dim"], cfg["n_heads"]
        hd = C // H
        self.H = H
        self.q_lora = cfg["q_lora_rank"]
        self.kv_lora = cfg["kv_lora_rank"] or 4 * hd
        self.dn = cfg["qk_nope_head_dim"] or hd
        self.dr = cfg["qk_rope_head_dim"] or (hd // 2 + (hd // 2) % 2)
        self.dv = cfg["v_head_dim"] or hd
        self.dqk = self.dn + self.dr
        self.window = cfg["attn_window"]
        eps = cfg["norm_eps"]
        if self.q_lora > 0:
            self.wq_a = nn.Linear(C, self.q_lora, bias=False)
            self.q_norm = RMSNorm(self.q_lora, eps)
            self.wq_b = nn.Linear(self.q_lora, H * self.dqk, bias=False)
        else:
            self.wq = nn.Linear(C, H * self.dqk, bias=False)
        self.wkv_a = nn.Linear(C, self.kv_lora + self.dr, bias=False)
        self.kv_norm = RMSNorm(self.kv_lora, eps)
        self.wkv_b = nn.Linear(self.kv_lora, H * (self.dn + self.dv), bias=False)
        self.wo = nn.Linear(H * self.dv, C, bias=False)
        T = cfg["seq_len"]
        freqs = torch.tensor([[p * cfg["rope_theta"] ** (-2.0 * i / self.dr) for i in range(self.dr // 2)]
                              for p in range(T)], dtype=torch.float64)
        self.freqs_cis = torch.polar(torch.ones_like(freqs), freqs).to(torch.complex64)

    def rope(self, x):
        """x: (B, T, heads, dr); DeepSeek-V3's apply_rotary_emb."""
        B, T = x.shape[0], x.shape[1]
        xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
        return torch.view_as_real(xc * self.freqs_cis[:T].view(1, T, 1, -1)).flatten(3)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.wq_b(self.q_norm(self.wq_a(x))) if self.q_lora > 0 else self.wq(x)
        q = q.view(B, T, self.H, self.dqk)
        q_nope, q_pe = torch.split(q, [self.dn, self.dr], dim=-1)
        q = torch.cat([q_nope, self.rope(q_pe)], dim=-1)
        kv = self.wkv_a(x)
        kv, k_pe = torch.split(kv, [self.kv_lora, self.dr], dim=-1)
        k_pe = self.rope(k_pe.unsqueeze(2))
        kv = self.wkv_b(self.kv_norm(kv)).view(B, T, self.H, self.dn + self.dv)
        k_nope, v = torch.split(kv, [self.dn, self.dv], dim=-1)
        k = torch.cat([k_nope, k_pe.expand(-1, -1, self.H, -1)], dim=-1)
        scores = torch.einsum("bshd,bthd->bsht", q, k) / math.sqrt(self.dqk)
        t = torch.arange(T).view(T, 1)
        j = torch.arange(T).view(1, T)
        visible = j <= t
        if self.window > 0:
            visible = visible & (j > t - self.window)
        scores = scores.masked_fill(~visible.view(1, T, 1, T), float("-inf"))
        out = torch.einsum("bsht,bthd->bshd", scores.softmax(dim=-1), v)
        return self.wo(out.flatten(2))


class FeedForward(nn.Module):
    """w2(act(w1 x, w3 x)): SwiGLU, or the ffn_activation dial's relu2 (no w3) or
    squared_reglu."""

    def __init__(self, dim, inter, act="swiglu"):
        super().__init__()
        self.act = act
        self.w1 = nn.Linear(dim, inter, bias=False)
        self.w3 = nn.Linear(dim, inter, bias=False) if act != "relu2" else None
        self.w2 = nn.Linear(inter, dim, bias=False)

    def forward(self, x):
        h1 = bf(lin(self.w1, x))
        h3 = bf(lin(self.w3, x)) if self.w3 is not None else None
        return lin(self.w2, bf(ffn_act(self.act, h1, h3)))


class MoEFFN(nn.Module):
    """DeepSeek-V3's MoE FFN: shared experts (one SwiGLU of n_shared * moe_inter_dim) plus
    the routed experts. The aux loss of the last forward is kept in self.aux."""

    def __init__(self, cfg):
        super().__init__()
        F_ = cfg["moe_inter_dim"] or cfg["inter_dim"]
        S = cfg["n_shared_experts"] * F_
        act = cfg.get("ffn_activation", "swiglu")
        self.shared_experts = FeedForward(cfg["dim"], S, act) if S > 0 else None
        self.moe = MoE(cfg["dim"], cfg["n_routed_experts"], cfg["n_activated_experts"], F_, cfg["router_score"],
                       cfg["route_scale"], cfg["expert_output_gain"], cfg["capacity_factor"], cfg["aux_loss_alpha"],
                       cfg["seq_len"], act, cfg.get("router_z_loss", 0.0), cfg.get("n_expert_groups", 1),
                       cfg.get("n_limited_groups", 1))
        self.aux = torch.zeros(())

    def forward(self, x):
        B, T, C = x.shape
        y, self.aux = self.moe(x.reshape(B * T, C))
        y = y.view(B, T, C)
        return y if self.shared_experts is None else self.shared_experts(x) + y


class Block(nn.Module):
    def __init__(self, cfg, moe, layer):
        super().__init__()
        self.attn_norm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.attn = MLA(cfg) if cfg.get("attention", "mha") == "mla" else Attention(cfg, layer)
        self.ffn_norm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.ffn = MoEFFN(cfg) if moe else FeedForward(cfg["dim"], cfg["inter_dim"], cfg.get("ffn_activation", "swiglu"))

    def forward(self, x, cos, sin):
        x = x + self.attn(bf(self.attn_norm(x)), cos, sin)
        return x + self.ffn(bf(self.ffn_norm(x)))


class Transformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.tok_embeddings = nn.Embedding(cfg["vocab_size"], cfg["dim"])
        E = cfg["n_routed_experts"]
        self.layers = nn.ModuleList([Block(cfg, E > 0 and l >= cfg["n_dense_layers"], l)
                                     for l in range(cfg["n_layers"])])
        self.norm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.output = nn.Linear(cfg["dim"], cfg["vocab_size"], bias=False)
        hd = cfg["dim"] // cfg["n_heads"]
        self.cos, self.sin = yarn_tables(cfg, cfg["seq_len"], hd) if yarn_on(cfg) else \
            rope_tables(cfg["seq_len"], hd, cfg["rope_theta"])

    def forward(self, tokens):
        x = F.embedding(tokens, bf(self.tok_embeddings.weight))
        for layer in self.layers:
            x = layer(x, self.cos, self.sin)
        return bf(lin(self.output, bf(self.norm(x))))


def moe_blocks(model):
    return [(l, b.ffn) for l, b in enumerate(model.layers) if isinstance(b.ffn, MoEFFN)]


def expert_mats(moe):
    """The routed experts' matrices: relu2 has no w3."""
    return ("w1", "w2") if moe.experts[0].w3 is None else ("w1", "w3", "w2")


# nmoe's names of an MoE block's tensors -> this model's: the routed experts are stacked
# [E*F, C] (w1, w3) and [E*C, F] (w2) in nmoe, one module per expert here.
def load_nmoe_weights(model, tensors):
    """Copy an nmoe weight file into the model (every tensor used exactly once)."""
    state = {}
    used = set()
    with torch.no_grad():
        for l, f in moe_blocks(model):
            p = f"layers.{l}.ffn."
            m = f.moe
            E = m.E
            m.router.weight.copy_(tensors[p + "router.weight"])
            m.bias.copy_(tensors[p + "router.bias"])
            for w in expert_mats(m):
                stacked = tensors[p + f"experts.{w}.weight"]
                parts = stacked.view(E, stacked.shape[0] // E, stacked.shape[1])
                for e, ex in enumerate(m.experts):
                    getattr(ex, w).weight.copy_(parts[e])
                used.add(p + f"experts.{w}.weight")
            used.update({p + "router.weight", p + "router.bias"})
    for name, t in tensors.items():
        if name not in used:
            state[name] = t
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [n for n in missing if ".ffn.moe." not in n]
    if missing or unexpected:
        raise SystemExit(f"weights do not match the model: missing {missing}, unexpected {unexpected}")


def nmoe_named_grads_and_params(model):
    """(nmoe name, parameter (stacked for the experts), gradient) for every nmoe parameter."""
    out = []
    for name, p in model.named_parameters():
        if ".ffn.moe." not in name:
            out.append((name, p.detach(), p.grad))
    for l, f in moe_blocks(model):
        pre = f"layers.{l}.ffn."
        out.append((pre + "router.weight", f.moe.router.weight.detach(), f.moe.router.weight.grad))
        for w in expert_mats(f.moe):
            ws = [getattr(ex, w).weight for ex in f.moe.experts]
            out.append((pre + f"experts.{w}.weight", torch.cat([x.detach() for x in ws]),
                        torch.cat([x.grad if x.grad is not None else torch.zeros_like(x) for x in ws])))
    return out


def schedule_scale(cfg, step, tokens, warmup=None, decay=None):
    """nmoe's warmup-hold-decay (opt.py update_lr), with a group's warmup and decay."""
    warmup = cfg["warmup_steps"] if warmup is None else warmup
    decay = cfg["decay_tokens"] if decay is None else decay
    if step < warmup:
        return (step + 1) / warmup
    if tokens < cfg["hold_tokens"]:
        return 1.0
    t = tokens - cfg["hold_tokens"]
    if t < decay:
        return 0.5 * (1.0 + math.cos(math.pi * t / decay))
    return 0.0


# Muon (Keller Jordan's muon.py, with Moonshot's update-RMS scale), written from the
# formulas of nmoe-train(1), not from the C code: one matrix per parameter (each routed
# expert is its own nn.Linear here, so a stack's per-expert split is the module split).
NS_COEFFS = (3.4445, -4.7750, 2.0315)
# The Newton-Schulz map's worst-case amplification of an input error over 5 iterations:
# the quintic's slope stays below L = 4 on [0, 1.2] (p'(0) = 3.44, p'(1.2) = 3.9), so
# L^5; and its own fp32 rounding, 3 K u (1 + L + ... + L^4) (tests/unit/test_muon.c).
NS_AMPLIFICATION = 4.0 ** 5


def newton_schulz(g):
    a, b, c = NS_COEFFS
    tall = g.shape[0] > g.shape[1]
    x = g.t() if tall else g
    x = x / (x.norm() + 1e-7)
    for _ in range(5):
        A = x @ x.t()
        B = b * A + c * (A @ A)
        x = a * x + B @ x
    return x.t() if tall else x


class Muon:
    def __init__(self, params, cfg):
        self.params = list(params)
        self.mom = cfg["muon_momentum"]
        self.nesterov = cfg["muon_nesterov"]
        self.rms = cfg["muon_update_rms"]
        self.buf = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, lr, wd):
        for p, buf in zip(self.params, self.buf):
            g = p.grad
            buf.mul_(self.mom).add_((1 - self.mom) * g)
            u = self.mom * buf + (1 - self.mom) * g if self.nesterov else buf
            x = newton_schulz(u)
            p.mul_(1 - lr * wd)
            p.add_(x, alpha=-lr * self.rms * math.sqrt(max(p.shape)))


def is_muon_tensor(cfg, name):
    """The tensors nmoe-train(1) hands Muon, by their nmoe names."""
    if cfg.get("optimizer", "adamw") != "muon":
        return False
    if ".experts." in name and ".shared_experts." not in name:
        return cfg["muon_experts"]
    # every 2-D dense matrix but the embedding and the head (optimizer.c), MLA's included
    return name.split(".")[-2] in ("wq", "wk", "wv", "wo", "w1", "w2", "w3", "wq_a", "wq_b", "wkv_a", "wkv_b")


def group_decay(cfg, kind):
    d = cfg.get(f"decay_tokens_{kind}", -1)
    return cfg["decay_tokens"] if d < 0 else d


def group_warmup(cfg, kind):
    w = cfg.get(f"warmup_steps_{kind}", -1)
    return cfg["warmup_steps"] if w < 0 else w


def rel(a, b):
    a = a.double()
    b = b.double()
    nb = b.norm().item()
    return (a - b).norm().item() / (nb if nb > 0 else 1.0)


failures = []


def objective_terms(model, cfg, inp, tgt, mask, count, moes, n_micro, b0, micro):
    """One micro-batch's logits, cross-entropy rows, objective and its aux / z parts."""
    V = cfg["vocab_size"]
    lg = model(inp[b0:b0 + micro])
    ce = F.cross_entropy(lg.reshape(-1, V), tgt[b0:b0 + micro].reshape(-1), reduction="none")
    m = mask[b0:b0 + micro].reshape(-1)
    objective = (ce * m).sum().div(count)
    aux = 0.0
    z_coef = cfg.get("z_loss", 0.0)
    if z_coef > 0:
        lse = torch.logsumexp(lg.reshape(-1, V), dim=-1)
        objective = objective + z_coef * (lse.square() * m).sum().div(count)
    for _, f in moes:
        objective = objective + f.aux / n_micro
        aux += f.aux.item() / n_micro
        if f.moe.router_z > 0:
            objective = objective + f.moe.zloss / n_micro
    return lg, ce, m, objective, aux


def fp32_effect(model, cfg, batches, micro):
    """The bf16 effect E of BF16_SHARE: the same model and first step in fp32 (a copy at
    the initial weights): logits of the first micro-batch, step-0 loss, aux loss, every
    gradient (by nmoe name) and the gradient norm."""
    global BF16
    m32 = copy.deepcopy(model)
    moes = moe_blocks(m32)
    B, T = cfg["batch_size"], cfg["seq_len"]
    inp, tgt = batches[0, :, :T], batches[0, :, 1:]
    mask = torch.ones_like(tgt, dtype=torch.float32)
    if cfg["loss_mask_eos"] and cfg["eos_token_id"] >= 0:
        mask = (tgt != cfg["eos_token_id"]).float()
    count = mask.sum().item()
    BF16 = False
    try:
        with torch.no_grad():
            logits = m32(inp[:micro])
        loss_sum = aux_total = 0.0
        for b0 in range(0, B, micro):
            _, ce, m, objective, aux = objective_terms(m32, cfg, inp, tgt, mask, count, moes, B // micro, b0, micro)
            objective.backward()
            loss_sum += (ce.double() * m.double()).sum().item()
            aux_total += aux
    finally:
        BF16 = True
    grads = {name: g.detach().clone() for name, _, g in nmoe_named_grads_and_params(m32)}
    norm = torch.norm(torch.stack([p.grad.norm() for p in m32.parameters()])).item()
    return {"logits": logits, "loss": loss_sum / count, "aux": aux_total, "grads": grads, "norm": norm}


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
    global BF16
    BF16 = cfg.get("precision", "fp32") == "bf16"
    model = Transformer(cfg)
    load_nmoe_weights(model, init)
    moes = moe_blocks(model)

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
    effect = fp32_effect(model, cfg, batches, micro) if BF16 else None

    def tol16(tol, e):
        """The tolerance of a quantity whose bf16 effect is e (see BF16_SHARE)."""
        return max(tol, BF16_SHARE * e) if BF16 else tol

    check("logits", rel(c_logits, logits), tol16(TOL_LOGITS, rel(effect["logits"], logits) if BF16 else 0))
    if BF16:
        same = (c_logits == logits).double().mean().item()
        ok = same >= BF16_SAME
        print(f"{'ok  ' if ok else 'FAIL'} bf16 logits: {100 * same:.1f}% bit-identical (at least {100 * BF16_SAME:g}%); "
              f"the bf16 effect on them {rel(effect['logits'], logits):.3g}")
        if not ok:
            failures.append("bf16 logits bit-identical")

    # Parameter groups: dense (decayed matrices / the rest), routed experts (decayed, own
    # lr), routers (own lr, no decay). lr_expert / lr_router of 0 mean lr_dense.
    decayed = ("wq", "wk", "wv", "wo", "w1", "w2", "w3", "wq_a", "wq_b", "wkv_a", "wkv_b")
    peak = {"dense": cfg["lr_dense"], "expert": cfg["lr_expert"] or cfg["lr_dense"],
            "router": cfg["lr_router"] or cfg["lr_dense"]}
    muon_on = cfg.get("optimizer", "adamw") == "muon"
    if muon_on:
        peak["muon"] = cfg["lr_muon"]
    groups = {("dense", True): [], ("dense", False): [], ("expert", True): [], ("router", False): []}
    muon_params = []
    for n, p in model.named_parameters():
        nmoe_like = n.replace(".moe.experts.", ".experts.")
        if is_muon_tensor(cfg, nmoe_like):
            muon_params.append(p)
        elif ".moe.router." in n:
            groups[("router", False)].append(p)
        elif ".moe.experts." in n:
            groups[("expert", True)].append(p)
        else:
            groups[("dense", n.split(".")[-2] in decayed)].append(p)
    beta2_expert = cfg.get("adam_beta2_expert", 0.0) or cfg["adam_beta2"]
    opt = torch.optim.AdamW([{"params": ps, "weight_decay": cfg["weight_decay"] if wd else 0.0, "kind": kind,
                              "betas": (cfg["adam_beta1"], beta2_expert if kind == "expert" else cfg["adam_beta2"])}
                             for (kind, wd), ps in groups.items() if ps],
                            lr=cfg["lr_dense"], betas=(cfg["adam_beta1"], cfg["adam_beta2"]),
                            eps=cfg["adam_eps"], foreach=False)
    muon = Muon(muon_params, cfg) if muon_params else None
    K = cfg["n_activated_experts"]
    n_micro = B // micro
    choices = None
    if moes:
        choices = np.fromfile(f"{d}/choices.bin", dtype="<i4").reshape(steps, n_micro, len(moes), micro * T, K)
    choice_total = choice_diff = near_ties = dropped = 0
    with open(f"{d}/steps.json") as f:
        c_steps = [json.loads(line) for line in f]
    _, c_grads = read_tensor_file(f"{d}/grads.bin")
    tokens = 0
    lrs = {}
    grad_noise, v2, sens_sum = {}, {}, {}
    c_grad_norms, muon_bound = {}, {}
    for s in range(steps):
        for kind, pk in peak.items():
            scale = schedule_scale(cfg, s, tokens, group_warmup(cfg, kind), group_decay(cfg, kind))
            floor = min(cfg["decay_floor"], pk)
            lrs[kind] = floor + (pk - floor) * scale
        lr = lrs["dense"]
        for g in opt.param_groups:
            g["lr"] = lrs[g["kind"]]
        opt.zero_grad(set_to_none=False)
        if muon:
            for p in muon.params:  # outside AdamW's groups: zeroed here
                if p.grad is not None:
                    p.grad.zero_()
        loads = [torch.zeros(cfg["n_routed_experts"], dtype=torch.int64) for _ in moes]
        aux_total = 0.0
        inp, tgt = batches[s, :, :T], batches[s, :, 1:]
        mask = torch.ones_like(tgt, dtype=torch.float32)
        if cfg["loss_mask_eos"] and eos >= 0:
            mask = (tgt != eos).float()
        count = mask.sum().item()
        loss_sum = 0.0
        z_coef = cfg.get("z_loss", 0.0)
        z_total = 0.0
        rz_total = 0.0
        for b0 in range(0, B, micro):
            lg = model(inp[b0:b0 + micro])
            ce = F.cross_entropy(lg.reshape(-1, V), tgt[b0:b0 + micro].reshape(-1), reduction="none")
            m = mask[b0:b0 + micro].reshape(-1)
            objective = (ce * m).sum().div(count)
            if z_coef > 0:
                # PaLM's z-loss: z_loss * mean over the counted targets of logsumexp^2.
                lse = torch.logsumexp(lg.reshape(-1, V), dim=-1)
                z_term = z_coef * (lse.square() * m).sum().div(count)
                objective = objective + z_term
                z_total += z_term.item()
            for i, (l, f) in enumerate(moes):
                # The aux loss of a micro-batch is a mean over its sequences; 1/n_micro
                # makes the step's the mean over all of them.
                objective = objective + f.aux / n_micro
                aux_total += f.aux.item() / n_micro
                if f.moe.router_z > 0:
                    objective = objective + f.moe.zloss / n_micro
                    rz_total += f.moe.zloss.item() / n_micro
                loads[i] += f.moe.last["loads"]
                dropped += int(f.moe.last["dropped"].sum())
                idx = f.moe.last["idx"].numpy()
                c_idx = choices[s, b0 // micro, i]
                diff = (idx != c_idx).any(axis=1)
                choice_total += idx.shape[0]
                if diff.any():
                    # A token whose K-th and (K+1)-th keys are closer than fp32 noise may be
                    # chosen either way; anything else is a real mismatch.
                    keys = (f.moe.last["s"] + f.moe.bias).detach()
                    top = keys.sort(dim=-1, descending=True).values
                    gap = (top[:, K - 1] - top[:, K]).numpy() if K < keys.shape[1] else np.full(idx.shape[0], 1.0)
                    near = diff & (gap < 1e-5)
                    near_ties += int(near.sum())
                    choice_diff += int((diff & ~near).sum())
            objective.backward()
            loss_sum += (ce.double() * m.double()).sum().item()
        loss = loss_sum / count
        if s == 0:
            for name, _, grad in nmoe_named_grads_and_params(model):
                check(f"step 0 gradient {name}", rel(c_grads[name], grad),
                      tol16(TOL_GRAD, rel(effect["grads"][name], grad) if BF16 else 0))
                grad_noise[name] = GRAD_NOISE_FACTOR * (c_grads[name].double() - grad.double()).abs().max().item()
                c_grad_norms[name] = c_grads[name].double().norm().item()
        params = [p for p in model.parameters()]
        if cfg["grad_clip"] > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, cfg["grad_clip"]).item()
        else:
            norm = torch.norm(torch.stack([p.grad.norm() for p in params])).item()
        opt.step()
        if muon:
            muon.step(lrs["muon"], cfg["weight_decay"])
        # The AdamW sensitivity bound of every element (see GRAD_NOISE_FACTOR).
        b1, b2, t = cfg["adam_beta1"], cfg["adam_beta2"], s + 1
        for name, _, grad in nmoe_named_grads_and_params(model):
            g = grad.detach().double()
            if is_muon_tensor(cfg, name):
                # Muon's update has norm lr rms sqrt(numel) per matrix whatever the
                # gradient; an input error of relative size delta (the step-0 gradient
                # disagreement, normwise) moves it by at most NS_AMPLIFICATION delta of
                # that, plus Newton-Schulz's own fp32 rounding.
                kk = max(grad.shape[-2:]) if grad.dim() > 1 else 1
                delta = grad_noise[name] * math.sqrt(g.numel()) / max(c_grad_norms[name], 1e-30)
                step_bound = lrs["muon"] * cfg["muon_update_rms"] * math.sqrt(g.numel()) * (
                    NS_AMPLIFICATION * delta + 3 * kk * 2.0 ** -24 * 341)
                muon_bound[name] = muon_bound.get(name, 0.0) + step_bound
                continue
            v2[name] = b2 * v2.get(name, torch.zeros_like(g)) + (1 - b2) * g * g
            kind = "router" if ".router." in name else "expert" if ".experts." in name else "dense"
            sens = lrs[kind] * (1 - b1) / (1 - b1 ** t) / ((v2[name] / (1 - b2 ** t)).sqrt() + cfg["adam_eps"])
            # An exactly zero gradient (an embedding row no token of the step uses) is
            # exact in both implementations: nothing to amplify.
            sens = sens * (g != 0)
            sens_sum[name] = sens_sum.get(name, torch.zeros_like(g)) + sens
        tokens += B * T
        cs = c_steps[s]
        if moes:
            # Aux-loss-free balancing from the step's loads, summed over micro-batches.
            mult = lrs["router"] / peak["router"] if cfg["router_bias_schedule"] else 1.0
            rate = cfg["router_bias_update_rate"]
            for i, (l, f) in enumerate(moes):
                if rate > 0:
                    f.moe.update_bias(loads[i], rate, mult, cfg["router_bias_center"], cfg["router_bias_clamp"])
            E = cfg["n_routed_experts"]
            c_bias = np.array(cs["bias"], dtype=np.float32).reshape(len(moes), E)
            for i, (l, f) in enumerate(moes):
                same = np.array_equal(c_bias[i], f.moe.bias.numpy())
                print(f"{'ok  ' if same else 'FAIL'} step {s} block {l} routing bias bit-identical"
                      f" (range [{c_bias[i].min():.4g}, {c_bias[i].max():.4g}])")
                if not same:
                    failures.append(f"step {s} bias {l}")
            if cfg.get("router_z_loss", 0.0) > 0:
                check(f"step {s} router_z_loss", abs(cs["router_z_loss"] - rz_total) / abs(rz_total), TOL_LOSS)
            if cfg["aux_loss_alpha"] > 0:
                check(f"step {s} aux_loss", abs(cs["aux_loss"] - aux_total) / abs(aux_total),
                      tol16(TOL_LOSS, abs(effect["aux"] - aux_total) / abs(aux_total) if BF16 else 0))
            for kind in ("expert", "router"):
                check(f"step {s} lr_{kind}", abs(cs[f"lr_{kind}"] - lrs[kind]) / lrs[kind], 1e-12)
        if muon_on:
            check(f"step {s} lr_muon", abs(cs["lr_muon"] - lrs["muon"]) / lrs["muon"], 1e-12)
        # bf16: the step-0 effect stands for every step's (the bf16 configs run one).
        check(f"step {s} loss", abs(cs["loss"] - loss) / abs(loss),
              tol16(TOL_LOSS, abs(effect["loss"] - loss) / abs(loss) if BF16 else 0))
        if z_coef > 0:
            check(f"step {s} z_loss", abs(cs["z_loss"] - z_total) / abs(z_total), TOL_LOSS)
        check(f"step {s} grad_norm", abs(cs["grad_norm"] - norm) / norm,
              tol16(TOL_NORM, abs(effect["norm"] - norm) / norm if BF16 else 0))
        check(f"step {s} lr", abs(cs["lr"] - lr) / lr, 1e-12)
        if cs["counted"] != int(count):
            failures.append(f"step {s} counted")
            print(f"FAIL step {s} counted targets {cs['counted']} vs {int(count)}")

    if moes:
        ok = choice_diff == 0
        print(f"{'ok  ' if ok else 'FAIL'} expert choices: {choice_total} token choices of {len(moes)} MoE blocks, "
              f"{choice_diff} differ ({near_ties} more at near-ties within 1e-5)")
        if not ok or near_ties > choice_total // 1000:
            failures.append("expert choices")
        if cfg["capacity_factor"] > 0:
            # The C side's drops are in its outputs; here, that the config exercises them.
            print(f"{'ok  ' if dropped else 'FAIL'} capacity factor {cfg['capacity_factor']}: {dropped} assignments dropped")
            if not dropped:
                failures.append("capacity factor dropped nothing (the config does not test drops)")
    _, final = read_tensor_file(f"{d}/final.bin")
    named = nmoe_named_grads_and_params(model)
    for name, p, _ in named:
        # Normwise: || c - t || <= TOL_WEIGHTS || t || + || sum_s sens_s || * delta
        # (AdamW), or + the sum of the steps' Muon bounds.
        amplified = muon_bound[name] if name in muon_bound else (sens_sum[name] * grad_noise[name]).norm().item()
        nt = p.double().norm().item()
        allowed = TOL_WEIGHTS + amplified / (nt if nt > 0 else 1.0)
        err = rel(final[name], p)
        ok = err <= allowed
        print(f"{'ok  ' if ok else 'FAIL'} weights after {steps} steps {name}: relative error {err:.3g} "
              f"(tolerance {TOL_WEIGHTS:g} + {'Muon' if name in muon_bound else 'AdamW'} amplification {allowed - TOL_WEIGHTS:.2g})")
        if not ok:
            failures.append(f"weights after {steps} steps {name}")
    for l, f in moes:
        same = np.array_equal(final[f"layers.{l}.ffn.router.bias"].numpy(), f.moe.bias.numpy())
        print(f"{'ok  ' if same else 'FAIL'} final routing bias of block {l} bit-identical")
        if not same:
            failures.append(f"final bias {l}")
    moved = sum(rel(init[n], p) for n, p, _ in named)
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
