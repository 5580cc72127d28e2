# Sourced by tests/cli/tok_*.sh: strict mode, a scratch folder removed on exit,
# fail() with a message, and helpers shared by the nmoe-tok tests.
set -euo pipefail
cd "$NMOE_TOP"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# Run a command expected to fail: sets rc and err (its stderr).
expect_fail() {
    set +e
    "$@" > "$TMP/out" 2> "$TMP/err"
    rc=$?
    set -e
    err=$(cat "$TMP/err")
    [ $rc -ne 0 ] || fail "expected failure: $*"
}
# Random bytes from a seed, without depending on the system's random source.
junk() { # junk SEED BYTES
    python3 -c "import random,sys; r=random.Random($1); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range($2)))"
}
