#!/usr/bin/python3
"""PyTorch reference of nmoe's precision formats (libcommon/quant/quant.h), written from
the specs (OCP FP8, OCP MX v1.0, NVIDIA's NVFP4) and quant.h's scale rules, not from the
C code: an element is rounded by scaling it to units of its quantum in float64 (exact)
and torch.round (half to even); bf16 is torch's own .to(torch.bfloat16).

As a program:
  quant_reference.py qdq DIR    compare every C qdq that tests/tools/quant_dump wrote into
                                DIR with this reference, bit for bit (NaN where NaN)
  quant_reference.py moe DIR... for each DIR written by tests/tools/moe_dump with
                                precision=..., rerun the MoE layer of moe_reference.py with
                                Q() on both operands of each expert product and a
                                straight-through estimator, x + (Q(x) - x).detach(), and
                                compare outputs and gradients (relative 1e-5, as
                                moe_oracle.sh)
Exits 1 on any mismatch."""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from moe_reference import MoE, rel_err  # noqa: E402

# (mantissa bits, exponent bias, largest finite value) of the element formats
E4M3 = (3, 7, 448.0)
E2M1 = (1, 1, 6.0)


def round_elem(v, fmt):
    """v (float32 tensor, finite) rounded to nearest-even in the format, saturating."""
    mbits, bias, vmax = fmt
    a = v.double().abs()
    _, k = torch.frexp(a)                        # a = m 2^k, m in [0.5, 1)
    e = torch.clamp(k.double() - 1, min=1 - bias)  # binade, the subnormals share emin's
    quantum = torch.pow(torch.tensor(2.0, dtype=torch.float64), e - mbits)
    r = torch.round(a / quantum) * quantum       # exact in float64; round: half to even
    r = torch.where(a == 0, torch.zeros_like(r), r)
    r = torch.clamp(r, max=vmax)
    return torch.copysign(r, v.double()).float()


def blocks(x, size):
    """[L, n] -> [L, nb, size], zero-padded (zeros change no block's amax)."""
    L, n = x.shape
    nb = (n + size - 1) // size
    pad = torch.zeros(L, nb * size, dtype=x.dtype)
    pad[:, :n] = x
    return pad.view(L, nb, size)


def unblocks(b, n):
    return b.reshape(b.shape[0], -1)[:, :n]


def nonfinite_blocks(b):
    return (~torch.isfinite(b)).any(dim=-1, keepdim=True)


def qdq_mx(x, elem):
    """OCP MX: X = floor(log2 amax) - emax_elem, clamped to [-127, 127]; -127 for 0."""
    emax = 8 if elem is E4M3 else 2
    b = blocks(x, 32)
    bad = nonfinite_blocks(b)
    b0 = torch.where(torch.isfinite(b), b, torch.zeros_like(b))
    amax = b0.abs().amax(dim=-1, keepdim=True).double()
    _, k = torch.frexp(amax)
    X = torch.where(amax == 0, torch.full_like(amax, -127.0), k.double() - 1 - emax).clamp(-127, 127)
    scale = torch.pow(torch.tensor(2.0, dtype=torch.float64), X)
    q = round_elem((b0.double() / scale).float(), elem).double() * scale  # exact, then one rounding to fp32
    q = torch.where(bad, torch.full_like(q, float("nan")), q)
    return unblocks(q.float(), x.shape[1])


def e4m3_f32(v):
    return round_elem(v, E4M3)


def qdq_nvfp4(x):
    """NVFP4: S = amax_t / 2688 (1 when 0); s = E4M3((amax_b / 6) / S); d = s S; E2M1(x / d) d."""
    if not torch.isfinite(x).all():
        return torch.full_like(x, float("nan"))
    one = torch.tensor(1.0, dtype=torch.float32)
    S = x.abs().max() / torch.tensor(2688.0, dtype=torch.float32)
    S = torch.where(S > 0, S, one)
    b = blocks(x, 16)
    amax = b.abs().amax(dim=-1, keepdim=True)
    s = e4m3_f32((amax / torch.tensor(6.0)) / S)
    d = s * S
    safe = torch.where(d > 0, d, one)
    q = round_elem(b / safe, E2M1) * safe
    q = torch.where(d > 0, q, torch.zeros_like(q))
    return unblocks(q, x.shape[1])


def qdq_fp8_tensor(x):
    if not torch.isfinite(x).all():
        return torch.full_like(x, float("nan"))
    S = x.abs().max() / torch.tensor(448.0, dtype=torch.float32)
    S = torch.where(S > 0, S, torch.tensor(1.0))
    return e4m3_f32(x / S) * S


def qdq(fmt, x, axis=1):
    """quant_qdq_matrix(fmt, x, axis) of quant.h: blocks along axis (1: rows)."""
    if axis == 0:
        return qdq(fmt, x.t().contiguous(), 1).t().contiguous()
    if fmt == "fp32":
        return x.clone()
    if fmt == "bf16":
        return x.to(torch.bfloat16).float()
    if fmt == "fp8_e4m3":
        return qdq_fp8_tensor(x)
    if fmt == "mxfp8":
        return qdq_mx(x, E4M3)
    if fmt == "mxfp4":
        return qdq_mx(x, E2M1)
    if fmt == "nvfp4":
        return qdq_nvfp4(x)
    raise ValueError(fmt)


def same_bits(got, want):
    got, want = np.asarray(got, np.float32), np.asarray(want, np.float32)
    nan = np.isnan(got) | np.isnan(want)
    return bool(np.array_equal(np.isnan(got), np.isnan(want)) and
                np.array_equal(got.view(np.uint32)[~nan], want.view(np.uint32)[~nan]))


