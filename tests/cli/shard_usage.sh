#!/usr/bin/env bash
# Command-line discipline: -h, --help, -V; usage errors exit 2 with a one-line reason
# and a hint; binary data is not written to (or read from) a terminal without -f.
source "$NMOE_TOP/tests/cli/shard_common.bash"

nmoe-shard -h > out.txt
grep -q '^Usage: nmoe-shard pack -o DIR' out.txt || fail "-h: $(cat out.txt)"
nmoe-shard --help > help.txt
for opt in --output --shard-tokens --val-fraction --seed --zstd --level --threads --prefix --from \
           --vocab-size --eot --vocab-id --json --ids --force --quiet --verbose --help --version; do
    grep -q -- "$opt" help.txt || fail "--help lacks $opt"
done
# Every option line in --help states its default.
awk '/^  +-/ && !/-h  |--help|--version/' help.txt > opts.txt
while IFS= read -r line; do
    case $line in *"[default:"*) ;; *)
        # a description may wrap onto the next line; the default is then there
        grep -A1 -F -- "$line" help.txt | grep_all '\[default:' || fail "no default for: $line" ;;
    esac
done < opts.txt
nmoe-shard pack --help | cmp - help.txt || fail "pack --help differs from --help"
[ "$(nmoe-shard -V)" = "nmoe-shard $(nmoe-shard --version | cut -d' ' -f2)" ] || fail "-V"
nmoe-shard --version | grep_all -E '^nmoe-shard [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version: $(nmoe-shard --version)"

expect_fail 2 "no command given" nmoe-shard
expect_fail 2 "unknown command 'pak'" nmoe-shard pak
grep -qF "Try 'nmoe-shard --help' for more information." cmd.err || fail "no hint: $(cat cmd.err)"
expect_fail 2 "unknown option '--frobnicate'" nmoe-shard pack --frobnicate
expect_fail 2 "unknown option '-Z'" nmoe-shard info -Z x
expect_fail 2 "option '--shard-tokens' needs a value" nmoe-shard pack -o D --shard-tokens
expect_fail 2 "pack needs -o DIR" nmoe-shard pack
expect_fail 2 "--json does not apply to 'cat'" nmoe-shard cat --json x
expect_fail 2 "--ids does not apply to 'info'" nmoe-shard info --ids x
expect_fail 2 "--zstd does not apply to 'verify'" nmoe-shard verify --zstd x
expect_fail 2 "--from does not apply to 'pack'" nmoe-shard pack --from llmc -o D
expect_fail 2 "--level needs --zstd" nmoe-shard pack -o D --level 5
expect_fail 2 "--level: 25 is out of range [1, 19]" nmoe-shard pack -o D --zstd --level 25
expect_fail 2 "--val-fraction: 1.5 is out of range [0, 1]" nmoe-shard pack -o D --val-fraction 1.5
expect_fail 2 "--shard-tokens: '12Q' has an unknown suffix" nmoe-shard pack -o D --shard-tokens 12Q
expect_fail 2 "--shard-tokens: must be at least 1" nmoe-shard pack -o D --shard-tokens 0
expect_fail 2 "--seed: 'x' is not a whole number" nmoe-shard pack -o D --seed x
expect_fail 2 "--from: 'hf' is not llmc or npy" nmoe-shard import --from hf -o D x
expect_fail 2 "--vocab-id: 'xyz' is not a hexadecimal number" nmoe-shard import --from npy --vocab-id xyz -o D x
expect_fail 2 "--prefix: 'a/b' is not a plain name" nmoe-shard pack -o D --prefix a/b
expect_fail 2 "pack reads one token stream" nmoe-shard pack -o D a b
expect_fail 2 "cat needs at least one FILE or DIR" nmoe-shard cat
expect_fail 2 "verify needs at least one FILE or DIR" nmoe-shard verify
[ ! -e D ] || fail "a usage error created the output directory"

# Options may follow the files; sizes take suffixes.
mktokstream --docs 100 --seed 1 > in.tok
nmoe-shard pack in.tok -q -o S --shard-tokens 10k
[ "$(jq .shard_tokens S/manifest.json)" -eq 10240 ] || fail "--shard-tokens 10k"

# Terminals: cat refuses to write a token stream to one, pack to read one (-f overrides).
if script -qec true /dev/null >/dev/null 2>&1; then
    script -qec "nmoe-shard cat S; echo rc=\$?" /dev/null > tty.txt 2>&1 || true
    grep -qF "refusing to write binary data to a terminal" tty.txt || fail "cat to a tty: $(cat tty.txt)"
    grep -q "rc=2" tty.txt || fail "cat to a tty: $(cat tty.txt)"
    script -qec "nmoe-shard cat --ids S | head -n 1 >/dev/null; nmoe-shard cat --ids S >/dev/null; echo rc=\$?" /dev/null > tty.txt 2>&1 || true
    grep -q "rc=0" tty.txt || fail "cat --ids is text and may go to a terminal: $(cat tty.txt)"
    script -qec "nmoe-shard pack -o T; echo rc=\$?" /dev/null > tty.txt 2>&1 < /dev/null || true
    grep -qF "refusing to read binary data from a terminal" tty.txt || fail "pack from a tty: $(cat tty.txt)"
else
    echo "note: script(1) cannot allocate a terminal here; terminal checks not run"
fi

# -v reports each shard; -q silences the summary.
nmoe-shard pack -v -o V --shard-tokens 10K < in.tok 2> v.txt
grep -qE '^V/train-000000.shard: [0-9]+ documents, [0-9]+ tokens, [0-9]+ bytes$' v.txt || fail "-v: $(cat v.txt)"
grep -qE '^nmoe-shard: V: 100 documents, [0-9]+ tokens -> [0-9]+ train shards' v.txt || fail "summary: $(cat v.txt)"
nmoe-shard pack -q -o Q < in.tok 2> q.txt
[ ! -s q.txt ] || fail "-q printed: $(cat q.txt)"
