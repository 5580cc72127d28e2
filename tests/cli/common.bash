# common.bash: sourced by the *_common.bash files of tests/cli (not a test itself).
# Strict mode, the programs and test tools on PATH, a scratch directory removed on
# exit, and the two helpers every CLI test uses.
set -euo pipefail
: "${NMOE_TOP:?run through tests/run (NMOE_TOP unset)}"
export PATH="$NMOE_TOP/bin:${NMOE_TESTTOOLS:-$NMOE_TOP/build/testtools}:$PATH"

# grep_all ARGS...: grep -q's answer (the exit status only), reading all of its input.
# `X | grep -q P` stops reading at the first match, so X can die of SIGPIPE, and under
# pipefail the pipeline then fails although P was there: a test that fails now and then.
grep_all() { grep "$@" >/dev/null; }

# require_tools NAME...: each is on PATH, else fail with a hint.
require_tools() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null || { echo "missing $t (run make and make unit)"; exit 1; }
    done
}

# enter_scratch LABEL: make $work (removed on exit) and cd into it.
enter_scratch() {
    work=$(mktemp -d "/tmp/nmoe-$1-test.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    cd "$work"
}

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_fail STATUS TEXT CMD...: CMD exits with STATUS and its stderr contains TEXT
# (a fixed string). Its stdout and stderr stay in $work/cmd.out and $work/cmd.err.
expect_fail() {
    local want_status=$1 text=$2
    shift 2
    local rc=0
    "$@" >"$work/cmd.out" 2>"$work/cmd.err" || rc=$?
    [ "$rc" -eq "$want_status" ] || { cat "$work/cmd.err" >&2; fail "$* exited $rc, expected $want_status"; }
    grep -qF -- "$text" "$work/cmd.err" || { cat "$work/cmd.err" >&2; fail "$*: stderr lacks '$text'"; }
}
