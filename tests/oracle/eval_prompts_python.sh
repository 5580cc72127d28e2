#!/usr/bin/env bash
# CORE prompts checked against an independent Python rendering of nanochat's
# core_eval.py templates (plain string operations, Python's own json decoding and
# str.strip): for every language-modelling example and the first 200 of every other task
# in pipelines/core.toml, and every example of the whitespace-heavy hand-made suite
# tests/data/eval/suite_tricky.toml, the C prompts must equal the Python ones byte for
# byte, and the few-shot examples must be distinct, in range and never the example.
set -euo pipefail
cd "$NMOE_TOP"
py=/usr/bin/python3
[ -x "$py" ] || { echo "skip: /usr/bin/python3 not found"; exit 77; }
command -v zstd >/dev/null || { echo "skip: zstd not found"; exit 77; }
tool=build/testtools/eval_offline
[ -x "$tool" ] || { echo "$tool not built (make unit)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for config in pipelines/core.toml tests/data/eval/suite_tricky.toml; do
    name=$(basename "$config" .toml)
    mkdir -p "$tmp/$name"
    "$tool" list "$config" >"$tmp/$name/tasks.tsv"
    while IFS=$'\t' read -r label type shots base file; do
        n=200
        [ "$type" = language_modeling ] && n=1000000
        "$tool" prompts "$config" "$label" $n >"$tmp/$name/$label.ndjson"
    done <"$tmp/$name/tasks.tsv"
done
"$py" - "$tmp" pipelines/core.toml tests/data/eval/suite_tricky.toml <<'PY'
import json, os, subprocess, sys

tmp, configs = sys.argv[1], sys.argv[2:]

def read_items(path):
    if path.endswith(".zst"):
        text = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout.decode("utf-8")
    else:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    # split on "\n" only: str.splitlines would also break at U+2028, U+0085, ...
    return [json.loads(line) for line in text.split("\n") if line]

# The reference rendering (nanochat core_eval.py semantics, written out as plain Python).
def render(kind, item, shots, d):
    if kind == "multiple_choice":
        pre = "".join(e["query"] + d + e["choices"][e["gold"]] + "\n\n" for e in shots)
        return [(pre + item["query"] + d, c) for c in item["choices"]]
    if kind == "schema":
        pre = "".join(e["context_options"][e["gold"]] + d + e["continuation"] + "\n\n" for e in shots)
        return [(pre + o + d, item["continuation"]) for o in item["context_options"]]
    pre = "".join(e["context"].strip() + d + e["continuation"] + "\n\n" for e in shots)
    without = pre + item["context"].strip() + d
    prompt_with = without + item["continuation"]
    prompt_without = without.strip()
    assert prompt_with.startswith(prompt_without)
    return [(prompt_without, prompt_with[len(prompt_without):])]

checked = 0
for config in configs:
    sub = os.path.join(tmp, os.path.basename(config)[:-len(".toml")])
    # Delimiters come from the config; parse the few keys we need with a tiny reader
    # (values are TOML basic strings with \n escapes only).
    delims, kinds, shots_n = {}, {}, {}
    label = None
    for line in open(config, encoding="utf-8"):
        line = line.strip()
        if line.startswith("[task."):
            label = line[6:-1]
        elif label and "=" in line and not line.startswith("#"):
            k, v = [x.strip() for x in line.split("=", 1)]
            if k == "continuation_delimiter":
                delims[label] = json.loads(v)
            elif k == "icl_task_type":
                kinds[label] = json.loads(v)
            elif k == "num_fewshot":
                shots_n[label] = int(v)

    for row in open(os.path.join(sub, "tasks.tsv"), encoding="utf-8"):
        label, kind, k, base, path = row.rstrip("\n").split("\t")
        assert kind == kinds[label], (label, kind)
        assert int(k) == shots_n[label], label
        items = read_items(path)
        d = delims[label]
        for line in open(os.path.join(sub, label + ".ndjson"), encoding="utf-8"):
            got = json.loads(line)
            i = got["item"]
            fs = got["fewshot"]
            assert len(fs) == int(k), (label, i)
            assert len(set(fs)) == len(fs) and i not in fs and all(0 <= j < len(items) for j in fs), (label, i, fs)
            want = render(kind, items[i], [items[j] for j in fs], d)
            pairs = list(zip(got["context"], got["continuation"]))
            if pairs != want:
                for n, (a, b) in enumerate(zip(pairs, want)):
                    if a != b:
                        print(f"{label} item {i} prompt {n}:\n  C:      {a!r}\n  Python: {b!r}")
                        break
                sys.exit(1)
            gold = items[i].get("gold", -1)
            assert got["gold"] == gold, (label, i)
            checked += 1
print(f"{checked} examples: C prompts equal the Python rendering")
PY
