#!/usr/bin/env bash
# --plot writes a real PNG (signature, IHDR size) atomically, beside the usual output;
# without gnuplot in PATH it fails clearly before reading anything.
set -u
cd "$NMOE_TOP"
D=tests/data/metrics
R=$NMOE_TOP/bin/nmoe-routerstat
command -v gnuplot >/dev/null || { echo "gnuplot is not installed (Debian: gnuplot-nox)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# png_ok FILE: PNG signature, an IHDR chunk, width x height within reason.
png_ok() {
    local f=$1
    [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || { echo "FAIL $f: not a PNG signature"; return 1; }
    [ "$(dd if="$f" bs=1 skip=12 count=4 2>/dev/null)" = "IHDR" ] || { echo "FAIL $f: no IHDR chunk"; return 1; }
    local w h
    w=$(od -An -tu1 -j16 -N4 "$f" | awk '{ print ($1 * 16777216) + ($2 * 65536) + ($3 * 256) + $4 }')
    h=$(od -An -tu1 -j20 -N4 "$f" | awk '{ print ($1 * 16777216) + ($2 * 65536) + ($3 * 256) + $4 }')
    [ "$w" -eq 1100 ] && [ "$h" -eq $((230 * 3 + 320)) ] || { echo "FAIL $f: ${w}x$h, want 1100x1010"; return 1; }
    [ "$(stat -c %s "$f")" -gt 20000 ] || { echo "FAIL $f: only $(stat -c %s "$f") bytes"; return 1; }
    # The last chunk is IEND: the file is complete.
    [ "$(tail -c 8 "$f" | head -c 4)" = "IEND" ] || { echo "FAIL $f: no IEND at the end"; return 1; }
    return 0
}

"$R" -q --plot "$tmp/collapse.png" $D/collapse-64x6.ndjson >"$tmp/out"; rc=$?
[ $rc -eq 0 ] && png_ok "$tmp/collapse.png" && echo "ok   collapse plot" || { echo "FAIL collapse plot (exit $rc)"; fail=1; }
diff -q $D/collapse-64x6.table.expected "$tmp/out" >/dev/null || { echo "FAIL table missing with --plot"; fail=1; }
"$R" -q --over-time --plot "$tmp/healthy.png" $D/healthy-64x6.ndjson >/dev/null; rc=$?
[ $rc -eq 0 ] && png_ok "$tmp/healthy.png" && echo "ok   healthy plot" || { echo "FAIL healthy plot (exit $rc)"; fail=1; }
# No temporary files are left beside the PNG.
[ "$(ls "$tmp" | grep -vc -e '\.png$' -e '^out$')" -eq 0 ] || { echo "FAIL leftovers: $(ls "$tmp")"; fail=1; }
# Replacing an existing file is atomic: the old one stays whole until the new one is complete.
"$R" -q --plot "$tmp/healthy.png" $D/collapse-64x6.ndjson >/dev/null && png_ok "$tmp/healthy.png" || { echo "FAIL overwrite"; fail=1; }

# gnuplot missing: a clear error, exit 1, no file, before the stream is read (stdin untouched).
mkdir "$tmp/empty-path"
PATH="$tmp/empty-path" "$R" --plot "$tmp/none.png" $D/healthy-64x6.ndjson >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && [ "$(cat "$tmp/err")" = "nmoe-routerstat: --plot needs gnuplot, which is not in PATH (install gnuplot-nox)" ] \
    && [ ! -e "$tmp/none.png" ] && echo "ok   gnuplot missing" || { echo "FAIL gnuplot missing (exit $rc)"; cat "$tmp/err"; fail=1; }

# gnuplot failing: the error names the file and nothing is written.
printf '#!/bin/sh\necho "gnuplot: simulated failure" >&2\nexit 1\n' >"$tmp/empty-path/gnuplot"
chmod +x "$tmp/empty-path/gnuplot"
PATH="$tmp/empty-path:/usr/bin:/bin" "$R" -q --plot "$tmp/none.png" $D/healthy-64x6.ndjson >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -qF "nmoe-routerstat: $tmp/none.png: gnuplot failed: gnuplot: simulated failure" "$tmp/err" && [ ! -e "$tmp/none.png" ] \
    && echo "ok   gnuplot failure" || { echo "FAIL gnuplot failure (exit $rc)"; cat "$tmp/err"; fail=1; }
# A "gnuplot" that succeeds but writes no PNG is caught too.
printf '#!/bin/sh\necho not a png\n' >"$tmp/empty-path/gnuplot"
PATH="$tmp/empty-path:/usr/bin:/bin" "$R" -q --plot "$tmp/none.png" $D/healthy-64x6.ndjson >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && [ ! -e "$tmp/none.png" ] && echo "ok   non-PNG output rejected" || { echo "FAIL non-PNG output (exit $rc)"; cat "$tmp/err"; fail=1; }
# --plot - is refused (stdout carries the report).
"$R" --plot - $D/healthy-64x6.ndjson >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || { echo "FAIL --plot -: exit $rc, want 2"; fail=1; }
exit $fail
