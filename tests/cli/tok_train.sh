#!/usr/bin/env bash
# train: deterministic (same file twice, any thread count), the requested size with
# <|endoftext|> and --special tokens at the documented ids, a file that encodes and
# decodes exactly, JSONL input, and usage errors.
source "$NMOE_TOP/tests/cli/tok_common.bash"
nmoe-tok train -q --vocab-size 1K -o "$TMP/a.tok" data/tinyshakespeare.txt
nmoe-tok train -q --vocab-size 1024 -j1 -o "$TMP/b.tok" data/tinyshakespeare.txt
nmoe-tok train -q --vocab-size 1024 -j3 -o "$TMP/c.tok" - < data/tinyshakespeare.txt
cmp -s "$TMP/a.tok" "$TMP/b.tok" || fail "two runs differ"
cmp -s "$TMP/a.tok" "$TMP/c.tok" || fail "-j3 / stdin differs"
nmoe-tok info -t "$TMP/a.tok" > "$TMP/info"
grep -qx "vocab_size: 1024" "$TMP/info" || fail "vocab_size: $(cat "$TMP/info")"
grep -qx "special: 1023 <|endoftext|>" "$TMP/info" || fail "eot id"
grep -qx "pattern: gpt2" "$TMP/info" || fail "pattern"
nmoe-tok train -q --vocab-size 600 --pattern o200k --special '<|pad|>' --special '<|sep|>' -o "$TMP/o.tok" data/tinyshakespeare.txt
nmoe-tok info -t "$TMP/o.tok" > "$TMP/info2"
grep -qx "special: 597 <|endoftext|>" "$TMP/info2" || fail "o200k eot"
grep -qx "special: 599 <|sep|>" "$TMP/info2" || fail "--special order"
grep -qx "pattern: o200k" "$TMP/info2" || fail "o200k pattern"
for t in a o; do
    nmoe-tok encode -t "$TMP/$t.tok" --eot data/tinyshakespeare.txt | nmoe-tok decode -t "$TMP/$t.tok" > "$TMP/back"
    cmp -s "$TMP/back" <(cat data/tinyshakespeare.txt; printf '<|endoftext|>') || fail "$t: round trip"
done
# A trained vocabulary compresses its own text: fewer tokens than bytes / 2.
n=$(nmoe-tok encode -t "$TMP/a.tok" --ids data/tinyshakespeare.txt | wc -w)
[ "$n" -lt 557697 ] || fail "$n tokens for 1,115,394 bytes"
# JSONL training input.
printf '%s\n' '{"text": "aaa bbb aaa"}' '{"text": "aaa ccc"}' > "$TMP/t.jsonl"
nmoe-tok train -q --vocab-size 260 -o "$TMP/j.tok" "$TMP/t.jsonl"
grep -qx "vocab_size: 260" <(nmoe-tok info -t "$TMP/j.tok") || fail "jsonl train"
# Usage errors exit 2.
expect_fail nmoe-tok train -o "$TMP/x.tok" data/tinyshakespeare.txt
[ $rc -eq 2 ] || fail "missing --vocab-size: exit $rc"
expect_fail nmoe-tok train --vocab-size 100 -o "$TMP/x.tok" data/tinyshakespeare.txt
[ $rc -eq 2 ] || fail "--vocab-size 100: exit $rc"
expect_fail nmoe-tok train --vocab-size 1000 --pattern p50k -o "$TMP/x.tok" data/tinyshakespeare.txt
[ $rc -eq 2 ] || fail "bad --pattern: exit $rc"
expect_fail nmoe-tok train --vocab-size 1000 data/tinyshakespeare.txt
[ $rc -eq 2 ] || fail "missing -o: exit $rc"
[ ! -e "$TMP/x.tok" ] || fail "a file was left behind"
echo ok
