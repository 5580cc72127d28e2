#!/usr/bin/env bash
# A missing or malformed tokenizer is an error naming the file and the position
# (line, or byte offset for the binary file), exit status 1, never a crash.
source "$NMOE_TOP/tests/cli/tok_common.bash"
check() { # check PATTERN -- command...
    local pat=$1; shift
    expect_fail "$@"
    [ $rc -eq 1 ] || fail "exit $rc for $*: $err"
    grep -qE -- "$pat" <<<"$err" || fail "message '$err' does not match '$pat'"
}
check "nosuch: no such file" nmoe-tok info -t "$TMP/nosuch"
# GPT-2 folder: broken encoder.json (line/column), broken vocab.bpe (line).
mkdir "$TMP/g"
cp data/tokenizers/gpt2/vocab.bpe "$TMP/g/"
printf '{"a": 0,\n "b": }' > "$TMP/g/encoder.json"
check "g/encoder.json: line 2, column [0-9]+: not valid JSON" nmoe-tok info -t "$TMP/g"
cp data/tokenizers/gpt2/encoder.json "$TMP/g/"
chmod u+w "$TMP/g/encoder.json" "$TMP/g/vocab.bpe"
sed -i '5s/ /  /' "$TMP/g/vocab.bpe"
check "g/vocab.bpe: line 5: expected a merge" nmoe-tok info -t "$TMP/g"
rm "$TMP/g/vocab.bpe"
check "g/vocab.bpe: No such file" nmoe-tok info -t "$TMP/g"
# .tiktoken: bad base64, rank out of order.
cp data/tokenizers/r50k_base.tiktoken "$TMP/r50k_base.tiktoken"
chmod u+w "$TMP/r50k_base.tiktoken"
sed -i '7s/^.../!!!/' "$TMP/r50k_base.tiktoken"
check "r50k_base.tiktoken: line 7: expected" nmoe-tok info -t "$TMP/r50k_base.tiktoken"
cp data/tokenizers/r50k_base.tiktoken "$TMP/r50k_base.tiktoken"
sed -i '9s/ 8$/ 80/' "$TMP/r50k_base.tiktoken"
check "line 9: rank 80 out of order" nmoe-tok info -t "$TMP/r50k_base.tiktoken"
cp data/tokenizers/r50k_base.tiktoken "$TMP/unknown.tiktoken"
check "unknown.tiktoken: no .*unknown.meta.json" nmoe-tok info -t "$TMP/unknown.tiktoken"
printf '{"pat_str": 3}' > "$TMP/unknown.meta.json"
check "unknown.meta.json: no string \"pat_str\"" nmoe-tok info -t "$TMP/unknown.tiktoken"
# nmoe tokenizer file: flipped bytes and truncation are reported with a byte offset.
nmoe-tok convert -q -t gpt2 -o "$TMP/g.tok"
size=$(stat -c %s "$TMP/g.tok")
check "bad.tok: not a tokenizer" bash -c "printf X | cat - <(tail -c +2 '$TMP/g.tok') > '$TMP/bad.tok'; nmoe-tok info -t '$TMP/bad.tok'"
for off in 9 30 70 $((size / 2)) $((size - 1)); do
    cp "$TMP/g.tok" "$TMP/bad.tok"
    printf '\x5a' | dd of="$TMP/bad.tok" bs=1 seek=$off conv=notrunc status=none
    cmp -s "$TMP/g.tok" "$TMP/bad.tok" && continue
    check "bad.tok: byte [0-9]+: " nmoe-tok info -t "$TMP/bad.tok"
done
head -c $((size - 10)) "$TMP/g.tok" > "$TMP/short.tok"
check "short.tok: byte 40: header says" nmoe-tok info -t "$TMP/short.tok"
printf 'hello' > "$TMP/hello.txt"
check "hello.txt: not a tokenizer" nmoe-tok info -t "$TMP/hello.txt"
check "not a known tokenizer name" nmoe-tok info -t p50k_base
echo ok
