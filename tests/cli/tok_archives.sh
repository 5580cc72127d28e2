#!/usr/bin/env bash
# Archives (.tar, .tar.gz, .tar.zst, .zip) give one document per regular member, or
# one per line for a .jsonl member; .gz/.zst files are decompressed; the ids equal
# those of the same documents given as plain files. A damaged archive is an error
# that names the member.
source "$NMOE_TOP/tests/cli/tok_common.bash"
mkdir -p "$TMP/src/sub"
head -c 3000 data/tinyshakespeare.txt > "$TMP/src/a.txt"
junk 5 200000 > "$TMP/src/sub/b.bin"
printf '%s\n' '{"text": "line one"}' '{"text": "line two"}' > "$TMP/src/c.jsonl"
( cd "$TMP/src" && tar cf ../x.tar a.txt sub/b.bin c.jsonl && tar czf ../x.tar.gz a.txt sub/b.bin c.jsonl &&
  tar cf - a.txt sub/b.bin c.jsonl | zstd -q > ../x.tar.zst &&
  python3 -c "import zipfile; z = zipfile.ZipFile('../x.zip', 'w', zipfile.ZIP_DEFLATED); [z.write(f) for f in ('a.txt', 'sub/b.bin', 'c.jsonl')]; z.close()" )
# Expected: a.txt, b.bin as documents, then the two JSON lines.
nmoe-tok encode -t gpt2 "$TMP/src/a.txt" "$TMP/src/sub/b.bin" "$TMP/src/c.jsonl" > "$TMP/want.tok"
for a in x.tar x.tar.gz x.tar.zst x.zip; do
    nmoe-tok encode -t gpt2 "$TMP/$a" > "$TMP/got.tok"
    cmp -s "$TMP/want.tok" "$TMP/got.tok" || fail "$a gives other documents"
    [ "$(nmoe-tok encode -t gpt2 --ids "$TMP/$a" | wc -l)" -eq 4 ] || fail "$a: not 4 documents"
done
gzip -c "$TMP/src/a.txt" > "$TMP/a.txt.gz"
zstd -q -c "$TMP/src/c.jsonl" > "$TMP/c.jsonl.zst"
nmoe-tok encode -t gpt2 "$TMP/src/a.txt" "$TMP/src/c.jsonl" > "$TMP/want2.tok"
nmoe-tok encode -t gpt2 "$TMP/a.txt.gz" "$TMP/c.jsonl.zst" > "$TMP/got2.tok"
cmp -s "$TMP/want2.tok" "$TMP/got2.tok" || fail ".gz/.zst inputs differ from the plain files"
# Damage: cut each archive short in the middle of the second member's data (b.bin
# is 200 KB of incompressible bytes).
for a in x.tar x.tar.gz x.tar.zst x.zip; do
    head -c 180000 "$TMP/$a" > "$TMP/cut-$a"
    expect_fail nmoe-tok encode -t gpt2 "$TMP/cut-$a"
    [ $rc -eq 1 ] || fail "cut $a: exit $rc"
    grep -qE "cut-$a(:sub/b.bin: damaged data|: damaged archive after member 'sub/b.bin')" <<<"$err" || fail "cut $a: message does not name the member: $err"
done
# A bad JSON line inside an archive member is reported as archive:member:line.
printf '%s\n' '{"text": "ok"}' 'oops' > "$TMP/src/bad.jsonl"
( cd "$TMP/src" && tar cf ../bad.tar bad.jsonl )
expect_fail nmoe-tok encode -t gpt2 "$TMP/bad.tar"
grep -q "bad.tar:bad.jsonl:2: not JSON" <<<"$err" || fail "member line message: $err"
# Not an archive at all.
printf 'plain' > "$TMP/fake.zip"
expect_fail nmoe-tok encode -t gpt2 "$TMP/fake.zip"
grep -q "fake.zip" <<<"$err" || fail "fake.zip message: $err"
echo ok
