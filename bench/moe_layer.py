#!/usr/bin/python3
"""The PyTorch peer of bench/moe_layer.sh: forward + backward of the loop-over-experts
MoE layer (tests/oracle/moe_reference.py, the layer the oracle checks nmoe against) on
the same shapes and thread count, timed like tests/tools/moe_layer_bench: two warm-up
calls, then the median of `repeat`. Prints one line:

  torch_moe_layer: fwd+bwd median MS ms, fwd median MS ms, threads N, torch VERSION

usage: moe_layer.py key=value...   (tokens dim experts topk inter score capacity alpha
seq_len repeat; the same keys as moe_layer_bench)"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "oracle"))
from moe_reference import MoE  # noqa: E402


def main(argv):
    o = dict(tokens=64, dim=32, experts=8, topk=2, inter=24, score="sigmoid", capacity=0.0, alpha=0.0,
             seq_len=0, repeat=10)
    for a in argv[1:]:
        k, _, v = a.partition("=")
        if k not in o:
            print(f"moe_layer.py: '{a}': unknown key", file=sys.stderr)
            return 2
        o[k] = type(o[k])(v)
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    m = MoE(o["dim"], o["experts"], o["topk"], o["inter"], o["score"], 1.0, 1.0, o["capacity"], o["alpha"],
            o["seq_len"])
    with torch.no_grad():
        m.bias.normal_(0, 0.05)
    x = torch.randn(o["tokens"], o["dim"], requires_grad=True)
    dy = torch.randn(o["tokens"], o["dim"])
    total, fwd = [], []
    for i in range(-2, o["repeat"]):
        t0 = time.perf_counter()
        y, aux = m(x)
        t1 = time.perf_counter()
        (y * dy).sum().add(aux).backward()
        t2 = time.perf_counter()
        if i >= 0:
            total.append((t2 - t0) * 1e3)
            fwd.append((t1 - t0) * 1e3)
    total.sort()
    fwd.sort()
    r = o["repeat"]
    print(f"torch_moe_layer: fwd+bwd median {total[r // 2]:.3f} ms, fwd median {fwd[r // 2]:.3f} ms, "
          f"threads {torch.get_num_threads()}, torch {torch.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
