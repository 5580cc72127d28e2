#!/usr/bin/env bash
# JSONL input: a line that is not JSON, not an object, or lacks the field stops the
# run with "file:line: reason"; --skip-bad skips and counts such lines instead; the
# field is chosen with --field; --jsonl reads stdin as JSONL.
source "$NMOE_TOP/tests/cli/tok_common.bash"
f="$TMP/d.jsonl"
printf '%s\n' '{"text": "hello"}' '{"text": "bad' '' '{"body": "no text field"}' '[1,2]' '{"text": "wor\u0000ld", "body": "B"}' > "$f"
expect_fail nmoe-tok encode -t gpt2 --ids "$f"
[ $rc -eq 1 ] || fail "exit status $rc, want 1"
grep -q "^nmoe-tok: $f:2: not JSON: column [0-9]*: unterminated string" <<<"$err" || fail "bad message: $err"
nmoe-tok encode -t gpt2 --ids --skip-bad "$f" > "$TMP/ids" 2> "$TMP/err2"
[ "$(wc -l < "$TMP/ids")" -eq 2 ] || fail "--skip-bad should keep 2 documents"
grep -q "skipped 3 bad JSON line(s)" "$TMP/err2" || fail "skip count not reported: $(cat "$TMP/err2")"
# The \u0000 survives: decoding gives the 6 bytes "wor", NUL, "ld".
sed -n 2p "$TMP/ids" | nmoe-tok decode -t gpt2 | cmp -s - <(printf 'wor\0ld') || fail "\\u0000 lost"
# Missing field message, with its line.
printf '%s\n' '{"text": "a"}' '{"body": "b"}' > "$TMP/m.jsonl"
expect_fail nmoe-tok encode -t gpt2 --ids "$TMP/m.jsonl"
grep -q "$TMP/m.jsonl:2: no string field \"text\"" <<<"$err" || fail "missing-field message: $err"
# --field picks another field.
[ "$(nmoe-tok encode -t gpt2 --ids --field body "$TMP/m.jsonl" 2>/dev/null || true)" = "" ] || true
expect_fail nmoe-tok encode -t gpt2 --ids --field body "$TMP/m.jsonl"
grep -q "m.jsonl:1: no string field \"body\"" <<<"$err" || fail "--field message: $err"
[ "$(sed -n 2p "$TMP/m.jsonl" | nmoe-tok encode -t gpt2 --ids --jsonl --field body)" = "65" ] || fail "--jsonl on stdin"
# Without --jsonl, stdin is plain text: the JSON itself is the document.
[ "$(printf '{}' | nmoe-tok encode -t gpt2 --ids)" = "90 92" ] || fail "stdin as plain text"
echo ok
