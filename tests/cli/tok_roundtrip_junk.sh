#!/usr/bin/env bash
# encode | decode gives back the exact bytes of binary junk, invalid UTF-8 and text
# with special-token strings, for each tokenizer, through the binary stream and the
# --ids view, with and without --allow-special.
source "$NMOE_TOP/tests/cli/tok_common.bash"
junk 1 200000 > "$TMP/junk.bin"
printf 'caf\xc3\xa9 \xc3\x28 \xa0\xa1 \xf0\x28\x8c\x28 \xed\xa0\x80 overlong \xc0\xaf end\xff' > "$TMP/badutf8.txt"
printf 'a<|endoftext|>b<|endofprompt|>c <|fim_prefix|>' > "$TMP/special.txt"
: > "$TMP/empty.txt"
head -c 50000 data/tinyshakespeare.txt > "$TMP/text.txt"
for t in gpt2 r50k_base cl100k_base o200k_base; do
    for f in junk.bin badutf8.txt special.txt empty.txt text.txt; do
        sps=""
        case $f in junk.bin|special.txt) sps="--allow-special" ;; esac
        for sp in "" $sps; do
            nmoe-tok encode -t $t $sp "$TMP/$f" | nmoe-tok decode -t $t > "$TMP/back"
            cmp -s "$TMP/$f" "$TMP/back" || fail "$t $sp: stream round trip of $f differs"
            nmoe-tok encode -t $t $sp --ids "$TMP/$f" > "$TMP/ids"
            nmoe-tok decode -t $t "$TMP/ids" | cmp -s - "$TMP/$f" || fail "$t $sp: --ids round trip of $f differs"
        done
    done
done
# --allow-special really makes special ids; plain mode does not.
[ "$(printf '<|endoftext|>' | nmoe-tok encode -t gpt2 --allow-special --ids)" = "50256" ] || fail "--allow-special"
[ "$(printf '<|endoftext|>' | nmoe-tok encode -t gpt2 --ids)" = "27 91 437 1659 5239 91 29" ] || fail "plain <|endoftext|>"
echo ok
