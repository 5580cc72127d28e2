#!/usr/bin/env bash
# Command-line discipline: -V, -h, --help, usage errors exit 2, options that do not
# fit the command are refused, decode refuses a stream of another vocabulary and
# an id that names nothing, the stream header carries the tokenizer's identity,
# -o writes the same bytes as stdout, and --eot adds one id per document.
source "$NMOE_TOP/tests/cli/tok_common.bash"
[ "$(nmoe-tok -V)" = "nmoe-tok 0.1.0" ] || fail "-V: $(nmoe-tok -V)"
grep -q "^Usage: nmoe-tok encode" <<<"$(nmoe-tok -h)" || fail "-h"
grep -q -- "--vocab-size" <<<"$(nmoe-tok --help)" || fail "--help"
for args in "" "frobnicate" "encode" "encode -t gpt2 --vocab-size 5" "decode -t gpt2 --eot" "info" "encode -t gpt2 -j -1" "encode -t gpt2 --nope"; do
    # shellcheck disable=SC2086
    expect_fail nmoe-tok $args
    [ $rc -eq 2 ] || fail "'$args': exit $rc, want 2 ($err)"
done
printf 'Hello world' > "$TMP/h.txt"
[ "$(nmoe-tok encode -t gpt2 --ids "$TMP/h.txt")" = "15496 995" ] || fail "Hello world ids"
nmoe-tok encode -t gpt2 "$TMP/h.txt" > "$TMP/a.tok"
nmoe-tok encode -t gpt2 -o "$TMP/b.tok" "$TMP/h.txt"
cmp -s "$TMP/a.tok" "$TMP/b.tok" || fail "-o differs from stdout"
# Header: vocab_size 50257 at byte 16, vocab_id at byte 24 = info's vocab_id.
id=$(nmoe-tok info -t gpt2 | sed -n 's/^vocab_id: //p')
hdr=$(od -An -tx8 -j24 -N8 "$TMP/a.tok" | tr -d ' ')
[ "$hdr" = "$id" ] || fail "stream vocab_id $hdr, tokenizer $id"
[ "$(od -An -tu4 -j16 -N4 "$TMP/a.tok" | tr -d ' ')" = 50257 ] || fail "vocab_size in header"
# The same vocabulary from encoder.json+vocab.bpe and r50k_base.tiktoken: same identity.
[ "$(nmoe-tok info -t r50k_base | sed -n 's/^vocab_id: //p')" = "$id" ] || fail "r50k identity"
# decode with another vocabulary is refused.
expect_fail nmoe-tok decode -t cl100k_base "$TMP/a.tok"
grep -q "made with vocabulary $id" <<<"$err" || fail "vocabulary mismatch message: $err"
# An id that names nothing (cl100k's gap at 100256), and junk in the --ids view.
echo "100256" > "$TMP/gap.ids"
expect_fail nmoe-tok decode -t cl100k_base "$TMP/gap.ids"
grep -q "gap.ids:1: id 100256 names no token" <<<"$err" || fail "gap id: $err"
printf '1 2\n3 x\n' > "$TMP/junk.ids"
expect_fail nmoe-tok decode -t gpt2 "$TMP/junk.ids"
grep -q "junk.ids:2: column 3: expected a token id" <<<"$err" || fail "junk ids: $err"
# --eot: one extra id per document.
[ "$(nmoe-tok encode -t gpt2 --eot --ids "$TMP/h.txt" "$TMP/h.txt")" = "$(printf '15496 995 50256\n15496 995 50256')" ] || fail "--eot"
# A truncated stream is refused by decode.
head -c 30 "$TMP/a.tok" > "$TMP/cut.tok"
expect_fail nmoe-tok decode -t gpt2 "$TMP/cut.tok"
grep -q "cut.tok" <<<"$err" || fail "truncated: $err"
# Named tokenizers resolve through $NMOE_DATA too.
grep -qx "vocab_size: 200019" <<<"$(NMOE_DATA="$NMOE_TOP/data" nmoe-tok info -t o200k_base)" || fail "NMOE_DATA"
echo ok
