#!/usr/bin/python3
"""eval_reference.py: nmoe-eval's numbers recomputed in PyTorch (tests/oracle/eval_oracle.sh).

    eval_reference.py MODEL_BIN TOKENIZER CORE_NDJSON BPB_NDJSON VAL_IDS

The model is the PyTorch reference of the trainer's oracle test (torch_reference.py:
Transformer, read_tensor_file), loaded from a checkpoint's model.bin (the nmoe tensor
file, nmoe-checkpoint(5)) and run in float64, so it is an independent computation of what
the C code computes in float32.

  CORE_NDJSON  `nmoe-eval core --examples` output: for every `example` line and every
               sequence in it, the log-likelihood of the scored tokens (sum of log p) and
               their mean loss must agree with the reference to 1e-4 (relative to
               max(1, |value|)), as must the greedy flag (every scored token the argmax),
               the span (multiple_choice: after the choices' common prefix; schema: the
               common suffix), the prediction (lowest mean loss, the first on ties), and
               each task's `eval` line must count what its examples say.
  BPB_NDJSON   `nmoe-eval bpb` output; VAL_IDS the split's tokens (`nmoe-shard cat --ids`,
               one document per line). The reference scores the same windows (seq_len + 1
               tokens at 0, seq_len, 2 seq_len, ...), with the checkpoint's loss mask, and
               takes each token's bytes from the tokenizer file (nmoe-tokenizer(5)) parsed
               here; loss per token and bits per byte must agree to 1e-4 (relative).
Exit status 0 when everything agrees, 1 otherwise (each failure printed).
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import Transformer, read_tensor_file  # noqa: E402  (the trainer's oracle model)

TOL = 1e-4
failures = []


def check(what, c, ref, tol=TOL):
    err = abs(c - ref) / max(1.0, abs(ref))
    if not err <= tol:
        failures.append(what)
        print(f"FAIL {what}: nmoe-eval {c!r}, reference {ref!r} (relative error {err:.3g}, tolerance {tol:g})")
    return err


def expect(what, ok):
    if not ok:
        failures.append(what)
        print(f"FAIL {what}")


def token_lengths(path):
    """Byte length of every id, from an nmoe tokenizer file; checked against the token
    bytes it holds (mergeable tokens) and its special tokens (0 bytes)."""
    data = open(path, "rb").read()
    if data[:8] != b"NMOEVOCB":
        raise SystemExit(f"{path}: not an nmoe tokenizer file")
    _version, _flags, n_ranks, n_special, vocab_size, _pattern = struct.unpack("<IIIIII", data[8:32])
    body = data[64:]
    (pattern_len,) = struct.unpack("<I", body[:4])
    pos = 4 + pattern_len
    lens = list(struct.unpack(f"<{vocab_size}I", body[pos:pos + 4 * vocab_size]))
    pos += 4 * vocab_size + sum(lens[:n_ranks])
    specials = set()
    for _ in range(n_special):
        sid, slen = struct.unpack("<II", body[pos:pos + 8])
        specials.add(sid)
        pos += 8 + slen
    expect("tokenizer: every mergeable token has bytes", all(n > 0 for n in lens[:n_ranks]))
    expect("tokenizer: special tokens have 0 bytes", all(lens[s] == 0 for s in specials))
    expect("tokenizer: file fully parsed", pos == len(body))
    return lens


def log_probs(model, ids):
    """log softmax of the logits at every position of one sequence (float64)."""
    with torch.no_grad():
        logits = model(torch.tensor([ids], dtype=torch.long))[0]
    return F.log_softmax(logits, dim=-1)


def common_prefix(seqs):
    n = min(len(s) for s in seqs)
    p = 0
    while p < n and all(s[p] == seqs[0][p] for s in seqs):
        p += 1
    return p


def check_core(model, path):
    lines = [json.loads(l) for l in open(path)]
    examples = [l for l in lines if l["kind"] == "example"]
    tasks = {l["task"]: l for l in lines if l["kind"] == "eval"}
    expect("core: example lines present", len(examples) > 0)
    worst = 0.0
    n_seqs = 0
    tally = {}
    for ex in examples:
        where = f"{ex['task']} item {ex['item']}"
        t = tally.setdefault(ex["task"], [0, 0, 0])
        t[0] += 1
        t[1] += ex["correct"]
        t[2] += ex["truncated"]
        if ex["overlong"]:
            expect(f"{where}: overlong counts as wrong", not ex["correct"] and ex["pred"] == -1)
            continue
        kind = tasks[ex["task"]]["type"]
        means = []
        for s, q in enumerate(ex["seqs"]):
            ids, start, end = q["ids"], q["start"], q["end"]
            expect(f"{where} seq {s}: span inside the sequence", 1 <= start < end == len(ids))
            lp = log_probs(model, ids)
            scored = [lp[t - 1, ids[t]].item() for t in range(start, end)]
            ref_sum = sum(scored)
            ref_mean = -ref_sum / len(scored)
            greedy = all(int(lp[t - 1].argmax()) == ids[t] for t in range(start, end))
            worst = max(worst, check(f"{where} seq {s} log-likelihood", q["logprob"], ref_sum))
            worst = max(worst, check(f"{where} seq {s} mean loss", q["mean_loss"], ref_mean))
            # a greedy flag may only differ where the two best logits are closer than
            # float32 can tell apart
            if q["greedy"] != greedy:
                gap = min((lp[t - 1].topk(2).values[0] - lp[t - 1].topk(2).values[1]).item() for t in range(start, end))
                expect(f"{where} seq {s} greedy {q['greedy']} vs reference {greedy} (top-2 gap {gap:.3g})", gap < 1e-5)
            means.append(q["mean_loss"])
            n_seqs += 1
        seqs = [q["ids"] for q in ex["seqs"]]
        if kind == "multiple_choice" and not ex["truncated"] and not ex["adjusted"]:
            expect(f"{where}: scored after the common prefix", all(q["start"] == common_prefix(seqs) for q in ex["seqs"]))
        if kind == "schema" and not ex["truncated"] and not ex["adjusted"]:
            sfx = common_prefix([list(reversed(s)) for s in seqs])
            expect(f"{where}: scored the common suffix", all(q["end"] - q["start"] == sfx for q in ex["seqs"]))
        if kind == "language_modeling":
            expect(f"{where}: correct = greedy", ex["correct"] == ex["seqs"][0]["greedy"])
        else:
            pred = means.index(min(means))
            expect(f"{where}: prediction {ex['pred']} is the lowest mean loss ({pred})", ex["pred"] == pred)
            expect(f"{where}: correct = (pred == gold)", ex["correct"] == (ex["pred"] == ex["gold"]))
    for task, (n, correct, truncated) in tally.items():
        l = tasks[task]
        expect(f"{task}: eval line counts its examples", (l["examples"], l["correct"], l["truncated"]) == (n, correct, truncated))
    print(f"core: {len(examples)} examples, {n_seqs} sequences, {len(tasks)} tasks; "
          f"worst relative error {worst:.3g} (tolerance {TOL:g})")


def check_bpb(model, cfg, lens, path, ids_path):
    ev = json.loads(open(path).read())
    stream = []
    for line in open(ids_path):
        stream.extend(int(x) for x in line.split())
    T = ev["seq_len"]
    n = ev["sequences"]
    expect("bpb: the split holds the windows", n >= 1 and n * T + 1 <= len(stream))
    eos = cfg["eos_token_id"]
    mask_eos = cfg["loss_mask_eos"] and eos >= 0
    loss_sum = text_sum = 0.0
    counted = text_tokens = n_bytes = 0
    for i in range(n):
        w = stream[i * T:i * T + T + 1]
        with torch.no_grad():
            logits = model(torch.tensor([w[:T]], dtype=torch.long))[0]
        losses = F.cross_entropy(logits, torch.tensor(w[1:], dtype=torch.long), reduction="none").tolist()
        for tgt, loss in zip(w[1:], losses):
            if not (mask_eos and tgt == eos):
                loss_sum += loss
                counted += 1
            if lens[tgt] > 0:
                text_sum += loss
                text_tokens += 1
                n_bytes += lens[tgt]
    expect(f"bpb: tokens {ev['tokens']} vs reference {counted}", ev["tokens"] == counted)
    expect(f"bpb: bytes {ev['bytes']} vs reference {n_bytes}", ev["bytes"] == n_bytes)
    expect(f"bpb: text tokens {ev['text_tokens']} vs reference {text_tokens}", ev["text_tokens"] == text_tokens)
    ref_loss = loss_sum / counted
    ref_bpb = text_sum / (math.log(2) * n_bytes)
    e1 = check("bpb: loss per token", ev["loss"], ref_loss)
    e2 = check("bpb: bits per byte", ev["bpb"], ref_bpb)
    print(f"bpb: {n} sequences of {T}; loss {ev['loss']:.6f} vs {ref_loss:.6f} (relative error {e1:.3g}), "
          f"bpb {ev['bpb']:.6f} vs {ref_bpb:.6f} (relative error {e2:.3g})")


def main():
    if len(sys.argv) != 6:
        raise SystemExit("usage: eval_reference.py MODEL_BIN TOKENIZER CORE_NDJSON BPB_NDJSON VAL_IDS")
    model_bin, tokenizer, core_path, bpb_path, ids_path = sys.argv[1:]
    header, weights = read_tensor_file(model_bin)
    cfg = header["meta"]["config"]
    model = Transformer(cfg)
    model.load_state_dict(weights, strict=True)
    model = model.double()
    model.cos, model.sin = model.cos.double(), model.sin.double()
    model.eval()
    lens = token_lengths(tokenizer)
    check_core(model, core_path)
    check_bpb(model, cfg, lens, bpb_path, ids_path)
    if failures:
        print(f"{len(failures)} checks failed")
        return 1
    print("nmoe-eval agrees with the PyTorch reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
