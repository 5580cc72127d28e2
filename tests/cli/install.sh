#!/usr/bin/env bash
# make install PREFIX=... puts every program, every man page and the named tokenizers
# where the installed programs find them (no source tree needed).
set -euo pipefail
cd "$NMOE_TOP"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
make -s install PREFIX="$prefix" >/dev/null
for p in bin/nmoe-*; do
    name=${p##*/}
    [ -x "$prefix/bin/$name" ] || { echo "missing $prefix/bin/$name"; exit 1; }
    [ -f "$prefix/share/man/man1/$name.1" ] || { echo "missing man page for $name"; exit 1; }
    grep -q "^$name " <<<"$("$prefix/bin/$name" --version)" || { echo "$name --version is wrong"; exit 1; }
done
for f in man/man5/*.5 man/man7/*.7; do
    [ -f "$prefix/share/man/${f#man/}" ] || { echo "missing installed $f"; exit 1; }
done
# The installed nmoe-tok resolves "gpt2" from <prefix>/share/nmoe, away from the tree.
cd "$prefix"
ids=$(printf 'Hello world' | env -u NMOE_DATA "$prefix/bin/nmoe-tok" encode -t gpt2 --ids)
[ "$ids" = "15496 995" ] || { echo "installed gpt2 encode gave '$ids'"; exit 1; }
echo "install OK"
