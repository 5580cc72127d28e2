#!/usr/bin/env bash
# pyrandom_python.sh: libcommon/base/pyrandom.c draws what Python's random module draws.
# tests/oracle/pyrandom_reference.py lists cases (seeds 0 .. 2^64-1, getrandbits of 0..64
# bits, _randbelow up to 2^64-1, shuffles, samples on both sides of sample()'s pool/set
# threshold, one generator through sample + shuffle + _randbelow, the threshold itself
# for k = 0..1200) and prints /usr/bin/python3's draws; build/testtools/pyrandom_draws
# prints the port's; every line must be equal.
set -euo pipefail
: "${NMOE_TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
py=/usr/bin/python3
[ -x "$py" ] || { echo "skip: /usr/bin/python3 not found"; exit 77; }
tool=$NMOE_TOP/build/testtools/pyrandom_draws
[ -x "$tool" ] || { echo "$tool not built (make unit)"; exit 1; }
ref=$NMOE_TOP/tests/oracle/pyrandom_reference.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" "$ref" cases >"$tmp/cases"
"$py" "$ref" <"$tmp/cases" >"$tmp/python"
"$tool" <"$tmp/cases" >"$tmp/c"
n=$(wc -l <"$tmp/cases")
[ "$n" -gt 1000 ] && [ "$(wc -l <"$tmp/python")" -eq "$n" ] || { echo "FAIL: $n cases, $(wc -l <"$tmp/python") Python lines"; exit 1; }
if ! diff "$tmp/python" "$tmp/c" >"$tmp/diff"; then
    echo "FAIL: pyrandom differs from Python's random ($(grep -c '^<' "$tmp/diff") of $n cases); first differences (< Python, > C):"
    head -c 3000 "$tmp/diff"
    exit 1
fi
echo "$n cases: pyrandom draws what Python's random module draws"
