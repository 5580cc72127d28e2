# shard_common.bash: sourced by tests/cli/shard_*.sh (not a test itself: make check
# runs *.sh only). Sets up a scratch directory, puts the test tools on PATH, and
# gives a helper that runs a command expected to fail and checks its message.
set -euo pipefail
: "${NMOE_TOP:?run through tests/run (NMOE_TOP unset)}"
TT=${NMOE_TESTTOOLS:-$NMOE_TOP/build/testtools}
export PATH="$TT:$PATH"
for t in nmoe-shard mktokstream flipbyte shardpatch tokpatch; do
    command -v "$t" >/dev/null || { echo "missing $t (run make and make unit)"; exit 1; }
done
work=$(mktemp -d /tmp/nmoe-shard-test.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
cd "$work"

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_fail STATUS TEXT CMD...: CMD exits with STATUS and its stderr contains TEXT
# (a fixed string). Leaves the stderr in $work/err.
expect_fail() {
    local want_status=$1 text=$2
    shift 2
    local rc=0
    "$@" >"$work/out" 2>"$work/err" || rc=$?
    [ "$rc" -eq "$want_status" ] || { cat "$work/err" >&2; fail "$* exited $rc, expected $want_status"; }
    grep -qF -- "$text" "$work/err" || { cat "$work/err" >&2; fail "$*: stderr lacks '$text'"; }
}

# expect_line FILE TEXT: FILE holds a line equal to TEXT.
expect_line() {
    grep -qxF -- "$2" "$1" || { cat "$1" >&2; fail "$1 lacks the line '$2'"; }
}

# No temporary files of atomic_file.h left anywhere under DIR.
no_temps() {
    local left
    left=$(find "$1" -name '*.tmp.*' | head -n 5)
    [ -z "$left" ] || fail "temporary files left: $left"
}
