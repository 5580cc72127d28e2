#!/usr/bin/env bash
# The token stream does not depend on the thread count: many small documents, a long
# document that is cut into parts (Tiny Shakespeare, 1.1 MB, and 2.2 MB of it with
# special tokens), JSONL, each tokenizer.
source "$NMOE_TOP/tests/cli/tok_common.bash"
mkdir "$TMP/docs"
split -b 7000 -a 3 data/tinyshakespeare.txt "$TMP/docs/part."
( cat data/tinyshakespeare.txt; printf '<|endoftext|>'; cat data/tinyshakespeare.txt ) > "$TMP/big.txt"
python3 -c "
import json
t=open('data/tinyshakespeare.txt').read()
with open('$TMP/d.jsonl','w') as f:
    for i in range(0, len(t), 3000): f.write(json.dumps({'text': t[i:i+3000], 'n': i})+'\n')"
for t in gpt2 cl100k_base o200k_base; do
    for args in "$TMP/docs/part.*" "$TMP/big.txt" "--allow-special --eot $TMP/big.txt" "$TMP/d.jsonl"; do
        # shellcheck disable=SC2086
        nmoe-tok encode -t $t -j1 $args > "$TMP/j1.tok"
        for j in 2 3; do
            # shellcheck disable=SC2086
            nmoe-tok encode -t $t -j$j $args > "$TMP/jn.tok"
            cmp -s "$TMP/j1.tok" "$TMP/jn.tok" || fail "$t: -j1 and -j$j differ for $args"
        done
    done
done
# And the long document's ids match the reference prefix (first 200,000 bytes).
head -c 200000 data/tinyshakespeare.txt | nmoe-tok encode -t gpt2 -j2 --ids | tr ' ' '\n' > "$TMP/ids.txt"
cmp -s "$TMP/ids.txt" tests/data/tokenizers/gpt2_reference_tinyshakespeare_200k.txt || fail "reference ids differ"
echo ok
