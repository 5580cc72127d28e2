#!/usr/bin/env bash
# A file named .gz/.zst/.xz/.bz2 (or .tar.gz, .tgz, ...) must hold that compression:
# one whose magic number is damaged, one that is plain text so named, and an empty one
# are refused with exit 1 naming the file, never tokenized as text. Damage further in
# is caught by the format's own check (for gzip, zlib's CRC-32: libarchive's gzip
# filter skips it, so a flipped byte in the deflate stream used to pass). nmoe-tok
# train reads its inputs the same way (text_input.c).
source "$NMOE_TOP/tests/cli/tok_common.bash"
head -c 20000 data/tinyshakespeare.txt > "$TMP/a.txt"
( cd "$TMP" && gzip -c a.txt > a.gz && zstd -q -c a.txt > a.zst && xz -c a.txt > a.xz && bzip2 -c a.txt > a.bz2 &&
  tar czf a.tar.gz a.txt && cp a.tar.gz a.tgz )
# Byte offset of the flip: inside the magic number (the 2nd byte), then mid-stream.
flip() { # flip FILE OFFSET
    python3 -c "import sys; p, o = sys.argv[1], int(sys.argv[2]); b = bytearray(open(p, 'rb').read()); b[o] ^= 0x5a; open(p, 'wb').write(b)" "$1" "$2"
}
want=$(nmoe-tok encode -t gpt2 --ids "$TMP/a.txt")
for z in gz zst xz bz2 tar.gz tgz; do
    got=$(nmoe-tok encode -t gpt2 --ids "$TMP/a.$z" | tail -n 1)
    [ "$got" = "$want" ] || fail "a.$z: intact file gives other ids"
    cp "$TMP/a.$z" "$TMP/magic.$z"; flip "$TMP/magic.$z" 1
    expect_fail nmoe-tok encode -t gpt2 --ids "$TMP/magic.$z"
    [ $rc -eq 1 ] || fail "magic.$z: exit $rc"
    grep -q "magic.$z: named .* but does not start as .* data .*: damaged or not compressed; not read as text" <<<"$err" ||
        fail "magic.$z: message: $err"
    cp "$TMP/a.txt" "$TMP/plain.$z"
    expect_fail nmoe-tok encode -t gpt2 --ids "$TMP/plain.$z"
    [ $rc -eq 1 ] || fail "plain.$z: exit $rc"
    grep -q "plain.$z: named .* but does not start as .* data (first bytes: 46 69 72 73): damaged or not compressed" <<<"$err" ||
        fail "plain.$z: message: $err"
    : > "$TMP/empty.$z"
    expect_fail nmoe-tok encode -t gpt2 --ids "$TMP/empty.$z"
    grep -q "empty.$z: named .*the file is empty" <<<"$err" || fail "empty.$z: message: $err"
    cp "$TMP/a.$z" "$TMP/mid.$z"; flip "$TMP/mid.$z" $(( $(stat -c %s "$TMP/a.$z") / 2 ))
    expect_fail nmoe-tok encode -t gpt2 --ids "$TMP/mid.$z"
    [ $rc -eq 1 ] || fail "mid.$z: exit $rc"
    grep -q "mid.$z" <<<"$err" || fail "mid.$z: message does not name the file: $err"
done
# A cut gzip file: zlib reports the missing end.
head -c 3000 "$TMP/a.gz" > "$TMP/cut.gz"
expect_fail nmoe-tok encode -t gpt2 --ids "$TMP/cut.gz"
grep -q "cut.gz: damaged data: gzip: unexpected end of file" <<<"$err" || fail "cut.gz: $err"
# Concatenated gzip members are one stream (gzip(1) reads them so).
cat "$TMP/a.gz" "$TMP/a.gz" > "$TMP/two.gz"
cat "$TMP/a.txt" "$TMP/a.txt" > "$TMP/two.txt"
[ "$(nmoe-tok encode -t gpt2 --ids "$TMP/two.gz")" = "$(nmoe-tok encode -t gpt2 --ids "$TMP/two.txt")" ] || fail "two gzip members"
echo ok
