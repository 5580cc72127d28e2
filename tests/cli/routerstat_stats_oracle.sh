#!/usr/bin/env bash
# The statistics nmoe-routerstat prints match the DESIGN.md definitions recomputed
# independently (Python + NumPy) from every router line's loads and biases in the
# fixtures, and the fixtures are exactly what tests/tools/gen_router_metrics writes.
set -u
cd "$NMOE_TOP"
D=tests/data/metrics
R=bin/nmoe-routerstat
G=build/testtools/gen_router_metrics
PY=/usr/bin/python3
$PY -c 'import numpy' 2>/dev/null || { echo "python3-numpy is not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for f in healthy-64x6 collapse-64x6 malformed; do
    "$R" -q --over-time --json $D/$f.ndjson >"$tmp/$f.json" || { echo "FAIL $f: routerstat failed"; fail=1; continue; }
    $PY - $D/$f.ndjson "$tmp/$f.json" <<'PY' || fail=1
import json, math, sys
import numpy as np
stream, ours = sys.argv[1], sys.argv[2]
want = {}
for text in open(stream, encoding="utf-8", errors="replace"):
    try:
        o = json.loads(text)
    except ValueError:
        continue
    if not isinstance(o, dict) or o.get("kind") != "router":
        continue
    try:
        e = o["experts"]
        loads = np.array(o["loads"], dtype=np.float64)
        bias = np.array([float(b) for b in o["bias"]], dtype=np.float64)
        if not isinstance(o["step"], int) or loads.shape != (e,) or bias.shape != (e,) or (loads < 0).any() \
           or (loads != np.floor(loads)).any() or not (1 <= o["top_k"] <= e) \
           or o.get("from_step", 0) > o.get("to_step", 1 << 60):
            continue
    except (KeyError, TypeError, ValueError):
        continue
    n = loads.sum()
    p = loads[loads > 0] / n
    want[(o["step"], o["layer"])] = dict(
        cv_pct=100 * loads.std() / loads.mean(),          # numpy std: population
        entropy=float(-(p * np.log(p)).sum() / math.log(e)) if e > 1 else 1.0,
        active=int((loads > 0).sum()),
        max_over_mean=loads.max() / loads.mean(),
        bias_min=bias.min(), bias_max=bias.max())
got = [json.loads(t) for t in open(ours)]
bad = 0
if len(got) != len(want):
    print(f"FAIL {stream}: {len(got)} records, the oracle finds {len(want)}")
    bad += 1
for g in got:
    w = want.get((g["step"], g["layer"]))
    if w is None:
        print(f"FAIL {stream}: step {g['step']} layer {g['layer']} not in the oracle"); bad += 1; continue
    for k, v in w.items():
        x = g[k]
        x = float("nan") if x == "NaN" else x
        if isinstance(v, float) and math.isnan(v):
            ok = isinstance(x, float) and math.isnan(x)
        elif k.startswith("bias"):
            ok = abs(x - v) <= 1e-6 * max(1.0, abs(v))   # written as floats
        else:
            ok = abs(x - v) <= 1e-9 * max(1.0, abs(v))
        if not ok:
            print(f"FAIL {stream}: step {g['step']} layer {g['layer']} {k}: {x} vs oracle {v}"); bad += 1
print(f"{'ok  ' if not bad else 'FAIL'} {stream}: {len(got)} router lines checked against the oracle")
sys.exit(1 if bad else 0)
PY
done
# The fixtures regenerate byte for byte (so they can be remade when the schema grows).
if [ -x "$G" ]; then
    "$G" --mode healthy --steps 250 | cmp - $D/healthy-64x6.ndjson && echo "ok   healthy fixture regenerates" || fail=1
    "$G" --mode collapse --steps 600 --collapse-step 150 | cmp - $D/collapse-64x6.ndjson && echo "ok   collapse fixture regenerates" || fail=1
else
    echo "FAIL $G missing (make unit builds it)"; fail=1
fi
exit $fail
