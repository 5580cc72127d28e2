#!/usr/bin/python3
"""PyTorch reference of nmoe's routed MoE layer (kernels/cpu/moe.h), written the way
people write it: a router Linear, top-K, then a loop over experts with index masks and
index_add_, autograd for the backward. Also the aux-loss-free bias update.

As a program: moe_reference.py DIR [DIR...] loads what tests/tools/moe_dump wrote into
each DIR (inputs, weights, the C outputs), runs this reference on the same inputs, and
checks the outputs, expert choices, gradients (router included) and the biases after the
simulated bias-update steps. Prints one line per tensor; exits 1 on any mismatch.

bench/moe_layer.py imports MoE from here so the benchmark times the same layer."""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


def ffn_act(act, a, b):
    """nmoe's ffn_activation dial (model/ffn_activation.h) on a = w1 x and b = w3 x."""
    if act == "relu2":
        return F.relu(a).square()
    if act == "squared_reglu":
        return F.relu(a).square() * b
    return F.silu(a) * b


class Expert(torch.nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x), weights [out, in] like nmoe's; or the other
    activations of the dial (relu2 has no w3)."""

    def __init__(self, dim, inter, act="swiglu"):
        super().__init__()
        self.act = act
        self.w1 = torch.nn.Linear(dim, inter, bias=False)
        self.w3 = torch.nn.Linear(dim, inter, bias=False) if act != "relu2" else None
        self.w2 = torch.nn.Linear(inter, dim, bias=False)

    def forward(self, x):
        return self.w2(ffn_act(self.act, self.w1(x), self.w3(x) if self.w3 is not None else None))


class MoE(torch.nn.Module):
    def __init__(self, dim, experts, topk, inter, score="sigmoid", route_scale=1.0, gain=1.0,
                 capacity=0.0, alpha=0.0, seq_len=0, act="swiglu", router_z=0.0, n_groups=1, topk_groups=1):
        super().__init__()
        self.E, self.K, self.score = experts, topk, score
        self.route_scale, self.gain = route_scale, gain
        self.capacity, self.alpha, self.seq_len = capacity, alpha, seq_len
        self.router_z = router_z  # ST-MoE router z-loss coefficient
        self.n_groups, self.topk_groups = n_groups, topk_groups  # DeepSeek-V3 group-limited routing
        self.zloss = torch.zeros(())
        self.router = torch.nn.Linear(dim, experts, bias=False)
        self.register_buffer("bias", torch.zeros(experts))  # routing bias: not a parameter
        self.experts = torch.nn.ModuleList(Expert(dim, inter, act) for _ in range(experts))

    def load(self, router_w, bias, w1, w3, w2):
        with torch.no_grad():
            self.router.weight.copy_(torch.from_numpy(router_w))
            self.bias.copy_(torch.from_numpy(bias))
            for e, ex in enumerate(self.experts):
                ex.w1.weight.copy_(torch.from_numpy(w1[e]))
                ex.w3.weight.copy_(torch.from_numpy(w3[e]))
                ex.w2.weight.copy_(torch.from_numpy(w2[e]))

    def route(self, x):
        """Affinities s [T,E], chosen experts [T,K], gate weights [T,K]."""
        logits = self.router(x)
        # Router z-loss: coefficient * mean over tokens of logsumexp(logits)^2, for either
        # score function (on the logits before sigmoid or softmax).
        self.zloss = self.router_z * torch.logsumexp(logits, dim=-1).square().mean() if self.router_z > 0 \
            else torch.zeros(())
        s = torch.sigmoid(logits) if self.score == "sigmoid" else torch.softmax(logits, dim=-1)
        # top-K on s + b; a stable sort of the negated keys makes the lower expert index
        # win ties (torch.topk does not promise an order for ties).
        keys = (s + self.bias).detach()
        if self.n_groups > 1:
            # DeepSeek-V3's model.py Gate.forward: group score = sum of the group's top-2
            # biased scores (a group of one expert: its score), keep the best topk_groups
            # groups, -inf on the rest. Stable sorts again make the lower index win ties.
            T = keys.shape[0]
            grouped = keys.view(T, self.n_groups, -1)
            top = torch.sort(-grouped, dim=-1, stable=True).values.neg()
            gscore = top[..., :2].sum(dim=-1) if grouped.shape[-1] > 1 else top[..., 0]
            keep = torch.sort(-gscore, dim=-1, stable=True).indices[:, :self.topk_groups]
            mask = torch.ones(T, self.n_groups, dtype=torch.bool).scatter_(1, keep, False)
            keys = grouped.masked_fill(mask.unsqueeze(-1), float("-inf")).flatten(1)
        idx = torch.sort(-keys, dim=-1, stable=True).indices[:, :self.K]
        w = s.gather(1, idx)  # gates use s without the bias
        if self.score == "sigmoid":
            w = w / w.sum(dim=-1, keepdim=True)
        return s, idx, w * self.route_scale

    def forward(self, x):
        T = x.shape[0]
        s, idx, w = self.route(x)
        cap = None
        if self.capacity > 0:  # float32 factor, widened to double like the C code
            cap = math.ceil(float(np.float32(self.capacity)) * (T * self.K) / self.E)
        y = torch.zeros_like(x)
        loads = torch.zeros(self.E, dtype=torch.int64)
        dropped = torch.zeros(T, self.K, dtype=torch.bool)
        for e in range(self.E):
            tok, kk = torch.where(idx == e)  # row-major: token order
            loads[e] = tok.numel()
            if cap is not None and tok.numel() > cap:  # later tokens overflow
                dropped[tok[cap:], kk[cap:]] = True
                tok, kk = tok[:cap], kk[:cap]
            if tok.numel() == 0:
                continue
            out = self.experts[e](x[tok])
            y.index_add_(0, tok, out * w[tok, kk].unsqueeze(1))
        y = y * self.gain
        aux = torch.zeros(())
        if self.alpha > 0:  # DeepSeek-V3 complementary sequence-wise balance loss
            S = self.seq_len if self.seq_len > 0 else T
            nseq = T // S
            sp = s / s.sum(dim=-1, keepdim=True) if self.score == "sigmoid" else s
            chosen = F.one_hot(idx, self.E).sum(dim=1).view(nseq, S, self.E).sum(dim=1)
            f = chosen.to(s.dtype) * self.E / (self.K * S)
            P = sp.view(nseq, S, self.E).mean(dim=1)
            aux = self.alpha * (f * P).sum(dim=1).mean()
        self.last = dict(s=s, idx=idx, gates=w, loads=loads, dropped=dropped)
        return y, aux

    @torch.no_grad()
    def update_bias(self, loads, rate, mult=1.0, centre=False, max_abs=0.0):
        """b_i += rate*mult*(sign(mean - load_i) - [mean sign]); clamp; fp32 throughout."""
        E = self.E
        diff = loads.sum() - E * loads  # sign(mean - load) exactly, in integers
        sign = torch.sign(diff).to(torch.float32)
        mean = torch.tensor(float(sign.sum().item()), dtype=torch.float32) / torch.tensor(E, dtype=torch.float32) \
            if centre else torch.tensor(0.0, dtype=torch.float32)
        r = torch.tensor(rate, dtype=torch.float32) * torch.tensor(mult, dtype=torch.float32)
        b = self.bias + r * (sign - mean)
        if max_abs > 0:
            b = b.clamp(-np.float32(max_abs), np.float32(max_abs))
        self.bias.copy_(b)


def rel_err(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = np.abs(want).max() if want.size else 0.0
    err = np.abs(got - want).max() if want.size else 0.0
    return err / scale if scale > 0 else err


def check_dir(d, tol=1e-5):
    cfg = json.load(open(os.path.join(d, "config.json")))
    ld = lambda n: np.load(os.path.join(d, n + ".npy"))
    m = MoE(cfg["dim"], cfg["experts"], cfg["topk"], cfg["inter"], cfg["score"], cfg["route_scale"],
            cfg["gain"], cfg["capacity"], cfg["alpha"], cfg["seq_len"], n_groups=cfg.get("groups", 1),
            topk_groups=cfg.get("limited", 1))
    m.load(ld("router_w"), ld("bias"), ld("w1"), ld("w3"), ld("w2"))
    x = torch.from_numpy(ld("x")).requires_grad_(True)
    y, aux = m(x)
    (y * torch.from_numpy(ld("dy"))).sum().add(aux).backward()
    E = cfg["experts"]

    def grad_of(name):
        g = [getattr(ex, name).weight.grad for ex in m.experts]
        return np.stack([np.zeros(getattr(ex, name).weight.shape, np.float32) if gi is None else gi.numpy()
                         for ex, gi in zip(m.experts, g)])

    bad = []

    def close(name, got, want, t=tol):
        e = rel_err(got, want)
        ok = e <= t
        print(f"  {name:12s} rel err {e:.2e} {'ok' if ok else 'FAIL (tol %.0e)' % t}")
        if not ok:
            bad.append(name)

    def equal(name, got, want):
        ok = np.array_equal(np.asarray(got), np.asarray(want))
        print(f"  {name:12s} {'identical' if ok else 'DIFFER'}")
        if not ok:
            bad.append(name)

    print(f"{d}: T={cfg['tokens']} D={cfg['dim']} E={E} K={cfg['topk']} F={cfg['inter']} {cfg['score']} "
          f"capacity={cfg['capacity']:g} alpha={cfg['alpha']:g} seq_len={cfg['seq_len']} "
          f"route_scale={cfg['route_scale']:g} gain={cfg['gain']:g} groups={cfg.get('groups', 1)}/"
          f"{cfg.get('limited', 1)}; {int(m.last['dropped'].sum())} of "
          f"{cfg['tokens'] * cfg['topk']} assignments dropped")
    last = m.last
    equal("experts", ld("experts"), last["idx"].numpy())
    equal("dropped", ld("dropped").astype(bool), last["dropped"].numpy())
    equal("loads", ld("loads"), last["loads"].numpy())
    equal("n_dropped", ld("n_dropped")[0], int(last["dropped"].sum()))
    close("gates", ld("gates"), last["gates"].detach().numpy())
    close("top1_sum", ld("top1_sum"), last["s"].detach().max(dim=1).values.double().sum().numpy(), 1e-6)
    close("y", ld("y"), y.detach().numpy())
    if cfg["alpha"] > 0:
        close("aux", ld("aux"), aux.detach().numpy())
    close("dx", ld("dx"), x.grad.numpy())
    close("d_router_w", ld("d_router_w"), m.router.weight.grad.numpy())
    close("d_w1", ld("d_w1"), grad_of("w1"))
    close("d_w3", ld("d_w3"), grad_of("w3"))
    close("d_w2", ld("d_w2"), grad_of("w2"))
    if m.n_groups > 1:  # the limit must have bitten: some tokens' choice differs from plain top-K
        free = torch.sort(-(last["s"] + m.bias).detach(), dim=-1, stable=True).indices[:, :m.K]
        changed = int((free.sort(dim=1).values != last["idx"].sort(dim=1).values).any(dim=1).sum())
        print(f"  groups       {changed} of {cfg['tokens']} tokens routed differently than without the limit")
        if changed == 0:
            bad.append("the group limit changed no choice")
    if int(last["dropped"].sum()) == 0 and cfg["capacity"] > 0 and cfg["capacity"] < 1:
        bad.append("no drops where the capacity forces some")

    if cfg["steps"] > 0:
        xs, mult = ld("steps_x"), ld("steps_mult")
        c_loads, c_bias = ld("steps_loads"), ld("steps_bias")
        first_diff = None
        with torch.no_grad():
            for st in range(cfg["steps"]):
                m(torch.from_numpy(xs[st]))
                loads = m.last["loads"]
                if not np.array_equal(loads.numpy(), c_loads[st]) and first_diff is None:
                    first_diff = f"loads differ at step {st}"
                m.update_bias(loads, cfg["rate"], float(mult[st]), bool(cfg["centre"]), cfg["max_abs"])
                if not np.array_equal(m.bias.numpy(), c_bias[st]) and first_diff is None:
                    first_diff = f"biases differ at step {st}: max |diff| {np.abs(m.bias.numpy() - c_bias[st]).max():.3g}"
        span = c_bias[-1].max() - c_bias[-1].min()
        clamped = int((np.abs(c_bias) == np.float32(cfg["max_abs"])).sum()) if cfg["max_abs"] > 0 else 0
        print(f"  bias steps   {cfg['steps']} steps, loads and biases "
              f"{'bit-identical' if first_diff is None else 'DIFFER: ' + first_diff}; final bias range {span:.4f}"
              + (f", {clamped} values at the clamp" if cfg["max_abs"] > 0 else ""))
        if first_diff is not None:
            bad.append("bias steps")
        if span <= 0:
            bad.append("bias never moved")
        if cfg["max_abs"] > 0 and clamped == 0:
            bad.append("the clamp was never reached")
    if bad:
        print(f"{d}: FAIL: {', '.join(bad)}")
    return not bad


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print("usage: moe_reference.py DIR [DIR...]   (DIRs written by tests/tools/moe_dump)", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    ok = all([check_dir(d) for d in argv[1:]])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
