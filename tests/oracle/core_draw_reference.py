"""core_draw_reference.py: the prompts the DCLM / nanochat CORE reference evaluates, to
check `nmoe-eval core --dump-prompts --draw python` against (tests/cli/eval_draw_python.sh).

  core_draw_reference.py CONFIG LIMIT SEED DUMP.ndjson

For every task of the task config CONFIG (read with tomllib), this does what nanochat's
scripts/base_eval.py and nanochat/core_eval.py do, with Python's own random module:

    data = [json.loads(line) for line in file]          # file order
    random.Random(1337).shuffle(data); data = data[:LIMIT] if LIMIT > 0
    for idx in range(len(data)):
        rng = random.Random(SEED + idx)                   # the reference's SEED is 1234
        available = [i for i in range(len(data)) if i != idx]
        fewshot = [data[i] for i in rng.sample(available, num_fewshot)]

and renders the prompts as render_prompts_mc / _schema / _lm (their Jinja templates come
down to these string operations). DUMP holds the C program's `prompt` lines; for each
task they must name exactly the reference's items, in file order, with the reference's
few-shot examples (file indices), and context[i] + continuation[i] must be the i-th
reference prompt character for character (for language modelling, context must also be
the prompt without the continuation, stripped). The first difference is printed and the
exit status is 1. Standard library only; written from the reference, not from the C."""
import json
import os
import random
import sys
import tomllib


def read_items(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # "\n" only: str.splitlines would also break at U+2028, U+0085, ...
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def render(kind, item, shots, d):
    """The prompts of one item: a list of full strings, and for language modelling the
    prompt without the continuation."""
    if kind == "multiple_choice":
        pre = "".join(e["query"] + d + e["choices"][e["gold"]] + "\n\n" for e in shots)
        return [pre + item["query"] + d + c for c in item["choices"]], None
    if kind == "schema":
        pre = "".join(e["context_options"][e["gold"]] + d + e["continuation"] + "\n\n" for e in shots)
        return [pre + o + d + item["continuation"] for o in item["context_options"]], None
    assert kind == "language_modeling", kind
    pre = "".join(e["context"].strip() + d + e["continuation"] + "\n\n" for e in shots)
    without = pre + item["context"].strip() + d
    return [without + item["continuation"]], without.strip()


def reference(path, kind, num_fewshot, d, limit, seed):
    """{file index: (few-shot file indices, prompts, without)} as the reference draws."""
    data = list(enumerate(read_items(path)))   # (file index, item): the shuffle moves both
    random.Random(1337).shuffle(data)
    if limit > 0:
        data = data[:limit]
    out = {}
    for idx in range(len(data)):
        rng = random.Random(seed + idx)
        available = [i for i in range(len(data)) if i != idx]
        picks = rng.sample(available, num_fewshot)
        shots = [data[i][1] for i in picks]
        prompts, without = render(kind, data[idx][1], shots, d)
        out[data[idx][0]] = ([data[i][0] for i in picks], prompts, without)
    return out


def main():
    config, limit, seed, dump = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    with open(config, "rb") as f:
        cfg = tomllib.load(f)
    here = os.path.dirname(config)
    data_dir = os.path.join(here, cfg.get("suite", {}).get("data_dir", "."))
    got = {}
    for line in open(dump, encoding="utf-8"):
        o = json.loads(line)
        assert o["kind"] == "prompt", o["kind"]
        got.setdefault(o["task"], []).append(o)
    checked = 0
    for label, t in cfg["task"].items():
        kind, k = t["icl_task_type"], t["num_fewshot"]
        d = t.get("continuation_delimiter", " ")
        want = reference(os.path.join(data_dir, t["file"]), kind, k, d, limit, seed)
        lines = got.pop(label, [])
        items = [o["item"] for o in lines]
        if items != sorted(want):
            sys.exit(f"{label}: C evaluates items {items[:12]}..., the reference {sorted(want)[:12]}... "
                     f"({len(items)} vs {len(want)})")
        for o in lines:
            i = o["item"]
            fewshot, prompts, without = want[i]
            if o["fewshot"] != fewshot:
                sys.exit(f"{label} item {i}: few-shot examples\n  C:         {o['fewshot']}\n  reference: {fewshot}")
            if o["line"] != i + 1:
                sys.exit(f"{label} item {i}: line {o['line']}, expected {i + 1}")
            full = [a + b for a, b in zip(o["context"], o["continuation"])]
            if len(full) != len(prompts) or len(o["context"]) != len(o["continuation"]):
                sys.exit(f"{label} item {i}: {len(full)} prompts, the reference has {len(prompts)}")
            for n, (a, b) in enumerate(zip(full, prompts)):
                if a != b:
                    at = next((j for j, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                    sys.exit(f"{label} item {i} prompt {n} differs at character {at}:\n"
                             f"  C:         {a[max(0, at - 40):at + 40]!r}\n"
                             f"  reference: {b[max(0, at - 40):at + 40]!r}")
            if without is not None and o["context"][0] != without:
                sys.exit(f"{label} item {i}: the prompt without the continuation\n"
                         f"  C:         {o['context'][0][-80:]!r}\n  reference: {without[-80:]!r}")
            checked += 1
    if got:
        sys.exit(f"the dump has tasks the config does not: {sorted(got)}")
    print(f"{checked} examples of {len(cfg['task'])} tasks: the prompts the reference draws and renders "
          f"(limit {limit}, few-shot seed {seed})")


main()
