# shard_common.bash: sourced by tests/cli/shard_*.sh (not a test itself: make check
# runs *.sh only). Sets up a scratch directory, puts the test tools on PATH, and
# gives a helper that runs a command expected to fail and checks its message.
source "$NMOE_TOP/tests/cli/common.bash"
require_tools nmoe-shard mktokstream flipbyte shardpatch tokpatch
enter_scratch shard

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