def check_qdq(d):
    meta = json.load(open(os.path.join(d, "cases.json")))
    bad, n, changed = [], 0, {}
    for i in range(meta["cases"]):
        x = torch.from_numpy(np.load(os.path.join(d, f"in_{i}.npy")))
        for fmt in meta["formats"]:
            for axis in (0, 1):
                got = np.load(os.path.join(d, f"{fmt}_a{axis}_{i}.npy"))
                want = qdq(fmt, x, axis).numpy()
                n += 1
                changed[fmt] = changed.get(fmt, 0) + int((want.view(np.uint32) != x.numpy().view(np.uint32)).sum())
                if not same_bits(got, want):
                    diff = np.flatnonzero(got.view(np.uint32) != want.view(np.uint32))
                    j = diff[0]
                    bad.append(f"{fmt} axis {axis} case {i} {x.shape[0]}x{x.shape[1]}: {len(diff)} differ, "
                               f"first [{j}] in {x.numpy().flat[j]:.9g}: C {got.flat[j]:.9g} torch {want.flat[j]:.9g}")
    print(f"{d}: {n} C qdq matrices against torch, {meta['cases']} cases x {len(meta['formats'])} formats x 2 axes")
    for fmt, c in changed.items():
        print(f"  {fmt:9s} {'identical' if not any(b.startswith(fmt + ' ') for b in bad) else 'DIFFER'}"
              f" ({c} elements changed by the format)")
        if fmt != "fp32" and c == 0:
            bad.append(f"{fmt}: changed nothing")
    for b in bad:
        print("  FAIL " + b)
    return not bad


class STE(torch.autograd.Function):
    """Straight-through: Q in the forward, the identity in the backward (the same as
    x + (Q(x) - x).detach(), written out so the intent reads)."""

    @staticmethod
    def forward(ctx, x, fmt):
        return qdq(fmt, x.detach(), 1)

    @staticmethod
    def backward(ctx, g):
        return g, None


def quantized_expert_forward(fmt):
    def forward(self, x):  # x: this expert's rows, in token order like the C grouping
        q = lambda t: STE.apply(t, fmt)
        h1 = q(x) @ q(self.w1.weight).t()
        h3 = q(x) @ q(self.w3.weight).t()
        act = F.silu(h1) * h3
        return q(act) @ q(self.w2.weight).t()
    return forward


def bf16_router_forward(self, x):
    return STE.apply(x, "bf16") @ STE.apply(self.weight, "bf16").t()


def check_moe(d, tol=1e-5):
    cfg = json.load(open(os.path.join(d, "config.json")))
    ld = lambda n: np.load(os.path.join(d, n + ".npy"))
    m = MoE(cfg["dim"], cfg["experts"], cfg["topk"], cfg["inter"], cfg["score"], cfg["route_scale"],
            cfg["gain"], cfg["capacity"], cfg["alpha"], cfg["seq_len"])
    m.load(ld("router_w"), ld("bias"), ld("w1"), ld("w3"), ld("w2"))
    fmt = cfg["precision"]
    for ex in m.experts:
        ex.forward = quantized_expert_forward(fmt).__get__(ex)
    if cfg["router_precision"] == "bf16":
        m.router.forward = bf16_router_forward.__get__(m.router)
    x = torch.from_numpy(ld("x")).requires_grad_(True)
    y, aux = m(x)
    (y * torch.from_numpy(ld("dy"))).sum().add(aux).backward()
    bad = []

    def grad_of(name):
        return np.stack([np.zeros(getattr(ex, name).weight.shape, np.float32) if getattr(ex, name).weight.grad is None
                         else getattr(ex, name).weight.grad.numpy() for ex in m.experts])

    def close(name, got, want, t=tol):
        e = rel_err(got, want)
        print(f"  {name:12s} rel err {e:.2e} {'ok' if e <= t else 'FAIL (tol %.0e)' % t}")
        if not e <= t:
            bad.append(name)

    # the same layer in fp32, to show the format did something
    m32 = MoE(cfg["dim"], cfg["experts"], cfg["topk"], cfg["inter"], cfg["score"], cfg["route_scale"],
              cfg["gain"], cfg["capacity"], cfg["alpha"], cfg["seq_len"])
    m32.load(ld("router_w"), ld("bias"), ld("w1"), ld("w3"), ld("w2"))
    with torch.no_grad():
        y32, _ = m32(torch.from_numpy(ld("x")))
    shift = rel_err(y.detach().numpy(), y32.numpy())
    print(f"{d}: expert_precision={fmt} router_precision={cfg['router_precision']} T={cfg['tokens']} "
          f"D={cfg['dim']} E={cfg['experts']} K={cfg['topk']} F={cfg['inter']}; y moves {shift:.2e} from fp32")
    if np.array_equal(ld("experts"), m.last["idx"].numpy()):
        print("  experts      identical")
    else:
        print("  experts      DIFFER")
        bad.append("experts")
    close("y", ld("y"), y.detach().numpy())
    close("dx", ld("dx"), x.grad.numpy())
    close("d_router_w", ld("d_router_w"), m.router.weight.grad.numpy())
    close("d_w1", ld("d_w1"), grad_of("w1"))
    close("d_w3", ld("d_w3"), grad_of("w3"))
    close("d_w2", ld("d_w2"), grad_of("w2"))
    if fmt != "fp32" and not shift > 1e-4:
        bad.append(f"{fmt} left y within {shift:.1e} of fp32")
    if bad:
        print(f"{d}: FAIL: {', '.join(bad)}")
    return not bad


def main(argv):
    if len(argv) < 3 or argv[1] not in ("qdq", "moe"):
        print("usage: quant_reference.py qdq DIR | moe DIR...", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    if argv[1] == "qdq":
        ok = check_qdq(argv[2])
    else:
        ok = all([check_moe(d) for d in argv[2:]])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
